"""Benchmark: stationary law of 10^6-state 2-D SR chains (issue 2), sparse GTH vs SciPy spsolve, same run.

Chains: objective (8) per coordinate (`separable`, exact law = product of two birth–death laws) and `coupled`
(c = 1), Δ = 14/999 on [−4, 10]^2 (1000 × 1000 states), Gaussian σ = 2, α = 5e-4.
Each case runs in a fresh subprocess so that its memory high-water mark is its own: ``peak_rss_gib`` is the
case's peak resident set (GiB; Linux VmHWM, else getrusage's ru_maxrss), ``build.peak_rss_gib`` the peak while
building P (and warming the JIT), ``gth.peak_rss_gib`` the peak during the solve (P included; the counter is reset
between the two, Linux only).

    python benchmarks/bench_stationary.py            # 10^6-state separable and coupled chains
    python benchmarks/bench_stationary.py --huge     # also a 10^7-state (3162 × 3162, α = 1.5e-4) separable chain,
                                                     # GTH only (about 6 GiB at its peak)
    python benchmarks/bench_stationary.py --one-d    # 1-D chains of objective (8): what `auto` picks (banded GTH in
                                                     # the natural order, or sparse with its fallback) against the
                                                     # sparse solver alone, which meets a zero pivot on some of them
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def _reset_peak_rss() -> None:
    """Reset the process's peak RSS (VmHWM) to its current RSS (Linux: ``echo 5 > /proc/self/clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _peak_rss_gib() -> float:
    """The process's memory high-water mark in GiB: VmHWM (Linux, reset by :func:`_reset_peak_rss`), else the
    peak resident set of ``resource.getrusage`` (KiB on Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def case(problem: str, side: int, baseline: bool, alpha: float = 5e-4) -> dict:
    import numpy as np
    import scipy.sparse as sp
    from scipy.sparse.linalg import spsolve

    from srchain.lattice import Lattice
    from srchain.noise import make_noise
    from srchain.operators import transition_matrix
    from srchain.problems import get_problem
    from srchain.stationary import birth_death_stationary, stationary, tv

    delta = 14.0 / (side - 1)
    noise = make_noise("gaussian", sigma=2.0)
    prob = get_problem(problem, dim=2, coupling=1.0 if problem == "coupled" else None)
    lat = Lattice.from_domain(delta, (-4.0, 10.0), 2)
    # warm the JIT on a small chain so that compile time is counted neither in the build nor in the solve, its top
    # fronts split over the threads as the large chain's are (they are too small for that by default, and a cold
    # Numba cache then compiled the split path inside the timed solve, its memory counted in the peak); 80 × 80
    # states give the tree enough nodes for the parallel schedule that runs the top fronts one at a time
    import srchain.gth.sparse as gth_sparse

    small = Lattice.from_domain(14.0 / 79, (-4.0, 10.0), 2)
    split, gth_sparse.SPLIT_FRONT = gth_sparse.SPLIT_FRONT, 8
    try:
        stationary(transition_matrix(prob, noise, small, 5e-4).P, method="gth-sparse", shape=small.shape)
    finally:
        gth_sparse.SPLIT_FRONT = split
    t = time.perf_counter()
    op = transition_matrix(prob, noise, lat, alpha)
    build = time.perf_counter() - t
    P = op.P
    build_peak = _peak_rss_gib()  # building P and the warm-up
    _reset_peak_rss()
    res = stationary(P, method="gth-sparse", shape=lat.shape)
    gth_peak = _peak_rss_gib()  # since the reset: P plus everything the solve held
    del op
    out = {
        "problem": problem,
        "alpha": alpha,
        "states": P.shape[0],
        "nnz": int(P.nnz),
        "build_seconds": build,
        "law_seconds": build + res.seconds,
        "build": {"peak_rss_gib": build_peak},
        "gth": {
            "seconds": res.seconds,
            "residual": res.residual,
            "underflow": res.underflow,
            "method": res.method,
            "peak_rss_gib": gth_peak,
        },
    }
    if problem == "separable":
        lat1 = Lattice.from_domain(delta, (-4.0, 10.0), 1)
        q = birth_death_stationary(transition_matrix(get_problem("toy"), noise, lat1, alpha).P)
        out["gth"]["tv_to_exact"] = tv(res.pi, np.kron(q, q))
    if baseline:
        n = P.shape[0]
        pin = int(np.argmax(res.pi))
        M = (sp.identity(n, format="csr") - P).T.tocsr()
        keep = np.r_[0:pin, pin + 1 : n]
        Mr = M[keep][:, keep].tocsc()
        b = -M[keep, pin].toarray().ravel()
        t = time.perf_counter()
        x = spsolve(Mr, b)
        sec = time.perf_counter() - t
        pi = np.empty(n)
        pi[keep] = x
        pi[pin] = 1.0
        pi /= pi.sum()
        out["spsolve_pinned_at_mode"] = {
            "seconds": sec,
            "tv_to_gth": tv(pi, res.pi),
            "residual": float(np.abs(P.T @ pi - pi).sum()),
        }
        out["speedup_vs_spsolve"] = sec / res.seconds
    out["peak_rss_gib"] = max(build_peak, _peak_rss_gib())  # the whole case: build, GTH and any baseline
    out["loadavg"] = os.getloadavg()
    return out


def one_d(n: int, alpha: float) -> dict:
    """A 1-D SR chain of objective (8) on [−4, 10] with n states (Gaussian σ = 2): auto vs sparse GTH, same P."""
    import numpy as np

    from srchain.errors import SrchainError
    from srchain.gth import bandwidth
    from srchain.lattice import Lattice
    from srchain.noise import make_noise
    from srchain.operators import transition_matrix
    from srchain.problems import get_problem
    from srchain.stationary import stationary, tv

    pr = get_problem("toy")
    lat = Lattice.from_domain(14.0 / (n - 1), pr.domain, 1)
    op = transition_matrix(pr, make_noise("gaussian", sigma=2.0), lat, alpha)
    out = {"states": n, "alpha": alpha, "bandwidth": bandwidth(op.P)}
    t = time.perf_counter()
    auto = stationary(op.P, shape=lat.shape)
    out["auto"] = {"method": auto.method, "seconds": round(time.perf_counter() - t, 3), "residual": auto.residual}
    t = time.perf_counter()
    try:
        sparse = stationary(op.P, method="gth-sparse", shape=lat.shape)
        out["sparse"] = {"seconds": round(time.perf_counter() - t, 3), "tv_to_auto": tv(sparse.pi, auto.pi)}
    except SrchainError as exc:
        out["sparse"] = {"seconds": round(time.perf_counter() - t, 3), "error": str(exc)[:80]}
    out["auto"]["max"] = float(np.max(auto.pi))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--huge", action="store_true", help="also run a 10^7-state chain (GTH only)")
    ap.add_argument(
        "--huge-problem", default="separable", choices=("separable", "coupled"), help="the problem of the --huge case"
    )
    ap.add_argument("--one-d", action="store_true", help="1-D chains: auto (banded or sparse) vs sparse GTH")
    ap.add_argument("--case", nargs=4, metavar=("PROBLEM", "SIDE", "BASELINE", "ALPHA"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        print(json.dumps(case(args.case[0], int(args.case[1]), args.case[2] == "1", float(args.case[3]))))
        return
    if args.one_d:
        rows = [one_d(n, a) for n, a in ((10_000, 1e-3), (100_000, 1e-3), (100_000, 1e-2))]
        print(json.dumps({"benchmark": "stationary-1d", "cpus": os.cpu_count(), "results": rows}, indent=1))
        return
    runs = [("separable", 1000, 1, 5e-4), ("coupled", 1000, 1, 5e-4)]
    if args.huge:
        runs.append((args.huge_problem, 3162, 0, 1.5e-4))
    results = []
    for prob, side, base, alpha in runs:
        p = subprocess.run(
            [sys.executable, __file__, "--case", prob, str(side), str(base), repr(alpha)],
            capture_output=True,
            text=True,
        )
        if p.returncode:
            results.append({"problem": prob, "side": side, "error": p.stderr.strip().splitlines()[-1:]})
        else:
            results.append(json.loads(p.stdout.strip().splitlines()[-1]))
    print(json.dumps({"benchmark": "stationary", "cpus": os.cpu_count(), "results": results}, indent=1))


if __name__ == "__main__":
    main()
