"""BC's stationary law by the transfer operator: convergence, agreement with simulation, Figure 2's BC claims."""

from itertools import pairwise

import numpy as np
import pytest
from srchain.toy.bc_law import bc_law
from srchain.toy.figure2 import default_noise

from srchain.gth import banded_gth
from srchain.lattice import Lattice
from srchain.noise import make_noise
from srchain.problems import get_problem
from srchain.simulate import simulate
from srchain.stationary import tv

TOY = get_problem("toy")
LAT = Lattice.from_domain(0.5, TOY.domain)
CELLS = LAT.cells(TOY.minimizer)


def test_banded_gth_matches_dense_solution():
    rng = np.random.default_rng(0)
    n, b = 40, 3
    P = np.zeros((n, n))
    for i in range(n):
        for j in range(max(0, i - b), min(n, i + b + 1)):
            P[i, j] = rng.random()
    P /= P.sum(axis=1, keepdims=True)
    B = np.zeros((n, 2 * b + 1))
    for i in range(n):
        for j in range(max(0, i - b), min(n, i + b + 1)):
            B[i, j - i + b] = P[i, j]
    mant, frame = banded_gth(B, b)
    pi = mant * 2.0 ** (600 * frame)
    pi /= pi.sum()
    np.testing.assert_allclose(pi @ P, pi, atol=1e-14)


def _band(P, b):
    n = P.shape[0]
    B = np.zeros((n, 2 * b + 1))
    for i in range(n):
        for j in range(max(0, i - b), min(n, i + b + 1)):
            B[i, j - i + b] = P[i, j]
    return B


@pytest.mark.parametrize("closed", [0, 3])
def test_banded_gth_raises_on_a_reducible_chain(closed):
    """A zero pivot (no rate from state ``closed`` to any later state, so {0..closed} is closed) raises
    SrchainError as the other GTH solvers do, instead of returning a vector with zeros where mass belongs."""
    from srchain.errors import SrchainError

    n, b = 8, 2
    P = np.zeros((n, n))
    for i in range(n):
        for j in range(max(0, i - 1), min(n, i + 2)):
            P[i, j] = 1.0
    P[closed, closed + 1 :] = 0.0  # the states 0..closed never leave to the right
    P /= P.sum(axis=1, keepdims=True)
    with pytest.raises(SrchainError, match="reducible"):
        banded_gth(_band(P, b), b)


def test_banded_gth_raises_on_underflowing_rates():
    """Rates so small they vanish (here exactly 0 after underflow: 1e-200 · 1e-200) are a zero pivot too."""
    from srchain.errors import SrchainError

    P = np.array([[1.0, 1e-200 * 1e-200, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]])
    P /= P.sum(axis=1, keepdims=True)
    with pytest.raises(SrchainError, match="underflow"):
        banded_gth(_band(P, 1), 1)


@pytest.mark.parametrize("alpha", [1.0, 0.1, 0.01])
def test_law_converges_and_is_a_probability(alpha):
    law = bc_law(TOY, default_noise(), LAT, alpha)
    assert law.converged and law.tv_change < law.tol
    assert abs(law.pi.sum() - 1) < 1e-12 and np.all(law.pi >= 0)
    assert abs(law.latent.sum() - 1) < 1e-12


@pytest.mark.parametrize("alpha", [1.0, 0.1])
def test_simulated_bc_histogram_agrees_with_transfer_operator(alpha):
    # BC mixes within its basin in O(1/α) steps (its latent step is α(g + ξ)); 8 chains × 10^6 steps after a
    # burn-in; per-state std of the frequency ≤ sqrt(π(1−π)·2τ/N) with τ ≲ 100 steps at α = 0.1, so the TV
    # error is ≲ ½ Σ sqrt(π_i·200/8e6) ≈ 0.01; we allow 0.02 plus the operator's own tolerance.
    nz = default_noise()
    law = bc_law(TOY, nz, LAT, alpha)
    r = simulate(TOY, nz, LAT, "bc", alpha, 1_000_000, chains=8, start=4.0, burn_in=10_000, seed=2)
    assert tv(r.freq, law.pi) < 0.02 + law.tol


def test_figure2_bc_claims_under_default_noise():
    nz = default_noise()
    masses = [float(bc_law(TOY, nz, LAT, a).pi[CELLS].sum()) for a in (1.0, 0.1, 0.01, 0.001)]
    assert all(m2 > m1 for m1, m2 in pairwise(masses)), masses
    assert masses[-1] > 0.9


def test_bad_inputs():
    from srchain.errors import SrchainError

    with pytest.raises(SrchainError):
        bc_law(TOY, default_noise(), LAT, 0.0)
    p2 = get_problem("separable", dim=2)
    with pytest.raises(SrchainError):
        bc_law(p2, make_noise("gaussian", sigma=2.0), Lattice.from_domain(0.5, p2.domain, dim=2), 0.1)
