"""Tests for srchain.mixing: exact ε-mixing time (Eq. 10) against brute force, Theorem 6, spectral bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

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


@pytest.mark.parametrize(
    "delta,alpha,eps", [(0.5, 0.05, 0.25), (0.5, 0.5, 0.25), (1.0, 0.01, 0.1), (14 / 39, 0.02, 0.4), (0.5, 0.05, 0.01)]
)
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


# --- the fast exact path: greedy search, row dropping, sparse powers, certified low-rank compression -----------
import srchain.mixing as mixing_mod  # noqa: E402
import srchain.mixing_powers as powers  # noqa: E402


def brute_force_sparse(P, pi, eps):
    """Brute force (Eq. 10) stepping all starts with the sparse P: for chains of a few hundred states."""
    P = sp.csr_matrix(P)
    PT = P.T.tocsr()
    M = np.eye(P.shape[0])
    t = 0
    while tv_rows(M, pi).max() > eps:
        M = np.asarray((PT @ M.T).T)
        t += 1
    return t


def chain2d(L, alpha):
    lat = Lattice.from_domain(14 / (L - 1), get_problem("separable", dim=2).domain)
    P = transition_matrix(get_problem("separable", dim=2), make_noise("gaussian", sigma=2.0), lat, alpha).P
    return P, stationary(P, shape=lat.shape).pi


@pytest.mark.parametrize("kind,size,alpha", [("1d", 600, 0.3), ("1d", 400, 0.5), ("2d", 25, 0.1), ("2d", 20, 0.3)])
def test_compressed_path_matches_dense_and_brute_force(kind, size, alpha):
    """Low-rank compression forced on medium chains: same integer as the uncompressed path and as brute force.

    ("2d", 25, 0.1) has 39 nonzeros a row: its first powers are squared in sparse form before compression.
    """
    if kind == "1d":
        P = toy(14 / (size - 1), alpha)
        pi = stationary(P).pi
    else:
        P, pi = chain2d(size, alpha)
    A = sp.csr_matrix(P)
    t_c, info = mixing_mod._exact(A, pi, 0.25, 10**9, min_compress_states=0)
    t_d, info_d = mixing_mod._exact(A, pi, 0.25, 10**9, compress=False)
    assert info["compressed_at"] is not None and info["rank"] <= A.shape[0] // 8
    assert 0 < info["err"] < 1e-9 and info_d["compressed_at"] is None and info_d["err"] == 0.0
    assert t_c == t_d == brute_force_sparse(A, pi, 0.25)


def test_greedy_search_drops_rows_and_matches_brute_force():
    """A chain with two basins: starts in the deep basin mix early and are dropped; the answer is unchanged."""
    P = toy(14 / 299, 0.3)
    pi = stationary(P).pi
    A = sp.csr_matrix(P)
    d = tv_rows(A.toarray(), pi)
    t = brute_force_sparse(A, pi, 0.25)
    M = np.linalg.matrix_power(A.toarray(), t - 1)
    tv = tv_rows(M, pi)
    assert (tv <= 0.25).any() and (tv > 0.25).any() and d.max() > 0.25  # rows really are dropped on the way
    assert mixing_time(A, pi=pi).mixing_time == t


def test_compression_error_bound_is_rigorous():
    """The certified row-L1 error of the compressed P^(2^k) and of its low-rank squares bounds the true error."""
    P = toy(14 / 599, 0.3)
    D = P.toarray()
    Q = powers._Pow("dense", D=D @ D)
    L = powers._compress(Q, 600 // 4, np.random.default_rng(1))
    assert L is not None and L.U.shape[1] < 150
    true = D @ D
    for _ in range(4):
        actual = np.abs(true - L.U @ L.V).sum(axis=1)
        assert np.all(actual <= L.err + 1e-13)
        L = powers._square_lowrank(L)
        true = true @ true


def test_ambiguous_decision_falls_back_to_the_exact_path(monkeypatch):
    """An error allowance that covers every decision makes them ambiguous: the uncompressed path answers."""
    P = toy(14 / 1799, 0.3)
    pi = stationary(P).pi
    t_exact, _ = mixing_mod._exact(sp.csr_matrix(P), pi, 0.25, 10**9, compress=False)
    r = mixing_time(P, pi=pi)
    assert r.mixing_time == t_exact and "low rank" in r.note
    monkeypatch.setattr(mixing_mod, "_SLACK", 1.0)
    r = mixing_time(P, pi=pi)
    assert r.mixing_time == t_exact and "without compression" in r.note


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([0.05, 0.25, 0.6]))
def test_random_dense_chains_compressed_or_not(seed, eps):
    """Random dense-ish chains (full numerical rank: compression refuses, the dense greedy path answers)."""
    rng = np.random.default_rng(seed)
    n = 300
    A = rng.random((n, n)) ** 8
    A /= A.sum(axis=1, keepdims=True)
    pi = stationary(A).pi
    t_c, info = mixing_mod._exact(sp.csr_matrix(A), pi, eps, 10**9, min_compress_states=0)
    assert t_c == brute_force(A, pi, eps)


def test_a_sparse_power_whose_square_is_dense_is_squared_dense(monkeypatch):
    """P sparse (density < 0.1) whose square is dense: squared straight into a dense array (each row its own
    fixed-order sum) — the product to rounding, the form dense, and the same exact mixing time as through scipy's
    sparse product."""
    P, pi = chain2d(25, 0.1)  # 625 states: P's density 0.063, P²'s 0.19
    A = sp.csr_matrix(P)
    assert powers._density(A) < 0.1
    kernel, calls = powers._square_to_dense, []
    monkeypatch.setattr(powers, "_square_to_dense", lambda *a: calls.append(1) or kernel(*a))
    Q = powers._square(powers._Pow("sparse", S=A))
    assert Q.kind == "dense" and calls == [1]
    ref = A.toarray() @ A.toarray()
    assert np.max(np.abs(Q.D - ref)) <= 64 * np.finfo(float).eps * ref.max()
    assert powers._density(sp.csr_matrix(Q.D)) >= 0.1  # the sample said dense and the square is
    t = mixing_mod._exact(A, pi, 0.25, 10**9, compress=False)[0]
    monkeypatch.setattr(powers, "_square_row_nnz", lambda *a: 0)  # the sample says sparse: scipy's product
    assert t == mixing_mod._exact(A, pi, 0.25, 10**9, compress=False)[0]


def test_low_rank_levels_are_decided_by_a_witness_and_pruned_before_the_search(monkeypatch):
    """After compression a level is decided by the starts that were farthest last time (one certified above ε is
    enough), the starts are pruned once at 2^K, and the integer is brute force's. When no witness is certified
    above ε (forced here once) the full pass decides the level, as before."""
    P = toy(14 / 599, 0.3)
    pi = stationary(P).pi
    A = sp.csr_matrix(P)
    t_ref = brute_force_sparse(A, pi, 0.25)
    stages: list = []
    t, info = mixing_mod._exact(A, pi, 0.25, 10**9, min_compress_states=0, stages=stages)
    names = [s[0] for s in stages]
    assert t == t_ref and info["compressed_at"] is not None
    assert any(name.endswith("(witness)") for name in names) and any(name.startswith("prune") for name in names)
    assert all(s[2] <= mixing_mod._WITNESSES for s in stages if s[0].endswith("(witness)"))
    # the farthest starts stay above ε up to the last level: every low-rank level before it is a witness's
    assert sum(1 for s in stages if s[0].startswith("square") and s[1] == "lowrank" and "witness" not in s[0]) == 1

    classify, missed = mixing_mod.classify, []

    def miss_once(tv, margin, eps):  # the first witness check finds no start above ε
        above, below = classify(tv, margin, eps)
        if tv.size <= mixing_mod._WITNESSES and not missed:
            missed.append(1)
            return np.zeros_like(above), below
        return above, below

    monkeypatch.setattr(mixing_mod, "classify", miss_once)
    stages2: list = []
    assert mixing_mod._exact(A, pi, 0.25, 10**9, min_compress_states=0, stages=stages2)[0] == t_ref and missed
    full = [s for s in stages2 if s[0].startswith("square") and s[1] == "lowrank" and "witness" not in s[0]]
    assert len(full) >= 2  # the level the witness missed, and the last one


@pytest.mark.parametrize("inflate", ["slack", "residuals"])
def test_a_witness_is_certified_only_beyond_its_error_allowance(monkeypatch, inflate):
    """With an allowance that covers every distance (the float64 slack, or every low-rank residual, set to 2: TVs
    lie in [0, 1]) no witness can be certified above ε, so no level is decided by one and the first low-rank
    decision is ambiguous (the caller then redoes the computation uncompressed)."""
    P = toy(14 / 599, 0.3)
    pi = stationary(P).pi
    if inflate == "slack":
        monkeypatch.setattr(mixing_mod, "_SLACK", 2.0)
    else:
        square = powers._square_lowrank
        monkeypatch.setattr(
            powers,
            "_square_lowrank",
            lambda Q: (lambda L: powers._Pow("lowrank", U=L.U, V=L.V, err=L.err + 4.0))(square(Q)),
        )
    stages: list = []
    with pytest.raises(mixing_mod._Ambiguous):
        mixing_mod._exact(sp.csr_matrix(P), pi, 0.25, 10**9, min_compress_states=0, stages=stages)
    assert stages and not any(s[0].endswith("(witness)") for s in stages)
