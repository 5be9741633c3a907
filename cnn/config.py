"""The settings of one training run (:class:`TrainConfig`) and the paper's defaults it resolves to.

A config names the model, the method, the data and the schedule; :meth:`TrainConfig.resolved` checks every field
(one :class:`SrchainError` naming the option) and fills in the paper's defaults: Adam with lr 0.01, divided by
10 at epochs 82 and 122 on CIFAR (Section 6, Appendix H.1), the big batch of big-batch SR. :func:`lr_at` is the
schedule. :func:`srchain.cnn.train.train` runs a config.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from srchain.cnn.quantized import Grid
from srchain.cnn.registry import (
    BIG_BATCH,
    DEFAULT_BATCH,
    PAPER_EPOCHS,
    PAPER_MILESTONES,
    check_dataset,
    check_model,
    parse_method,
)
from srchain.cnn.step import resolve_amp

from srchain.errors import SrchainError

__all__ = ["TrainConfig", "lr_at"]


@dataclass
class TrainConfig:
    """Everything that defines a run (``None`` fields take the paper's defaults in :meth:`resolved`)."""

    model: str = "vgg9"
    method: str = "bc-adam"
    dataset: str = "digits"
    data_dir: str | None = None
    download: bool = False
    epochs: int | None = None
    batch: int | None = None
    big_batch: int | None = None
    lr: float = 0.01
    milestones: tuple | None = None
    gamma: float = 0.1
    weight_decay: float = 0.0
    momentum: float = 0.9
    delta: float = 1.0
    bits: int = 1
    scale: str = "none"
    clip_latent: bool = True
    width: float = 1.0
    image_size: int = 32
    k: int = 5
    seed: int = 0
    device: str = "auto"
    amp: bool | str = False
    out: str | None = None
    resume: bool = False
    stop_after: int | None = None
    quiet: bool = False
    eval_batch: int = 500
    workers: int = 8
    threads: int | None = None
    max_memory: float | None = None
    sync_every: int | None = None
    channels_last: bool | None = None
    compile: bool = False
    deterministic: bool = False
    cuda_graph: bool | None = None

    def resolved(self) -> TrainConfig:
        """A copy with validated names and the paper's defaults filled in (batch, epochs, milestones)."""
        c = dataclasses.replace(self)
        check_model(c.model)
        check_dataset(c.dataset)
        m = parse_method(c.method)
        c.method = m.name
        c.amp = resolve_amp(c.amp, _device_type(c.device))
        for name in (
            "epochs",
            "batch",
            "big_batch",
            "k",
            "eval_batch",
            "image_size",
            "threads",
            "stop_after",
            "sync_every",
        ):
            v = getattr(c, name)
            if v is not None and not _is_count(v):
                raise SrchainError(f"--{name.replace('_', '-')} must be an integer >= 1, got {v!r}")
        if not _is_count(c.workers, 0):
            raise SrchainError(f"--workers must be an integer >= 0, got {c.workers!r}")
        for name in ("lr", "gamma"):
            v = getattr(c, name)
            if not (isinstance(v, (int, float)) and v > 0 and math.isfinite(v)):
                raise SrchainError(f"--{name} must be a finite number > 0, got {v!r}")
        for name in ("weight_decay", "momentum"):
            v = getattr(c, name)
            if not (isinstance(v, (int, float)) and v >= 0 and math.isfinite(v)):
                raise SrchainError(f"--{name.replace('_', '-')} must be a finite number >= 0, got {v!r}")
        if c.max_memory is not None and not (c.max_memory > 0 and math.isfinite(c.max_memory)):
            raise SrchainError(f"--max-memory must be a finite number of GiB > 0, got {c.max_memory!r}")
        from srchain.cnn.models import check_width

        check_width(c.model, c.width)  # > 0, finite, no layer with 0 channels
        Grid(c.delta, c.bits)  # validates Δ > 0 and bits
        if c.epochs is None:
            c.epochs = PAPER_EPOCHS[c.dataset]
        if c.batch is None:
            c.batch = (c.big_batch or BIG_BATCH[c.model]) if m.big else DEFAULT_BATCH
        for name in ("batch", "big_batch"):
            v = getattr(c, name)
            if v is not None and v < 2:
                raise SrchainError(
                    f"--{name.replace('_', '-')} must be >= 2: BatchNorm needs two samples per batch, got {v}"
                )
        if c.milestones is None:
            if c.dataset in PAPER_MILESTONES:
                c.milestones = PAPER_MILESTONES[c.dataset]
            else:
                m1 = max(1, int(0.5 * c.epochs + 0.5))
                c.milestones = (m1, max(m1 + 1, int(122 / 164 * c.epochs + 0.5)))
        if any(not _is_count(x, 0) for x in c.milestones):
            raise SrchainError(f"--milestones must be integers >= 0, got {list(c.milestones)!r}")
        c.milestones = tuple(int(x) for x in c.milestones)
        if c.scale != "none" and m.rule != "bc":
            raise SrchainError("--scale filter (per-filter BWN scale) needs a bc method")
        if c.scale != "none" and m.fmt is not None:
            raise SrchainError(f"--scale filter (per-filter BWN scale) is for the grid ΔZ, not {m.name}")
        return c

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["milestones"] = None if self.milestones is None else list(self.milestones)
        return d


def _is_count(v, low: int = 1) -> bool:
    """``v`` is an integer (or an integral float) >= ``low`` (not a bool, NaN or infinity)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    if isinstance(v, float) and not (math.isfinite(v) and v.is_integer()):
        return False
    return v >= low


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate of 0-based ``epoch``: ``lr · γ^{#milestones ≤ epoch}`` (MultiStepLR semantics)."""
    return cfg.lr * cfg.gamma ** sum(1 for m in cfg.milestones if epoch >= m)


def _device_type(pref: str) -> str:
    return ("cuda" if torch.cuda.is_available() else "cpu") if pref == "auto" else pref
