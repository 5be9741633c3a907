"""Speed of srchain.simulate against baselines measured in the same run; prints one JSON object.

Usage: python benchmarks/bench_simulate.py [--quick]

* ``bare_rng``: one normal + one uniform per step from a PCG64 ``Generator`` inside Numba, one core (the
  issue's random-number ceiling of a step-by-step SR simulator);
* ``bare_rng_inline``: the same numbers from :mod:`srchain.pcg` (NumPy's PCG64 inlined), one core: the tighter
  ceiling, since the simulator draws this way;
* ``step_sr_1chain``: srchain's step-by-step SR kernel, one chain, one core (ratios to both ceilings);
* ``step_sr_1core``: the same kernel on one core with two chains (how it runs any multi-chain job: two chains
  step in lockstep per core), ratios to both ceilings;
* ``step_bc_1core``: BC (Qd) on one core with one and with two chains, against one bare normal per step (BC draws
  no uniform);
* ``step_general_1core``: the general 1-D loop on one core, two chains: R under Gaussian noise and SR under
  Laplace noise (the rules and noises without a dedicated loop);
* ``numpy_sr``: SR vectorised across 1000 chains in NumPy (the reference of every ratio);
* ``figure2_workload``: 2 methods × 4 α × 10⁶ steps (one chain each), warm;
* ``jump_vs_step``: SR at α = 0.001, 4 chains × 10⁷ steps (10⁶ with --quick; fixed costs of ~2 ms dominate there),
  jump sampler (with and without building T_α) vs stepping;
* ``figure2_cli``: ``srchain figure2`` end to end in a fresh process, warm cache and cold cache.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from numba import njit

from srchain import pcg
from srchain.lattice import Lattice
from srchain.noise import make_noise
from srchain.operators import transition_matrix
from srchain.problems import get_problem
from srchain.simulate import jump_chain, simulate, simulate_many


@njit(cache=True, nogil=True)
def _bare(gen, n):
    s = 0.0
    for _ in range(n):
        s += gen.standard_normal() + gen.random()
    return s


@njit(cache=True, nogil=True)
def _bare_normal(gen, n):
    s = 0.0
    for _ in range(n):
        s += gen.standard_normal()
    return s


@njit(cache=True, nogil=True)
def _bare_inline(states, n):
    s = pcg.load(states, 0)
    acc = 0.0
    for _ in range(n):
        z, s = pcg.standard_normal(s)
        u, s = pcg.next_double(s)
        acc += z + u
    pcg.store(states, 0, s)
    return acc


def numpy_sr(grad_table, lo, delta, nmax, alpha, s, steps, chains, seed=0):
    """SR vectorised across chains (the NumPy baseline)."""
    rng = np.random.default_rng(seed)
    k = np.full(chains, int(round((4.0 - lo) / delta)))
    counts = np.zeros(grad_table.size, dtype=np.int64)
    ad = alpha / delta
    for _ in range(steps):
        x = k - ad * (grad_table[k] + s * rng.standard_normal(chains))
        k = np.clip(np.floor(x + rng.random(chains)), 0, nmax).astype(np.int64)
        counts += np.bincount(k, minlength=grad_table.size)
    return counts


def best(fn, reps=3):
    t = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


def main():
    quick = "--quick" in sys.argv
    p = get_problem("toy")
    lat = Lattice.from_domain(0.5, p.domain)
    nz = make_noise("gaussian", sigma=2.0)
    G = p.gradient(lat.points)[:, 0]
    out = {"machine": {"cpus": os.cpu_count(), "numba_threads": __import__("numba").get_num_threads()}}
    n = 2_000_000 if quick else 10_000_000
    g = np.random.default_rng(0)
    st = pcg.states_from_seed(0, 1)
    _bare(g, 10)
    _bare_normal(g, 10)
    _bare_inline(st, 10)
    simulate(p, nz, lat, "sr", 0.1, 10, start=4.0)
    t_bare = best(lambda: _bare(g, n))
    t_inl = best(lambda: _bare_inline(st, n))
    import numba

    numba.set_num_threads(1)
    t_step = best(lambda: simulate(p, nz, lat, "sr", 0.1, n, chains=1, start=4.0))
    t_core = best(lambda: simulate(p, nz, lat, "sr", 0.1, n // 2, chains=2, start=4.0))
    t_bare_n = best(lambda: _bare_normal(g, n))
    t_bc1 = best(lambda: simulate(p, nz, lat, "bc", 0.1, n, chains=1, start=4.0))
    t_bc2 = best(lambda: simulate(p, nz, lat, "bc", 0.1, n // 2, chains=2, start=4.0))
    # the general 1-D loop (R, and any rule under non-Gaussian noise): two chains on one core
    nl = make_noise("laplace", sigma=2.0)
    simulate(p, nl, lat, "sr", 0.1, 10, chains=2, start=4.0)
    simulate(p, nz, lat, "r", 0.1, 10, chains=2, start=4.0)
    t_r2 = best(lambda: simulate(p, nz, lat, "r", 0.1, n // 2, chains=2, start=4.0))
    t_sl2 = best(lambda: simulate(p, nl, lat, "sr", 0.1, n // 2, chains=2, start=4.0))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    t_step2 = best(lambda: simulate(p, nz, lat, "sr", 0.1, n // 2, chains=4, start=4.0))
    np_steps, np_chains = (200, 1000) if quick else (1000, 1000)
    t_np = best(lambda: numpy_sr(G, lat.lo[0], 0.5, lat.size - 1, 0.1, 2.0, np_steps, np_chains), reps=2)
    np_rate = np_steps * np_chains / t_np
    out["bare_rng"] = {"steps_per_s": n / t_bare}
    out["bare_rng_inline"] = {"steps_per_s": n / t_inl}
    out["numpy_sr"] = {"steps_per_s": np_rate, "chains": np_chains}
    out["step_sr_1chain"] = {
        "steps_per_s": n / t_step,
        "fraction_of_bare_rng": t_bare / t_step,
        "fraction_of_bare_rng_inline": t_inl / t_step,
        "vs_numpy": (n / t_step) / np_rate,
    }
    out["step_sr_1core"] = {
        "chains": 2,
        "steps_per_s": n / t_core,
        "fraction_of_bare_rng": t_bare / t_core,
        "fraction_of_bare_rng_inline": t_inl / t_core,
        "target_fraction": 0.8,
        "vs_numpy": (n / t_core) / np_rate,
    }
    out["step_bc_1core"] = {
        "bare_normal_steps_per_s": n / t_bare_n,
        "one_chain_steps_per_s": n / t_bc1,
        "one_chain_fraction_of_bare_normal": t_bare_n / t_bc1,
        "two_chains_steps_per_s": n / t_bc2,
        "two_chains_fraction_of_bare_normal": t_bare_n / t_bc2,
    }
    out["step_general_1core"] = {"chains": 2, "r_gaussian_steps_per_s": n / t_r2, "sr_laplace_steps_per_s": n / t_sl2}
    out["step_sr_4chains_all_threads"] = {"steps_per_s": 2 * n / t_step2, "vs_numpy": (2 * n / t_step2) / np_rate}
    fig_noise = make_noise("gaussian", sigma=4.0)
    runs = [(m, a) for m in ("bc", "sr") for a in (1.0, 0.1, 0.01, 0.001)]
    t_fig = best(lambda: simulate_many(p, fig_noise, lat, runs, 1_000_000, chains=1, start=4.0))
    out["figure2_workload"] = {
        "seconds": t_fig,
        "steps_per_s": 8e6 / t_fig,
        "vs_numpy": 8e6 / t_fig / np_rate,
        "target_seconds": 0.25,
    }
    steps, chains = (1_000_000 if quick else 10_000_000), 4
    op = transition_matrix(p, nz, lat, 0.001)
    jump_chain(p, nz, lat, "sr", 0.001, 10, start=4.0, operator=op)
    t_s = best(lambda: simulate(p, nz, lat, "sr", 0.001, steps, chains=chains, start=4.0))
    t_j = best(lambda: jump_chain(p, nz, lat, "sr", 0.001, steps, chains=chains, start=4.0, operator=op))
    t_jb = best(lambda: jump_chain(p, nz, lat, "sr", 0.001, steps, chains=chains, start=4.0))
    out["jump_vs_step"] = {
        "alpha": 0.001,
        "steps": steps,
        "chains": chains,
        "step_seconds": t_s,
        "jump_seconds": t_j,
        "jump_seconds_with_operator": t_jb,
        "speedup": t_s / t_j,
        "speedup_with_operator": t_s / t_jb,
        "jump_vs_numpy": steps * chains / t_j / np_rate,
    }
    cmd = [sys.executable, "-m", "srchain.cli", "figure2", "--quiet", "--out"]
    with tempfile.TemporaryDirectory() as tmp:
        png = os.path.join(tmp, "f.png")
        subprocess.run(cmd + [png], check=True, capture_output=True)
        t0 = time.perf_counter()
        subprocess.run(cmd + [png], check=True, capture_output=True)
        warm = time.perf_counter() - t0
        cold = None
        if not quick:
            env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(tmp, "numba-cache"))
            t0 = time.perf_counter()
            subprocess.run(cmd + [png], check=True, capture_output=True, env=env)
            cold = time.perf_counter() - t0
    # the NumPy version of the same figure workload (8e6 steps) extrapolated from its measured rate
    out["figure2_cli"] = {
        "warm_seconds": warm,
        "cold_seconds": cold,
        "targets": {"warm": 3.0, "cold": 10.0},
        "numpy_workload_seconds_estimate": 8e6 / np_rate,
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
