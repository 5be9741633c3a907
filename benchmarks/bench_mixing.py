"""Benchmark: exact ε-mixing time (Eq. 10, ε = 0.25) vs the straightforward dense doubling + bisection, same run.

Chain: SR on objective (8), Gaussian σ = 2, n states on [−4, 10], learning rate α (default n = 5000, α = 0.08:
t_mix ≈ 1.3e4, the size of the issue's reference case). The baseline is timed at ``--baseline-n`` states (default
2000, same α) and extrapolated by (n / baseline_n)³ — it does dense n×n products only — unless
``--baseline-n`` equals ``--n``. ``--check`` also runs our exact path with compression switched off at n states and
checks the integer; ``--extra`` adds a 2-D separable chain (70 × 70) and a random dense-ish chain. ``--side``
(default 100, 0 to skip) adds the coupled 2-D chain (c = 1, σ = 2, α = ``--side-alpha``) on side² states against
dense doubling measured on ``--baseline-side``² states and extrapolated the same way. The note of each case says
which path ran (dense or certified compressed doubling, and whether a symmetry of the lattice split the powers:
the coupled chain is passed as its Operator, whose square lattice is unchanged by w1 <-> w2; ``--unsplit`` also times
it with the symmetry unused, in the same run). ``--profile`` adds, for each case, the seconds of every
step of the exact path (each squaring with the form of the power, each compression attempt, each product of the
binary search, with its system time: on a virtual machine mostly first touches of fresh memory) and their
totals by form: where the time goes.

    python benchmarks/bench_mixing.py [--n 5000] [--alpha 0.08] [--baseline-n 2000] [--side 100] [--check] [--extra]
        [--profile] [--unsplit]
Prints one JSON object. Timings on a shared machine are noisy: they are reported as measured.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import scipy.sparse as sp


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
            X, t = Y, t + 2**i
    return t + 1


def toy_chain(n: int, alpha: float):
    from srchain.lattice import Lattice
    from srchain.noise import make_noise
    from srchain.operators import transition_matrix
    from srchain.problems import get_problem
    from srchain.stationary import stationary

    lat = Lattice.from_domain(14.0 / (n - 1), (-4.0, 10.0), 1)
    P = transition_matrix(get_problem("toy"), make_noise("gaussian", sigma=2.0), lat, alpha).P
    return P, stationary(P).pi


def coupled_chain(side: int, alpha: float):
    from srchain.lattice import Lattice
    from srchain.noise import make_noise
    from srchain.operators import transition_matrix
    from srchain.problems import get_problem
    from srchain.stationary import stationary

    prob = get_problem("coupled", dim=2, coupling=1.0)
    lat = Lattice.from_domain(14.0 / (side - 1), prob.domain, 2)
    op = transition_matrix(prob, make_noise("gaussian", sigma=2.0), lat, alpha)
    return op, stationary(op).pi  # the Operator: its lattice's symmetry (w1 <-> w2) splits the exact path


def timed(f, *a, **k):
    t0 = time.perf_counter()
    r = f(*a, **k)
    return r, time.perf_counter() - t0


def profile(P, pi, eps) -> dict:
    """Seconds of each step of the exact path (``_exact``'s stage record), and their sums by the power's form."""
    from srchain.mixing import _exact
    from srchain.mixing_symmetry import split_by

    A = sp.csr_matrix(P.P if hasattr(P, "lattice") else P)
    stages: list = []
    (t, info), secs = timed(_exact, A, pi, eps, 10**9, stages=stages, orbits=split_by(A, P, True, None))
    by_form: dict = {}
    for name, form, _rows, s, _sys in stages:
        key = f"{name.split()[0]} ({form})"
        by_form[key] = round(by_form.get(key, 0.0) + s, 3)
    return {
        "mixing_time": t,
        "seconds": round(secs, 3),
        "seconds_by_step_and_form": by_form,
        # system time (all threads) spent in each step: on a virtual machine mostly first touches of fresh memory
        "system_seconds": round(sum(x[4] for x in stages), 3),
        "steps": [{"step": a, "form": b, "rows": r, "seconds": s, "system_seconds": y} for a, b, r, s, y in stages],
    }


def case(name, P, pi, eps, check, prof=False, unsplit=False):
    from srchain.mixing import _exact, mixing_time

    r, secs = timed(mixing_time, P, eps=eps, pi=pi)
    A = sp.csr_matrix(P.P if hasattr(P, "lattice") else P)
    out = {
        "case": name,
        "states": int(A.shape[0]),
        "nnz": int(A.nnz),
        "mixing_time": r.mixing_time,
        "seconds": round(secs, 3),
        "note": r.note,
    }
    if unsplit:  # the same chain with no symmetry used, in the same run
        r2, s2 = timed(mixing_time, P, eps=eps, pi=pi, symmetry=False)
        out |= {"unsplit_seconds": round(s2, 3), "unsplit_mixing_time": r2.mixing_time}
    if check:
        (t, _), s2 = timed(_exact, A, pi, eps, 10**9, compress=False)
        out.update({"uncompressed_mixing_time": t, "uncompressed_seconds": round(s2, 3), "agree": t == r.mixing_time})
    if prof:
        out["profile"] = profile(P, pi, eps)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--alpha", type=float, default=0.08)
    ap.add_argument("--eps", type=float, default=0.25)
    ap.add_argument("--baseline-n", type=int, default=2000)
    ap.add_argument("--side", type=int, default=100, help="coupled 2-D case on side^2 states (0: skip)")
    ap.add_argument("--side-alpha", type=float, default=0.1)
    ap.add_argument("--baseline-side", type=int, default=40)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--extra", action="store_true")
    ap.add_argument("--profile", action="store_true", help="time every step of the exact path (runs it once more)")
    ap.add_argument("--unsplit", action="store_true", help="also time the 2-D case with no symmetry used (same run)")
    args = ap.parse_args()
    from srchain.mixing import mixing_time

    out: dict = {"benchmark": "mixing", "eps": args.eps}
    if args.n:  # --n 0 skips the 1-D case
        P, pi = toy_chain(args.n, args.alpha)
        main_case = case("toy-1d", P, pi, args.eps, args.check, args.profile)
        bn = args.baseline_n
        Pb, pib = (P, pi) if bn == args.n else toy_chain(bn, args.alpha)
        b, base = timed(baseline, Pb.toarray(), pib, args.eps)
        ours_b = mixing_time(Pb, eps=args.eps, pi=pib)
        scale = (args.n / bn) ** 3
        out |= {
            "alpha": args.alpha,
            **main_case,
            "baseline": {
                "states": bn,
                "mixing_time": b,
                "ours_mixing_time": ours_b.mixing_time,
                "agree": b == ours_b.mixing_time,
                "seconds": round(base, 3),
                "ours_seconds": round(ours_b.seconds, 3),
                "extrapolated_seconds_at_n": round(base * scale, 1),
                "extrapolated": bn != args.n,
                "how": "measured" if bn == args.n else f"measured at {bn} states, times (n/{bn})^3",
            },
            "speedup": round(base * scale / main_case["seconds"], 1),
            "target_seconds": 8.0,
            "target_met": main_case["seconds"] <= 8.0,
        }
    if args.side:
        P2, pi2 = coupled_chain(args.side, args.side_alpha)
        c2 = case(
            f"coupled-2d-{args.side}x{args.side}-alpha{args.side_alpha:g}",
            P2,
            pi2,
            args.eps,
            args.check,
            args.profile,
            args.unsplit,
        )
        Pb2, pib2 = coupled_chain(args.baseline_side, args.side_alpha)
        b2, base2 = timed(baseline, Pb2.P.toarray(), pib2, args.eps)
        ours2 = mixing_time(Pb2, eps=args.eps, pi=pib2)
        scale2 = (P2.P.shape[0] / Pb2.P.shape[0]) ** 3
        c2["baseline"] = {
            "states": int(Pb2.P.shape[0]),
            "mixing_time": b2,
            "ours_mixing_time": ours2.mixing_time,
            "agree": b2 == ours2.mixing_time,
            "seconds": round(base2, 3),
            "ours_seconds": round(ours2.seconds, 3),
            "extrapolated_seconds_at_n": round(base2 * scale2, 1),
            "how": f"measured at {Pb2.P.shape[0]} states, times (n/{Pb2.P.shape[0]})^3",
        }
        c2["speedup"] = round(base2 * scale2 / c2["seconds"], 1)
        c2["target_seconds"] = 20.0
        c2["target_met"] = c2["seconds"] <= 20.0
        out["coupled_2d"] = c2
    if args.extra:
        from srchain.lattice import Lattice
        from srchain.noise import make_noise
        from srchain.operators import transition_matrix
        from srchain.problems import get_problem
        from srchain.stationary import stationary

        prob = get_problem("separable", dim=2)
        lat = Lattice.from_domain(14 / 69, prob.domain)
        P2 = transition_matrix(prob, make_noise("gaussian", sigma=2.0), lat, 0.1).P
        extra = [case("separable-2d-70x70-alpha0.1", P2, stationary(P2, shape=lat.shape).pi, args.eps, args.check)]
        rng = np.random.default_rng(0)
        A = rng.random((args.n, args.n)) ** 16
        A /= A.sum(axis=1, keepdims=True)
        extra.append(case("random-dense", A, stationary(A).pi, args.eps, args.check))
        out["extra"] = extra
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
