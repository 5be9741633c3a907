"""Throughput of the CNN benchmark on a GPU: every (model, method) × fp32/fp16/bf16, 1 and K runs per GPU.

Makes its own CIFAR-10-format folder (50,000 + 10,000 synthetic 32×32 images in the official pickle layout: class
templates plus noise, so it runs offline), then for each cell builds exactly the run ``srchain train`` builds
(:func:`srchain.cnn.train.build_run`: channels-last, fused Adam, the step without host syncs) and feeds it the real
data path (:meth:`InMemoryData.batches`: the images on the GPU, one gather per batch). After ``--warmup`` steps it
times steps for ``--seconds`` and reports images/s; the timed steps run under ``torch.cuda.set_sync_debug_mode
("error")``, so a host synchronisation inside the epoch fails the cell (``"sync_inside_step"``).

Then, for the cells in ``--k-cells``, K processes train the same cell at once on the one GPU (started together
behind a barrier) and the sum of their images/s is reported; ``--compile`` adds CUDA-graphed cells
(``torch.compile(mode="reduce-overhead")``); ``--checks`` times ``--deterministic`` against the default, checks that
``--resume`` is bit for bit with ``--deterministic`` (2 epochs vs 1 + resume), and times one real epoch through
``train()``. The summary holds the goals of the issue (images/s per model, mixed precision never slower than
fp32) and the projected full Table 1 (CIFAR-10 and -100, VGG-9, VGG-BC, ResNet-56, WRN-56-2, five methods, 164
epochs, one seed) in GPU-hours from the measured steps. Prints one JSON object (and writes it to ``--json``).

Without CUDA it prints one line, ``{"benchmark": "cnn_gpu", "skipped": "no CUDA device"}``, and exits 0.

    python benchmarks/bench_cnn_gpu.py                       # ~8 min on one H200 (stops new cells at --budget)
    python benchmarks/bench_cnn_gpu.py --models vgg9 --methods adam --amp bf16 --k 2 --compile --checks
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = ["vgg9", "resnet56", "wrn56-2", "vgg-bc"]
METHODS = ["adam", "bc-adam", "sr-adam", "r-adam", "big-sr-adam"]
#: images/s per run at batch 128, every method (the best precision and mode), that the issue asks for
GOALS = {"vgg9": 60000, "resnet56": 25000, "wrn56-2": 20000}
AMP = {"fp32": "off", "fp16": "fp16", "bf16": "bf16", "auto": "auto"}
#: how a cell's step runs: the whole step replayed as one CUDA graph (the default on CUDA), eager kernels, or
#: torch.compile(mode="reduce-overhead") of the network
MODES = ("graph", "eager", "compile")


def make_fake_cifar(root: Path, n_train: int = 50000, n_test: int = 10000, seed: int = 0) -> Path:
    """A ``cifar-10-batches-py`` folder of learnable synthetic images (as the official pickles)."""
    import numpy as np

    folder = root / "cifar-10-batches-py"
    if (folder / "test_batch").exists():
        return root
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    templates = rng.integers(0, 256, size=(10, 3072)).astype(np.float32)

    def draw(n):
        y = rng.integers(0, 10, size=n)
        x = 0.35 * templates[y] + 0.65 * rng.integers(0, 256, size=(n, 3072))
        return x.clip(0, 255).astype(np.uint8), [int(v) for v in y]

    per = n_train // 5
    for i in range(1, 6):
        x, y = draw(per)
        with open(folder / f"data_batch_{i}", "wb") as fh:
            pickle.dump({b"data": x, b"labels": y}, fh)
    x, y = draw(n_test)
    with open(folder / "test_batch", "wb") as fh:
        pickle.dump({b"data": x, b"labels": y}, fh)
    return root


def make_fake_cifar100(root: Path, n_train: int = 50000, n_test: int = 10000, seed: int = 1) -> Path:
    """A ``cifar-100-python`` folder (``train``, ``test`` with ``fine_labels``) of synthetic images."""
    import numpy as np

    folder = root / "cifar-100-python"
    if (folder / "test").exists():
        return root
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    templates = rng.integers(0, 256, size=(100, 3072)).astype(np.float32)
    for name, n in (("train", n_train), ("test", n_test)):
        y = rng.integers(0, 100, size=n)
        x = (0.35 * templates[y] + 0.65 * rng.integers(0, 256, size=(n, 3072))).clip(0, 255).astype(np.uint8)
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": x, b"fine_labels": [int(v) for v in y], b"coarse_labels": [0] * n}, fh)
    return root


_DATA = {}


def _data(data_dir):
    from srchain.cnn.data import load_dataset

    if data_dir not in _DATA:
        _DATA[data_dir] = load_dataset("cifar10", data_dir)
    return _DATA[data_dir]


def _cfg(model, method, amp, args, **kw):
    from srchain.cnn.train import TrainConfig

    if getattr(args, "batch", None):
        kw.setdefault("batch", args.batch)
    return TrainConfig(
        model=model,
        method=method,
        dataset="cifar10",
        data_dir=args.data_dir,
        amp=AMP[amp],
        device=args.device,
        width=args.width,
        quiet=True,
        **kw,
    ).resolved()


def _mode(mode: str):
    """``graph``, ``eager`` or ``compile``, optionally ``-nchw`` (channels-last off): ``(base, nchw)``."""
    base, _, layout = mode.partition("-")
    if base not in MODES or layout not in ("", "nchw"):
        raise ValueError(f"unknown mode {mode!r}: use graph, eager or compile, optionally with -nchw")
    return base, layout == "nchw"


def _frames(exc, n: int = 8) -> list:
    """The last ``n`` frames of an exception's traceback as ``file:line function`` (where a sync happened)."""
    import traceback

    return [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in traceback.extract_tb(exc.__traceback__)[-n:]]


