"""The GPU figures of the CNN benchmark in one run of at most ``--budget`` seconds (default 330), by value.

1. ``bench_cnn_gpu.py``: every model at batch 128 (sr-adam and adam, the step as one CUDA graph, bf16), fp32
   against bf16 and eager against graph for VGG-9, the other methods of VGG-9, big-batch SR at 1024 (VGG-9 eager
   and graph, VGG-BC), one ``--compile`` cell, all under the sync check; a profile of VGG-9 big-SR at batch
   1024; ``--checks`` (``--deterministic``'s cost, the bit-exact ``--resume``, one real epoch);
2. ``--amp auto``'s choice (a VGG-9 cell in graph and in eager mode in the benchmark; the dry run below measures
   it for every model and batch, and its measurements are copied to ``amp_auto.json``);
3. ``srchain table1 --dry-run`` (CIFAR-10 and -100, four models, five methods, 164 epochs: the projection, with
   the K runs per GPU it picks from measured throughput), then a real short run of that whole grid (2 epochs, on
   synthetic CIFAR-format data with ``--grid-train`` images per epoch) with ``--runs-per-gpu K`` and its wall
   time.

Each phase is a subprocess with a deadline from what is left; a phase that runs out is killed and the run goes
on; ``OUT/summary.json`` is written after every phase. Files in ``OUT``: ``bench.json``, ``amp_auto.json`` (fp32
and bf16 images/s per model and batch), ``dryrun.json``, ``dryrun.md``, ``grid.json``, ``grid.md``,
``summary.json`` (and the log the shell wrapper tees). ``--only grid --runs-per-gpu K`` reruns one phase;
``--device cpu --tiny`` runs the same phases on tiny sizes (a check of the script itself).

    python benchmarks/device_cnn.py --out OUT            # on the GPU machine (benchmarks/device_cnn.sh does this)
    python benchmarks/device_cnn.py --out OUT --device cpu --tiny --budget 900
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
T0 = time.perf_counter()


def elapsed() -> float:
    return time.perf_counter() - T0


def log(msg: str) -> None:
    print(f"[{elapsed():6.1f} s] {msg}", flush=True)


def run_phase(name, cmd, deadline, summary, env=None, cwd=None) -> int | None:
    """Run ``cmd`` until ``deadline`` (seconds since start); its output goes to this log. Returns its exit
    status (``None``: killed at the deadline)."""
    left = deadline - elapsed()
    if left < 5:
        log(f"{name}: skipped (no time left)")
        summary["phases"][name] = {"skipped": True}
        return None
    log(f"{name}: {' '.join(map(str, cmd))} (up to {left:.0f} s)")
    t = time.perf_counter()
    p = subprocess.Popen([str(c) for c in cmd], env=env, cwd=cwd, start_new_session=True)
    try:
        rc = p.wait(timeout=left)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 15)
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)
            p.wait()
        rc = None
    summary["phases"][name] = {"rc": rc, "seconds": time.perf_counter() - t, "timed_out": rc is None}
    log(f"{name}: {'killed at its deadline' if rc is None else f'exit {rc}'} after {time.perf_counter() - t:.1f} s")
    return rc


def read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--budget", type=float, default=330.0, help="seconds for the whole script (the phases fit in)")
    ap.add_argument("--started", type=float, default=0.0, help="seconds already spent before (installs)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true", help="tiny sizes (a CPU check of the script)")
    ap.add_argument("--grid-train", type=int, default=5000, help="training images per epoch of the short grid")
    ap.add_argument("--work", default=None, help="scratch folder (default: $TMPDIR or /tmp)")
    ap.add_argument(
        "--only",
        default="bench,dry_run,grid",
        type=lambda s: s.split(","),
        help="the phases to run (a second try: e.g. --only grid --runs-per-gpu 2)",
    )
    ap.add_argument("--models", nargs="+", default=["vgg9", "resnet56", "wrn56-2", "vgg-bc"], help="of the grid")
    ap.add_argument("--runs-per-gpu", type=int, default=None, help="K of the short grid (default: the dry run's)")
    args = ap.parse_args(argv)
    global T0
    T0 -= args.started
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work or os.environ.get("TMPDIR", "/tmp")) / f"srchain-device-cnn-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1", SRCHAIN_CACHE_DIR=str(work / "cache"))
    py = sys.executable
    B = args.budget
    summary = {"phases": {}, "budget_seconds": B, "device": args.device, "tiny": args.tiny}

    def save():
        summary["elapsed_seconds"] = elapsed()
        (out / "summary.json").write_text(json.dumps(summary, indent=1))

    # ---- data: synthetic CIFAR-10 (bench) and CIFAR-10/-100 with fewer images (the short grid) ------------------
    sys.path.insert(0, str(HERE))
    from bench_cnn_gpu import make_fake_cifar, make_fake_cifar100

    tiny = args.tiny
    n_bench = 256 if tiny else 20000
    n_grid = 64 if tiny else args.grid_train
    bench_dir, grid_dir = work / "bench-data", work / "grid-data"
    make_fake_cifar(bench_dir, n_train=n_bench, n_test=n_bench // 5)
    make_fake_cifar(grid_dir, n_train=n_grid, n_test=max(n_grid // 5, 16))
    make_fake_cifar100(grid_dir, n_train=n_grid, n_test=max(n_grid // 5, 16))
    log(f"data ready ({n_bench} bench images, {n_grid} grid images per epoch)")
    summary["data"] = {"bench_train_images": n_bench, "grid_train_images": n_grid, "grid_test_images": n_grid // 5}
    save()

    # ---- 1. the benchmark ----------------------------------------------------------------------------------------
    big = 64 if tiny else 1024
    cells = [  # by value; --checks and the profiles run after the first 18
        "vgg9,sr-adam,bf16,graph",
        "vgg9,adam,bf16,graph",
        "resnet56,sr-adam,bf16,graph",
        "resnet56,adam,bf16,graph",
        "wrn56-2,sr-adam,bf16,graph",
        "wrn56-2,adam,bf16,graph",
        "vgg-bc,sr-adam,bf16,graph",
        "vgg-bc,adam,bf16,graph",
        "vgg9,bc-adam,bf16,graph",
        "vgg9,r-adam,bf16,graph",
        "vgg9,sr-adam,bf16,compile",
        "vgg9,sr-adam,fp32,graph",
        "vgg9,sr-adam,bf16,eager",
        "vgg9,sr-adam,fp32,eager",
        f"vgg9,big-sr-adam,bf16,graph,{big}",
        f"vgg9,big-sr-adam,bf16,eager,{big}",
        f"vgg9,big-sr-adam,bf16,graph-nchw,{big}",
        f"vgg-bc,big-sr-adam,bf16,graph,{big}",
        "vgg9,sr-adam,auto,graph",
        "vgg9,sr-adam,auto,eager",
        "vgg9,sr-adam,bf16,graph-nchw",
        "resnet56,sr-adam,fp32,graph",
        "resnet56,bc-adam,bf16,graph",
        f"resnet56,big-sr-adam,bf16,graph,{big}",
    ]
    bench = [
        py,
        HERE / "bench_cnn_gpu.py",
        "--device",
        args.device,
        "--data-dir",
        bench_dir,
        "--n-train",
        n_bench,
        "--cells",
        *cells,
        "--profile",
        f"vgg9,big-sr-adam,bf16,eager,{big}",
        f"vgg9,big-sr-adam,bf16,eager-nchw,{big}",
        "--k",
        "1",
        "--checks",
        "--checks-after",
        "18",
        "--seconds",
        0.05 if tiny else 0.8,
        "--warmup",
        6 if tiny else 8,
        "--json",
        out / "bench.json",
    ]
    if tiny:
        bench += ["--width", "0.0625", "--batch", "8"]
    bench_end = 0.42 * B
    bench += ["--budget", max(10.0, bench_end - elapsed() - (5 if tiny else 22))]
    if "bench" in args.only:
        run_phase("bench", bench, bench_end, summary, env, cwd=work)
        b = read_json(out / "bench.json")
        if b:
            summary["bench"] = b.get("summary")
        save()

    # ---- 3. table1 --dry-run, then the short grid -------------------------------------------------------------
    grid = [
        "--models",
        *args.models,
        "--dataset",
        "cifar10",
        "cifar100",
        "--data-dir",
        grid_dir,
        "--seeds",
        "1",
        "--device",
        args.device,
        "--quiet",
    ]
    if tiny:
        grid += ["--width", "0.0625", "--batch", "8", "--big-batch", "16", "--eval-batch", "16"]
    dry = [py, "-m", "srchain.cli", "table1", *[a for a in grid if a != "--quiet"], "--dry-run"]  # progress: log
    dry += ["--json", out / "dryrun.json"]
    dry += ["--markdown", out / "dryrun.md"]
    if "dry_run" in args.only:
        run_phase("dry_run", dry, (0.72 if "bench" in args.only else 0.5) * B, summary, env, cwd=work)
    plan = read_json(out / "dryrun.json")
    k = args.runs_per_gpu
    if plan and k is None:
        k = int(plan.get("runs_per_gpu") or 2)
    k = k or 2
    if plan:
        summary["dry_run"] = {
            "gpu_hours_one_run_at_a_time": plan.get("gpu_hours"),
            "runs_per_gpu": plan.get("runs_per_gpu"),
            "gpu_hours_at_k": plan.get("gpu_hours_at_k"),
            "runs_per_gpu_measured": plan.get("runs_per_gpu_measured"),
            "device_hours": plan.get("device_hours"),
        }
    save()
    runs = work / "grid-runs"
    real = [py, "-m", "srchain.cli", "table1", *grid, "--epochs", "2", "--runs-per-gpu", str(k)]
    real += ["--out", runs, "--json", out / "grid.json", "--markdown", out / "grid.md"]
    t = time.perf_counter()
    rc = run_phase("grid", real, B - 3, summary, env, cwd=work) if "grid" in args.only else None
    wall = time.perf_counter() - t
    finished = sorted(str(p.parent.relative_to(runs)) for p in runs.glob("**/log.jsonl")) if runs.exists() else []
    done = [f for f in finished if (read_json_lines(runs / f / "log.jsonl") or [{}])[-1].get("epoch") == 2]
    g = read_json(out / "grid.json")
    summary["grid"] = {
        "runs_per_gpu": k,
        "wall_seconds_of_the_command": wall,
        "table1_seconds": g.get("seconds") if g else None,
        "runs_finished": len(done),
        "runs_in_grid": 10 * len(args.models),
        "complete": rc == 0,
        "epochs": 2,
        "train_images_per_epoch": n_grid,
        "test_images": max(n_grid // 5, 16),
        "amp_by_run": amp_by_run(runs),
    }
    cache = work / "cache" / "amp_auto.json"  # --amp auto's measurements (fp32 and bf16 per model and batch)
    if cache.exists():
        (out / "amp_auto.json").write_text(cache.read_text())
        summary["amp_auto"] = read_json(cache)
    save()
    log(f"done: {json.dumps(summary['grid'])[:400]}")
    return 0


def read_json_lines(path: Path):
    try:
        return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
    except (OSError, ValueError):
        return None


def amp_by_run(runs: Path) -> dict:
    """The precision each run of the grid trained in (its config.json), counted."""
    out = {}
    for p in runs.glob("**/config.json") if runs.exists() else []:
        c = read_json(p) or {}
        key = f"{c.get('model')} amp={c.get('amp')} graph={c.get('cuda_graph')}"
        out[key] = out.get(key, 0) + 1
    return out


if __name__ == "__main__":
    raise SystemExit(main())
