"""Up-front memory estimate of a training run, so that a run that cannot fit is refused before it allocates.

The model is built on PyTorch's ``meta`` device (shapes only, no storage) and run forward on a meta batch, with
a hook on every leaf module adding up the size of its output. The estimate, in bytes, is

* parameters: ``4·P·(weights + gradients + optimizer slots + 1 checkpoint copy)`` (Adam keeps 2 slots, SGD with
  momentum 1), plus BC's latent copy of the conv weights and the flip tracker's ``k + 2`` sign bitmaps (1 byte
  per conv/linear weight each; float32 values, 4 bytes, for weights in a number format, plus fp4's 8-byte block
  index per conv weight);
* activations: ``2 · 4 · batch · Σ outputs`` (every output is kept for the backward pass and gets a gradient of
  the same size); evaluation (no graph) needs less and is covered by the same term when ``eval_batch <= 2·batch``,
  else ``2 · 4 · eval_batch · max output``;
* data held in memory: the digits at ``image_size`` (float32, with the resize's temporaries: 8 copies of one
  channel), CIFAR as uint8 plus the float copy used for the channel statistics, and the training device's copy
  the batches are cut from (training images zero-padded, test images; on CUDA it is checked against the GPU too).

It is a planning figure (about right for the large sizes where it matters), not a measurement; the limit it is
checked against, ``max_memory``, defaults to 80% of the memory available now (:func:`srchain.budget.
default_max_memory`), and on CUDA the device part is also checked against the GPU's free memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from srchain.budget import GIB, check_memory, default_max_memory, format_bytes
from srchain.errors import SrchainError

__all__ = ["RunFootprint", "estimate_run", "check_run_memory"]

#: images per dataset held in memory (train + test) and their side
_DIGITS = 1797
_CIFAR = 60000


@dataclass(frozen=True)
class RunFootprint:
    """Bytes a run is expected to need: ``model`` (parameters, optimizer state, activations) and ``data``."""

    params: int
    model_bytes: float
    activation_bytes: float
    data_bytes: float

    @property
    def device_bytes(self) -> float:
        return self.model_bytes + self.activation_bytes

    @property
    def total(self) -> float:
        return self.device_bytes + self.data_bytes


def _data_bytes(dataset: str, image_size: int) -> float:
    """Host memory of the data, including the zero-padded copy of the training images the batches are cut from
    (on the CPU it is the training device's copy)."""
    return _host_data_bytes(dataset, image_size) + _device_data_bytes(dataset, image_size)


def _host_data_bytes(dataset: str, image_size: int) -> float:
    if dataset == "digits":
        return 8.0 * _DIGITS * 4 * float(image_size) ** 2
    if dataset in ("cifar10", "cifar100"):
        return _CIFAR * 3072 * (3 + 4 * 5 / 6)  # uint8 batches, stacked copy, torch view; float train set
    return 0.0  # ImageNet is streamed from disk


def _device_data_bytes(dataset: str, image_size: int) -> float:
    """The copy on the training device: padded training images (pad = size/8, digits as float32, CIFAR as uint8)
    and the test images."""
    if dataset == "digits":
        padded = float(image_size + 2 * max(1, image_size // 8)) ** 2
        return 4.0 * 3 * (0.8 * _DIGITS * padded + 0.2 * _DIGITS * float(image_size) ** 2)
    if dataset in ("cifar10", "cifar100"):
        return 50000 * 3 * 40 * 40 + 10000 * 3072
    return 0.0


def estimate_run(
    model: str,
    method: str,
    dataset: str,
    width: float,
    image_size: int,
    batch: int,
    eval_batch: int = 500,
    k: int = 5,
    num_classes: int | None = None,
) -> RunFootprint:
    """Estimate the memory of one training run (see the module docstring for the formula).

    Raises
    ------
    SrchainError
        For an unknown model or a width that leaves a layer with no channels.
    """
    from srchain.cnn.models import WIDEST, build_model, check_width, named_layers
    from srchain.cnn.registry import DATASET_CLASSES, parse_method

    check_width(model, width)
    m = parse_method(method)
    size = 224 if dataset == "imagenet" else int(image_size)
    classes = num_classes or DATASET_CLASSES.get(dataset, 10)
    data = _data_bytes(dataset, size)
    # a cheap lower bound first: the widest layer's 3x3 weights alone (a width of 1e300 never reaches torch)
    widest = min(float(WIDEST[model]) * float(width), 1e100)
    if widest > 2**24:
        return RunFootprint(int(min(9 * widest * widest, 2**62)), 4.0 * 9 * widest * widest, 0.0, data)
    if float(batch) * 3 * size * size > 2**50:
        return RunFootprint(0, 0.0, 4.0 * 2 * float(batch) * 3 * size * size, data)
    with torch.device("meta"):
        net = build_model(model, classes, width, size)
    P = sum(p.numel() for p in net.parameters())
    weights = sum(mod.weight.numel() for _, mod in named_layers(net))
    conv = sum(mod.weight.numel() for n, mod in named_layers(net) if n.startswith("conv_"))
    slots = 2 if m.base == "adam" else 1
    model_bytes = (
        4.0 * P * (3 + slots) + (4.0 * conv if m.rule == "bc" else 0.0) + float(weights) * (k + 2) * (4 if m.fmt else 1)
    )
    if m.fmt == "fp4-e2m1":
        model_bytes += 8.0 * conv  # the index of each conv weight's tensor (its block of the per-tensor scale)

    outputs, largest = [0], [0]

    def hook(_mod, _inp, out):
        if isinstance(out, torch.Tensor):
            outputs[0] += out[0].numel()
            largest[0] = max(largest[0], out[0].numel())

    handles = [mod.register_forward_hook(hook) for mod in net.modules() if not list(mod.children())]
    try:
        net.train()
        with torch.no_grad():
            net(torch.empty(2, 3, size, size, device="meta"))
    except RuntimeError as exc:
        raise SrchainError(
            f"{model} cannot take {size}x{size} inputs at --width {width:g}: {' '.join(str(exc).split())[:160]}"
        ) from None
    finally:
        for h in handles:
            h.remove()
    per_image = outputs[0] + 3 * size * size
    act = max(8.0 * batch * per_image, 8.0 * eval_batch * max(largest[0], 3 * size * size))
    return RunFootprint(int(P), model_bytes, act, data)


def check_run_memory(cfg, device: str = "cpu", max_memory_gib: float | None = None) -> RunFootprint:
    """Estimate ``cfg``'s run (a resolved :class:`~srchain.cnn.train.TrainConfig`) and refuse it with one line
    when it needs more than ``max_memory_gib`` GiB (default: :func:`srchain.budget.default_max_memory`), or on
    CUDA more than the GPU has free."""
    fp = estimate_run(cfg.model, cfg.method, cfg.dataset, cfg.width, cfg.image_size, cfg.batch, cfg.eval_batch, cfg.k)
    limit = default_max_memory() if max_memory_gib is None else float(max_memory_gib) * GIB
    hint = "lower --width, --image-size or --batch" if cfg.dataset == "digits" else "lower --width or --batch"
    what = (
        f"{cfg.model} at --width {cfg.width:g}, batch {cfg.batch}"
        + (f", {cfg.image_size}x{cfg.image_size} images" if cfg.dataset == "digits" else "")
        + f" ({fp.params:.3g} parameters; model and activations {format_bytes(fp.device_bytes)}, "
        f"data {format_bytes(fp.data_bytes)})"
    )
    check_memory(
        fp.total,
        limit,
        what,
        hint + ", or raise --max-memory (GiB) if the estimate is too high",
        parameter="--max-memory",
    )
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info()
        on_gpu = fp.device_bytes + _device_data_bytes(cfg.dataset, cfg.image_size)  # the data lives there too
        check_memory(on_gpu, free, f"{cfg.model} on the GPU", hint, parameter="the GPU's free memory")
    return fp