def time_cell(model, method, amp, args, mode="graph", deterministic=False, barrier=None, compile_=None) -> dict:
    """Images/s of one run's steps (real data path) after ``args.warmup`` steps, for ``args.seconds``.

    ``mode``: ``graph`` (the step captured once as a CUDA graph and replayed: the default on CUDA), ``eager``
    or ``compile``. ``amp='auto'`` is resolved first as a run resolves it (measured, cached)."""
    import torch
    from srchain.cnn.step import deterministic_mode
    from srchain.cnn.train import build_run

    if compile_ is not None:  # the old keyword
        mode = "compile" if compile_ else "eager"
    base, nchw = _mode(mode)
    cfg = _cfg(
        model,
        method,
        amp,
        args,
        compile=base == "compile",
        cuda_graph=base == "graph",
        deterministic=deterministic,
        channels_last=False if nchw else None,
    )
    device = torch.device(args.device)
    data = _data(args.data_dir)
    cuda = device.type == "cuda"

    def sync():
        if cuda:
            torch.cuda.synchronize()

    rec = {
        "model": model,
        "method": method,
        "amp": amp,
        "batch": cfg.batch,
        "mode": mode,
        "compile": base == "compile",
        "deterministic": deterministic,
    }
    t_build = time.perf_counter()
    with deterministic_mode(deterministic, device.type):
        if cfg.amp == "auto":
            from srchain.cnn.precision import choose_amp

            choice = choose_amp(cfg, device)
            cfg.amp = choice["amp"]
            rec["amp_auto"] = choice
            rec["amp"] = {"off": "fp32"}.get(cfg.amp, cfg.amp)
        parts = build_run(cfg, device, 10)
        step = parts["step"]
        rec["cuda_graph"] = parts["cuda_graph"]
        parts["net"].train()
        steps_per_epoch = data.n_train_steps(cfg.batch)
        epoch, it, done_in_epoch = 0, None, steps_per_epoch

        def next_batch():
            nonlocal epoch, it, done_in_epoch
            if done_in_epoch >= steps_per_epoch:  # a new epoch (its permutation is copied once)
                if it is not None:
                    step.read()
                it = data.batches(cfg.batch, epoch, 0, device, channels_last=parts["channels_last"])
                step.begin_epoch(steps_per_epoch)
                epoch, done_in_epoch = epoch + 1, 0
            done_in_epoch += 1
            return next(it)

        for _ in range(args.warmup):
            step(*next_batch())
        sync()
        rec["warmup_seconds"] = time.perf_counter() - t_build
        if barrier is not None:
            barrier()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        n, t0 = 0, time.perf_counter()
        sync_error, sync_where = None, None
        while True:
            if done_in_epoch >= steps_per_epoch:
                step.read()  # epoch boundary: outside the sync check
                batch = next_batch()
            else:
                batch = None
            try:
                if cuda and args.sync_check:
                    torch.cuda.set_sync_debug_mode("error")
                if batch is None:
                    batch = next_batch()
                step(*batch)
            except RuntimeError as exc:
                if "synchroniz" not in str(exc):
                    raise
                sync_error = " ".join(str(exc).split())[:200]
                sync_where = _frames(exc)
                break
            finally:
                if cuda:
                    torch.cuda.set_sync_debug_mode("default")
            n += 1
            if n % 10 == 0:
                sync()
                if time.perf_counter() - t0 >= args.seconds:
                    break
        sync()
        elapsed = time.perf_counter() - t0
        r = step.read()
    rec.update(
        {
            "steps": n,
            "seconds": elapsed,
            "images_per_second": n * cfg.batch / elapsed if n else None,
            "step_ms": 1e3 * elapsed / max(n, 1),
            "last_loss": r.losses[-1] if r.losses else None,
            "sync_inside_step": sync_error,
            "sync_where": sync_where,
            "captures": getattr(step, "captures", None),
            "max_mem_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        }
    )
    parts = step = None  # drop the net and its step (their memory) before empty_cache
    if cuda:
        torch.cuda.empty_cache()
    return rec


def profile_cell(model, method, amp, args, mode="eager", steps: int = 6) -> dict:
    """Where a step's time goes: ``steps`` steps under torch.profiler after a warm-up; the kernels with the most
    device time, the number of kernels per step, and host vs device time per step."""
    import torch
    from srchain.cnn.step import deterministic_mode
    from srchain.cnn.train import build_run
    from torch.profiler import ProfilerActivity, profile

    base, nchw = _mode(mode)
    cfg = _cfg(
        model,
        method,
        amp,
        args,
        compile=base == "compile",
        cuda_graph=base == "graph",
        channels_last=False if nchw else None,
    )
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    data = _data(args.data_dir)
    with deterministic_mode(False, device.type):
        parts = build_run(cfg, device, 10)
        step = parts["step"]
        parts["net"].train()

        def epochs():  # as many epochs as the warm-up and the profiled steps need
            e = 0
            while True:
                yield from data.batches(cfg.batch, e, 0, device, channels_last=parts["channels_last"])
                e += 1

        it = epochs()
        step.begin_epoch(args.warmup + steps + 1)
        for _ in range(args.warmup):
            step(*next(it))
        batches = [next(it) for _ in range(steps)]
        if cuda:
            torch.cuda.synchronize()
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        t0 = time.perf_counter()
        with profile(activities=acts) as prof:
            for b in batches:
                step(*b)
            if cuda:
                torch.cuda.synchronize()
        wall = time.perf_counter() - t0
    events = prof.key_averages()

    def dev_time(e):
        return getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0) or 0

    kernels = [e for e in events if dev_time(e) > 0]
    top = sorted(kernels, key=dev_time, reverse=True)[:12]
    total_dev = sum(dev_time(e) for e in kernels)
    launches = sum(e.count for e in kernels)
    parts = step = None
    if cuda:
        torch.cuda.empty_cache()
    return {
        "what": f"profile {model} {method} {amp} {mode} batch {cfg.batch}",
        "wall_ms_per_step": 1e3 * wall / steps,
        "device_ms_per_step": total_dev / 1e3 / steps,
        "kernels_per_step": launches / steps,
        "top_kernels": [
            {"name": e.key[:90], "ms_per_step": dev_time(e) / 1e3 / steps, "calls_per_step": e.count / steps}
            for e in top
        ],
    }


