"""One training run of Section 6: the model, the method, the schedule, metrics, checkpoints, resume, DDP, AMP.

Schedule (Section 6): Adam with lr 0.01, divided by 10 at epochs 82 and 122 on CIFAR (30 and 60 on ImageNet),
no weight decay by default (Appendix H.1). On the offline digits set, whose runs are short, the default
milestones sit at the same fractions of the run (82/164 = 0.5 and 122/164 ≈ 0.74 of ``epochs``).

Every epoch appends one JSON line to ``OUT/log.jsonl``::

    {"epoch", "lr", "train_error", "test_error", "layers": {name: {"flipped_since_init", "flipped_last_k",
     "mean_abs_wb_minus_wr"}}, ...}

(errors in percent; ``train_error`` is the running error over the epoch's augmented minibatches, ``test_error``
the error of the model in eval mode on the test set), and writes ``OUT/checkpoint.pt`` atomically (temporary file
+ ``os.replace``). ``resume=True`` restores the model, the optimizer (and BC's latent weights), the Qs generator,
the flip history and the RNG states of torch, numpy and python; the data order and augmentation of epoch ``e``
come from generators seeded by ``(seed, e)``, so the resumed run continues bit for bit. A non-finite loss stops
the run with :class:`SrchainError` and leaves the last good checkpoint in place.

Under ``torchrun`` (``WORLD_SIZE > 1``) the model is wrapped in ``DistributedDataParallel`` (NCCL on CUDA,
gloo on CPU); ``batch`` is per device, so the global batch is ``batch × world size``. Every rank draws the same
Qs numbers, so the replicas stay identical; rank 0 evaluates, logs and checkpoints.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from srchain.cnn.data import epoch_generator, load_dataset
from srchain.cnn.metrics import FlipTracker
from srchain.cnn.models import build_model, conv_weights, named_layers
from srchain.cnn.optim import QuantizedOptimizer
from srchain.cnn.quantized import Grid
from srchain.cnn.registry import (BIG_BATCH, DATASET_CLASSES, DEFAULT_BATCH, PAPER_EPOCHS, PAPER_MILESTONES,
                                  check_dataset, check_model, parse_method)
from srchain.errors import SrchainError
from srchain.io import write_json, write_text_atomic

__all__ = ["TrainConfig", "train", "lr_at", "save_checkpoint", "load_checkpoint"]

#: config fields that must agree between a checkpoint and the run that resumes it
_RESUME_KEYS = ("model", "method", "dataset", "batch", "lr", "milestones", "gamma", "weight_decay", "momentum",
                "delta", "bits", "scale", "clip_latent", "width", "image_size", "k", "seed", "amp")


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
    amp: bool = False
    out: str | None = None
    resume: bool = False
    stop_after: int | None = None
    quiet: bool = False
    eval_batch: int = 500
    workers: int = 8
    threads: int | None = None

    def resolved(self) -> "TrainConfig":
        """A copy with validated names and the paper's defaults filled in (batch, epochs, milestones)."""
        c = dataclasses.replace(self)
        check_model(c.model)
        check_dataset(c.dataset)
        m = parse_method(c.method)
        c.method = m.name
        for name in ("epochs", "batch", "big_batch", "k", "eval_batch"):
            v = getattr(c, name)
            if v is not None and (int(v) != v or v < 1):
                raise SrchainError(f"--{name.replace('_', '-')} must be an integer >= 1, got {v!r}")
        if not (c.lr > 0 and math.isfinite(c.lr)):
            raise SrchainError(f"--lr must be > 0, got {c.lr!r}")
        if not c.width > 0:
            raise SrchainError(f"--width must be > 0, got {c.width!r}")
        Grid(c.delta, c.bits)                                        # validates Δ > 0 and bits
        if c.epochs is None:
            c.epochs = PAPER_EPOCHS[c.dataset]
        if c.batch is None:
            c.batch = (c.big_batch or BIG_BATCH[c.model]) if m.big else DEFAULT_BATCH
        if c.milestones is None:
            if c.dataset in PAPER_MILESTONES:
                c.milestones = PAPER_MILESTONES[c.dataset]
            else:
                m1 = max(1, int(0.5 * c.epochs + 0.5))
                c.milestones = (m1, max(m1 + 1, int(122 / 164 * c.epochs + 0.5)))
        c.milestones = tuple(int(x) for x in c.milestones)
        if c.scale != "none" and m.rule != "bc":
            raise SrchainError("--scale filter (per-filter BWN scale) needs a bc method")
        return c

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["milestones"] = None if self.milestones is None else list(self.milestones)
        return d


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate of 0-based ``epoch``: ``lr · γ^{#milestones ≤ epoch}`` (MultiStepLR semantics)."""
    return cfg.lr * cfg.gamma ** sum(1 for m in cfg.milestones if epoch >= m)


# -------------------------------------------------------------------------------------------------------------
# checkpoints
# -------------------------------------------------------------------------------------------------------------
def save_checkpoint(path, state: dict) -> Path:
    """``torch.save`` through a temporary file and an atomic rename (:func:`srchain.io.atomic_write`)."""
    from srchain.io import atomic_write

    return atomic_write(path, lambda fh: torch.save(state, fh), binary=True)


def load_checkpoint(path, device="cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` (our own file: full unpickling is allowed)."""
    try:
        return torch.load(path, map_location=device, weights_only=False)
    except (OSError, RuntimeError, EOFError) as exc:
        raise SrchainError(f"cannot read checkpoint {path}: {exc}") from None


def _rng_state():
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def _set_rng_state(s):
    torch.set_rng_state(s["torch"])
    np.random.set_state(s["numpy"])
    random.setstate(s["python"])
    if s.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


# -------------------------------------------------------------------------------------------------------------
# distributed
# -------------------------------------------------------------------------------------------------------------
def _setup(device_pref: str):
    """``(device, rank, world)``; initialises the process group under torchrun (``WORLD_SIZE > 1``)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if device_pref == "auto":
        device_pref = "cuda" if torch.cuda.is_available() else "cpu"
    if device_pref == "cuda" and not torch.cuda.is_available():
        raise SrchainError("--device cuda was asked for but torch sees no CUDA device; use --device cpu")
    if world <= 1:
        return torch.device(device_pref), 0, 1
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device_pref == "cuda":
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device, dist.get_rank(), dist.get_world_size()


def _all_sum(t: torch.Tensor, world: int) -> torch.Tensor:
    if world > 1:
        import torch.distributed as dist
        dist.all_reduce(t)
    return t


def _barrier(world):
    if world > 1:
        import torch.distributed as dist
        dist.barrier()


# -------------------------------------------------------------------------------------------------------------
# the run
# -------------------------------------------------------------------------------------------------------------
def _evaluate(model, data, cfg, device, autocast):
    model.eval()
    wrong = torch.zeros((), dtype=torch.long, device=device)
    n = 0
    with torch.no_grad():
        for x, y in data.test_batches(cfg.eval_batch, device):
            with autocast():
                out = model(x)
            wrong += (out.argmax(1) != y).sum()
            n += len(y)
    return 100.0 * wrong.item() / max(n, 1)


def train(cfg: TrainConfig) -> dict:
    """Run (or resume) one training run; return ``{"config", "history", "final", "out", "stopped"}``.

    Raises
    ------
    SrchainError
        For bad settings, a missing data folder, an output folder holding another run, or a non-finite loss.
    """
    milestones_given = cfg.milestones is not None
    cfg = cfg.resolved()
    method = parse_method(cfg.method)
    out = Path(cfg.out) if cfg.out else None
    ckpt_path = out / "checkpoint.pt" if out else None
    ckpt = None
    if out is not None and ckpt_path.exists():
        if not cfg.resume:
            raise SrchainError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
        ckpt = load_checkpoint(ckpt_path)
        saved = ckpt["config"]
        if not milestones_given and saved.get("milestones") is not None:   # derived ones follow the checkpoint
            cfg.milestones = tuple(saved["milestones"])
        diff = [k for k in _RESUME_KEYS if _norm(getattr(cfg, k)) != _norm(saved.get(k))]
        if diff:
            k = diff[0]
            raise SrchainError(f"cannot resume {out}: --{k.replace('_', '-')} was {saved.get(k)!r} there, "
                               f"{getattr(cfg, k)!r} now; use the same settings or another --out")

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device, rank, world = _setup(cfg.device)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    random.seed(cfg.seed)

    data = load_dataset(cfg.dataset, cfg.data_dir, cfg.download, cfg.image_size)
    if hasattr(data, "workers"):
        data.workers = cfg.workers
    model = build_model(cfg.model, DATASET_CLASSES[cfg.dataset] if cfg.dataset != "imagenet" else
                        data.num_classes, cfg.width, cfg.image_size).to(device)
    params = list(model.parameters())
    if method.base == "adam":
        base = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        base = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    qgen = epoch_generator(cfg.seed, 2**31 - 1, device=device.type)      # Rademacher init and Qs draws
    opt = QuantizedOptimizer(base, conv_weights(model), rule=method.rule, grid=Grid(cfg.delta, cfg.bits),
                             generator=qgen, clip_latent=cfg.clip_latent, scale=cfg.scale)
    layers = named_layers(model)
    tracker = FlipTracker([(n, m.weight) for n, m in layers], k=cfg.k)
    conv_names = [n for n, _ in layers if n.startswith("conv_")]

    use_amp = cfg.amp
    amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    scaler = torch.amp.GradScaler("cuda") if (use_amp and device.type == "cuda") else None

    def autocast():
        return torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp)

    history, start = [], 0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        tracker.load_state_dict(ckpt["flips"])
        if scaler is not None and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        _set_rng_state(ckpt["rng"])
        history, start = list(ckpt["history"]), int(ckpt["epoch"])

    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

    if rank == 0 and out is not None:
        write_json(out / "config.json", {"command": "train", **cfg.to_dict(), "world_size": world,
                                         "global_batch": cfg.batch * world})
    from tqdm.auto import tqdm

    stopped = False
    steps = data.n_train_steps(cfg.batch, world)
    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        lr = lr_at(cfg, epoch)
        for g in opt.param_groups:
            g["lr"] = lr
        net.train()
        wrong = torch.zeros((), dtype=torch.long, device=device)
        seen = torch.zeros((), dtype=torch.long, device=device)
        loss_sum = 0.0
        bar = tqdm(total=steps, desc=f"{cfg.model} {cfg.method} epoch {epoch + 1}/{cfg.epochs}", leave=False,
                   disable=cfg.quiet or rank != 0)
        for step, (x, y) in enumerate(data.batches(cfg.batch, epoch, cfg.seed, device, rank, world)):
            with autocast():
                logits = net(x)
                loss = F.cross_entropy(logits.float(), y)
            lv = loss.item()
            if not math.isfinite(lv):
                bar.close()
                where = f"the last good checkpoint is {ckpt_path}" if history and ckpt_path else \
                    "no epoch had finished, so there is no checkpoint"
                raise SrchainError(f"the loss became {lv} at epoch {epoch + 1}, step {step + 1}; {where}; "
                                   f"lower --lr (now {lr:g}) or change --delta")
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            wrong += (logits.argmax(1) != y).sum()
            seen += len(y)
            loss_sum += lv
            bar.update(1)
            if step % 10 == 0:
                bar.set_postfix(loss=f"{lv:.3f}")
        bar.close()
        stats = _all_sum(torch.stack([wrong, seen]).double(), world)
        train_error = 100.0 * stats[0].item() / max(stats[1].item(), 1)
        if rank == 0:
            test_error = _evaluate(model, data, cfg, device, autocast)
            latent = opt.latent_views()
            latent = None if latent is None else dict(zip(conv_names, latent))
            per_layer, totals = tracker.update(latent)
            rec = {"epoch": epoch + 1, "lr": lr, "train_error": train_error, "test_error": test_error,
                   "train_loss": loss_sum / max(steps, 1), "layers": per_layer,
                   "conv_flipped_since_init": totals["flipped_since_init"],
                   "conv_flipped_last_k": totals["flipped_last_k"], "k": cfg.k,
                   "model": cfg.model, "method": cfg.method, "seed": cfg.seed,
                   "seconds": time.perf_counter() - t0}
            history.append(rec)
            if out is not None:
                state = {"version": 1, "config": cfg.to_dict(), "epoch": epoch + 1,
                         "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
                         "optimizer": opt.state_dict(), "flips": tracker.state_dict(), "history": history,
                         "scaler": None if scaler is None else scaler.state_dict(), "rng": _rng_state()}
                save_checkpoint(ckpt_path, state)
                write_text_atomic(out / "log.jsonl", "".join(json.dumps(r) + "\n" for r in history))
            if not cfg.quiet:
                tqdm.write(f"{cfg.model} {cfg.method} seed {cfg.seed} epoch {epoch + 1}/{cfg.epochs}: "
                           f"train {train_error:.2f}%  test {test_error:.2f}%  conv flips "
                           f"{totals['flipped_since_init']:.1f}%")
        _barrier(world)
        if cfg.stop_after is not None and epoch + 1 >= cfg.stop_after and epoch + 1 < cfg.epochs:
            stopped = True
            break
    return {"config": cfg.to_dict(), "history": history, "final": history[-1] if history else None,
            "out": None if out is None else str(out), "stopped": stopped, "model": model, "optimizer": opt,
            "rank": rank, "world": world}


def _norm(v):
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v
