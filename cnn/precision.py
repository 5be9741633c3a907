"""``--amp auto``: the precision that is fastest for a model on this device, measured once and remembered.

Mixed precision pays only where the step is not bound by kernel launches: in eager mode on a GPU the casts add
launches and bfloat16 can be slower than float32 (whose convolutions already use TF32 on Ampere and newer); with
the step captured as a CUDA graph the launches are gone and bfloat16 wins. So ``auto`` times a few steps of
exactly the run's step (:func:`srchain.cnn.train.build_run`, a synthetic batch of the dataset's shape) in each
candidate precision, float32 (``off``) and bfloat16 (where the GPU has it), and takes the faster: mixed precision
is chosen only when it is faster than float32 for that model and mode. fp16 is not a candidate (its GradScaler
keeps the step out of a CUDA graph).

The choice is cached on disk (``SRCHAIN_CACHE_DIR``, default ``~/.cache/srchain``, file ``amp_auto.json``), keyed
by the device's name, torch's version and what the step's speed depends on (model, width, batch, image size,
CUDA graph, compile, channels-last, deterministic; not the method, whose quantize-after-step is one element-wise
pass either way), so the runs of a grid measure it once per model and batch.
The run records the choice and its measurements in ``config.json`` (``amp_auto``) and every log line (``amp``).
On the CPU ``auto`` is float32 without any measurement (so a CPU run's numbers never depend on timings).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

__all__ = ["choose_amp", "amp_cache_path", "cache_root", "probe_step_seconds", "timed_steps", "synthetic_step"]

#: steps timed per candidate after the warm-up (a CUDA-graphed step needs its own warm-up and capture first)
PROBE_STEPS = 12


def cache_root() -> Path:
    """``$SRCHAIN_CACHE_DIR``, default ``~/.cache/srchain``: the ``--amp auto`` choices, inductor's cache."""
    root = os.environ.get("SRCHAIN_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "srchain")
    return Path(root)


def amp_cache_path() -> Path:
    """The JSON file of remembered ``--amp auto`` choices."""
    return cache_root() / "amp_auto.json"


def _key(cfg, device, world: int) -> str:
    import torch
    from srchain.cnn.train import _channels_last, use_cuda_graph

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    graph = use_cuda_graph(dataclasses.replace(cfg, amp="off"), device.type, world)
    parts = [
        name,
        torch.__version__,
        "224px" if cfg.dataset == "imagenet" else f"{cfg.image_size if cfg.dataset == 'digits' else 32}px",
        cfg.model,
        f"width={cfg.width:g}",
        f"batch={cfg.batch}",
        f"image={cfg.image_size}",
        f"graph={graph}",
        f"compile={bool(cfg.compile)}",
        f"channels_last={_channels_last(cfg, device.type)}",
        f"deterministic={bool(cfg.deterministic)}",
    ]
    return "|".join(parts)


def synthetic_step(cfg, device, num_classes: int | None = None):
    """``(step, x, y, parts)``: the run's step (:func:`srchain.cnn.train.build_run`) for the resolved ``cfg``
    (``amp`` not ``auto``) and one synthetic batch of the dataset's shape on ``device``."""
    import torch
    from srchain.cnn.registry import DATASET_CLASSES
    from srchain.cnn.train import build_run

    size = 224 if cfg.dataset == "imagenet" else (cfg.image_size if cfg.dataset == "digits" else 32)
    classes = num_classes or DATASET_CLASSES[cfg.dataset]
    cfg = dataclasses.replace(cfg, image_size=size)
    parts = build_run(cfg, device, classes)
    fmt = torch.channels_last if parts["channels_last"] else torch.contiguous_format
    g = torch.Generator(device=device.type).manual_seed(0)
    x = torch.randn(cfg.batch, 3, size, size, generator=g, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, classes, (cfg.batch,), generator=g, device=device)
    parts["net"].train()
    return parts["step"], x, y, parts


def timed_steps(cfg, device, steps: int = PROBE_STEPS, seconds: float | None = None, barrier=None) -> dict:
    """Time the run's step on a synthetic batch after a warm-up that includes the CUDA graph's capture:
    ``steps`` steps, or as many as fit in ``seconds``. ``barrier()`` is called between warm-up and timing.
    Returns ``{"step_seconds", "images_per_second", "steps"}``."""
    import torch
    from srchain.cnn.step import GRAPH_WARMUP_STEPS

    step, x, y, parts = synthetic_step(cfg, device)
    warm = GRAPH_WARMUP_STEPS + 2

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    step.begin_epoch(warm + steps)
    for _ in range(warm):
        step(x, y)
    sync()
    if barrier is not None:
        barrier()
    n, t0 = 0, time.perf_counter()
    while True:
        step(x, y)
        n += 1
        if seconds is None:
            if n >= steps:
                break
        elif n % 5 == 0:
            sync()
            if time.perf_counter() - t0 >= seconds:
                break
    sync()
    elapsed = time.perf_counter() - t0
    step.read()
    del parts, step
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {"step_seconds": elapsed / n, "images_per_second": n * x.shape[0] / elapsed, "steps": n}


def probe_step_seconds(cfg, device, steps: int = PROBE_STEPS) -> float:
    """Seconds per training step of the resolved ``cfg`` (``amp`` not ``auto``) on a synthetic batch."""
    return timed_steps(cfg, device, steps)["step_seconds"]


def choose_amp(cfg, device, world: int = 1, cache: bool = True) -> dict:
    """The fastest precision for the resolved ``cfg`` (``amp='auto'``) on ``device``.

    Returns
    -------
    dict
        ``{"amp": "off" | "bf16", "images_per_second": {candidate: value}, "cached": bool, "key": str}``;
        ``cached`` tells whether the measurement was read from the cache (:func:`amp_cache_path`).
    """
    import torch

    from srchain.io import write_text_atomic

    if device.type != "cuda":
        return {"amp": "off", "images_per_second": {}, "cached": False, "key": "cpu: fp32, not measured"}
    key = _key(cfg, device, world)
    path = amp_cache_path()
    table = {}
    if cache and path.exists():
        try:
            table = json.loads(path.read_text())
        except (OSError, ValueError):
            table = {}
        if not isinstance(table, dict):
            table = {}
        hit = table.get(key)
        if isinstance(hit, dict) and hit.get("amp") in ("off", "bf16"):
            return {**hit, "cached": True, "key": key}
    candidates = ["off"] + (["bf16"] if torch.cuda.is_bf16_supported() else [])
    rng = torch.get_rng_state(), torch.cuda.get_rng_state(device)
    try:
        speed = {a: cfg.batch / probe_step_seconds(dataclasses.replace(cfg, amp=a), device) for a in candidates}
    finally:
        torch.set_rng_state(rng[0])
        torch.cuda.set_rng_state(rng[1], device)
    best = max(speed, key=speed.get)
    rec = {"amp": best, "images_per_second": {a: round(v, 1) for a, v in speed.items()}}
    if cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fresh = json.loads(path.read_text()) if path.exists() else {}
            fresh = fresh if isinstance(fresh, dict) else {}
            fresh[key] = rec
            write_text_atomic(path, json.dumps(fresh, indent=1, sort_keys=True))
        except (OSError, ValueError):
            pass  # a read-only home: measured again next time
    return {**rec, "cached": False, "key": key}
