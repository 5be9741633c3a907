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
#: images/s per run at batch 128 with mixed precision that the issue asks for
GOALS = {"vgg9": 40000, "resnet56": 15000, "wrn56-2": 10000}
AMP = {"fp32": "off", "fp16": "fp16", "bf16": "bf16"}


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


_DATA = {}


def _data(data_dir):
    from srchain.cnn.data import load_dataset

    if data_dir not in _DATA:
        _DATA[data_dir] = load_dataset("cifar10", data_dir)
    return _DATA[data_dir]


def _cfg(model, method, amp, args, **kw):
    from srchain.cnn.train import TrainConfig

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


def time_cell(model, method, amp, args, compile_=False, deterministic=False, barrier=None) -> dict:
    """Images/s of one run's steps (real data path) after ``args.warmup`` steps, for ``args.seconds``."""
    import torch
    from srchain.cnn.step import deterministic_mode
    from srchain.cnn.train import build_run

    cfg = _cfg(model, method, amp, args, compile=compile_, deterministic=deterministic)
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
        "compile": compile_,
        "deterministic": deterministic,
    }
    t_build = time.perf_counter()
    with deterministic_mode(deterministic, device.type):
        parts = build_run(cfg, device, 10)
        step = parts["step"]
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
        sync_error = None
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
            "max_mem_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        }
    )
    parts = step = None  # drop the net and its step (their memory) before empty_cache
    if cuda:
        torch.cuda.empty_cache()
    return rec


def _single(args):
    """Child process of the K-runs measurement: one cell, started behind a file barrier."""
    ready = Path(args.barrier_dir)

    def barrier():
        (ready / f"ready{os.getpid()}").touch()
        deadline = time.time() + 600
        while len(list(ready.glob("ready*"))) < args.k and time.time() < deadline:
            time.sleep(0.01)

    model, method, amp = args.single.split(",")
    rec = time_cell(model, method, amp, args, compile_=args.compile_child, barrier=barrier)
    print("RESULT " + json.dumps(rec), flush=True)


def k_runs(model, method, amp, k, args, compile_=False) -> dict:
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
        if compile_:
            cmd.append("--compile-child")
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
        "compile": compile_,
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
            per[f"{model} {method}"] = {"amp": c["amp"], "compile": c["compile"], "hours_both_datasets": h}
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
    ap.add_argument("--budget", type=float, default=420.0, help="start no new measurement after this many seconds")
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--data-dir", default=None, help="where the synthetic CIFAR folder goes (default: a temp dir)")
    ap.add_argument("--device", default="cuda", help=argparse.SUPPRESS)  # cpu: exercise the script only
    ap.add_argument("--n-train", type=int, default=50000, help=argparse.SUPPRESS)
    ap.add_argument("--no-sync-check", dest="sync_check", action="store_false")
    ap.add_argument("--json", default=None, help="also write the result here")
    ap.add_argument("--single", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--barrier-dir", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--compile-child", action="store_true", help=argparse.SUPPRESS)
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

    def run(label, fn):
        if not budget_left():
            res["skipped"].append(label)
            return None
        try:
            out = fn()
        except Exception as exc:  # noqa: BLE001 - report the cell and go on
            out = {"label": label, "error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"}
        print(json.dumps(out), file=sys.stderr, flush=True)
        return out

    for amp in args.amp:  # amp outermost: bf16 for every cell comes first
        if amp == "bf16" and not res["bf16_supported"] and args.device == "cuda":
            res["skipped"].append("bf16: not supported by this GPU")
            continue
        for model in args.models:
            for method in args.methods:
                out = run(f"{model} {method} {amp}", lambda: time_cell(model, method, amp, args))
                if out:
                    res["cells"].append(out)
    if args.compile:
        for cell in args.compile_cells:
            model, method, amp = cell.split(",")
            out = run(f"{cell} compile", lambda: time_cell(model, method, amp, args, compile_=True))
            if out:
                res["cells"].append(out)
    if args.k > 1:
        for cell in args.k_cells:
            model, method, amp = cell.split(",")
            out = run(
                f"{cell} k={args.k}",
                lambda: k_runs(model, method, amp, args.k, args, compile_=args.compile and cell in args.compile_cells),
            )
            if out:
                res["k_runs"].append(out)
    if args.checks:
        checks = {}
        for model in ("vgg9", "resnet56"):
            out = run(f"{model} deterministic", lambda: time_cell(model, "sr-adam", "bf16", args, deterministic=True))
            if out:
                res["cells"].append(out)
        checks["resume"] = run("resume check", lambda: resume_check(args))
        checks["train_epoch"] = run("train epoch", lambda: train_epoch_check(args))
        res["checks"] = checks

    ok = [c for c in res["cells"] if c.get("images_per_second")]
    table = {}
    for c in ok:
        key = (
            f"{c['model']} {c['method']}"
            + (" compile" if c["compile"] else "")
            + (" deterministic" if c["deterministic"] else "")
        )
        table.setdefault(key, {})[c["amp"]] = round(c["images_per_second"])
    slower = [k for k, v in table.items() if "fp32" in v and any(v.get(a, 1e18) < v["fp32"] for a in ("fp16", "bf16"))]
    goals = {}
    for model, goal in GOALS.items():
        best = {}
        for c in ok:
            if c["model"] == model and c["amp"] in ("fp16", "bf16") and not c["deterministic"]:
                best[c["method"]] = max(best.get(c["method"], 0), c["images_per_second"])
        if best:
            goals[model] = {
                "goal": goal,
                "worst_method": min(best, key=best.get),
                "worst_images_per_second": round(min(best.values())),
                "met": min(best.values()) >= goal,
            }
    res["summary"] = {
        "images_per_second": table,
        "mixed_precision_slower_than_fp32": slower,
        "goals": goals,
        "syncs_inside_steps": [f"{c['model']} {c['method']} {c['amp']}" for c in ok if c.get("sync_inside_step")],
        "table1_projection": project_table1(ok),
        "wall_seconds": time.perf_counter() - start,
    }
    text = json.dumps(res, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
