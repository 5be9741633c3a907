"""The simulators against the exact laws at batch B > 1 with Gaussian noise (ξ̄ ~ N(0, σ²/B)).

The other histogram tests run Gaussian noise at B = 1 only, where a simulator that ignores the batch (or divides σ
by B instead of √B) is right by accident. Here σ = 4 and B = 4 (std 2), and each test also checks its own power: the
exact laws for the wrong stds (σ = 4 unbatched, σ/B = 1) are farther from the right one than the tolerance.

Tolerance (as in tests/test_simulate.py): with τ = 1/(1 − λ*) the chain's relaxation time, N steps give at least
N/(2τ) effective samples, so E|p̂_i − π_i| ≤ sqrt(π_i(1 − π_i)·2τ/N) and E[TV] ≤ ½ Σ_i sqrt(π_i(1 − π_i)·2τ/N); we
allow 4× that (a failure has probability under 25% by Markov's inequality in the worst case; the bound itself is
loose by far more), after a burn-in of 20τ that makes the start-up bias negligible.
"""

import numpy as np
import pytest

from srchain.lattice import Lattice
from srchain.noise import make_noise
from srchain.operators import transition_matrix
from srchain.problems import get_problem
from srchain.simulate import simulate
from srchain.stationary import stationary, tv

TOY = get_problem("toy")
LAT = Lattice.from_domain(0.5, TOY.domain)
SIGMA, BATCH = 4.0, 4


def _relaxation(P):
    ev = np.sort(np.abs(np.linalg.eigvals(P.toarray())))[::-1]
    return 1.0 / (1.0 - ev[1])


def _tv_tol(pi, n_total, tau):
    n_eff = n_total / (2.0 * tau)
    return 4 * 0.5 * float(np.sum(np.sqrt(pi * (1 - pi) / n_eff)))


def _law(method, alpha, sigma, batch):
    op = transition_matrix(TOY, make_noise("gaussian", sigma=sigma, batch=batch), LAT, alpha, method=method)
    return op, stationary(op.P).pi


@pytest.mark.parametrize("method,alpha", [("sr", 0.1), ("sr", 0.5), ("r", 0.5)])
def test_one_dimensional_histogram_matches_the_batched_law(method, alpha):
    nz = make_noise("gaussian", sigma=SIGMA, batch=BATCH)
    assert nz.std == SIGMA / np.sqrt(BATCH)
    op, pi = _law(method, alpha, SIGMA, BATCH)
    tau = _relaxation(op.P)
    steps, chains = int(min(1e6, max(2e5, 400 * tau))), 4
    r = simulate(TOY, nz, LAT, method, alpha, steps, chains=chains, start=4.0, seed=11, burn_in=int(20 * tau))
    tol = _tv_tol(pi, steps * chains, tau)
    assert tv(r.freq, pi) < tol, (tv(r.freq, pi), tol, tau)
    # power: the laws of an unbatched σ and of σ/B are each more than 3 tolerances away
    for sigma, batch in [(SIGMA, 1), (SIGMA / BATCH, 1)]:
        _, wrong = _law(method, alpha, sigma, batch)
        assert tv(wrong, pi) > 3 * tol, (sigma, batch, tv(wrong, pi), tol)


def test_two_dimensional_kernel_matches_the_batched_law_in_each_coordinate():
    # separable objective, independent noise per coordinate: each marginal is the 1-D chain's law
    p = get_problem("separable", dim=2)
    lat = Lattice.from_domain(0.5, p.domain, dim=2)
    nz = make_noise("gaussian", sigma=SIGMA, batch=BATCH)
    op, pi = _law("sr", 0.2, SIGMA, BATCH)
    tau = _relaxation(op.P)
    steps, chains = 300_000, 2
    r = simulate(p, nz, lat, "sr", 0.2, steps, chains=chains, start=4.0, seed=5, burn_in=int(20 * tau))
    tol = _tv_tol(pi, steps * chains, tau)
    law = r.freq.reshape(lat.shape)
    for marg in (law.sum(axis=1), law.sum(axis=0)):
        assert tv(marg, pi) < tol, (tv(marg, pi), tol)
    _, wrong = _law("sr", 0.2, SIGMA, 1)
    assert tv(wrong, pi) > 3 * tol
