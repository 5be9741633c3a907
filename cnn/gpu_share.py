"""Sharing GPUs among the runs of Table 1 (:func:`srchain.cnn.table1.run_table1`, ``--runs-per-gpu``).

A Dask worker trains on GPU ``worker index mod GPU count`` (:func:`_pick_gpu`), so ``K·G`` workers put K runs on
each of G GPUs; ``--runs-per-gpu auto`` measures K, the number of runs that one GPU trains at once while the total
images/s still grows by :data:`MIN_GAIN` with the next run (:func:`choose_runs_per_gpu`, from
:func:`measure_runs_per_gpu`, which starts K processes timing the same cell together); ``--amp auto`` is decided
once per cell before the runs share the GPU (:func:`_prepare_amp`).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

from srchain.errors import SrchainError

__all__ = ["MAX_RUNS_PER_GPU", "MIN_GAIN", "measure_runs_per_gpu", "choose_runs_per_gpu"]


def _pick_gpu(device: str) -> None:
    import torch

    if device == "cpu" or not torch.cuda.is_available() or torch.cuda.device_count() < 2:
        return
    try:
        from distributed import get_worker

        index = int(get_worker().name)
    except (ImportError, ValueError, TypeError):
        return  # not in a LocalCluster worker: the current device
    torch.cuda.set_device(index % torch.cuda.device_count())


def _check_runs_per_gpu(k):
    """``None`` (1), an integer >= 1 or ``"auto"``."""
    if k is None:
        return 1
    if k == "auto":
        return k
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise SrchainError(f"--runs-per-gpu must be an integer >= 1 or auto, got {k!r}")
    return k


def _gpu_count() -> int:
    import torch

    return max(1, torch.cuda.device_count())


def _prepare_amp(models, methods, datasets, base) -> None:
    """``--amp auto`` on a local cluster: measure each cell's choice here first (cached on disk), so the runs,
    started together, read it instead of measuring it while they share the GPU."""
    import torch
    from srchain.cnn.precision import choose_amp
    from srchain.cnn.step import deterministic_mode

    device = torch.device("cuda")
    for dataset in datasets:
        for model in models:
            for method in methods:
                cfg = dataclasses.replace(base, model=model, method=method, dataset=dataset).resolved()
                with deterministic_mode(cfg.deterministic, "cuda"):
                    choose_amp(cfg, device)
    torch.cuda.empty_cache()


#: the largest K ``--runs-per-gpu auto`` tries, and the gain in total images/s each further run must bring
MAX_RUNS_PER_GPU = 4
MIN_GAIN = 1.10


def _concurrency_child(spec: str) -> None:
    """Child process of :func:`measure_runs_per_gpu`: time each cell's step in turn, the K processes starting
    each cell's timing together behind a file barrier; print one JSON line per cell."""
    import json
    import os

    import torch
    from srchain.cnn.precision import timed_steps
    from srchain.cnn.step import deterministic_mode
    from srchain.cnn.train import TrainConfig

    spec = json.loads(spec)
    ready = Path(spec["barrier"])
    for i, c in enumerate(spec["configs"]):
        cfg = TrainConfig(**c)

        def barrier(i=i):
            (ready / f"ready{i}-{os.getpid()}").touch()
            deadline = time.time() + 300
            while len(list(ready.glob(f"ready{i}-*"))) < spec["k"] and time.time() < deadline:
                time.sleep(0.005)

        device = torch.device(cfg.device if cfg.device != "auto" else "cuda")
        try:
            with deterministic_mode(cfg.deterministic, device.type):
                r = timed_steps(cfg, device, seconds=spec["seconds"], barrier=barrier)
        except (RuntimeError, torch.OutOfMemoryError) as exc:  # out of memory with K runs: that K fails
            barrier()
            r = {"error": " ".join(str(exc).split())[:200]}
        print("RESULT " + json.dumps({"cell": i, **r}), flush=True)


