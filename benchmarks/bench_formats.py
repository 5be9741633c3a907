"""Benchmark: exact chains on a format's grid against the fixed grid of the same size, in the same run (issue 18).

Objective (8), Gaussian σ = 2. For each case the fixed grid has as many states as the format's grid on the same
domain (Δ = (hi − lo)/(n − 1)); both are timed end to end (T_α built, π solved with `auto`), per state.

* bf16 on [−4, 10]: every value, 33,185 states. T_α there is *not* sparse: the ~30,000 values within 1 of zero
  are each a target of every state near zero, so a row keeps about 6,400 entries at every α (measured on sample
  rows, the estimate of srchain.grid_chains.grid_estimate), and the windows near zero span nearly every state, so
  the solve's fill adds ~10 GiB: the estimate is 20–22 GiB and the CLI refuses the grid. The benchmark reports that
  estimate, and times the α → 0 limit (Ũ, π̃), which is tridiagonal, on both grids.
* bf16 on [1, 8] (385 states) and fp16 on [1, 8] (3,073 states): T_α and π_α at α = 0.1, 0.01, 0.001.
* The grid simulator (SR, α = 0.01; one chain, and two chains on one core) against the bare draws it makes (one
  normal and one uniform per step), in CPU time.

    python benchmarks/bench_formats.py               # prints one JSON object (about a minute)
    python benchmarks/bench_formats.py --simulator   # the simulator rows only
"""

from __future__ import annotations

import json
import os
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
    """The grid simulator (SR, one core) against the bare draws it makes: one row per format."""
    # 3. the grid simulator (SR, one core) against the bare draws it makes (one normal + one uniform per step from
    #    srchain.pcg, NumPy's PCG64 inlined), same run: one chain, and two chains (how a run of two or more chains
    #    steps on one axis: two in lockstep). CPU time of this process (single-threaded kernels), so that other
    #    processes on a busy machine distort the ratio less.
    from numba import njit

    from srchain import pcg
    from srchain.grids import Grid
    from srchain.simulate.grid import simulate_grid

    @njit(nogil=True)
    def bare(states, n):
        s = pcg.load(states, 0)
        acc = 0.0
        for _ in range(n):
            z, s = pcg.standard_normal(s)
            u, s = pcg.next_double(s)
            acc += z + u
        pcg.store(states, 0, s)
        return acc

    def cpu_best(fn, repeat=5):
        best = float("inf")
        for _ in range(repeat):
            t = time.process_time()
            fn()
            best = min(best, time.process_time() - t)
        return best

    steps = 4_000_000
    bare(pcg.states_from_seed(0, 1), 10)
    t_bare = cpu_best(lambda: bare(pcg.states_from_seed(0, 1), steps))
    sims = []
    for fmt in ("bf16", "fp16", "fp8-e4m3"):
        grid = Grid.of(fmt, (1.0, 8.0))
        row = {"grid": f"{fmt} [1, 8]", "states": grid.size, "bare_draws_per_second": round(steps / t_bare)}
        for chains in (1, 2):
            simulate_grid(toy, noise, grid, "sr", 0.01, steps=10, chains=chains, start=[4.0])
            t_sim = cpu_best(
                lambda g2=grid, c=chains: simulate_grid(
                    toy, noise, g2, "sr", 0.01, steps=steps // c, chains=c, start=[4.0]
                )
            )
            row[f"sr_{chains}_chain_steps_per_second"] = round(steps / t_sim)
            row[f"sr_{chains}_chain_fraction_of_bare"] = round(t_bare / t_sim, 3)
        sims.append(row)
    return sims


def main() -> int:
    import numpy as np

    from srchain.grid_chains import grid_estimate
    from srchain.grids import Grid
    from srchain.lattice import Lattice
    from srchain.noise import make_noise
    from srchain.operators import limit_chain, transition_matrix
    from srchain.problems import get_problem
    from srchain.stationary import stationary

    noise = make_noise("gaussian", 2.0)
    load = os.getloadavg()
    result = {"benchmark": "formats", "noise": noise.to_dict(), "loadavg_before": list(load), "cases": []}

    if "--simulator" in sys.argv[1:]:  # the simulator rows only (a few seconds)
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
