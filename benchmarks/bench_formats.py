"""Benchmark: exact chains on a format's grid against the fixed grid of the same size, in the same run (issue 18).

Objective (8), Gaussian σ = 2. For each case the fixed grid has as many states as the format's grid on the same
domain (Δ = (hi − lo)/(n − 1)); both are timed end to end (T_α built, π solved with `auto`), per state.

* bf16 on [−4, 10]: every value, 33,185 states. T_α there is *not* sparse: the ~30,000 values within 1 of zero
  are each a target of every state near zero, so a row keeps about 10,600 entries at every α (measured on sample
  rows, the estimate of srchain.grid_chains.grid_estimate), and the windows near zero span nearly every state, so
  the solve's fill adds ~10 GiB: the sparse route's estimate is 23–27 GiB, and ``srchain stationary`` takes the dense
  route there (``--dense`` below). The benchmark reports that estimate, and times the α → 0 limit (Ũ, π̃), which is
  tridiagonal, on both grids.
* bf16 on [1, 8] (385 states) and fp16 on [1, 8] (3,073 states): T_α and π_α at α = 0.1, 0.01, 0.001; on fp16
  ``auto`` solves by banded GTH on each row's envelope, also timed against the full band it replaced (same bits).
* The grid simulator (SR exact and with 8 random bits, R and BC, α = 0.01; one chain, and two chains on one core)
  against the bare draws it makes (SR: one normal and one uniform per step; R and BC: one normal), in CPU time:
  from :mod:`srchain.pcg` (the draws it inlines, the tighter ceiling) and from a NumPy ``Generator`` in Numba (the
  ceiling of ``bench_simulate.py``'s fixed-lattice target).
* ``--two-d``: a 2-D product box of format axes with about 10⁶ states (``separable``, objective (8) per coordinate,
  whose exact law is the product of the 1-D laws) against the fixed lattice with the same number of states per axis
  on the same box: T_α built, π solved by sparse (multifrontal) GTH with the lattice's nested dissection, per state,
  and the peak RSS of each, each grid in a fresh process, in the order format, fixed, fixed, format (the best of
  each is compared); default fp16 on [3, 6]² (1025² = 1,050,625 states: the binade [3, 4) at spacing 2⁻⁹, [4, 6] at
  2⁻⁸) at α = 2e-4 (the step's reach, 3e-3, spans one or two cells; at bench_stationary.py's 5e-4 the separators
  are thicker and the solve takes minutes). ``--format bf16 --lo 0.03125 --hi 8 --alpha 5e-5``: 1025² again, over
  eight binades.
* ``--dense``: bf16 on [−4, 10] solved by ``grid_law_dense`` (the lifted chain of srchain.grid_lifted where it applies,
  else the dense route of srchain.grid_dense), phase by phase, the best of two runs (the first loads the route's
  compiled kernels), with its peak RSS and the fixed grid of the same size at the same α (the best of two runs in a
  fresh process, before and after: a process whose memory has been in use a while pays more page faults, the faster
  counted); and the chunk of rows around 0 with the laws interpolated within each binade of mean steps
  (srchain.grid_interp) against computed row by row (the same cells, the largest relative difference).
* ``--lumping``: bf16 on [−4, 10], row by row: how many rows are distinct (exact lumping), and whether each row's
  law sums to 1 before renormalisation.

    python benchmarks/bench_formats.py        # prints one JSON object (about a minute)
    python benchmarks/bench_formats.py --simulator   # the simulator rows only
    python benchmarks/bench_formats.py --two-d [--format fp16 --lo 3 --hi 6 --alpha 2e-4]   # about 5 minutes
    python benchmarks/bench_formats.py --lumping --alpha 0.01
    python benchmarks/bench_formats.py --dense --alpha 0.01    # bf16 [-4, 10] by grid_law_dense, about a minute
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def _timed(fn, repeat=3):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def simulator(toy, noise) -> list:
    """The grid simulator (one core) against the bare draws it makes: one row per format. SR (exact, and with 8
    random bits) draws a normal and a uniform per step; R and BC draw one normal."""
    # 3. the grid simulator (SR, one core) against the bare draws it makes (one normal + one uniform per step from
    #    srchain.pcg, NumPy's PCG64 inlined), same run: one chain, and two chains (how a run of two or more chains
    #    steps on one axis: two in lockstep). CPU time of this process (single-threaded kernels), so that other
    #    processes on a busy machine distort the ratio less.
    import numpy as np
    from numba import njit

    from srchain import pcg
    from srchain.grids import Grid
    from srchain.simulate.grid import simulate_grid

    @njit(nogil=True)
    def bare(states, n, uniform):  # a normal (and a uniform) per step
        s = pcg.load(states, 0)
        acc = 0.0
        for _ in range(n):
            z, s = pcg.standard_normal(s)
            acc += z
            if uniform:
                u, s = pcg.next_double(s)
                acc += u
        pcg.store(states, 0, s)
        return acc

    def cpu_best(fn, repeat=5):
        best = float("inf")
        for _ in range(repeat):
            t = time.process_time()
            fn()
            best = min(best, time.process_time() - t)
        return best

    @njit(nogil=True)
    def bare_generator(gen, n, uniform):
        acc = 0.0
        for _ in range(n):
            acc += gen.standard_normal()
            if uniform:
                acc += gen.random()
        return acc

    steps = 4_000_000
    # the ceiling bench_simulate.py's fixed-lattice target is stated against: the same draws from a NumPy
    # ``Generator`` inside Numba (one call into NumPy's C code per draw)
    gen = np.random.Generator(np.random.PCG64(0))

    def timed(fn, first, uniform):
        fn(first(), 10, uniform)  # compiled first
        return cpu_best(lambda: fn(first(), steps, uniform))

    def states():
        return pcg.states_from_seed(0, 1)

    t_bare, t_bare_n = timed(bare, states, True), timed(bare, states, False)
    t_gen, t_gen_n = timed(bare_generator, lambda: gen, True), timed(bare_generator, lambda: gen, False)
    sims = []
    for fmt in ("bf16", "fp16", "fp8-e4m3"):
        grid = Grid.of(fmt, (1.0, 8.0))
        row = {
            "grid": f"{fmt} [1, 8]",
            "states": grid.size,
            "bare_draws_per_second": round(steps / t_bare),
            "bare_generator_draws_per_second": round(steps / t_gen),
            "bare_normals_per_second": round(steps / t_bare_n),
            "bare_generator_normals_per_second": round(steps / t_gen_n),
        }
        for rule, bits, (tb, tg) in (
            ("sr", None, (t_bare, t_gen)),
            ("sr", 8, (t_bare, t_gen)),
            ("r", None, (t_bare_n, t_gen_n)),
            ("bc", None, (t_bare_n, t_gen_n)),
        ):
            name = rule if bits is None else f"{rule}{bits}"
            for chains in (1, 2):
                kw = dict(chains=chains, start=[4.0], sr_bits=bits)
                simulate_grid(toy, noise, grid, rule, 0.01, steps=10, **kw)
                t_sim = cpu_best(
                    lambda g2=grid, c=chains, r=rule, k=kw: simulate_grid(
                        toy, noise, g2, r, 0.01, steps=steps // c, **k
                    )
                )
                row[f"{name}_{chains}_chain_steps_per_second"] = round(steps / t_sim)
                row[f"{name}_{chains}_chain_fraction_of_bare"] = round(tb / t_sim, 3)
                row[f"{name}_{chains}_chain_fraction_of_bare_generator"] = round(tg / t_sim, 3)
        sims.append(row)
    return sims


def _peak_rss_gb() -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def two_d_case(kind: str, fmt: str, lo: float, hi: float, alpha: float) -> dict:
    """One grid of the 2-D case (run in its own process): ``kind`` "format" or "fixed" (as many values per axis)."""
    import numpy as np

    from srchain.grids import Grid
    from srchain.lattice import Lattice
    from srchain.noise import make_noise
    from srchain.operators import transition_matrix
    from srchain.problems import get_problem
    from srchain.stationary import stationary, tv

    noise = make_noise("gaussian", 2.0)
    axis = Grid.of(fmt, (lo, hi))
    side = axis.size
    prob = get_problem("separable", dim=2, domain=(lo, hi))
    grid2 = (
        Grid.of(fmt, (lo, hi), dim=2) if kind == "format" else Lattice.from_domain((hi - lo) / (side - 1), (lo, hi), 2)
    )
    grid1 = axis if kind == "format" else Lattice.from_domain((hi - lo) / (side - 1), (lo, hi), 1)
    assert grid2.size == side * side, (grid2.size, side)
    # warm-up on a small box (compiles every kernel; not timed)
    small = Grid.of(fmt, (lo, lo + 0.05), dim=2) if kind == "format" else Lattice.from_domain(0.01, (lo, lo + 0.3), 2)
    stationary(transition_matrix(prob.with_domain(small.domain), noise, small, alpha), method="gth-sparse")
    rss0 = _peak_rss_gb()
    t = time.perf_counter()
    op = transition_matrix(prob, noise, grid2, alpha)
    build = time.perf_counter() - t
    t = time.perf_counter()
    res = stationary(op, method="gth-sparse")
    solve = time.perf_counter() - t
    one = stationary(transition_matrix(get_problem("toy", domain=(lo, hi)), noise, grid1, alpha)).pi
    n = grid2.size
    return {
        "grid": f"{fmt if kind == 'format' else 'fixed'} [{lo:g}, {hi:g}]^2",
        "states": n,
        "alpha": alpha,
        "nnz_per_row": round(op.P.nnz / n, 2),
        "build_seconds": round(build, 3),
        "solve_seconds": round(solve, 3),
        "us_per_state": round(1e6 * (build + solve) / n, 3),
        "residual": res.residual,
        "tv_to_product_law": tv(res.pi, np.kron(one, one)),
        "peak_rss_gb_before": rss0,
        "peak_rss_gb": _peak_rss_gb(),
        "loadavg": list(os.getloadavg()),
    }


def lumping(alpha: float) -> int:
    """bf16 on [−4, 10]: are rows of T_α bit-identical (exactly lumpable states), and are the rows exact at all?

    Builds the rows chunk by chunk (never the whole operator) and counts distinct rows (columns and values, as
    built), distinct rows once each row's own cell and its two neighbours are left out (the entries that must
    differ between states), and the rows whose kept mass before renormalisation is off from 1 by more than
    1e-9 (what dropping entries below ``tol`` = 1e-14 could explain), with their largest |w|. With the difference
    form of SR's law near 0 this took 260 s (and found 31,807 such rows); since the cells near 0 are integrated by
    quadrature (~10^10 density evaluations at α = 0.01) it takes well over ten minutes."""
    import hashlib

    import numpy as np

    from srchain.assemble import build_rows
    from srchain.grid_chains import _chunks, _gradients, _reach, grid_move_laws
    from srchain.grids import Grid
    from srchain.noise import make_noise
    from srchain.problems import get_problem

    noise = make_noise("gaussian", 2.0)
    toy = get_problem("toy")
    grid = Grid.of("bf16", (-4.0, 10.0))
    v = grid.points[:, 0]
    n = grid.size
    grads = _gradients(toy, grid)
    chunks, width, _ = _chunks(grid, grads, alpha, _reach(noise, grads, alpha, 1e-14))
    t0 = time.perf_counter()
    full, far = set(), set()
    bad = np.zeros(n, dtype=bool)
    nnz = 0
    for a, b in chunks:
        idx = np.arange(a, b)
        targets, probs, own = grid_move_laws(toy, noise, grid, alpha, "sr", 1e-14, grads[a:b], idx)
        ln, ci, va = [], [], []
        for r0 in range(0, b - a, 256):  # sub-chunks, to keep each build's output small
            sl = slice(r0, min(r0 + 256, b - a))
            lens, cols, vals, _ = build_rows(targets[sl], probs[sl], grid, 1e-14, own[sl])
            ln.append(lens)
            ci.append(cols)
            va.append(vals)
            # the kept mass, recomputed from the unnormalised laws: a row's product over axes in 1-D is its law
            kept = np.where(targets[sl, 0] >= 0, probs[sl, 0], 0.0).sum(axis=1)
            bad[a + r0 : a + sl.stop] = np.abs(kept - 1.0) > 1e-9
        lens = np.concatenate(ln)
        cols = np.concatenate(ci)
        vals = np.concatenate(va)
        nnz += int(lens.sum())
        ends = np.cumsum(lens)
        for r in range(b - a):  # per-row hashes (an investigation, not a kernel)
            i = a + r
            c = cols[ends[r] - lens[r] : ends[r]]
            x = vals[ends[r] - lens[r] : ends[r]]
            full.add(hashlib.sha1(c.tobytes() + x.tobytes()).digest())
            keep = np.abs(c - i) > 1
            far.add(hashlib.sha1(c[keep].tobytes() + x[keep].tobytes()).digest())
    out = {
        "benchmark": "formats-lumping",
        "grid": "bf16 [-4, 10]",
        "states": n,
        "alpha": alpha,
        "entries": nnz,
        "distinct_rows": len(full),
        "distinct_rows_without_own_and_neighbours": len(far),
        "rows_with_mass_off_by_more_than_1e-9": int(bad.sum()),
        "largest_abs_w_of_such_a_row": float(np.abs(v[bad]).max()) if bad.any() else None,
        "smallest_gap_of_their_values": float(np.min(np.diff(v))) if bad.any() else None,
        "seconds": round(time.perf_counter() - t0, 1),
        "loadavg": list(os.getloadavg()),
    }
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


def dense_law(alpha: float) -> int:
    """``--dense``: bf16 on [−4, 10] (33,185 states, rows of ~10,600 entries) solved by grid_law_dense
    (srchain.grid_lifted or srchain.grid_dense): its phases, the peak RSS, the law's findings, and in the same run
    the fixed grid with as many states at the same α (T_α + π by ``auto``), and the chunk of rows around 0 with the
    laws interpolated within each binade of mean steps (srchain.grid_interp) against computed row by row: seconds,
    the same cells, the largest relative difference."""
    import math

    import numpy as np

    import srchain.grid_interp as gi
    from srchain.grid_chains import chunk_rows, prepare_rows
    from srchain.grid_dense import grid_law_dense, route_bytes
    from srchain.grids import Grid
    from srchain.noise import make_noise
    from srchain.operators import limit_chain
    from srchain.problems import get_problem
    from srchain.stationary import stationary

    noise = make_noise("gaussian", 2.0)
    toy = get_problem("toy")
    bf = Grid.of("bf16", (-4.0, 10.0))
    n = bf.size
    out = {"benchmark": "formats --dense", "grid": "bf16 [-4, 10]", "states": n, "alpha": alpha}
    out["loadavg_before"] = list(os.getloadavg())
    before = _fixed_case(n, alpha)
    dense_b, sparse_b = route_bytes(toy, noise, bf, alpha)
    out["estimate_dense_gib"], out["estimate_sparse_gib"] = round(dense_b / 2**30, 2), round(sparse_b / 2**30, 2)
    # the chunk of rows holding 0 (the widest windows): interpolated against row by row
    a_, m_, bits, grads, chunks, _ = prepare_rows(toy, noise, bf, alpha, "sr", 1e-14, None)
    zero = int(np.searchsorted(bf.points[:, 0], 0.0))
    a, b = next((a, b) for a, b in chunks if a <= zero < b)
    chunk_rows(toy, noise, bf, a_, m_, 1e-14, grads, bits, a, min(b, a + 8))  # compile
    t_new, new_rows = _timed(lambda: chunk_rows(toy, noise, bf, a_, m_, 1e-14, grads, bits, a, b), repeat=1)
    per_point, gi.ROWS_PER_POINT = gi.ROWS_PER_POINT, math.inf  # no binade interpolated
    t_old, old_rows = _timed(lambda: chunk_rows(toy, noise, bf, a_, m_, 1e-14, grads, bits, a, b), repeat=1)
    gi.ROWS_PER_POINT = per_point
    out["chunk_rows"] = [a, b]
    out["chunk_entries"] = int(new_rows[2].size)
    out["chunk_seconds_interpolated"], out["chunk_seconds_row_by_row"] = round(t_new, 2), round(t_old, 2)
    same = np.array_equal(new_rows[1], old_rows[1])
    out["chunk_same_cells"] = bool(same)
    out["chunk_max_relative_difference"] = (
        float(np.max(np.abs(new_rows[2] - old_rows[2]) / old_rows[2])) if same else None
    )
    del new_rows, old_rows
    # the law by the dense route, phase by phase: the best of two runs, as the fixed grid's (the first loads the
    # route's compiled kernels)
    runs = []
    for _ in range(2):
        stamps = [("start", time.perf_counter())]
        res, nnz, dropped = grid_law_dense(
            toy, noise, bf, alpha, progress=lambda s, stamps=stamps: stamps.append((s, time.perf_counter()))
        )
        stamps.append(("end", time.perf_counter()))
        runs.append(stamps)
    stamps = min(runs, key=lambda st: st[-1][1] - st[0][1])
    out["phases_seconds"] = {stamps[i][0]: round(stamps[i + 1][1] - stamps[i][1], 1) for i in range(1, len(stamps) - 1)}
    out["seconds_both"] = [round(st[-1][1] - st[0][1], 2) for st in runs]
    out["seconds"] = round(stamps[-1][1] - stamps[0][1], 2)
    out["peak_rss_gib"] = _peak_rss_gb()
    x = bf.points[:, 0]
    lim = stationary(limit_chain(toy, noise, bf).t_tilde).pi
    out.update(
        nnz_per_row=round(nnz / n, 1),
        residual=res.residual,
        underflow=res.underflow,
        mass_within_half_of_zero=float(res.pi[np.abs(x) < 0.5].sum()),
        expected_distance=float(np.sum(res.pi * np.abs(x - 4.75))),
        limit_mass_within_half_of_zero=float(lim[np.abs(x) < 0.5].sum()),
        tv_to_limit=float(0.5 * np.abs(res.pi - lim).sum()),
    )
    # the fixed grid with as many states, the same α, in the same run: in a fresh process before and after this
    # one's work (memory that a process has used a while costs page faults of its own), the faster counted
    fixed = [json.loads(p) for p in (before, _fixed_case(n, alpha))]
    if "refused" in fixed[0]:
        out["fixed_refused"] = fixed[0]["refused"]
    else:
        out["fixed_seconds_both"] = [f["seconds"] for f in fixed]
        out["fixed_seconds"] = min(out["fixed_seconds_both"])
        out["fixed_nnz_per_row"] = fixed[0]["nnz_per_row"]
        out["per_state_format_over_fixed"] = round(out["seconds"] / out["fixed_seconds"], 2)
    out["loadavg_after"] = list(os.getloadavg())
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


def _fixed_case(n: int, alpha: float) -> str:
    """The fixed grid on [−4, 10] with ``n`` states at ``alpha``, T_α and π by ``auto``, timed in a fresh process
    (the best of two runs: the first loads the compiled kernels): its JSON line, or ``{"refused": …}`` where it would
    not fit in memory, as `srchain stationary` refuses it (at α = 1 every row spans every state, ~55 GiB)."""
    p = subprocess.run([sys.executable, __file__, "--fixed-case", str(n), repr(alpha)], capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(p.stderr.strip().splitlines()[-1])
    return p.stdout.strip().splitlines()[-1]


def fixed_case(n: int, alpha: float) -> dict:
    from srchain.budget import available_memory
    from srchain.errors import SrchainError
    from srchain.lattice import Lattice
    from srchain.noise import make_noise
    from srchain.operators import transition_matrix
    from srchain.problems import get_problem
    from srchain.stationary import stationary

    noise, toy = make_noise("gaussian", 2.0), get_problem("toy")
    fixed = Lattice.from_domain(14.0 / (n - 1), (-4.0, 10.0))
    limit = 0.75 * available_memory()

    def law():
        op = transition_matrix(toy, noise, fixed, alpha, max_bytes=limit)
        stationary(op, max_bytes=limit)
        return op

    try:
        seconds, op = _timed(law, repeat=2)
    except SrchainError as exc:
        return {"refused": str(exc)}
    return {"seconds": round(seconds, 2), "nnz_per_row": round(op.P.nnz / n, 1)}


def two_d(fmt: str, lo: float, hi: float, alpha: float) -> int:
    """The 2-D case: the format's product box and the fixed lattice of the same size, each in a fresh process."""
    out: dict = {"benchmark": "formats-2d", "loadavg_before": list(os.getloadavg()), "cases": []}
    for kind in ("format", "fixed", "fixed", "format"):  # ABBA, so that a drift of the machine's load cancels
        p = subprocess.run(
            [sys.executable, __file__, "--two-d-case", kind, fmt, repr(lo), repr(hi), repr(alpha)],
            capture_output=True,
            text=True,
        )
        if p.returncode:
            out["cases"].append({"kind": kind, "error": p.stderr.strip().splitlines()[-3:]})
        else:
            out["cases"].append({"kind": kind, **json.loads(p.stdout.strip().splitlines()[-1])})
    best = {}
    for c in out["cases"]:
        if "us_per_state" in c:
            best[c["kind"]] = min(best.get(c["kind"], float("inf")), c["us_per_state"])
    if len(best) == 2:
        out["best_us_per_state"] = best
        out["format_over_fixed_per_state"] = round(best["format"] / best["fixed"], 3)
    out["loadavg_after"] = list(os.getloadavg())
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--two-d", action="store_true", help="only the 2-D case (about 10^6 states)")
    ap.add_argument("--format", default="fp16", help="the 2-D case's format (default fp16)")
    ap.add_argument("--lo", type=float, default=3.0)
    ap.add_argument("--hi", type=float, default=6.0)
    ap.add_argument("--alpha", type=float, default=2e-4)
    ap.add_argument("--lumping", action="store_true", help="only the bf16 [-4, 10] row investigation (at --alpha)")
    ap.add_argument("--two-d-case", nargs=5, help=argparse.SUPPRESS)
    ap.add_argument("--fixed-case", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--simulator", action="store_true", help="only the grid simulator rows (a few seconds)")
    ap.add_argument("--dense", action="store_true", help="only bf16 [-4, 10]'s law (at --alpha)")
    args = ap.parse_args()
    if args.fixed_case:
        print(json.dumps(fixed_case(int(args.fixed_case[0]), float(args.fixed_case[1]))))
        return 0
    if args.two_d_case:
        kind, fmt, lo, hi, alpha = args.two_d_case
        print(json.dumps(two_d_case(kind, fmt, float(lo), float(hi), float(alpha))))
        return 0
    if args.lumping:
        return lumping(args.alpha)
    if args.dense:
        return dense_law(args.alpha)
    if args.two_d:
        return two_d(args.format, args.lo, args.hi, args.alpha)
    import numpy as np

    from srchain.grid_chains import grid_estimate
    from srchain.grids import Grid
    from srchain.gth import banded_law, bandwidth
    from srchain.lattice import Lattice
    from srchain.noise import make_noise
    from srchain.operators import limit_chain, transition_matrix
    from srchain.problems import get_problem
    from srchain.stationary import stationary

    noise = make_noise("gaussian", 2.0)
    load = os.getloadavg()
    result = {"benchmark": "formats", "noise": noise.to_dict(), "loadavg_before": list(load), "cases": []}

    if args.simulator:  # the simulator rows only (a few seconds)
        result["simulator"] = simulator(get_problem("toy", domain=(1.0, 8.0)), noise)
        result["loadavg_after"] = list(os.getloadavg())
        json.dump(result, sys.stdout, indent=1)
        print()
        return 0

    # warm-up: compile every kernel once (not timed)
    toy = get_problem("toy", domain=(1.0, 8.0))
    g = Grid.of("fp8-e4m3", (1.0, 8.0))
    stationary(transition_matrix(toy, noise, g, 0.1))
    stationary(transition_matrix(toy, noise, Lattice.from_domain(0.5, (1.0, 8.0)), 0.1))

    # 1. bf16 on [-4, 10]: estimate of T_alpha, and the limit chain on both grids
    toy = get_problem("toy")
    bf = Grid.of("bf16", (-4.0, 10.0))
    n = bf.size
    fixed = Lattice.from_domain(14.0 / (n - 1), (-4.0, 10.0))
    assert fixed.size == n, (fixed.size, n)
    case = {"grid": "bf16 [-4, 10]", "states": n, "estimates": []}
    for alpha in (1.0, 1e-2, 1e-4):
        t, (bts, nnz) = _timed(lambda a=alpha: grid_estimate(toy, noise, bf, a), repeat=1)
        case["estimates"].append(
            {"alpha": alpha, "nnz_per_row": nnz / n, "bytes": bts, "estimate_seconds": round(t, 3)}
        )
    for name, grid in (("bf16", bf), ("fixed", fixed)):
        t, pi = _timed(lambda gr=grid: stationary(limit_chain(toy, noise, gr).t_tilde).pi)
        case[f"limit_{name}_seconds"] = round(t, 4)
        case[f"limit_{name}_us_per_state"] = round(1e6 * t / n, 3)
        case[f"limit_{name}_mass_near_zero"] = float(pi[np.abs(grid.points[:, 0]) < 0.5].sum())
    t_fixed_T, op = _timed(lambda: transition_matrix(toy, noise, fixed, 1e-3), repeat=1)
    t_fixed_pi, _ = _timed(lambda: stationary(op), repeat=1)
    case["fixed_T_alpha_1e-3_seconds"] = round(t_fixed_T, 3)
    case["fixed_pi_alpha_1e-3_seconds"] = round(t_fixed_pi, 3)
    case["fixed_nnz_per_row_alpha_1e-3"] = op.P.nnz / n
    result["cases"].append(case)

    # 2. bf16 and fp16 on [1, 8]: T_alpha + pi_alpha on the format's grid and on the fixed grid of the same size
    toy = get_problem("toy", domain=(1.0, 8.0))
    for fmt in ("bf16", "fp16"):
        grid = Grid.of(fmt, (1.0, 8.0))
        n = grid.size
        fixed = Lattice.from_domain(7.0 / (n - 1), (1.0, 8.0))
        assert fixed.size == n
        case = {"grid": f"{fmt} [1, 8]", "states": n, "rows": []}
        for alpha in (0.1, 0.01, 0.001):
            row = {"alpha": alpha}
            for name, gr in ((fmt, grid), ("fixed", fixed)):
                t, res = _timed(lambda g2=gr, a=alpha: (transition_matrix(toy, noise, g2, a), None), repeat=2)
                op = res[0]
                t2, _ = _timed(lambda o=op: stationary(o), repeat=2)
                row[f"{name}_build_seconds"] = round(t, 4)
                row[f"{name}_solve_seconds"] = round(t2, 4)
                row[f"{name}_us_per_state"] = round(1e6 * (t + t2) / n, 2)
                row[f"{name}_nnz_per_row"] = round(op.P.nnz / n, 1)
                if n > 1500:  # auto's banded solver: the envelope, against the full band it replaced (same bits)
                    t3, _ = _timed(lambda o=op: banded_law(o.P), repeat=2)
                    row[f"{name}_solve_full_band_seconds"] = round(t3, 4)
                    row[f"{name}_bandwidth"] = bandwidth(op.P)
            row["format_over_fixed_per_state"] = round(row[f"{fmt}_us_per_state"] / row["fixed_us_per_state"], 3)
            case["rows"].append(row)
        result["cases"].append(case)
    result["simulator"] = simulator(toy, noise)
    result["loadavg_after"] = list(os.getloadavg())
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