def measure_runs_per_gpu(cfgs, ks=(1, 2, 3), seconds: float = 0.5) -> dict:
    """Total images/s of K processes training the same cell on one GPU at once, for each K in ``ks`` and each
    resolved config in ``cfgs`` (``{name: TrainConfig}``, ``amp`` not ``auto``). The K processes are started
    once per K and time the cells in turn, each cell's timing started together behind a barrier.

    Returns ``{name: {K: total images/s}}`` (``None`` where a process failed, e.g. out of memory)."""
    import json
    import subprocess
    import sys

    names = list(cfgs)
    out = {name: {} for name in names}
    code = "import sys; from srchain.cnn.gpu_share import _concurrency_child; _concurrency_child(sys.argv[1])"
    for k in ks:
        with tempfile.TemporaryDirectory() as bdir:
            spec = {"configs": [cfgs[n].to_dict() for n in names], "barrier": bdir, "k": k, "seconds": seconds}
            procs = [
                subprocess.Popen(
                    [sys.executable, "-c", code, json.dumps(spec)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for _ in range(k)
            ]
            outs = [p.communicate(timeout=900) for p in procs]
        totals = {n: 0.0 for n in names}
        for p, (o, e) in zip(procs, outs, strict=True):
            if p.returncode != 0:  # say why (the totals of this K become None)
                print(f"runs-per-gpu measurement, K={k}: a process failed: {e.strip()[-400:]}", file=sys.stderr)
            got = {}
            for ln in o.splitlines():
                if ln.startswith("RESULT "):
                    r = json.loads(ln[7:])
                    got[r["cell"]] = r.get("images_per_second")
            for i, n in enumerate(names):
                v = got.get(i)
                totals[n] = None if (v is None or totals[n] is None) else totals[n] + v
        for n in names:
            out[n][k] = totals[n]
    return out


def _gain(measured: dict, k: int, nxt: int) -> float:
    """The smallest factor by which any model's total images/s grows from K = ``k`` to ``nxt`` runs (0: a
    measurement failed)."""
    gains = []
    for per in measured.values():
        a, b = per.get(k), per.get(nxt)
        gains.append(0.0 if not a or not b else b / a)
    return min(gains) if gains else 0.0


def choose_runs_per_gpu(models, methods, base, datasets=None, ks=None, seconds: float = 0.5, measured=None) -> dict:
    """``--runs-per-gpu auto``: K from measured throughput.

    For each model, one cell (the first method, the dataset's shape) is trained by K = 1, 2, … processes at once
    on one GPU (:func:`measure_runs_per_gpu`); K grows while the total images/s of the model that gains least
    still rises by at least ``MIN_GAIN`` (10%) with the next run. On the CPU K is 1 (nothing is measured).
    ``measured`` ({model: {K: images/s}}) skips the measurement (tests, or figures taken elsewhere).

    Returns ``{"runs_per_gpu": K, "images_per_second": {model: {K: total}}, "speedup": {model: total(K) /
    total(1)}}``.
    """
    import torch

    datasets = list(datasets or [base.dataset])
    ks = tuple(ks or range(1, MAX_RUNS_PER_GPU + 1))
    if measured is None:
        if not _trains_on_cuda(base.device) or not torch.cuda.is_available():
            return {"runs_per_gpu": 1, "images_per_second": {}, "speedup": {}, "note": "not on CUDA: one run"}
        from srchain.cnn.precision import choose_amp
        from srchain.cnn.step import deterministic_mode

        cfgs = {}
        for model in models:
            cfg = dataclasses.replace(base, model=model, method=methods[0], dataset=datasets[0]).resolved()
            if cfg.amp == "auto":
                with deterministic_mode(cfg.deterministic, "cuda"):
                    cfg.amp = choose_amp(cfg, torch.device("cuda"))["amp"]
            cfgs[model] = cfg
        torch.cuda.empty_cache()
        measured = {m: {} for m in models}
        k = 1
        for i, nxt in enumerate(ks):  # K grows while every model still gains; measured only that far
            for m, v in measure_runs_per_gpu(cfgs, (nxt,), seconds).items():
                measured[m].update(v)
            if i and _gain(measured, k, nxt) < MIN_GAIN:
                break
            k = nxt
    else:
        k = 1
        for nxt in ks:
            if nxt > k and _gain(measured, k, nxt) >= MIN_GAIN:
                k = nxt
            elif nxt > k:
                break
    speedup = {m: (per.get(k) or 0.0) / per[1] if per.get(1) else None for m, per in measured.items()}
    return {"runs_per_gpu": k, "images_per_second": measured, "speedup": speedup}


def _trains_on_cuda(device: str, scheduler=None) -> bool:
    """Whether the runs train on CUDA (``--device cuda``, or ``auto`` where this machine has CUDA)."""
    if device == "cuda":
        return True
    if device == "cpu":
        return False
    import torch

    return torch.cuda.is_available()
