"""Tests for srchain.mixing: exact ε-mixing time (Eq. 10) against brute force, Theorem 6, spectral bounds."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings, strategies as st

from srchain.errors import SrchainError
from srchain.lattice import Lattice
from srchain.mixing import MixingResult, is_reversible, mixing_time, spectral_bounds, tv_rows
from srchain.noise import make_noise
from srchain.operators import alpha0, t_tilde, transition_matrix, u_tilde
from srchain.problems import get_problem
from srchain.stationary import stationary


def brute_force(P, pi, eps):
    """Step every start distribution one step at a time (the definition of Eq. 10)."""
    M = np.eye(P.shape[0])
    P = P.toarray() if sp.issparse(P) else np.asarray(P)
    t = 0
    while tv_rows(M, pi).max() > eps:
        M = M @ P
        t += 1
    return t


def toy(delta, alpha, sigma=2.0):
    lat = Lattice.from_domain(delta, (-4.0, 10.0), 1)
    return transition_matrix(get_problem("toy"), make_noise("gaussian", sigma=sigma), lat, alpha).P


@pytest.mark.parametrize("delta,alpha,eps", [(0.5, 0.05, 0.25), (0.5, 0.5, 0.25), (1.0, 0.01, 0.1),
                                             (14 / 39, 0.02, 0.4), (0.5, 0.05, 0.01)])
def test_exact_matches_brute_force(delta, alpha, eps):
    P = toy(delta, alpha)
    pi = stationary(P).pi
    r = mixing_time(P, eps=eps, pi=pi)
    assert r.exact and r.method == "exact-doubling"
    assert r.mixing_time == brute_force(P, pi, eps)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 12), st.integers(0, 2**32 - 1), st.sampled_from([0.05, 0.25, 0.6]))
def test_random_dense_chains_match_brute_force(n, seed, eps):
    rng = np.random.default_rng(seed)
    A = rng.random((n, n)) ** 4 + 1e-3
    A /= A.sum(axis=1, keepdims=True)
    pi = stationary(A).pi
    assert mixing_time(A, eps=eps, pi=pi).mixing_time == brute_force(A, pi, eps)


def test_theorem6_mixing_time_grows_like_one_over_alpha():
    """Theorem 6 on T̃_α = I − α·diag(Ũ1) + α·Ũ (Eq. 9) for objective (8), Δ = 0.5 (29 states).

    T̃_α = (1 − a) I + a T̃_α0 with a = α/α0: after t steps the number of T̃_α0-moves is Binomial(t, a), which is
    within TV t·a² = (t a)·a of Poisson(t a) (Le Cam), so d_α(t) = d_∞(t a) + O(a·t a) with d_∞ the distance of
    the continuous-time chain; hence M_ε(α)·a = τ + O(a) + O(a/M) (integer rounding) with τ fixed. Over
    a = 1e-1 … 1e-4 (three decades), log M changes by log(1000) ≈ 6.9 and the O(a) terms shift it by at most ~a,
    so the log-log slope is −1 to within ~1e-1/6.9·(a few): we assert 2e-3, and M·a constant to 1e-3.
    """
    lat = Lattice.from_domain(0.5, (-4.0, 10.0), 1)
    U = u_tilde(get_problem("toy"), make_noise("gaussian", sigma=2.0), lat)
    a0 = alpha0(U)
    pi = stationary(t_tilde(U)).pi
    alphas = a0 * np.array([1e-1, 1e-2, 1e-3, 1e-4])
    M = np.array([mixing_time(t_tilde(U, a), pi=pi).mixing_time for a in alphas], dtype=float)
    slope = np.polyfit(np.log(alphas), np.log(M), 1)[0]
    assert abs(slope + 1.0) < 2e-3
    assert np.all(np.abs(M * alphas / a0 / (M[-1] * alphas[-1] / a0) - 1) < 1e-3)
    assert np.all(np.diff(M) > 0)  # M_ε(α) → ∞ as α → 0


def test_theorem6_on_the_sr_chain():
    """The SR chain itself (Eq. 6, Gaussian noise): M_ε grows like 1/α once α·|g| ≪ Δ (T_α ≈ I + α(Ũ − diag))."""
    alphas = np.array([1e-2, 1e-3, 1e-4, 1e-5])
    M = []
    for a in alphas:
        P = toy(0.5, a)
        M.append(mixing_time(P, pi=stationary(P).pi).mixing_time)
    slope = np.polyfit(np.log(alphas[1:]), np.log(M[1:]), 1)[0]
    assert abs(slope + 1.0) < 0.02 and np.all(np.diff(M) > 0)


def test_bounds_bracket_exact_on_reversible_chain():
    # a birth–death chain (tridiagonal => reversible)
    n = 40
    up = np.full(n - 1, 0.3)
    down = np.linspace(0.1, 0.4, n - 1)
    P = sp.diags([down, np.r_[1 - up[0], 1 - up[1:] - down[:-1], 1 - down[-1]], up], [-1, 0, 1], format="csr")
    pi = stationary(P).pi
    assert is_reversible(P, pi)
    exact = mixing_time(P, pi=pi).mixing_time
    b = mixing_time(P, pi=pi, max_exact_states=10)
    assert not b.exact and b.mixing_time is None and b.method == "spectral-bounds"
    assert b.lower_bound <= exact <= b.upper_bound
    assert math.isfinite(b.upper_bound) and b.relaxation_time > 1


def test_upper_bound_infinite_when_pi_min_underflows():
    P = toy(14 / 999, 5e-4)  # π spans > 300 orders: its tail underflows
    pi = stationary(P).pi
    assert pi.min() == 0.0
    t_rel, lo, hi, note = spectral_bounds(P, pi)
    assert is_reversible(P, pi)  # a birth–death chain
    assert hi == math.inf and "underflows" in note


def test_nonreversible_chain_has_no_upper_bound():
    P = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5]])  # a biased cycle
    pi = stationary(P).pi
    assert not is_reversible(P, pi)
    r = mixing_time(P, pi=pi, max_exact_states=2)
    assert r.upper_bound == math.inf and "not reversible" in r.note
    assert r.lower_bound <= mixing_time(P, pi=pi).mixing_time


def test_result_and_validation():
    r = mixing_time(np.array([[0.5, 0.5], [0.5, 0.5]]))
    assert isinstance(r, MixingResult) and r.mixing_time == 1 and r.to_dict()["exact"] is True
    with pytest.raises(SrchainError, match="eps"):
        mixing_time(np.eye(2) * 0.5 + 0.25, eps=1.5)
    with pytest.raises(SrchainError, match="pi has"):
        mixing_time(np.eye(2) * 0.5 + 0.25, pi=np.ones(3) / 3)
