"""Benchmark: exact ε-mixing time (Eq. 10, ε = 0.25) vs a straightforward doubling + bisection baseline, same run.

Chain: SR on objective (8), Gaussian σ = 2, n states on [−4, 10], learning rate α (defaults: n = 2000, α = 0.1).

    python benchmarks/bench_mixing.py [--n 5000] [--alpha 0.1]
Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np


def baseline(P: np.ndarray, pi: np.ndarray, eps: float) -> int:
    """Dense P^(2^i) by squaring until max-TV ≤ ε, then bisection with full products of stored powers."""
    def d(M):
        return 0.5 * np.abs(M - pi[None, :]).sum(axis=1).max()

    powers = [P]
    while d(powers[-1]) > eps:
        powers.append(powers[-1] @ powers[-1])
    j = len(powers) - 1
    if j == 0:
        return 1
    t, X = 2 ** (j - 1), powers[j - 1]
    for i in range(j - 2, -1, -1):
        Y = X @ powers[i]
        if d(Y) > eps:
            X, t = Y, t + 2 ** i
    return t + 1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--alpha", type=float, default=0.1)
    ap.add_argument("--eps", type=float, default=0.25)
    args = ap.parse_args()
    from srchain.lattice import Lattice
    from srchain.mixing import mixing_time
    from srchain.noise import make_noise
    from srchain.operators import transition_matrix
    from srchain.problems import get_problem
    from srchain.stationary import stationary

    lat = Lattice.from_domain(14.0 / (args.n - 1), (-4.0, 10.0), 1)
    P = transition_matrix(get_problem("toy"), make_noise("gaussian", sigma=2.0), lat, args.alpha).P
    pi = stationary(P).pi
    t0 = time.perf_counter()
    r = mixing_time(P, eps=args.eps, pi=pi)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    b = baseline(P.toarray(), pi, args.eps)
    base = time.perf_counter() - t0
    print(json.dumps({"benchmark": "mixing", "states": lat.size, "alpha": args.alpha, "eps": args.eps,
                      "nnz": int(P.nnz), "mixing_time": r.mixing_time, "baseline_mixing_time": b,
                      "agree": r.mixing_time == b, "seconds": ours, "baseline_seconds": base,
                      "speedup": base / ours}, indent=1))


if __name__ == "__main__":
    main()
