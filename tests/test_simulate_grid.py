"""Simulators on a format's grid (srchain.simulate.grid) against the exact chains (srchain.grid_chains).

Tolerance: N independent chains started at x0 end, after T steps, at iid draws from the exact law μ_T = e_{x0} P^T
(computed by T vector-matrix products), so no mixing assumption enters. For the empirical law μ̂ of N draws,
E|μ̂_i − μ_i| ≤ sqrt(μ_i/N), hence E TV ≤ b = ½ Σ_i sqrt(μ_i/N); TV changes by at most 1/N when one draw changes,
so McDiarmid gives P(TV > b + t) ≤ exp(−2Nt²); t = sqrt(ln(1e6)/(2N)) makes a false failure a 1e-6 event.
"""

import dataclasses
import math

import numpy as np
import pytest

from srchain import SrchainError
from srchain.grid_chains import stall_set
from srchain.grids import Grid
from srchain.noise import make_noise
from srchain.operators import transition_matrix
from srchain.problems import get_problem
from srchain.simulate.grid import simulate_grid


def law_at(P, x0, T):
    mu = np.zeros(P.shape[0])
    mu[x0] = 1.0
    PT = P.T.tocsr()
    for _ in range(T):
        mu = PT @ mu
    return mu


def tolerance(mu, N):
    return 0.5 * np.sqrt(mu / N).sum() + math.sqrt(math.log(1e6) / (2 * N))


@pytest.mark.parametrize(
    "name, domain, method, bits, alpha",
    [
        ("bf16", (1.0, 8.0), "sr", None, 0.05),
        ("bf16", (1.0, 8.0), "r", None, 0.05),
        ("fp8-e4m3", (-4.0, 10.0), "sr", None, 0.1),
        ("fp8-e4m3", (-4.0, 10.0), "r", None, 0.1),
        ("fp8-e5m2", (-4.0, 10.0), "sr", 3, 0.1),
        ("bf16", (1.0, 8.0), "sr", 4, 0.05),
    ],
)
def test_end_law_matches_exact_chain(name, domain, method, bits, alpha):
    toy = get_problem("toy").with_domain(domain)
    grid = Grid.of(name, domain)
    noise = make_noise("gaussian", 2.0)
    T, N = 60, 40_000
    x0 = int(grid.nearest([3.0]))
    run = simulate_grid(toy, noise, grid, method, alpha, steps=T, chains=N, start=[3.0], seed=1, sr_bits=bits)
    P = transition_matrix(toy, noise, grid, alpha, method, sr_bits=bits).P
    mu = law_at(P, x0, T)
    emp = run.end_law()
    d = 0.5 * np.abs(emp - mu).sum()
    assert d < tolerance(mu, N), (d, tolerance(mu, N))


def test_same_seed_same_result():
    toy = get_problem("toy")
    grid = Grid.of("fp8-e4m3", toy.domain)
    noise = make_noise("laplace", 1.0)
    a = simulate_grid(toy, noise, grid, "sr", 0.1, steps=50, chains=100, seed=7)
    b = simulate_grid(toy, noise, grid, "sr", 0.1, steps=50, chains=100, seed=7)
    assert np.array_equal(a.final, b.final) and np.array_equal(a.counts, b.counts)
    one = simulate_grid(toy, noise, grid, "sr", 0.1, steps=50)  # one chain by default
    assert one.final.shape == (1,) and one.counts.sum() == 50


def test_r_end_points_lie_in_the_stall_set():
    """With minibatch noise (bounded) R is absorbed: after many steps every chain sits in the exact stall set."""
    toy = get_problem("toy").with_domain((1.0, 8.0))
    grid = Grid.of("bf16", (1.0, 8.0))
    noise = make_noise("minibatch", 0.5, batch=4, samples=8)
    alpha = 0.01
    S = set(stall_set(toy, grid, alpha, noise).tolist())
    run = simulate_grid(toy, noise, grid, "r", alpha, steps=20_000, chains=200, start=[6.5], seed=3)
    assert set(run.final.tolist()) <= S
    # and the stall set is wide: bf16's gap at 4.75 is 2^-5, so |w − 4.75| ≤ 2^-6/(2α) + noise stalls
    assert len(S) > 10


def test_bc_and_sgd_run():
    """BC and SGD on a grid: their end points concentrate near the global minimiser 4.75 at small α (a sanity
    check of the kernels; their laws are not a finite chain)."""
    toy = get_problem("toy")
    grid = Grid.of("fp8-e4m3", toy.domain)
    noise = make_noise("gaussian", 0.5)
    for m in ("bc", "sgd"):
        run = simulate_grid(toy, noise, grid, m, 0.01, steps=3000, chains=200, start=[4.0], seed=2)
        ends = grid.points[run.final, 0]
        assert np.median(np.abs(ends - 4.75)) < 0.3, m
    with pytest.raises(SrchainError, match="SR only"):
        simulate_grid(toy, noise, grid, "r", 0.1, steps=1, sr_bits=3)


def test_sgd_with_the_full_batch_is_gradient_descent():
    """SGD under minibatch noise with B = m draws every perturbation, so ξ̄ is their mean, 0 up to rounding: the
    simulated chain is gradient descent, step by step (its counts and end point against a plain loop). Each batch
    is drawn by a partial Fisher–Yates shuffle of a permutation as long as the samples; a shorter one was unseen."""
    toy = get_problem("toy")
    grid = Grid.of("fp8-e4m3", toy.domain)
    m, alpha, steps, burn = 8, 0.05, 200, 20
    noise = make_noise("minibatch", 1.0, batch=m, samples=m)
    run = simulate_grid(toy, noise, grid, "sgd", alpha, steps=steps, chains=3, start=[0.3], burn=burn, seed=5)
    want = np.zeros(grid.size, dtype=np.int64)
    w = 0.3
    for t in range(burn + steps):
        if t >= burn:
            want[int(grid.nearest([w]))] += 1
        w = min(max(w - alpha * float(toy.gradient(np.array([[w]]))[0, 0]), toy.domain[0, 0]), toy.domain[0, 1])
    assert np.array_equal(run.counts, 3 * want)
    assert np.array_equal(run.final, np.full(3, int(grid.nearest([w]))))
    assert abs(w - 4.75) > 1.0  # (it descends into the toy's other basin: the path is not the trivial one)


def test_the_start_is_the_middle_value_without_a_minimiser():
    """A problem with no known minimiser (a user's own objective) starts every chain at the grid's middle value;
    at a tiny α R stalls there."""
    toy = get_problem("toy")
    problem = dataclasses.replace(toy, minimizer=None)
    grid = Grid.of("fp8-e4m3", toy.domain)
    run = simulate_grid(problem, make_noise("gaussian", 0.5), grid, "r", 1e-6, steps=10, chains=4, seed=1)
    assert np.array_equal(run.final, np.full(4, grid.size // 2))
