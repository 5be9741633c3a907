"""Benchmark: the fixed-order dense GTH kernel (srchain.gth.front) against two kernels it replaced, in the same run:
the same blocked algorithm with its trailing update and panel columns done by BLAS dgemm
(``benchmarks/_blas_front.py``), and the fixed-order kernel before its register tiles
(``benchmarks/_previous_front.py``, the same bits as today's).

The kernel gives the same bits under any thread count and on any machine (each entry's terms are added in the
unblocked order, one correctly rounded fma each); a BLAS dgemm sums in an order of its own. This measures what that
costs. Cases: random dense fronts (every c nonzero: the dgemm's best case) and the 1-D toy chain's dense solve
(Δ = 0.01 and 0.005: banded fronts, where the kernel skips zero c's and BLAS cannot).

    python benchmarks/bench_front.py                          # BLAS with its default thread count
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_front.py   # BLAS on one thread (as in a Dask worker)

Prints one JSON object: seconds (best of 3) per case, the ratios kernel / BLAS and kernel / previous kernel, and the
kernel's GFLOP/s (2 flops per multiply-add of the elimination, zero multipliers included).
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
from _blas_front import blas_front_eliminate as blas_front
from _previous_front import previous_front_eliminate as previous_front

from srchain.gth.front import front_eliminate


def best(fn, F0, k, reps=3) -> float:
    ts = []
    for _ in range(reps):
        F = F0.copy()
        t = time.perf_counter()
        fn(F, k)
        ts.append(time.perf_counter() - t)
    return min(ts)


def main() -> None:
    from srchain.lattice import Lattice
    from srchain.noise import make_noise
    from srchain.operators import transition_matrix
    from srchain.problems import get_problem

    rng = np.random.default_rng(0)
    cases = {}
    for m in (500, 1500, 3000):
        F = rng.random((m, m))
        np.fill_diagonal(F, 0.0)
        cases[f"random-{m}"] = F
    toy = get_problem("toy")
    for delta in (0.01, 0.005):
        lat = Lattice.from_domain(delta, toy.domain)
        F = transition_matrix(toy, make_noise("gaussian", sigma=2.0), lat, 0.1).P.toarray()
        np.fill_diagonal(F, 0.0)
        cases[f"toy-{lat.size}"] = F
    warm = cases["random-500"][:64, :64].copy()
    for fn in (front_eliminate, blas_front, previous_front):
        fn(warm.copy(), 64)
    out = {"OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "default"), "cases": {}}
    for name, F in cases.items():
        m = F.shape[0]
        a, b, c = best(front_eliminate, F, m), best(blas_front, F, m), best(previous_front, F, m)
        out["cases"][name] = {
            "fixed_order_s": round(a, 4),
            "blas_s": round(b, 4),
            "ratio": round(a / b, 2),
            "previous_kernel_s": round(c, 4),
            "ratio_to_previous": round(a / c, 2),
            "gflops": round(2 * m**3 / 3 / a / 1e9, 1),
        }
    try:
        out["loadavg_1min"] = os.getloadavg()[0]
    except OSError:
        pass
    print(json.dumps(out))


if __name__ == "__main__":
    main()
