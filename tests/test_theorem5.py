"""Theorem 5: π_α → π̃ as α → 0, π̃ > 0 everywhere; the rate is set by the noise's tails."""

import numpy as np
import pytest

from srchain.lattice import Lattice
from srchain.noise import make_noise
from srchain.operators import t_tilde, transition_matrix, u_tilde
from srchain.problems import get_problem
from srchain.stationary import stationary, tv

TOY = get_problem("toy")
LAT = Lattice.from_domain(0.5, TOY.domain)


def limit_and_laws(noise, alphas):
    pi_limit = stationary(t_tilde(u_tilde(TOY, noise, LAT))).pi
    laws = [stationary(transition_matrix(TOY, noise, LAT, a, tol=0.0).P).pi for a in alphas]
    return pi_limit, laws


def test_limit_law_is_positive_everywhere_and_not_concentrated():
    pi_limit, _ = limit_and_laws(make_noise("gaussian", 2.0), [])
    assert pi_limit.min() > 0  # Theorem 5: π̃(x) > 0 for every state
    cells = LAT.cells(TOY.minimizer)
    # SR's limit does not concentrate on the global minimiser's cells: its mass there is pinned to the value
    # computed independently in 40-digit arithmetic from the birth–death law (tests/test_small_alpha.py): 0.72738…
    assert pi_limit[cells].sum() == pytest.approx(0.7274, abs=5e-5)
    from tests.test_small_alpha import LOG_PI_REF

    assert np.exp(LOG_PI_REF)[cells].sum() == pytest.approx(pi_limit[cells].sum(), rel=1e-10)


def test_gaussian_noise_reaches_the_limit_at_moderate_alpha():
    # With Gaussian noise σ = 2 on [−4, 10] (|g| ≤ 21), once α·|g + ξ| < Δ except on a tail of probability
    # Φ(−(Δ/α − 21)/σ), Qs moves by at most one cell and Pr(±1) is exactly α·Ũ(x, x±Δ): T_α = I − α diag(Ũ1) + αŨ
    # = T̃_α, whose stationary law is π̃ for every α ≤ α0 (Eq. 20). At α = 0.01 the tail is Φ(−19.5) ≈ 1e-84, so
    # π_α = π̃ to rounding error: we allow 1e-11 in TV (a few hundred ulps summed over 29 states).
    pi_limit, laws = limit_and_laws(make_noise("gaussian", 2.0), [0.01, 0.001])
    for pi in laws:
        assert tv(pi, pi_limit) < 1e-11
    # ... while at α = 1 the chain takes big steps and its law is visibly different.
    _, (big,) = limit_and_laws(make_noise("gaussian", 2.0), [1.0])
    assert tv(big, pi_limit) > 0.05


@pytest.mark.parametrize("nu", [3.0, 2.5])
def test_student_t_rate_is_nu_minus_one(nu):
    # Heavy tails: Pr(|u| > 1) = Pr(|ξ| ≳ Δ/α) ~ (α/Δ)^ν, so T_α = I + α(A + O(α^{ν−1})) with A = Ũ − diag(Ũ1):
    # the generator is perturbed by O(α^{ν−1}), and so is the stationary law (a simple eigenvalue moves
    # continuously and, here, differentiably). Predicted log-log slope of TV(π_α, π̃) against α: ν − 1.
    # Measured independently (quadrature) when the issue was filed: 2 for ν = 3 and 1.5 for ν = 2.5; the local
    # slope converges from below as α → 0 (1.94 → 1.998 for ν = 3 over α = 3e-2 … 1e-4), so we fit the last
    # three decades and allow ±0.05.
    alphas = np.array([1e-2, 1e-3, 1e-4])
    pi_limit, laws = limit_and_laws(make_noise("student-t", 1.0, nu=nu), alphas)
    tvs = np.array([tv(p, pi_limit) for p in laws])
    assert np.all(np.diff(tvs) < 0)  # TV → 0 as α → 0
    slope = np.polyfit(np.log(alphas), np.log(tvs), 1)[0]
    assert slope == pytest.approx(nu - 1, abs=0.05)


def test_separable_law_is_the_product_of_the_1d_laws():
    noise = make_noise("gaussian", 2.0)
    p2 = get_problem("separable", dim=2)
    lat2 = Lattice.from_domain(0.5, p2.domain, dim=2)
    pi1 = stationary(transition_matrix(TOY, noise, LAT, 0.05).P).pi
    pi2 = stationary(transition_matrix(p2, noise, lat2, 0.05).P).pi
    np.testing.assert_allclose(pi2, np.outer(pi1, pi1).ravel(), rtol=0, atol=1e-10)
    p3 = get_problem("separable", dim=3)
    lat3 = Lattice.from_domain(0.5, p3.domain, dim=3)
    pi3 = stationary(transition_matrix(p3, noise, lat3, 0.05).P).pi
    assert np.abs(pi3 - np.einsum("i,j,k->ijk", pi1, pi1, pi1).ravel()).max() < 1e-10
