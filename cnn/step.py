"""The training step without host synchronisation, and the pieces a run is built from.

A step is forward, loss, backward, the base optimizer's step and the quantize-after-step (one fused pass over the
flat buffer of all conv weights, :mod:`srchain.cnn.optim`). What the epoch's log needs is accumulated **on the
device**: the number of wrong predictions (a 0-d tensor) and each step's loss (one slot of a float64 vector per
step). Nothing is read back by the host inside the epoch: :meth:`TrainStep.read` reads the losses once, at the end
of the epoch (or every ``sync_every`` steps), and returns the first non-finite one with its step, so a NaN or an
infinite loss still stops the run, with its step number, before anything is checkpointed. The losses are summed
on the host in step order, so ``train_loss`` is bit for bit what a per-step ``loss.item()`` sum gives.

Fewer launches per step:

* the base optimizer is ``foreach`` (a handful of multi-tensor kernels for all parameters) on the CPU, ``fused``
  (one kernel per parameter group) on CUDA, never the per-parameter loop (about 12 kernels per parameter);
  on the CPU ``foreach`` Adam and SGD give bit-identical results to the loop, so CPU runs do not change;
* ``channels_last`` memory format for the model and its input (CUDA; NHWC convolutions on tensor cores);
* ``--amp bf16`` autocast without a GradScaler; ``--amp fp16`` with a GradScaler whose inf check happens inside
  fused Adam (no host read of ``found_inf``);
* ``graph`` (the default on CUDA): the whole step, optimizer and quantize-after-step included, captured once
  as one CUDA graph and replayed (:class:`TrainStep`): one launch per step instead of hundreds, no compilation;
* ``compile``: ``torch.compile(mode="reduce-overhead")`` of the network, i.e. CUDA graphs over forward and
  backward on CUDA (each step starts with ``torch.compiler.cudagraph_mark_step_begin()``).

The augmentation is one gather on the device (:func:`srchain.cnn.data.crop_flip_gather`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = [
    "AMP_CHOICES",
    "resolve_amp",
    "make_base_optimizer",
    "TrainStep",
    "EpochRead",
    "autocast_for",
    "deterministic_mode",
]

AMP_CHOICES = ("off", "fp16", "bf16")
#: ordinary steps before a step is captured as a CUDA graph (cuDNN autotuning, optimizer state, lazy init)
GRAPH_WARMUP_STEPS = 3


def resolve_amp(amp, device_type: str) -> str:
    """``--amp`` as one of ``off``, ``fp16``, ``bf16``.

    ``True`` (a bare ``--amp``, and every config written before the choice existed) keeps its old meaning: fp16
    on CUDA, bfloat16 on the CPU. ``False``/``None`` is ``off``. ``auto`` is ``off`` on the CPU and stays
    ``auto`` on CUDA, where :func:`srchain.cnn.precision.choose_amp` measures it when the run starts.
    """
    from srchain.errors import SrchainError

    if amp is None or amp is False or amp == "off":
        return "off"
    if amp is True:
        return "fp16" if device_type == "cuda" else "bf16"
    if amp == "auto":  # the CPU: fp32 (no probe, so CPU results do not depend on timings); CUDA: chosen at start
        return "auto" if device_type == "cuda" else "off"
    if amp in ("fp16", "bf16"):
        return amp
    raise SrchainError(f"--amp must be one of off, fp16, bf16, auto (or bare --amp), got {amp!r}")


def check_amp_supported(amp: str, device_type: str) -> None:
    from srchain.errors import SrchainError

    if amp == "bf16" and device_type == "cuda" and not torch.cuda.is_bf16_supported():
        raise SrchainError("--amp bf16 needs a GPU with bfloat16 support (Ampere or newer); use --amp fp16")


def autocast_for(device_type: str, amp: str, cache: bool = True):
    """A factory of autocast contexts for ``amp`` (``off``: disabled). ``cache=False`` for a step captured as a
    CUDA graph (autocast's cache of cast weights must not outlive the capture); the casts are the same."""
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16

    def autocast():
        return torch.autocast(device_type, dtype=dtype, enabled=amp != "off", cache_enabled=cache)

    return autocast


def make_base_optimizer(
    params, base: str, lr: float, weight_decay: float, momentum: float, device_type: str, impl: str = "auto"
):
    """Adam or SGD over ``params``: ``impl='auto'`` is fused on CUDA (where this torch has it), foreach else.

    ``impl`` may also be ``'fused'``, ``'foreach'``, ``'loop'`` (the per-parameter reference implementation) or
    ``'default'`` (torch's choice: what earlier versions used).
    """
    cls = torch.optim.Adam if base == "adam" else torch.optim.SGD
    kw = dict(lr=lr, weight_decay=weight_decay)
    if base != "adam":
        kw["momentum"] = momentum
    if impl == "auto":
        impl = "fused" if device_type == "cuda" else "foreach"
    if impl == "fused":
        try:
            return cls(params, fused=True, **kw)
        except (RuntimeError, TypeError, ValueError):  # an older torch without fused for this optimizer
            impl = "foreach"
    if impl == "default":  # torch's own choice (foreach on CUDA, the loop on CPU)
        return cls(params, **kw)
    return cls(params, foreach=(impl == "foreach"), **kw)


@dataclass
class EpochRead:
    """What :meth:`TrainStep.read` returns: the losses read so far, the first non-finite one (step, value)."""

    losses: list
    bad_step: int | None
    bad_value: float | None


class TrainStep:
    """One training step, called as ``step(x, y)``; accumulates the epoch's statistics on the device.

    Parameters
    ----------
    net : Module
        The network (possibly DDP-wrapped or compiled).
    opt : QuantizedOptimizer
    loss_fn : callable
        ``loss_fn(logits, y)`` (looked up at each call, so tests may patch it).
    autocast : callable
        A factory of autocast contexts (:func:`autocast_for`).
    scaler : torch.amp.GradScaler or None
    device : torch.device
    compiled : bool
        The network is CUDA-graphed (``torch.compile(mode="reduce-overhead")``): mark each step's start.
    graph : bool
        The whole step (forward, loss, backward, the optimizer's step and the quantize-after-step) runs on
        static input buffers. On CUDA it is captured **once** as one ``torch.cuda.CUDAGraph`` after
        :data:`GRAPH_WARMUP_STEPS` ordinary steps on a side stream, and every later step is two copies (the
        batch into the buffers) and one replay; it is captured again only when a learning rate changes (the
        fused optimizer takes it as a kernel argument: twice in a 164-epoch run). The Qs generator is registered
        with the graph, so its draws advance at every replay exactly as eagerly. A batch of another shape (a
        short last batch) runs eagerly. Not with a GradScaler (fp16) or ``compiled``. On the CPU the same body
        runs eagerly on the buffers (bit-identical to ``graph=False``).
    """

    def __init__(
        self, net, opt, loss_fn: Callable, autocast, scaler, device, compiled: bool = False, graph: bool = False
    ):
        self.net, self.opt, self.loss_fn, self.autocast, self.scaler = net, opt, loss_fn, autocast, scaler
        self.device = torch.device(device)
        self.compiled = compiled and self.device.type == "cuda"
        #: ``graph``: the whole step runs on static input buffers (and on CUDA is captured once as one CUDA graph
        #: and replayed); on the CPU the same body runs eagerly on the buffers, so tests exercise that path
        self.graph = bool(graph) and scaler is None and not self.compiled
        self.capture = self.graph and self.device.type == "cuda"
        self.warmup_left = GRAPH_WARMUP_STEPS
        self.captures = 0  # how many times the step was captured (once per run, again only when lr changes)
        self._graph = None
        self._graph_key = None
        self._static = None  # (x, y, loss) buffers of the captured step
        self.wrong = torch.zeros((), dtype=torch.long, device=self.device)
        self.begin_epoch(1)

    def begin_epoch(self, steps: int) -> None:
        """Reset the accumulators for an epoch of ``steps`` steps (the error count in place: a captured step
        adds to that very tensor)."""
        self.losses = torch.zeros(max(int(steps), 1), dtype=torch.float64, device=self.device)
        self.wrong.zero_()
        self.seen = 0
        self.n = 0  # steps taken this epoch
        self.n_read = 0  # losses already read by the host
        self._read: list = []

    def _loss_slot(self) -> torch.Tensor:
        """This step's slot of the epoch's loss vector (grown when there are more steps than announced)."""
        if self.n >= self.losses.numel():  # more steps than announced: grow (rare)
            self.losses = torch.cat([self.losses, torch.zeros_like(self.losses)])
        return self.losses[self.n]

    def _body(self, x: torch.Tensor, y: torch.Tensor, loss_out: torch.Tensor) -> None:
        """Forward, loss, backward, the optimizer's step and the quantize-after-step; the loss goes into
        ``loss_out`` and the wrong predictions are added to ``self.wrong``. No host read: capturable."""
        if self.compiled:
            torch.compiler.cudagraph_mark_step_begin()
        with self.autocast():
            logits = self.net(x)
            loss = self.loss_fn(logits, y)
        with torch.no_grad():  # read the forward's outputs before a CUDA-graphed backward may reuse memory
            loss_out.copy_(loss.detach())
            self.wrong += (logits.detach().argmax(1) != y).sum()
        opt = self.opt
        opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(opt)
            self.scaler.update()
        else:
            loss.backward()
            opt.step()

    def _key(self, x, y):
        """What a captured step depends on besides its buffers' contents: shapes, strides, the learning rates
        (baked into the fused optimizer's kernel arguments)."""
        lrs = tuple(float(g["lr"]) for g in self.opt.param_groups)
        return (tuple(x.shape), x.stride(), tuple(y.shape), lrs)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        slot = self._loss_slot()
        self.seen += y.shape[0]
        self.n += 1
        if not self.graph:
            self._body(x, y, slot)
            return
        key = self._key(x, y)
        if self._static is not None and key[:3] != self._graph_key[:3]:
            self._eager_step(x, y, slot)  # another shape (a short last batch): this step eagerly
            return
        if self.capture and self.warmup_left > 0:
            self.warmup_left -= 1
            self._warmup_step(x, y, slot)
            return
        if self._static is None:
            self._static = (torch.empty_like(x), torch.empty_like(y), torch.zeros((), device=self.device))
            self._graph_key = key
        sx, sy, sloss = self._static
        if self.capture and (self._graph is None or key != self._graph_key):
            self._capture_step(key)
        sx.copy_(x)
        sy.copy_(y)
        if self.capture:
            self._graph.replay()
        else:
            self._body(sx, sy, sloss)
        slot.copy_(sloss)

    def _eager_step(self, x, y, slot) -> None:
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*capturable=True.*")  # run uncaptured on purpose
            self._body(x, y, slot)

    def _warmup_step(self, x, y, slot) -> None:
        """An ordinary step on a side stream (CUDA's rule before a capture: lazy initialisation, cuDNN's
        autotuning and the optimizer's state happen here, outside the graph)."""
        for g in self.opt.param_groups:
            g["capturable"] = True  # the same fused kernel eagerly and captured
        import warnings

        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*capturable=True.*")  # run uncaptured on purpose
            self._body(x, y, slot)
        torch.cuda.current_stream(self.device).wait_stream(side)

    def _capture_step(self, key) -> None:
        """Capture the step on the static buffers as one CUDA graph (again only when the lr changed)."""
        for g in self.opt.param_groups:
            g["capturable"] = True
        sx, sy, sloss = self._static
        self._graph = None
        torch.cuda.synchronize(self.device)
        graph = torch.cuda.CUDAGraph()
        gen = getattr(self.opt, "generator", None)
        if isinstance(gen, torch.Generator) and gen.device.type == "cuda":
            graph.register_generator_state(gen)  # Qs's and the init's draws advance at every replay
        self.opt.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):  # other threads may use CUDA meanwhile
            self._body(sx, sy, sloss)
        self._graph, self._graph_key = graph, key
        self.captures += 1

    def read(self) -> EpochRead:
        """Read the losses of the steps not read yet (one host synchronisation) and report the first
        non-finite loss of the epoch, if any."""
        if self.n > self.n_read:
            self._read.extend(self.losses[self.n_read : self.n].tolist())
            self.n_read = self.n
        for i, v in enumerate(self._read):
            if not math.isfinite(v):
                return EpochRead(self._read, i, v)
        return EpochRead(self._read, None, None)

    def loss_sum(self) -> float:
        """Sum of the epoch's losses in step order (as ``loss_sum += loss.item()`` would give)."""
        total = 0.0
        for v in self.read().losses:
            total += v
        return total


class deterministic_mode:
    """Context: ``--deterministic`` (bit-for-bit repeatable CUDA runs) or cuDNN's autotuner otherwise.

    ``on=True``: ``torch.use_deterministic_algorithms(True)``, ``cudnn.deterministic = True``, ``cudnn.benchmark
    = False`` and ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (unless set; cuBLAS reads it when its first handle is made,
    so set it before the process first uses CUDA for bit-exact GEMMs). ``on=False`` on CUDA turns
    ``cudnn.benchmark`` on. The previous settings are restored on exit.
    """

    def __init__(self, on: bool, device_type: str):
        self.on, self.device_type = bool(on), device_type

    def __enter__(self):
        import os

        cudnn = torch.backends.cudnn
        self.saved = (
            torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
            cudnn.deterministic,
            cudnn.benchmark,
        )
        if self.on:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
            cudnn.deterministic, cudnn.benchmark = True, False
        elif self.device_type == "cuda":
            cudnn.benchmark = True
        return self

    def __exit__(self, *exc):
        det, warn, cd, cb = self.saved
        torch.use_deterministic_algorithms(det, warn_only=warn)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cd, cb
        return False