def _single(args):
    """Child process of the K-runs measurement: one cell, started behind a file barrier."""
    ready = Path(args.barrier_dir)

    def barrier():
        (ready / f"ready{os.getpid()}").touch()
        deadline = time.time() + 600
        while len(list(ready.glob("ready*"))) < args.k and time.time() < deadline:
            time.sleep(0.01)

    model, method, amp = args.single.split(",")
    rec = time_cell(model, method, amp, args, mode=args.mode_child, barrier=barrier)
    print("RESULT " + json.dumps(rec), flush=True)


def k_runs(model, method, amp, k, args, mode="graph") -> dict:
    """K processes train the same cell on the GPU at once; total images/s."""
    with tempfile.TemporaryDirectory() as bdir:
        cmd = [
            sys.executable,
            os.path.abspath(__file__),
            "--single",
            f"{model},{method},{amp}",
            "--k",
            str(k),
            "--barrier-dir",
            bdir,
            "--data-dir",
            args.data_dir,
            "--device",
            args.device,
            "--width",
            str(args.width),
            "--warmup",
            str(args.warmup),
            "--seconds",
            str(args.seconds),
            "--n-train",
            str(args.n_train),
        ]
        cmd += ["--mode-child", mode]
        if args.batch:
            cmd += ["--batch", str(args.batch)]
        if not args.sync_check:
            cmd.append("--no-sync-check")
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(k)]
        outs = [p.communicate(timeout=900) for p in procs]
    recs, errors = [], []
    for p, (o, e) in zip(procs, outs, strict=True):
        lines = [ln for ln in o.splitlines() if ln.startswith("RESULT ")]
        if p.returncode == 0 and lines:
            recs.append(json.loads(lines[-1][7:]))
        else:
            errors.append(e.strip().splitlines()[-1:] if e else f"exit {p.returncode}")
    total = sum(r["images_per_second"] or 0 for r in recs)
    return {
        "model": model,
        "method": method,
        "amp": amp,
        "k": k,
        "mode": mode,
        "runs": recs,
        "errors": errors,
        "total_images_per_second": total,
    }


