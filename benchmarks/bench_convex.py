"""Benchmark: the `srchain convex` sweep (50 seeds × 5 Δ × 4 methods, T = 10⁵, least squares, d = 10) against a
straightforward per-seed Python loop, measured in the same run. Prints one JSON object.

The Python baseline (:func:`srchain.toy.convex.run_python` with a ``numpy.random.Generator``: one NumPy update per
step, one seed at a time) is timed on ``--python-steps`` steps of one seed for each method and extrapolated
linearly to the sweep (its cost per step does not depend on t, Δ or the seed): seconds per step × T × seeds,
summed over the sweep's runs. SGD does not depend on Δ and runs once in both, as ``srchain convex`` does.

    python benchmarks/bench_convex.py [--steps 100000] [--seeds 50] [--python-steps 3000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--python-steps", type=int, default=3000)
    args = ap.parse_args()

    import numba
    from srchain.toy import convex as cv
    from srchain.toy.convex_problems import get_convex_problem

    problem = get_convex_problem("quadratic", dim=10)
    deltas = [0.5, 0.25, 0.125, 0.0625, 0.03125]
    methods = ["sr", "bc", "r", "sgd"]
    G = math.sqrt(problem.g_squared()[0])
    sched = cv.Schedule("strong", mu=problem.mu)

    t0 = time.perf_counter()
    cv.run_convex(problem, "sr", 0.5, 10, 2, sched)  # compile or load the cached kernel
    warmup = time.perf_counter() - t0

    t0 = time.perf_counter()
    records, runs, _ = cv.sweep(problem, methods, deltas, args.steps, args.seeds, sched, seed=0, G=G)
    numba_s = time.perf_counter() - t0
    jobs = [(r.method, r.delta) for r in runs]
    total_steps = len(jobs) * args.steps * args.seeds

    per_step = {}
    for m in methods:
        rng = np.random.default_rng(np.random.SeedSequence(0).spawn(1)[0])
        t0 = time.perf_counter()
        cv.run_python(problem, m, None if m == "sgd" else 0.25, args.python_steps, sched, rng)
        per_step[m] = (time.perf_counter() - t0) / args.python_steps
    python_s = sum(per_step[m] * args.steps * args.seeds for m, _ in jobs)

    out = {
        "benchmark": "convex_sweep",
        "problem": "quadratic",
        "dim": problem.dim,
        "m": problem.m,
        "seeds": args.seeds,
        "deltas": deltas,
        "methods": methods,
        "steps": args.steps,
        "runs": len(jobs),
        "total_steps": total_steps,
        "numba_seconds": round(numba_s, 3),
        "numba_steps_per_second": round(total_steps / numba_s),
        "compile_or_cache_load_seconds": round(warmup, 3),
        "python_per_step_microseconds": {m: round(v * 1e6, 2) for m, v in per_step.items()},
        "python_timed": {"steps": args.python_steps, "seeds": 1, "delta": 0.25, "rng": "numpy Generator(PCG64)"},
        "python_extrapolated_seconds": round(python_s, 1),
        "speedup": round(python_s / numba_s, 1),
        "under_30s": numba_s < 30,
        "numba_threads": numba.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "sr_error_at_T": {str(r["delta"]): r["error_mean"] for r in records if r["method"] == "sr"},
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
