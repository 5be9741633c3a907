"""One training run of Section 6: the model, the method, the schedule, metrics, checkpoints, resume, DDP, AMP.

Schedule (Section 6): Adam with lr 0.01, divided by 10 at epochs 82 and 122 on CIFAR (30 and 60 on ImageNet),
no weight decay by default (Appendix H.1). On the offline digits set, whose runs are short, the default
milestones sit at the same fractions of the run (82/164 = 0.5 and 122/164 ≈ 0.74 of ``epochs``).

Every epoch appends one JSON line to ``OUT/log.jsonl``::

    {"epoch", "lr", "train_error", "test_error", "layers": {name: {"flipped_since_init", "flipped_last_k",
     "mean_abs_wb_minus_wr"}}, ...}

(errors in percent; ``train_error`` is the running error over the epoch's augmented minibatches, ``test_error``
the error of the model in eval mode on the test set), and writes ``OUT/checkpoint.pt`` atomically (temporary file
+ ``os.replace``) with its SHA-256 beside it in ``OUT/checkpoint.pt.sha256``. ``resume=True`` restores the model,
the optimizer (and BC's latent weights), the Qs generator, the flip history and the RNG states of torch, numpy
and python; the data order and augmentation of epoch ``e`` come from generators seeded by ``(seed, e)``, so the
resumed run continues bit for bit (the number of CPU threads is part of the settings a resume must keep).

Checkpoints hold only tensors and plain values (dicts, lists, str, int, float, bool, None) and are read with
``torch.load(weights_only=True)``, so a crafted file cannot run code; before that its checksum is verified, and
after it the schema, every tensor's shape and the finiteness of the weights and optimizer state are checked
against the model being resumed. Anything wrong is one :class:`SrchainError`. (The checkpoint I/O and checks are
:mod:`srchain.cnn.checkpoint`.)

The step (:mod:`srchain.cnn.step`) never waits for the device inside an epoch: the losses and error counts
accumulate on the device and are read once at the end of the epoch (or every ``sync_every`` steps). A non-finite
loss (reported with its epoch and step, found at that read), an update that overflows float32 (a huge ``lr``) or
weights that become non-finite stop the run with :class:`SrchainError` (exit status 2 on the command line) and
leave the last good checkpoint in place; nothing of the failing epoch is written.

Speed options (results on the CPU are unchanged by them unless said): ``amp`` ``off``/``fp16``/``bf16`` (``True``,
a bare ``--amp``, keeps its old meaning: fp16 on CUDA, bf16 on the CPU); ``channels_last`` (default: on for CUDA;
on the CPU it changes the convolution kernels, hence the last bits); ``compile`` (``torch.compile(mode=
"reduce-overhead")``: CUDA graphs over forward and backward, after minutes of compilation; off by default);
``deterministic`` (``torch.use_deterministic_algorithms``, deterministic cuDNN, ``CUBLAS_WORKSPACE_CONFIG``, no
cuDNN autotuning: what a bit-exact ``--resume`` on CUDA needs; without it cuDNN's autotuner is on). A bit-exact
resume needs the same device, ``--threads``, ``--amp``, ``--channels-last``, ``--compile`` and ``--deterministic``;
only ``--threads`` and ``--amp`` change the numbers enough on the CPU to be refused when they differ.
Before anything is allocated, the run's memory is estimated (:mod:`srchain.cnn.resources`) and refused when over
``max_memory``.

Under ``torchrun`` (``WORLD_SIZE > 1``) the model is wrapped in ``DistributedDataParallel`` (NCCL on CUDA,
gloo on CPU); ``batch`` is per device, so the global batch is ``batch × world size``. Every rank draws the same
Qs numbers, so the replicas stay identical; rank 0 evaluates, logs and checkpoints.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from srchain.cnn.checkpoint import (
    CHECKPOINT_VERSION,
    _check_against,
    _fail,
    _rng_state,
    _set_rng_state,
    load_checkpoint,
    save_checkpoint,
)
from srchain.cnn.config import TrainConfig, _device_type, lr_at
from srchain.cnn.data import epoch_generator, load_dataset
from srchain.cnn.metrics import FlipTracker
from srchain.cnn.models import build_model, conv_weights, named_layers
from srchain.cnn.optim import QuantizedOptimizer
from srchain.cnn.quantized import Grid
from srchain.cnn.registry import DATASET_CLASSES, parse_method
from srchain.cnn.step import (
    TrainStep,
    autocast_for,
    check_amp_supported,
    deterministic_mode,
    make_base_optimizer,
    resolve_amp,
)

from srchain.errors import SrchainError
from srchain.io import write_json, write_text_atomic

__all__ = ["TrainConfig", "train", "build_run", "lr_at", "save_checkpoint", "load_checkpoint"]

#: config fields that must agree between a checkpoint and the run that resumes it (``threads``: CPU reductions
#: depend on the number of intra-op threads, so another count would not continue bit for bit)
_RESUME_KEYS = (
    "model",
    "method",
    "dataset",
    "batch",
    "lr",
    "milestones",
    "gamma",
    "weight_decay",
    "momentum",
    "delta",
    "bits",
    "scale",
    "clip_latent",
    "width",
    "image_size",
    "k",
    "seed",
    "amp",
    "threads",
)


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
def _evaluate(model, data, cfg, device, autocast, channels_last=False):
    model.eval()
    wrong = torch.zeros((), dtype=torch.long, device=device)
    n = 0
    with torch.no_grad():
        for x, y in data.test_batches(cfg.eval_batch, device, channels_last=channels_last):
            with autocast():
                out = model(x)
            wrong += (out.argmax(1) != y).sum()
            n += len(y)
    return 100.0 * wrong.item() / max(n, 1)


def _loss(logits, y):
    """Cross-entropy in float32 (``F`` is looked up at each call, so a test can patch it)."""
    return F.cross_entropy(logits.float(), y)


def _loss_gather(logits, y):
    """The same cross-entropy as ``-log_softmax(logits)[y]`` averaged: CUDA's NLLLoss kernel has no deterministic
    mode (``torch.use_deterministic_algorithms`` refuses it), a gather and its scatter-add backward do."""
    return -F.log_softmax(logits.float(), 1).gather(1, y[:, None]).mean()


def train(cfg: TrainConfig) -> dict:
    """Run (or resume) one training run; return ``{"config", "history", "final", "out", "stopped"}``.

    Raises
    ------
    SrchainError
        For bad settings, a missing data folder, an output folder holding another run, a corrupt checkpoint, a
        run whose estimated memory exceeds ``max_memory``, an allocation that fails all the same, or a
        non-finite loss.
    """
    try:
        return _train(cfg)
    except (torch.OutOfMemoryError, MemoryError) as exc:
        raise SrchainError(
            f"ran out of memory ({type(exc).__name__}) although the estimate fitted; lower "
            "--width, --image-size or --batch"
        ) from None
    except RuntimeError as exc:
        if "can't allocate memory" not in str(exc) and "out of memory" not in str(exc):
            raise
        raise SrchainError(
            f"ran out of memory ({' '.join(str(exc).split())[:120]}) although the estimate "
            "fitted; lower --width, --image-size or --batch"
        ) from None


def _resume_value(k, v, device_type):
    """A config value as compared on resume (``amp`` written as a bool by older versions means fp16 on CUDA,
    bfloat16 on the CPU)."""
    if k == "amp":
        try:
            return resolve_amp(v, device_type)
        except SrchainError:
            return v
    return _norm(v)


def _train(cfg: TrainConfig) -> dict:
    milestones_given = cfg.milestones is not None
    threads_given = cfg.threads is not None
    cfg = cfg.resolved()
    method = parse_method(cfg.method)
    out = Path(cfg.out) if cfg.out else None
    ckpt_path = out / "checkpoint.pt" if out else None
    ckpt = None
    if out is not None and out.exists() and not out.is_dir():
        raise SrchainError(f"--out {out} exists and is not a directory")
    if cfg.threads is None:
        cfg.threads = torch.get_num_threads()  # torch's choice, recorded for --resume
    dev_type = _device_type(cfg.device)
    if out is not None and ckpt_path.exists():
        if not cfg.resume:
            raise SrchainError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
        ckpt = load_checkpoint(ckpt_path)
        saved = ckpt["config"]
        if not milestones_given and saved.get("milestones") is not None:  # derived ones follow the checkpoint
            cfg.milestones = tuple(saved["milestones"])
        if cfg.amp == "auto" and saved.get("amp") is not None:  # --amp auto: the precision the run chose
            cfg.amp = _resume_value("amp", saved["amp"], dev_type)
        diff = [
            k
            for k in _RESUME_KEYS
            if _resume_value(k, getattr(cfg, k), dev_type) != _resume_value(k, saved.get(k), dev_type)
        ]
        if diff:
            k = diff[0]
            extra = (
                " (torch's default on this machine; pass --threads to match)"
                if k == "threads" and not threads_given
                else ""
            )
            raise SrchainError(
                f"cannot resume {out}: --{k.replace('_', '-')} was {saved.get(k)!r} there, "
                f"{getattr(cfg, k)!r} now{extra}; use the same settings or another --out"
            )
        if ckpt["epoch"] > cfg.epochs:
            raise SrchainError(
                f"cannot resume {out}: it has already run {ckpt['epoch']} epochs, more than --epochs {cfg.epochs}"
            )

    device, rank, world = _setup(cfg.device)
    from srchain.cnn.resources import check_run_memory

    check_run_memory(cfg, device.type, cfg.max_memory)
    check_amp_supported(cfg.amp, device.type)
    with deterministic_mode(cfg.deterministic, device.type):
        amp_choice = None
        if cfg.amp == "auto":
            from srchain.cnn.precision import choose_amp

            amp_choice = choose_amp(cfg, device, world)
            cfg.amp = amp_choice["amp"]
        return _run(cfg, method, device, rank, world, out, ckpt_path, ckpt, amp_choice)


def build_run(cfg: TrainConfig, device, num_classes: int, world: int = 1):
    """The model, its quantizing optimizer, the flip tracker and the training step of a resolved ``cfg``.

    Seeds torch with ``cfg.seed`` first, so the same config always builds the same initial weights (the
    benchmarks and ``table1 --dry-run`` time exactly the step a run takes). Returns a dict with ``model``,
    ``net`` (DDP-wrapped and/or compiled), ``opt``, ``tracker``, ``conv_names``, ``scaler``, ``autocast``,
    ``step`` (a :class:`~srchain.cnn.step.TrainStep`) and ``channels_last``.
    """
    method = parse_method(cfg.method)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, num_classes, cfg.width, cfg.image_size).to(device)
    channels_last = _channels_last(cfg, device.type)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    params = list(model.parameters())
    base = make_base_optimizer(params, method.base, cfg.lr, cfg.weight_decay, cfg.momentum, device.type)
    qgen = epoch_generator(cfg.seed, 2**31 - 1, device=device.type)  # Rademacher init and Qs draws
    opt = QuantizedOptimizer(
        base,
        conv_weights(model),
        rule=method.rule,
        grid=Grid(cfg.delta, cfg.bits),
        generator=qgen,
        clip_latent=cfg.clip_latent,
        scale=cfg.scale,
        fmt=method.fmt,
        sr_bits=method.sr_bits,
    )
    layers = named_layers(model)
    # on a number format a "flip" is a change of the stored value (on ΔZ's binary grid: of the sign)
    tracker = FlipTracker([(n, m.weight) for n, m in layers], k=cfg.k, values=method.fmt is not None)
    conv_names = [n for n, _ in layers if n.startswith("conv_")]
    if cfg.amp == "auto":
        raise SrchainError("internal: --amp auto must be resolved (srchain.cnn.precision.choose_amp) before build_run")
    scaler = torch.amp.GradScaler(device.type) if cfg.amp == "fp16" else None
    graph = use_cuda_graph(cfg, device.type, world)
    autocast = autocast_for(device.type, cfg.amp, cache=not graph)
    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:
        from srchain.cnn.precision import cache_root

        # inductor's compiled kernels and graphs on disk, in one place for every run of a grid (and across reboots)
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_root() / "inductor"))
        net = torch.compile(net, mode="reduce-overhead", dynamic=False)
    loss_fn = _loss_gather if (cfg.deterministic and device.type == "cuda") else _loss
    step = TrainStep(net, opt, loss_fn, autocast, scaler, device, compiled=cfg.compile, graph=graph)
    return {
        "model": model,
        "net": net,
        "opt": opt,
        "tracker": tracker,
        "conv_names": conv_names,
        "scaler": scaler,
        "autocast": autocast,
        "step": step,
        "channels_last": channels_last,
        "cuda_graph": graph,
    }


def use_cuda_graph(cfg, device_type: str, world: int = 1) -> bool:
    """Whether the step is captured as one CUDA graph: ``cuda_graph=None`` (the default) means yes on CUDA for a
    single-process run without ``--compile`` and without fp16's GradScaler; ``False`` never; ``True`` wherever
    it can be (on the CPU: the same static-buffer step, run eagerly)."""
    if cfg.compile or cfg.amp == "fp16" or world > 1:
        return False
    if cfg.cuda_graph is None:
        return device_type == "cuda"
    return bool(cfg.cuda_graph)


def _channels_last(cfg, device_type: str) -> bool:
    return (device_type == "cuda") if cfg.channels_last is None else bool(cfg.channels_last)


def _run(cfg, method, device, rank, world, out, ckpt_path, ckpt, amp_choice=None) -> dict:
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)  # noqa: NPY002 - the global RNG a user's code may draw from, saved in checkpoints
    random.seed(cfg.seed)

    data = load_dataset(cfg.dataset, cfg.data_dir, cfg.download, cfg.image_size)
    if hasattr(data, "workers"):
        data.workers = cfg.workers
    num_classes = DATASET_CLASSES[cfg.dataset] if cfg.dataset != "imagenet" else data.num_classes
    parts = build_run(cfg, device, num_classes, world)
    model, opt, tracker, scaler = parts["model"], parts["opt"], parts["tracker"], parts["scaler"]
    conv_names, autocast, train_step, channels_last = (
        parts["conv_names"],
        parts["autocast"],
        parts["step"],
        parts["channels_last"],
    )

    history, start = [], 0
    if ckpt is not None:
        _check_against(ckpt, ckpt_path, model, opt, tracker)
        try:
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            if device.type != "cuda":  # a checkpoint of a CUDA-graphed run says capturable; the CPU's foreach cannot
                for g in opt.param_groups:
                    g["capturable"] = False
            tracker.load_state_dict(ckpt["flips"])
            if scaler is not None and ckpt.get("scaler"):
                scaler.load_state_dict(ckpt["scaler"])
            _set_rng_state(ckpt["rng"])
        except (RuntimeError, ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
            _fail(ckpt_path, f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}")
        history, start = list(ckpt["history"]), int(ckpt["epoch"])

    if rank == 0 and out is not None:
        write_json(
            out / "config.json",
            {
                "command": "train",
                **cfg.to_dict(),
                "world_size": world,
                "global_batch": cfg.batch * world,
                "cuda_graph": parts["cuda_graph"],
                **({"amp_auto": amp_choice} if amp_choice else {}),
            },
        )
    from tqdm.auto import tqdm

    stopped = False
    steps = data.n_train_steps(cfg.batch, world)
    sync_every = cfg.sync_every or steps

    def stop(what, epoch, step, lr):
        where = (
            f"the last good checkpoint is {ckpt_path}"
            if history and ckpt_path
            else "no epoch had finished, so there is no checkpoint"
        )
        return SrchainError(
            f"{what} at epoch {epoch + 1}, step {step + 1}; {where}; lower --lr (now {lr:g}) or change --delta"
        )

    def check_losses(epoch, lr, bar):
        """Read the losses not read yet (one host sync); stop at the first non-finite one (on every rank)."""
        r = train_step.read()
        bad = _all_min(-1 if r.bad_step is None else r.bad_step, world, device)
        if bad >= 0:
            bar.close()
            value = r.bad_value if r.bad_step == bad else float("nan")
            raise stop(f"the loss became {value}", epoch, bad, lr)
        if r.losses:
            bar.set_postfix(loss=f"{r.losses[-1]:.3f}")

    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        lr = lr_at(cfg, epoch)
        for g in opt.param_groups:
            g["lr"] = lr
        parts["net"].train()
        train_step.begin_epoch(steps)
        bar = tqdm(
            total=steps,
            desc=f"{cfg.model} {cfg.method} epoch {epoch + 1}/{cfg.epochs}",
            leave=False,
            disable=cfg.quiet or rank != 0,
        )
        for step, (x, y) in enumerate(
            data.batches(cfg.batch, epoch, cfg.seed, device, rank, world, channels_last=channels_last)
        ):
            try:
                train_step(x, y)
            except RuntimeError as exc:
                if "overflow" not in str(exc):
                    raise
                check_losses(epoch, lr, bar)  # a non-finite loss before it is reported first
                bar.close()  # a step too large for float32 (e.g. --lr 1e300)
                raise stop(
                    "the update overflowed float32 (the loss would become non-finite)", epoch, step, lr
                ) from None
            bar.update(1)
            if (step + 1) % sync_every == 0 and step + 1 < steps:
                check_losses(epoch, lr, bar)
        check_losses(epoch, lr, bar)
        bar.close()
        if not _all_finite(model.parameters()):
            raise stop("the weights became non-finite", epoch, steps - 1, lr)
        stats = _all_sum(
            torch.stack(
                [train_step.wrong.double(), torch.tensor(float(train_step.seen), dtype=torch.float64, device=device)]
            ),
            world,
        )
        train_error = 100.0 * stats[0].item() / max(stats[1].item(), 1)
        if rank == 0:
            test_error = _evaluate(model, data, cfg, device, autocast, channels_last)
            latent = opt.latent_views()
            latent = None if latent is None else dict(zip(conv_names, latent, strict=True))
            per_layer, totals = tracker.update(latent)
            rec = {
                "epoch": epoch + 1,
                "lr": lr,
                "train_error": train_error,
                "test_error": test_error,
                "train_loss": train_step.loss_sum() / max(steps, 1),
                "layers": per_layer,
                "conv_flipped_since_init": totals["flipped_since_init"],
                "conv_flipped_last_k": totals["flipped_last_k"],
                "k": cfg.k,
                "amp": cfg.amp,
                "model": cfg.model,
                "method": cfg.method,
                "seed": cfg.seed,
                "seconds": time.perf_counter() - t0,
            }
            history.append(rec)
            if out is not None:
                state = {
                    "version": CHECKPOINT_VERSION,
                    "config": cfg.to_dict(),
                    "epoch": epoch + 1,
                    "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
                    "optimizer": opt.state_dict(),
                    "flips": tracker.state_dict(),
                    "history": history,
                    "scaler": None if scaler is None else scaler.state_dict(),
                    "rng": _rng_state(),
                }
                save_checkpoint(ckpt_path, state)
                write_text_atomic(out / "log.jsonl", "".join(json.dumps(r) + "\n" for r in history))
            if not cfg.quiet:
                tqdm.write(
                    f"{cfg.model} {cfg.method} seed {cfg.seed} epoch {epoch + 1}/{cfg.epochs}: "
                    f"train {train_error:.2f}%  test {test_error:.2f}%  conv flips "
                    f"{totals['flipped_since_init']:.1f}%"
                )
        _barrier(world)
        if cfg.stop_after is not None and epoch + 1 >= cfg.stop_after and epoch + 1 < cfg.epochs:
            stopped = True
            break
    return {
        "config": cfg.to_dict(),
        "history": history,
        "final": history[-1] if history else None,
        "out": None if out is None else str(out),
        "stopped": stopped,
        "model": model,
        "optimizer": opt,
        "rank": rank,
        "world": world,
    }


def _all_finite(params) -> bool:
    """Whether every parameter is finite: one host read for all of them."""
    flags = [torch.isfinite(p.detach()).all() for p in params if p.is_floating_point()]
    return True if not flags else bool(torch.stack(flags).all())


def _all_min(v: int, world: int, device) -> int:
    if world <= 1:
        return v
    import torch.distributed as dist

    big = 2**62
    t = torch.tensor([big if v < 0 else v], dtype=torch.long, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    m = int(t.item())
    return -1 if m == big else m


def _norm(v):
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v