def resume_check(args) -> dict:
    """``--deterministic``: 2 epochs straight vs 1 epoch + ``--resume``, bit for bit (VGG-9 SR-ADAM, bf16)."""
    import torch
    from srchain.cnn.train import TrainConfig, train

    with tempfile.TemporaryDirectory() as tmp:
        kw = dict(
            model="vgg9",
            method="sr-adam",
            dataset="cifar10",
            data_dir=args.data_dir,
            epochs=2,
            amp="bf16",
            device=args.device,
            width=args.width,
            quiet=True,
            deterministic=True,
        )
        full = train(TrainConfig(out=f"{tmp}/full", **kw))
        train(TrainConfig(out=f"{tmp}/part", stop_after=1, **kw))
        rest = train(TrainConfig(out=f"{tmp}/part", resume=True, **kw))
        a, b = full["model"].state_dict(), rest["model"].state_dict()
        same = all(torch.equal(a[k], b[k]) for k in a)
        strip = [{k: v for k, v in r.items() if k != "seconds"} for r in full["history"]]
        strip2 = [{k: v for k, v in r.items() if k != "seconds"} for r in rest["history"]]
    return {
        "what": "vgg9 sr-adam bf16 --deterministic, 2 epochs vs 1 + --resume",
        "bit_exact": same,
        "same_logs": strip == strip2,
        "epoch_seconds": [r["seconds"] for r in full["history"]],
    }


