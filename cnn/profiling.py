"""CPU-side evidence of a step's cost on an accelerator: operators dispatched and host synchronisations.

:class:`StepCounter` is a ``TorchDispatchMode`` that sees every ATen operator a block of code runs (each is one or
more kernel launches on a GPU, and a few microseconds of host time however small the tensors) and counts the
**host synchronisations**, the operations after which the host must wait for the device:

* ``aten._local_scalar_dense``: what ``tensor.item()``, ``float(t)``, ``int(t)``, ``bool(t)`` (``if t:``) and
  ``t.tolist()`` run;
* operators whose output size depends on the data (``nonzero``, ``masked_select``, ``unique``, boolean-mask
  indexing): the host must learn the size before it can go on;
* ``aten.equal`` and ``aten.is_nonzero`` (a Python bool out of a tensor);
* copies from a non-CPU tensor to the CPU (``.to("cpu")``), and every call of ``.tolist()``, ``.cpu()`` or
  ``.numpy()`` (on a CPU tensor these dispatch no operator, so they are caught at the Python level).

Optimizer step counters are the one exception: torch keeps the ``step`` of non-fused, non-capturable Adam on the
CPU *even when training on CUDA*, so reading it never waits for the GPU. Reads of CPU tensors made by
``torch.optim``'s ``_get_value`` (how the optimizers read them), or of tensors passed as ``host_tensors``
(:func:`host_step_counters`), are not counted.

It runs on the CPU, so the CPU tests can pin "0 host syncs per step" although nothing there is asynchronous.
On CUDA, ``torch.cuda.set_sync_debug_mode("error")`` is the complementary check (used by the GPU benchmark).
"""

from __future__ import annotations

from collections import Counter

import torch
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["StepCounter", "host_step_counters", "SYNC_OPS", "NO_KERNEL_OPS"]

#: operator names (overload packet) that synchronise the host with the device
SYNC_OPS = frozenset(
    {
        "_local_scalar_dense",
        "nonzero",
        "nonzero_static",
        "masked_select",
        "_unique",
        "_unique2",
        "unique_dim",
        "unique_consecutive",
        "unique_dim_consecutive",
        "equal",
        "is_nonzero",
        "item",
    }
)


#: operators that launch no kernel on a GPU: views, metadata, allocation, profiler marks, host scalar reads
NO_KERNEL_OPS = frozenset(
    {
        "detach",
        "t",
        "view",
        "_unsafe_view",
        "_reshape_alias",
        "reshape",
        "unsqueeze",
        "squeeze",
        "slice",
        "select",
        "expand",
        "permute",
        "transpose",
        "as_strided",
        "alias",
        "narrow",
        "split",
        "unbind",
        "lift_fresh",
        "empty",
        "empty_strided",
        "empty_like",
        "_record_function_enter_new",
        "_record_function_exit",
        "_local_scalar_dense",
        "is_same_size",
        "_has_compatible_shallow_copy_type",
        "set_",
        "resize_",
    }
)


def host_step_counters(optimizer) -> list:
    """The CPU ``step`` tensors of ``optimizer``'s state (a :class:`QuantizedOptimizer` or a torch optimizer)."""
    inner = getattr(optimizer, "optimizer", optimizer)
    out = []
    for st in inner.state.values():
        s = st.get("step") if isinstance(st, dict) else None
        if isinstance(s, torch.Tensor) and s.device.type == "cpu":
            out.append(s)
    return out


def _name(func) -> str:
    return getattr(getattr(func, "overloadpacket", func), "__name__", str(func))


class StepCounter(TorchDispatchMode):
    """Count operators and host synchronisations while active.

    Attributes
    ----------
    ops : int
        Operators dispatched (views and metadata included).
    kernels : int
        Operators that launch a kernel on a GPU (``ops`` less :data:`NO_KERNEL_OPS`).
    syncs : int
        Host synchronisations (see the module docstring).
    sync_ops : Counter
        The synchronising operators by name, for messages.
    by_op : Counter
        Every operator by name.

    Examples
    --------
    >>> t = torch.ones(3)
    >>> with StepCounter() as c:
    ...     u = (t * 2).sum()
    ...     v = u.item()
    >>> c.kernels, c.syncs, dict(c.sync_ops)
    (2, 1, {'_local_scalar_dense': 1})
    """

    def __init__(self, host_tensors=()):
        super().__init__()
        self.host_ptrs = {t.untyped_storage().data_ptr() for t in host_tensors}
        self.ops = 0
        self.kernels = 0
        self.syncs = 0
        self.sync_ops: Counter = Counter()
        self.by_op: Counter = Counter()

    def __enter__(self):
        # .tolist(), .cpu() and .numpy() of a CPU tensor dispatch no operator: count them where they are called
        self._saved = {}
        for meth in ("tolist", "cpu", "numpy"):
            real = getattr(torch.Tensor, meth)
            self._saved[meth] = real

            def wrapped(t, *a, _real=real, _meth=meth, **k):
                if t.untyped_storage().data_ptr() not in self.host_ptrs:
                    self.syncs += 1
                    self.sync_ops[_meth] += 1
                return _real(t, *a, **k)

            setattr(torch.Tensor, meth, wrapped)
        return super().__enter__()

    def __exit__(self, *exc):
        for meth, real in self._saved.items():
            setattr(torch.Tensor, meth, real)
        return super().__exit__(*exc)

    def set_host_tensors(self, tensors) -> None:
        self.host_ptrs = {t.untyped_storage().data_ptr() for t in tensors}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = _name(func)
        self.ops += 1
        self.kernels += name not in NO_KERNEL_OPS
        self.by_op[name] += 1
        sync = name in SYNC_OPS
        if (
            name == "_local_scalar_dense"
            and args
            and isinstance(args[0], torch.Tensor)
            and args[0].device.type == "cpu"
            and (args[0].untyped_storage().data_ptr() in self.host_ptrs or _from_optimizer_get_value())
        ):
            sync = False  # a CPU-side optimizer step counter
        elif (
            name == "index"
            and len(args) > 1
            and any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in (args[1] or ()))
        ):
            sync = True  # boolean-mask indexing (a nonzero inside)
        elif name in ("_to_copy", "copy_") and _to_host(name, args, kwargs):
            sync = True
        if sync:
            self.syncs += 1
            self.sync_ops[name] += 1
        return func(*args, **kwargs)


def _from_optimizer_get_value() -> bool:
    """Called (a few frames up) from ``torch.optim.optimizer._get_value``, which reads the step counters that
    non-fused optimizers keep on the CPU."""
    import sys

    f = sys._getframe(2)
    for _ in range(8):
        if f is None:
            return False
        if f.f_code.co_name == "_get_value" and f.f_globals.get("__name__", "").startswith("torch.optim"):
            return True
        f = f.f_back
    return False


def _to_host(name, args, kwargs) -> bool:
    if name == "_to_copy":
        src, dev = args[0], kwargs.get("device")
        return (
            isinstance(src, torch.Tensor)
            and src.device.type != "cpu"
            and dev is not None
            and torch.device(dev).type == "cpu"
        )
    dst, src = args[0], args[1] if len(args) > 1 else None
    return (
        isinstance(src, torch.Tensor)
        and isinstance(dst, torch.Tensor)
        and src.device.type != "cpu"
        and dst.device.type == "cpu"
    )
