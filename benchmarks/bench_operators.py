"""Speed of building the exact SR operator T_α (issue 2: the 10⁶-state chain in under 5 s).

Chain: the separable 2-D problem (objective (8) in each coordinate) on a 1000 × 1000 lattice, Δ = 14/999,
domain [−4, 10]², Gaussian σ = 2, α = 5e-4, and the coupled one (c = 1). Baseline, measured in the same run: a
straightforward per-state Python loop computing each row's 1-D move laws with scipy.stats and multiplying them
(timed on a sample of rows and extrapolated linearly to all rows, which is how it scales).
Prints JSON. `--huge` adds a 10⁷-state coupled chain (about a minute and 4 GB). `--threads 1,2` times each build on
1 and on 2 Numba threads (the build's kernels are threaded; its bits do not depend on the count) and reports the
speedup and whether the matrices' bytes agree; `--no-baseline` skips the Python loop.

    python benchmarks/bench_operators.py --threads 1,2 --no-baseline
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import numba
import numpy as np
from scipy import stats

from srchain.lattice import Lattice
from srchain.noise import make_noise
from srchain.operators import transition_matrix
from srchain.problems import get_problem


def naive_rows(problem, lattice, alpha, sigma, rows):
    """Per-state loop: E[hat(u − j)] by numerical integration against the normal density, product over axes."""
    out = []
    for i in rows:
        x = lattice.points[i]
        g = problem.gradient(x[None, :])[0]
        laws = []
        for k in range(lattice.dim):
            m, tau = -alpha * g[k] / lattice.delta, alpha / lattice.delta
            js = np.arange(-3, 4)
            law = [stats.norm.expect(lambda z: max(0.0, 1 - abs(m - tau * z - j)), scale=sigma) for j in js]
            laws.append(np.array(law))
        out.append(np.multiply.outer(laws[0], laws[1]).ravel())
    return out


def _csr(P):
    return P.data, P.indices, P.indptr


def timed(fn, repeat=1):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        res = fn()
        best = min(best, time.perf_counter() - t)
    return res, best


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--huge", action="store_true")
    ap.add_argument("--threads", default=None, help="comma-separated Numba thread counts to time the build on")
    ap.add_argument("--no-baseline", action="store_true", help="skip the per-state Python loop")
    args = ap.parse_args()
    noise = make_noise("gaussian", 2.0)
    report = {"benchmark": "operators", "cases": [], "load_average": os.getloadavg(), "cpus": os.cpu_count()}
    threads = [int(k) for k in args.threads.split(",")] if args.threads else [numba.get_num_threads()]
    for name in ["separable", "coupled"]:
        p = get_problem(name, dim=2)
        lat = Lattice.from_domain(14 / 999, p.domain, dim=2)
        transition_matrix(p, noise, Lattice.from_domain(0.5, p.domain, dim=2), 5e-4)  # compile / warm the cache
        case = {"problem": name, "states": lat.size}
        ref = None
        for k in threads:
            numba.set_num_threads(min(k, numba.config.NUMBA_NUM_THREADS))
            op, secs = timed(lambda: transition_matrix(p, noise, lat, 5e-4), repeat=2)
            ref = op.P if ref is None else ref
            same = all(a.tobytes() == b.tobytes() for a, b in zip(_csr(ref), _csr(op.P), strict=True))
            case[f"seconds_{numba.get_num_threads()}_threads"] = secs
            case.setdefault("same_bits_as_first", []).append(same)
            case.setdefault("seconds", secs)
        if len(threads) > 1:
            case["thread_speedup"] = case["seconds"] / secs
        case.update({"nnz": int(op.P.nnz), "dropped_mass": op.dropped_mass})
        if not args.no_baseline:
            sample = np.linspace(0, lat.size - 1, 200).astype(int)
            _, nsecs = timed(lambda: naive_rows(p, lat, 5e-4, 2.0, sample))
            naive_total = nsecs / sample.size * lat.size
            case["naive_python_loop_seconds_extrapolated"] = naive_total
            case["speedup"] = naive_total / case["seconds"]
        report["cases"].append(case)
    if args.huge:
        p = get_problem("coupled", dim=2)
        lat = Lattice.from_domain(14 / 3161, p.domain, dim=2)
        op, secs = timed(lambda: transition_matrix(p, noise, lat, 1.5e-4))
        report["cases"].append(
            {
                "problem": "coupled",
                "states": lat.size,
                "nnz": int(op.P.nnz),
                "seconds": secs,
                "dropped_mass": op.dropped_mass,
            }
        )
    report["load_average_after"] = os.getloadavg()
    report["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