def graph_check(args, steps: int = 12) -> dict:
    """The step replayed as a CUDA graph against the same step run eagerly, bit for bit (``--deterministic``,
    VGG-9 SR-ADAM bf16, ``steps`` steps of the real data path, including the capture's warm-up)."""
    import torch
    from srchain.cnn.step import deterministic_mode
    from srchain.cnn.train import build_run

    out = {}
    for graph in (True, False):
        cfg = _cfg("vgg9", "sr-adam", "bf16", args, deterministic=True, cuda_graph=graph)
        device = torch.device(args.device)
        with deterministic_mode(True, device.type):
            parts = build_run(cfg, device, 10)
            step = parts["step"]
            parts["net"].train()
            it = _data(args.data_dir).batches(cfg.batch, 0, 0, device, channels_last=parts["channels_last"])
            step.begin_epoch(steps)
            for _ in range(steps):
                step(*next(it))
            out[graph] = (
                step.read().losses,
                {k: v.detach().clone() for k, v in parts["model"].state_dict().items()},
                getattr(step, "captures", None),
            )
    same = all(torch.equal(out[True][1][k], out[False][1][k]) for k in out[True][1])
    return {
        "what": f"vgg9 sr-adam bf16 --deterministic, {steps} steps: CUDA graph vs eager",
        "bit_exact": same,
        "same_losses": out[True][0] == out[False][0],
        "captures": out[True][2],
    }


def train_epoch_check(args) -> dict:
    """One real epoch through ``train()`` (eval, metrics and checkpoint included) against the step timing."""
    from srchain.cnn.train import TrainConfig, train

    with tempfile.TemporaryDirectory() as tmp:
        res = train(
            TrainConfig(
                model="vgg9",
                method="sr-adam",
                dataset="cifar10",
                data_dir=args.data_dir,
                epochs=2,
                amp="bf16",
                device=args.device,
                width=args.width,
                quiet=True,
                out=tmp,
            )
        )
    h = res["history"]
    return {
        "what": "vgg9 sr-adam bf16, train() epoch 2 (eval, flips, checkpoint included)",
        "epoch_seconds": h[-1]["seconds"],
        "images_per_second": args.n_train / h[-1]["seconds"],
        "test_error": h[-1]["test_error"],
    }


