"""Exact operators: T_α (Eq. 6), R's matrix (Eq. 4), Ũ, α0, T̃_α (Eq. 9)."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
from chain_reference import dense_pi

from srchain import SrchainError
from srchain.lattice import Lattice
from srchain.noise import make_noise
from srchain.operators import alpha0, t_tilde, transition_matrix, u_tilde
from srchain.problems import Problem, get_problem
from srchain.quantize import qd, qs


def constant_gradient_problem(c, dim=1):
    return Problem(
        name="linear",
        dim=dim,
        domain=np.tile([0.0, 10.0], (dim, 1)),
        value=lambda w: c * np.asarray(w).sum(-1),
        gradient=lambda w: np.full(np.shape(w), float(c)),
    )


NOISES = [
    make_noise("gaussian", 2.0),
    make_noise("laplace", 1.0),
    make_noise("student-t", 1.0, nu=3.0),
    make_noise("minibatch", 2.0, batch=3, samples=8),
]


@pytest.mark.parametrize("noise", NOISES, ids=lambda n: n.name)
@pytest.mark.parametrize("method", ["sr", "r"])
@pytest.mark.parametrize("alpha", [1.0, 0.1, 0.003])
def test_rows_sum_to_one(noise, method, alpha):
    p = get_problem("toy")
    op = transition_matrix(p, noise, Lattice.from_domain(0.5, p.domain), alpha, method=method)
    rows = np.asarray(op.P.sum(axis=1)).ravel()
    assert np.abs(rows - 1).max() < 1e-12
    assert op.P.data.min() >= 0
    assert op.dropped_mass < 1e-10


@pytest.mark.parametrize("noise", NOISES, ids=lambda n: n.name)
@pytest.mark.parametrize("method", ["sr", "r"])
def test_row_matches_monte_carlo_of_one_step(noise, method):
    p = get_problem("toy")
    lat = Lattice.from_domain(0.5, p.domain)
    alpha, i = 0.3, 11  # state w = 1.5, gradient −2, steps spread over several cells
    row = transition_matrix(p, noise, lat, alpha, method=method).P[i].toarray().ravel()
    n = 200_000
    rng = np.random.default_rng(2024)
    x = lat.points[i, 0]
    w = x - alpha * (p.gradient(np.array([[x]]))[0, 0] + noise.sample(rng, n))
    lo, hi = lat.domain[0]
    y = qs(w - lo, 0.5, rng=rng) + lo if method == "sr" else qd(w - lo, 0.5) + lo
    k = np.rint((np.clip(y, lo, hi) - lo) / 0.5).astype(int)
    emp = np.bincount(k, minlength=lat.size) / n
    # E[TV(emp, row)] ≤ ½ Σ_j sqrt(p_j(1 − p_j)/n) (Jensen on each |emp_j − p_j|); a TV above 3 times that bound
    # is a real mismatch, not sampling noise (by Markov's inequality on the TV, at most 1/3 of seeds could reach it;
    # the seed is fixed, and the typical TV is well below the bound).
    bound = 0.5 * np.sum(np.sqrt(row * (1 - row) / n))
    assert 0.5 * np.abs(emp - row).sum() < 3 * bound


def test_u_tilde_and_alpha0_two_states():
    # Laplace(b = 1) noise and zero gradient: Ũ(x, x±Δ) = E[(∓ξ)⁺]/Δ = (b/2)/Δ = 1 for Δ = 0.5.
    prob = constant_gradient_problem(0.0)
    noise = make_noise("laplace", 1.0)
    lat = Lattice.from_domain(0.5, (0.0, 0.5))
    U = u_tilde(prob, noise, lat).toarray()
    np.testing.assert_allclose(U, [[0, 1], [1, 0]], rtol=1e-14)
    assert alpha0(sp.csr_matrix(U)) == pytest.approx(1.0)


def test_u_tilde_and_alpha0_three_states_with_drift():
    # gradient c = 0.7 > 0 pushes down. Laplace(b=1): up rate E[(−c − ξ)⁺]/Δ = (b/2)e^{−c/b}/Δ,
    # down rate E[(c + ξ)⁺]/Δ = (c + (b/2)e^{−c/b})/Δ.
    c, d = 0.7, 0.5
    up = 0.5 * math.exp(-c) / d
    down = (c + 0.5 * math.exp(-c)) / d
    U = u_tilde(constant_gradient_problem(c), make_noise("laplace", 1.0), Lattice.from_domain(d, (0.0, 1.0)))
    expected = np.array([[0, up, 0], [down, 0, up], [0, down, 0]])
    np.testing.assert_allclose(U.toarray(), expected, rtol=1e-13)
    assert alpha0(U) == pytest.approx(1 / (up + down), rel=1e-14)
    T = t_tilde(U).toarray()
    assert T.min() >= -1e-15 and np.isclose(T, 0, atol=1e-15).any()  # α0 is the largest non-negative choice


def test_t_tilde_has_one_stationary_law_for_all_alpha_below_alpha0():
    p = get_problem("toy")
    U = u_tilde(p, make_noise("gaussian", 2.0), Lattice.from_domain(0.5, p.domain))
    a0 = alpha0(U)
    ref = dense_pi(t_tilde(U))
    for frac in [1.0, 0.5, 0.01]:
        np.testing.assert_allclose(dense_pi(t_tilde(U, frac * a0)), ref, rtol=1e-7, atol=1e-13)
    with pytest.raises(SrchainError):
        t_tilde(U, 1.5 * a0)


def test_gaussian_small_steps_are_exactly_linear_in_alpha():
    # Once α·|g + ξ| < Δ except on a Gaussian tail, Qs moves at most one cell and Pr(up) = E[u⁺] exactly, so
    # T_α = I − α·diag(Ũ1) + α·Ũ up to the tail (here ≤ Φ(−(Δ/α − max|g|)/σ) ≈ Φ(−(500 − 21)/2) = 0 in float64).
    p = get_problem("toy")
    noise = make_noise("gaussian", 2.0)
    lat = Lattice.from_domain(0.5, p.domain)
    U = u_tilde(p, noise, lat)
    alpha = 1e-3
    diff = abs(transition_matrix(p, noise, lat, alpha).P - t_tilde(U, alpha)).max()
    assert diff < 1e-15


def test_separable_operator_is_the_product_chain():
    p1, p2 = get_problem("toy"), get_problem("separable", dim=2)
    noise = make_noise("gaussian", 2.0)
    P1 = transition_matrix(p1, noise, Lattice.from_domain(0.5, p1.domain), 0.2, tol=0.0).P
    P2 = transition_matrix(p2, noise, Lattice.from_domain(0.5, p2.domain, dim=2), 0.2, tol=0.0).P
    assert abs(P2 - sp.kron(P1, P1)).max() < 1e-14


def test_coupled_operator_is_stochastic_and_keeps_neighbour_moves():
    p = get_problem("coupled", dim=2, coupling=3.0)
    lat = Lattice.from_domain(0.25, p.domain, dim=2)
    op = transition_matrix(p, make_noise("gaussian", 1.0), lat, 0.01)
    assert np.abs(np.asarray(op.P.sum(axis=1)).ravel() - 1).max() < 1e-12
    # every interior state keeps its four nearest-neighbour moves (never dropped): 5 entries at least
    counts = np.diff(op.P.indptr)
    c = lat.coords
    interior = np.all((c > 0) & (c < np.asarray(lat.shape) - 1), axis=1)
    assert counts[interior].min() >= 5


def test_r_with_small_steps_does_not_move():
    # Section 3: deterministic rounding loses updates smaller than Δ/2. With α·max|g| ≪ Δ/2 and Gaussian noise,
    # Pr(move) = Pr(|u| ≥ ½) is a tail of order Φ(−(Δ/2α − |g|)/σ): zero to double precision.
    p = get_problem("toy")
    op = transition_matrix(p, make_noise("gaussian", 1.0), Lattice.from_domain(0.5, p.domain), 1e-3, method="r")
    assert np.all(op.P.diagonal() == 1.0)
    assert op.P.nnz == op.P.shape[0]


@pytest.mark.parametrize("alpha", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_alpha(alpha):
    p = get_problem("toy")
    with pytest.raises(SrchainError):
        transition_matrix(p, make_noise("gaussian", 1.0), Lattice.from_domain(0.5, p.domain), alpha)


def test_bad_method_and_memory_limit():
    p = get_problem("toy")
    lat = Lattice.from_domain(0.5, p.domain)
    with pytest.raises(SrchainError, match="method"):
        transition_matrix(p, make_noise("gaussian", 1.0), lat, 0.1, method="bc")
    with pytest.raises(SrchainError, match="needs about .* KiB, max_memory is 10 bytes"):
        transition_matrix(p, make_noise("gaussian", 1.0), lat, 0.1, max_bytes=10)
