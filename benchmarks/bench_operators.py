"""Speed of building the exact SR operator T_α (issue 2: the 10⁶-state chain in under 5 s).

Chain: the separable 2-D problem (objective (8) in each coordinate) on a 1000 × 1000 lattice, Δ = 14/999,
domain [−4, 10]², Gaussian σ = 2, α = 5e-4, and the coupled one (c = 1). Baseline, measured in the same run: a
straightforward per-state Python loop computing each row's 1-D move laws with scipy.stats and multiplying them
(timed on a sample of rows and extrapolated linearly to all rows, which is how it scales).
Prints JSON. `--huge` adds a 10⁷-state coupled chain (about a minute and 4 GB).
"""

from __future__ import annotations

import argparse
import json
import resource
import time

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
    args = ap.parse_args()
    noise = make_noise("gaussian", 2.0)
    report = {"benchmark": "operators", "cases": []}
    for name in ["separable", "coupled"]:
        p = get_problem(name, dim=2)
        lat = Lattice.from_domain(14 / 999, p.domain, dim=2)
        transition_matrix(p, noise, Lattice.from_domain(0.5, p.domain, dim=2), 5e-4)  # compile / warm the cache
        op, secs = timed(lambda: transition_matrix(p, noise, lat, 5e-4), repeat=2)
        sample = np.linspace(0, lat.size - 1, 200).astype(int)
        _, nsecs = timed(lambda: naive_rows(p, lat, 5e-4, 2.0, sample))
        naive_total = nsecs / sample.size * lat.size
        report["cases"].append(
            {
                "problem": name,
                "states": lat.size,
                "nnz": int(op.P.nnz),
                "seconds": secs,
                "dropped_mass": op.dropped_mass,
                "naive_python_loop_seconds_extrapolated": naive_total,
                "speedup": naive_total / secs,
            }
        )
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
    report["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