def project_table1(cells) -> dict:
    """Projected full Table 1 (2 datasets × 4 models × 5 methods × 164 epochs × 1 seed) from the best measured
    single-run step time of each (model, method); evaluation adds a third of a step per test image."""
    best = {}
    for c in cells:
        if c.get("images_per_second") and not c.get("deterministic"):
            key = (c["model"], c["method"])
            if key not in best or c["images_per_second"] > best[key]["images_per_second"]:
                best[key] = c
    hours, missing, per = 0.0, [], {}
    for model in MODELS:
        for method in METHODS:
            c = best.get((model, method))
            if c is None:
                missing.append(f"{model} {method}")
                continue
            steps = -(-50000 // c["batch"])
            epoch_s = steps * c["step_ms"] / 1e3 + 10000 / c["images_per_second"] / 3
            h = 2 * 164 * epoch_s / 3600
            per[f"{model} {method}"] = {"amp": c["amp"], "mode": c.get("mode"), "hours_both_datasets": h}
            hours += h
    return {
        "gpu_hours_one_run_at_a_time": hours if not missing else None,
        "partial_hours": hours,
        "missing_cells": missing,
        "per_cell": per,
        "goal_hours": 4.0,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=MODELS)
    ap.add_argument("--methods", nargs="+", default=METHODS)
    ap.add_argument("--amp", nargs="+", default=["bf16", "fp16", "fp32"], choices=list(AMP))
    ap.add_argument("--seconds", type=float, default=2.0, help="timed seconds per cell")
    ap.add_argument("--warmup", type=int, default=15, help="untimed steps first (cuDNN autotuning, allocator)")
    ap.add_argument("--k", type=int, default=2, help="runs per GPU for the K-runs cells (1: skip them)")
    ap.add_argument(
        "--k-cells", nargs="+", default=["resnet56,sr-adam,bf16", "vgg9,sr-adam,bf16"], metavar="MODEL,METHOD,AMP"
    )
    ap.add_argument("--compile", action="store_true", help="also CUDA-graphed cells (torch.compile; minutes)")
    ap.add_argument(
        "--compile-cells",
        nargs="+",
        default=["resnet56,sr-adam,bf16", "wrn56-2,sr-adam,bf16", "vgg9,sr-adam,bf16"],
        metavar="MODEL,METHOD,AMP",
    )
    ap.add_argument(
        "--checks",
        action="store_true",
        help="also --deterministic's cost, the bit-exact --resume check and one train() epoch",
    )
    ap.add_argument(
        "--checks-after", type=int, default=None, metavar="N", help="--checks after the first N cells (default: last)"
    )
    ap.add_argument("--budget", type=float, default=420.0, help="start no new measurement after this many seconds")
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--data-dir", default=None, help="where the synthetic CIFAR folder goes (default: a temp dir)")
    ap.add_argument("--device", default="cuda", help=argparse.SUPPRESS)  # cpu: exercise the script only
    ap.add_argument("--n-train", type=int, default=50000, help=argparse.SUPPRESS)
    ap.add_argument("--no-sync-check", dest="sync_check", action="store_false")
    ap.add_argument("--json", default=None, help="also write the result here")
    ap.add_argument("--single", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--barrier-dir", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--mode-child", default="graph", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=None, help="batch of every cell (default: the method's)")
    ap.add_argument(
        "--modes", nargs="+", default=["graph"], help="step modes of the cells: graph, eager, compile (-nchw: NCHW)"
    )
    ap.add_argument(
        "--cells",
        nargs="+",
        default=None,
        metavar="MODEL,METHOD,AMP,MODE[,BATCH]",
        help="time exactly these cells (in this order) instead of the models x methods x amp x modes grid",
    )
    ap.add_argument(
        "--profile",
        nargs="*",
        default=None,
        metavar="MODEL,METHOD,AMP,MODE[,BATCH]",
        help="also profile these cells (kernels per step, the kernels with the most device time)",
    )
    args = ap.parse_args(argv)

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"benchmark": "cnn_gpu", "skipped": "no CUDA device"}))
        return 0
    if args.data_dir is None:
        args.data_dir = str(Path(tempfile.gettempdir()) / "srchain-bench-cifar")
    make_fake_cifar(Path(args.data_dir), n_train=args.n_train, n_test=args.n_train // 5)
    if args.single:
        _single(args)
        return 0

    start = time.perf_counter()
    res = {
        "benchmark": "cnn_gpu",
        "device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "width": args.width,
        "bf16_supported": bool(args.device == "cuda" and torch.cuda.is_bf16_supported()),
        "cells": [],
        "k_runs": [],
        "skipped": [],
    }

    def budget_left():
        return time.perf_counter() - start < args.budget

    def save():  # after every measurement, so a run stopped from outside still leaves its figures
        if args.json:
            res["summary"] = summarise(res, start)
            Path(args.json).write_text(json.dumps(res, indent=1))

    def run(label, fn):
        if not budget_left():
            res["skipped"].append(label)
            return None
        t = time.perf_counter()
        try:
            out = fn()
        except Exception as exc:  # noqa: BLE001 - report the cell and go on
            out = {"label": label, "error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"}
        if isinstance(out, dict):
            out.setdefault("label", label)
            out["wall_seconds"] = time.perf_counter() - t
        print(json.dumps(out), file=sys.stderr, flush=True)
        return out

    def cell_args(text):
        parts = text.split(",")
        model, method, amp = parts[:3]
        mode = parts[3] if len(parts) > 3 else "graph"
        batch = int(parts[4]) if len(parts) > 4 else None
        return model, method, amp, mode, batch

    def with_batch(batch, fn):
        saved = args.batch
        args.batch = batch or saved
        try:
            return fn()
        finally:
            args.batch = saved

    profiles_done = False

    def run_profiles():
        nonlocal profiles_done
        profiles_done = True
        for cell in args.profile or []:
            model, method, amp, mode, batch = cell_args(cell)
            out = run(
                f"profile {cell}",
                lambda c=(model, method, amp), b=batch, m=mode: with_batch(b, lambda: profile_cell(*c, args, m)),
            )
            if out:
                res.setdefault("profiles", []).append(out)
                save()

    checks_done = False

    def run_checks():
        nonlocal checks_done
        checks_done = True
        checks = {}
        res["checks"] = checks
        for model in ("vgg9", "resnet56"):
            out = run(
                f"{model} deterministic",
                lambda m=model: time_cell(m, "sr-adam", "bf16", args, deterministic=True),
            )
            if out:
                res["cells"].append(out)
                save()
        checks["graph_vs_eager"] = run("graph vs eager", lambda: graph_check(args))
        save()
        checks["resume"] = run("resume check", lambda: resume_check(args))
        save()
        checks["train_epoch"] = run("train epoch", lambda: train_epoch_check(args))
        save()

    if args.cells:
        grid = [cell_args(c) for c in args.cells]
    else:
        grid = [
            (mo, me, a, mode, None)
            for a in args.amp
            for mode in args.modes
            for mo in args.models
            for me in args.methods
        ]
    for i, (model, method, amp, mode, batch) in enumerate(grid):
        if args.checks and args.checks_after is not None and i == args.checks_after:
            run_checks()
            run_profiles()  # the profiles too, before the rest of the cells
        if amp == "bf16" and not res["bf16_supported"] and args.device == "cuda":
            res["skipped"].append(f"{model} {method} bf16: not supported by this GPU")
            continue
        label = f"{model} {method} {amp} {mode}" + (f" batch {batch}" if batch else "")
        out = run(
            label,
            lambda c=(model, method, amp), b=batch, m=mode: with_batch(b, lambda: time_cell(*c, args, mode=m)),
        )
        if out:
            res["cells"].append(out)
            save()
    if args.compile:
        for cell in args.compile_cells:
            model, method, amp = cell.split(",")[:3]
            out = run(f"{cell} compile", lambda c=(model, method, amp): time_cell(*c, args, mode="compile"))
            if out:
                res["cells"].append(out)
                save()
    if not profiles_done:
        run_profiles()
    if args.k > 1:
        for cell in args.k_cells:
            model, method, amp, mode, batch = cell_args(cell)
            out = run(
                f"{cell} k={args.k}",
                lambda c=(model, method, amp), b=batch, m=mode: with_batch(b, lambda: k_runs(*c, args.k, args, mode=m)),
            )
            if out:
                res["k_runs"].append(out)
                save()
    if args.checks and not checks_done:
        run_checks()
    res["summary"] = summarise(res, start)
    text = json.dumps(res, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0


def summarise(res, start) -> dict:
    """Images/s per cell and precision, the goals, mixed precision against fp32, syncs, the projection."""
    ok = [c for c in res["cells"] if c.get("images_per_second")]
    table = {}
    for c in ok:
        key = (
            f"{c['model']} {c['method']} b{c['batch']} {c.get('mode', 'compile' if c.get('compile') else 'eager')}"
            + (" deterministic" if c["deterministic"] else "")
        )
        table.setdefault(key, {})[c["amp"]] = round(c["images_per_second"])
    slower = [k for k, v in table.items() if "fp32" in v and any(v.get(a, 1e18) < v["fp32"] for a in ("fp16", "bf16"))]
    goals = {}
    for model, goal in GOALS.items():
        best = {}
        for c in ok:
            if c["model"] == model and c["batch"] == 128 and not c["deterministic"]:
                best[c["method"]] = max(best.get(c["method"], 0), c["images_per_second"])
        if best:
            goals[model] = {
                "goal": goal,
                "worst_method": min(best, key=best.get),
                "worst_images_per_second": round(min(best.values())),
                "met": min(best.values()) >= goal,
            }
    return {
        "images_per_second": table,
        "mixed_precision_slower_than_fp32": slower,
        "goals": goals,
        "syncs_inside_steps": [
            f"{c['model']} {c['method']} {c['amp']} {c.get('mode')}: {c['sync_inside_step']} at {c.get('sync_where')}"
            for c in res["cells"]
            if c.get("sync_inside_step")
        ],
        "recaptured": [c.get("label") for c in ok if (c.get("captures") or 0) > 1],
        "errors": [c.get("label") + ": " + c["error"] for c in res["cells"] if c.get("error")],
        "table1_projection": project_table1(ok),
        "wall_seconds": time.perf_counter() - start,
    }


if __name__ == "__main__":
    raise SystemExit(main())
