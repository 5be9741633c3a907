"""Exact ε-mixing (Eq. 10) with P's powers split by a symmetry of the lattice (:mod:`srchain.mixing_symmetry`).

The coupled and separable problems on a square lattice are unchanged by w₁ ↔ w₂, and their float64 operators
commute with that swap up to rounding (rows normalised by sums in different orders). The split path must give the
integer of the unsplit path and of plain dense doubling, its blocks must reproduce the powers of P, and its bound
on P's asymmetry must hold.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import srchain.mixing as mixing_mod
import srchain.mixing_symmetry as mixing_symmetry
from srchain.errors import SrchainError
from srchain.lattice import Lattice
from srchain.mixing import mixing_time
from srchain.mixing_powers import _Pow
from srchain.mixing_symmetry import SymPow, asymmetry, checked_symmetry, find_symmetry
from srchain.noise import make_noise
from srchain.operators import transition_matrix
from srchain.problems import get_problem
from srchain.stationary import stationary
from tests.test_mixing import brute_force
from tests.test_mixing_2d import _dense_doubling


def _op(problem: str, side: int, alpha: float, dim: int = 2, sigma: float = 2.0, **kw):
    prob = get_problem(problem, dim=dim, **kw)
    lat = Lattice.from_domain(14.0 / (side - 1), prob.domain, dim)
    op = transition_matrix(prob, make_noise("gaussian", sigma=sigma), lat, alpha)
    return op, stationary(op).pi


def _swap(side: int, dim: int = 2) -> np.ndarray:
    return np.arange(side**dim).reshape((side,) * dim).transpose(tuple(range(dim))[::-1]).ravel()


def test_the_swap_is_found_and_its_bound_holds():
    op, _ = _op("coupled", 15, 0.1, coupling=1.0)
    A = sp.csr_matrix(op.P)
    orb = find_symmetry(A, op.lattice.shape)
    assert orb is not None and np.array_equal(orb.sigma, _swap(15))
    sigma = orb.sigma
    # the bound covers the real row-L1 distance of P to its relabelled self, which is rounding, not zero
    D = np.abs(A.toarray() - A.toarray()[sigma][:, sigma]).sum(axis=1).max()
    assert 0.0 < D <= asymmetry(A, sigma) == orb.eta <= 1e-13


def test_no_symmetry_is_assumed():
    op, _ = _op("toy", 30, 0.1, dim=1)
    assert find_symmetry(sp.csr_matrix(op.P), op.lattice.shape) is None  # 1-D: nothing to swap
    # a 2-D lattice whose axes differ (a shifted domain on one axis): the swap is not a symmetry of P
    prob = get_problem("coupled", dim=2, coupling=1.0).with_domain([[-4.0, 10.0], [-3.0, 11.0]])
    lat = Lattice.from_domain(1.0, prob.domain, 2)
    P = sp.csr_matrix(transition_matrix(prob, make_noise("gaussian", sigma=2.0), lat, 0.1).P)
    assert lat.shape[0] == lat.shape[1] and find_symmetry(P, lat.shape) is None
    with pytest.raises(SrchainError, match="does not commute"):
        mixing_time(P, symmetry=_swap(lat.shape[0]))
    with pytest.raises(SrchainError, match="involution"):
        checked_symmetry(P, np.roll(np.arange(P.shape[0]), 1))


@pytest.mark.parametrize("t_log2", [0, 1, 3])
def test_blocks_reproduce_the_powers(t_log2):
    op, pi = _op("coupled", 9, 0.2, coupling=1.0)
    A = sp.csr_matrix(op.P)
    orb = find_symmetry(A, op.lattice.shape)
    Q, r0 = SymPow.of(A, orb)
    for _ in range(t_log2):
        Q = Q.square()
    exact = np.linalg.matrix_power(A.toarray(), 2**t_log2)
    starts = np.arange(A.shape[0])
    rows = Q.rows(starts)
    # within the asymmetry bound carried forward (t·r0) plus float64 rounding of the products
    assert np.abs(rows.full() - exact).sum(axis=1).max() <= 2**t_log2 * r0 + 1e-13
    np.testing.assert_allclose(Q.tv(starts, pi), 0.5 * np.abs(rows.full() - pi).sum(axis=1), rtol=0, atol=1e-14)


@pytest.mark.parametrize(
    "problem,side,alpha,eps,kw",
    [
        ("coupled", 14, 0.1, 0.25, {"coupling": 1.0}),
        ("coupled", 16, 0.3, 0.1, {"coupling": 0.5}),
        ("separable", 13, 0.05, 0.25, {}),
    ],
)
def test_split_path_gives_the_integer_of_dense_doubling(problem, side, alpha, eps, kw):
    op, pi = _op(problem, side, alpha, **kw)
    split = mixing_time(op, eps=eps, pi=pi, symmetry=_swap(side))  # (below 800 states only a given one splits)
    plain = mixing_time(op, eps=eps, pi=pi, symmetry=False)
    assert "split into blocks" in split.note and "split" not in plain.note
    assert split.mixing_time == plain.mixing_time == _dense_doubling(op.P.toarray(), pi, eps)


def test_split_path_compressed_matches_unsplit():
    # 40 × 40 = 1600 states: compression runs, on each block
    op, pi = _op("coupled", 40, 0.1, coupling=1.0)
    split = mixing_time(op, eps=0.25, pi=pi)
    assert "compressed" in split.note and "blocks of 820 and 780" in split.note
    assert split.mixing_time == mixing_time(op, eps=0.25, pi=pi, symmetry=False).mixing_time


def test_three_dimensional_reversal():
    # coupled in 3-D (w₁ − w₂, w₂ − w₃) is unchanged by reversing the axes, not by swapping two of them
    op, pi = _op("coupled", 6, 0.2, dim=3, coupling=1.0)
    assert find_symmetry(sp.csr_matrix(op.P), op.lattice.shape) is not None
    r = mixing_time(op, eps=0.25, pi=pi, symmetry=_swap(6, dim=3))
    assert "split into blocks" in r.note
    assert r.mixing_time == _dense_doubling(op.P.toarray(), pi, 0.25)


def test_a_given_symmetry_is_used_on_a_bare_matrix(monkeypatch):
    op, pi = _op("coupled", 12, 0.1, coupling=1.0)
    seen = []
    real = mixing_mod._exact
    monkeypatch.setattr(mixing_mod, "_exact", lambda *a, **k: seen.append(k.get("orbits")) or real(*a, **k))
    monkeypatch.setattr(mixing_symmetry, "_SPLIT_MIN_STATES", 100)
    a = mixing_time(op.P, eps=0.25, pi=pi)  # a bare matrix has no lattice: not split
    b = mixing_time(op.P, eps=0.25, pi=pi, symmetry=_swap(12))
    c = mixing_time(op.P, eps=0.25, pi=pi, shape=(12, 12))
    monkeypatch.setattr(mixing_symmetry, "_SPLIT_MIN_STATES", 145)
    d = mixing_time(op, eps=0.25, pi=pi)  # 144 states: below the size where splitting pays, not split
    e = mixing_time(op, eps=0.25, pi=pi, symmetry=_swap(12))  # a given permutation is used at any size
    assert seen[0] is None and seen[1] is not None and seen[2] is not None
    assert seen[3] is None and seen[4] is not None
    assert a.mixing_time == b.mixing_time == c.mixing_time == d.mixing_time == e.mixing_time


def test_subnormal_rows_are_flushed():
    op, _ = _op("coupled", 9, 0.2, coupling=1.0)
    A = sp.csr_matrix(op.P)
    Q, _ = SymPow.of(A, find_symmetry(A, op.lattice.shape))
    rows = Q.rows(np.arange(4))
    rows.a[0, :3] = [1e-310, -1e-160, 3e-150]
    rows.flush()
    assert list(rows.a[0, :3]) == [0.0, 0.0, 3e-150]  # below THETA = 2^-511 ≈ 1.5e-154: zeroed


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 11),
    st.integers(0, 2**32 - 1),
    st.sampled_from([0.05, 0.25, 0.6]),
    st.sampled_from([0.0, 1e-16]),
)
def test_random_symmetric_chains_match_brute_force(n, seed, eps, tilt):
    """P = symmetrised random chain under a random involution (pairs and fixed points), optionally tilted by a
    rounding-sized asymmetry: the split path gives brute force's integer, and the unsplit path's."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    sigma = np.arange(n)
    for k in range(rng.integers(0, n // 2 + 1)):  # pair up perm[2k], perm[2k+1]; the rest stay fixed
        a, b = perm[2 * k], perm[2 * k + 1]
        sigma[a], sigma[b] = b, a
    M = rng.random((n, n)) ** 4 + 1e-3
    M = M + M[sigma][:, sigma]
    P = M / M.sum(axis=1, keepdims=True)
    P = P * (1.0 + tilt * rng.standard_normal((n, n)))
    pi = stationary(P).pi
    r = mixing_time(P, eps=eps, pi=pi, symmetry=sigma)
    assert r.mixing_time == brute_force(P, pi, eps) == mixing_time(P, eps=eps, pi=pi, symmetry=False).mixing_time


def test_full_row_errors_combine_the_blocks():
    # err(x) = bar's error at x's orbit plus, for a state in a pair, odd's error at that pair; a block held exactly
    # (no error) contributes nothing, whichever of the two it is
    op, _ = _op("coupled", 9, 0.2, coupling=1.0)
    A = sp.csr_matrix(op.P)
    orb = find_symmetry(A, op.lattice.shape)
    Q, _ = SymPow.of(A, orb)
    assert Q.err is None
    m, p = orb.pairs + orb.fixed.size, orb.pairs
    eb, ea = np.arange(1.0, m + 1), 1000.0 * np.arange(1.0, p + 1)
    lowrank = SymPow(orb, _Pow("lowrank", U=np.eye(m), V=np.eye(m), err=eb), Q.odd)
    np.testing.assert_array_equal(lowrank.err, eb[orb.orbit])
    both = SymPow(orb, lowrank.bar, _Pow("lowrank", U=np.eye(p), V=np.eye(p), err=ea))
    in_pair = orb.sign != 0
    np.testing.assert_array_equal(both.err[in_pair], eb[orb.orbit[in_pair]] + ea[orb.orbit[in_pair]])
    np.testing.assert_array_equal(both.err[~in_pair], eb[orb.orbit[~in_pair]])
    odd_only = SymPow(orb, Q.bar, both.odd)
    np.testing.assert_array_equal(odd_only.err, np.where(in_pair, ea[np.minimum(orb.orbit, p - 1)], 0.0))


def test_memory_estimate_covers_both_blocks():
    op, _ = _op("coupled", 9, 0.2, coupling=1.0)
    A = sp.csr_matrix(op.P)
    Q, _ = SymPow.of(A, find_symmetry(A, op.lattice.shape))
    Q2 = Q.square()
    for q in (Q, Q2):
        held = sum(
            a.nbytes
            for b in (q.bar, q.odd)
            for a in ((b.S.data, b.S.indices, b.S.indptr) if b.kind == "sparse" else (b.D,))
        )
        assert q.nbytes() >= held
