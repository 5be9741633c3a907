"""The exact mixing path's squares and total variations (:mod:`srchain.mixing_powers`).

The run kernel adds row k of A to row i of A·A slice by slice, and must still give every entry its terms in A's
row order (the bits of a plain entry-by-entry loop); the TV sums, now taken block by block of rows in reused
buffers, must equal the whole-matrix formula bit for bit; and a banded P denser than 10% is held sparse and squared
by the kernel, with the mixing time of the dense path.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import srchain.mixing as mixing_mod
import srchain.mixing_powers as powers
from srchain.stationary import stationary


def _entrywise_square(A: sp.csr_matrix) -> np.ndarray:
    """A·A with each entry's terms added in A's row order (the order the kernel promises), row by row."""
    n = A.shape[0]
    out = np.zeros((n, n))
    for i in range(n):
        for p in range(A.indptr[i], A.indptr[i + 1]):
            k = A.indices[p]
            q0, q1 = A.indptr[k], A.indptr[k + 1]
            out[i, A.indices[q0:q1]] += A.data[p] * A.data[q0:q1]  # distinct columns: one term per entry
    return out


def _random_csr(n: int, seed: int, band: bool) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    if band:  # one run per row, of varying width
        half = rng.integers(0, n, size=n)
        mask = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :]) <= half[:, None]
    else:  # scattered entries and short runs
        mask = rng.random((n, n)) < rng.uniform(0.05, 0.6)
    M = np.where(mask, rng.random((n, n)), 0.0)
    return sp.csr_matrix(M)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(0, 2**32 - 1), st.booleans())
def test_the_run_kernel_squares_in_row_order(n, seed, band):
    A = _random_csr(n, seed, band)
    rptr, rq, rl = powers._row_runs(A.indptr, A.indices)
    # the runs cover each row's positions in order, and each run's columns are consecutive
    for i in range(n):
        pos = np.concatenate([np.arange(rq[r], rq[r] + rl[r]) for r in range(rptr[i], rptr[i + 1])] or [[]])
        assert np.array_equal(pos, np.arange(A.indptr[i], A.indptr[i + 1]))
        for r in range(rptr[i], rptr[i + 1]):
            assert np.array_equal(A.indices[rq[r] : rq[r] + rl[r]], A.indices[rq[r]] + np.arange(rl[r]))
        starts = rq[rptr[i] : rptr[i + 1]]  # maximal: a run never continues where the previous one ended
        assert all(A.indices[s] != A.indices[s - 1] + 1 for s in starts if s > A.indptr[i])
    D = np.zeros((n, n))
    powers._square_to_dense(A.indptr, A.indices, A.data, rptr, rq, rl, D)
    assert np.array_equal(D, _entrywise_square(A))


@pytest.mark.parametrize("block_rows", [1, 3, 1000])
def test_tv_rows_in_blocks_are_the_whole_matrix_formula(monkeypatch, block_rows):
    rng = np.random.default_rng(7)
    m, n = 23, 57
    M = rng.random((m, n)) ** 3
    pi = rng.random(n)
    pi /= pi.sum()
    monkeypatch.setattr(powers, "_TV_BLOCK", block_rows * n)
    whole = 0.5 * np.abs(M - pi[None, :]).sum(axis=1)
    assert np.array_equal(powers.tv_rows(M, pi), whole)
    rows = np.array([5, 0, 22, 5, 11])  # any order, repeats allowed
    assert np.array_equal(powers.tv_rows(M, pi, rows), whole[rows])
    tv, _ = powers._tv_of(powers._Pow("dense", D=M[:, :23].copy()), rows, pi[:23], 1.0)
    assert np.array_equal(tv, 0.5 * np.abs(M[:, :23] - pi[None, :23]).sum(axis=1)[rows])


def test_tv_of_a_low_rank_power_in_blocks(monkeypatch):
    """Rows U(x)·V made block by block in one buffer: the formula's TV up to the rounding of the two products."""
    rng = np.random.default_rng(3)
    n, rho = 300, 12
    U, V = rng.standard_normal((n, rho)), rng.standard_normal((rho, n))
    pi = rng.random(n)
    pi /= pi.sum()
    idx = rng.permutation(n)[:77]
    monkeypatch.setattr(powers, "_BLOCK", 10)
    tv, _ = powers._tv_of(powers._Pow("lowrank", U=U, V=V, err=np.zeros(n)), idx, pi, 1.0)
    ref = 0.5 * np.abs(U[idx] @ V - pi[None, :]).sum(axis=1)
    # each entry of U V is a sum of rho products: rounded within gamma_rho·(|U||V|)_xy (Higham, eq. 3.5) in either
    # blocking, so the two TVs differ by at most half the row sum of 2·gamma_rho·|U||V|, plus the TV sums' own
    # rounding (n terms of size <= |UV| + pi: gamma_n of their total, twice)
    u = np.finfo(float).eps / 2
    gamma = lambda k: k * u / (1 - k * u)  # noqa: E731
    absprod = (np.abs(U[idx]) @ np.abs(V)).sum(axis=1)
    bound = gamma(rho) * absprod + 2 * gamma(n) * (absprod + 1.0)
    assert np.all(np.abs(tv - ref) <= bound)


def _banded_chain(n: int, half: int, seed: int):
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    mask = np.abs(i[:, None] - i[None, :]) <= half
    M = np.where(mask, rng.random((n, n)) + 0.1, 0.0)
    P = sp.csr_matrix(M / M.sum(axis=1, keepdims=True))
    return P, stationary(P).pi


def test_a_banded_chain_denser_than_a_tenth_is_held_sparse_and_squared_by_the_kernel(monkeypatch):
    """P of 240 states with a band of 41 (density 0.17): held sparse (the kernel's 3.8·10⁵ multiply-adds against
    BLAS's 1.4·10⁷) once chains this small qualify, its square made by the run kernel, and the same exact mixing
    time as from a dense P. By default a chain this small is held dense (BLAS takes milliseconds there)."""
    P, pi = _banded_chain(240, 20, 1)
    assert powers._density(P) > 0.1 and not powers.sparse_pays(P)
    monkeypatch.setattr(powers, "_SPARSE_MIN_STATES", 200)
    assert powers.sparse_pays(P)
    kernel, calls = powers._square_to_dense, []
    monkeypatch.setattr(powers, "_square_to_dense", lambda *a: calls.append(1) or kernel(*a))
    t, _ = mixing_mod._exact(P, pi, 0.25, 10**9)
    assert calls == [1]
    monkeypatch.setattr(mixing_mod, "sparse_pays", lambda A: False)  # the previous rule: dense from the start
    assert mixing_mod._exact(P, pi, 0.25, 10**9)[0] == t
    # brute force: the definition of Eq. 10, one step at a time
    M, D, steps = np.eye(240), P.toarray(), 0
    while powers.tv_rows(M, pi).max() > 0.25:
        M, steps = M @ D, steps + 1
    assert t == steps


def test_a_wide_band_is_held_dense(monkeypatch):
    """Where the kernel's work passes n³/16 (a band over most of the row), dense BLAS squares P, whatever the size."""
    monkeypatch.setattr(powers, "_SPARSE_MIN_STATES", 0)
    assert not powers.sparse_pays(_banded_chain(64, 40, 2)[0])
    assert powers.sparse_pays(_banded_chain(64, 4, 2)[0])  # a narrow band (density 0.13) is held sparse


def test_tv_of_a_sparse_row_is_the_dense_formula():
    """½(Σπ + Σ_{y in row}(|S − π_y| − π_y)) on the stored entries equals ½‖S(x, ·) − π‖₁ over every column, entries
    below π_y included (where |S − π_y| ≠ S − π_y)."""
    rng = np.random.default_rng(11)
    n = 60
    S = sp.random(25, n, density=0.3, random_state=4, format="csr")
    pi = rng.random(n)
    pi /= pi.sum()
    S.data *= 2.0 / n  # entries on the scale of π: about half of them below it
    assert np.any(S.data < pi[S.indices]) and np.any(S.data > pi[S.indices])
    tv = powers._tv_sparse(S, pi, float(pi.sum()))
    ref = 0.5 * np.abs(S.toarray() - pi[None, :]).sum(axis=1)
    # two sums of n terms of size <= 1 each: within 2·gamma_n·(‖row‖₁ + 3Σπ) of each other
    u = np.finfo(float).eps / 2
    bound = 2 * n * u / (1 - n * u) * (np.abs(S.toarray()).sum(axis=1) + 3.0)
    assert np.all(np.abs(tv - ref) <= bound)


def test_the_square_takes_the_form_its_cost_calls_for(monkeypatch):
    """Which product squares a sparse power: scipy's where the square stays sparse (tridiagonal P), the run kernel
    where it is dense but the kernel's work is below n³/16 (the banded chain above), BLAS beyond (a wide band)."""
    kernel, calls = powers._square_to_dense, []
    monkeypatch.setattr(powers, "_square_to_dense", lambda *a: calls.append(1) or kernel(*a))

    def square(P):
        calls.clear()
        Q = powers._square(powers._Pow("sparse", S=sp.csr_matrix(P)))
        ref = P.toarray() @ P.toarray()
        D = Q.S.toarray() if Q.kind == "sparse" else Q.D
        assert np.max(np.abs(D - ref)) <= 64 * np.finfo(float).eps * ref.max()
        return Q.kind, bool(calls)

    tri = sp.diags([np.full(199, 0.3), np.full(200, 0.4), np.full(199, 0.3)], [-1, 0, 1], format="csr")
    assert square(tri) == ("sparse", False)
    assert square(_banded_chain(240, 20, 1)[0]) == ("dense", True)
    assert square(_banded_chain(64, 40, 2)[0]) == ("dense", False)


def test_the_low_rank_square_is_the_product_within_its_bound():
    """(UV)(UV) re-compressed: rows within the carried row-L1 bound of the explicit square."""
    rng = np.random.default_rng(5)
    n = 200
    P, _ = _banded_chain(n, 30, 3)
    D = np.linalg.matrix_power(P.toarray(), 16)  # smooth rows: numerically of rank 12
    Q = powers._compress(powers._Pow("dense", D=D), n // 4, rng)
    assert Q is not None and Q.kind == "lowrank" and Q.U.shape[1] > 4
    Q2 = powers._square(Q)
    assert Q2.kind == "lowrank"
    err = np.abs(Q2.U @ Q2.V - D @ D).sum(axis=1)
    assert np.all(err <= Q2.err + 1e-13)  # + the explicit product's own rounding (n·u·‖D‖ ≈ 5e-14)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 30), st.integers(1, 30), st.integers(0, 2**32 - 1), st.floats(0.0, 1.0))
def test_the_dense_to_csr_kernels_give_scipys_csr(n, m, seed, density):
    """D's nonzeros row by row in column order, empty rows included: the arrays scipy's own conversion gives."""
    rng = np.random.default_rng(seed)
    D = np.where(rng.random((n, m)) < density, rng.standard_normal((n, m)), 0.0)
    cnt = powers._dense_row_nnz(D)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(cnt, out=indptr[1:])
    indices, data = np.empty(indptr[n], dtype=np.int64), np.empty(indptr[n])
    powers._dense_to_csr(D, indptr, indices, data)
    ref = sp.csr_matrix(D)
    assert np.array_equal(indptr, ref.indptr) and np.array_equal(indices, ref.indices)
    assert np.array_equal(powers._dense_col_nnz(D), np.bincount(ref.indices, minlength=m))
    assert np.array_equal(data, ref.data)


def test_column_counts_over_several_column_blocks():
    """The column counts are taken 256 columns per parallel block: every column counted once, across blocks and in
    a last partial block."""
    rng = np.random.default_rng(2)
    D = np.where(rng.random((7, 700)) < 0.4, 1.5, 0.0)
    assert np.array_equal(powers._dense_col_nnz(D), (D != 0).sum(axis=0))


def test_a_dense_power_of_bounded_support_is_squared_by_the_kernel(monkeypatch):
    """A dense-form power whose nonzeros are a band (the square of a lattice chain's P): squared by the run kernel,
    with the bits of the entry-by-entry loop over its nonzeros; a wide band, or a chain below the size where the
    kernel pays, by BLAS."""
    kernel, calls = powers._square_to_dense, []
    monkeypatch.setattr(powers, "_square_to_dense", lambda *a: calls.append(1) or kernel(*a))
    D = _banded_chain(240, 20, 1)[0].toarray()  # density 0.17: kernel 3.8·10⁵ multiply-adds, BLAS 1.4·10⁷
    assert np.array_equal(powers._square_dense(D), D @ D) and calls == []  # 240 < 1500 states: BLAS
    monkeypatch.setattr(powers, "_SPARSE_MIN_STATES", 0)
    assert np.array_equal(powers._square_dense(D), _entrywise_square(sp.csr_matrix(D))) and calls == [1]
    W = _banded_chain(64, 40, 2)[0].toarray()  # a wide band: the kernel's work passes n³/16
    calls.clear()
    assert np.max(np.abs(powers._square_dense(W) - W @ W)) <= 64 * np.finfo(float).eps and calls == []


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**32 - 1))
def test_the_tail_sums_are_the_cumulative_sums_they_replace(n, r, seed):
    """``_tail_max`` and ``_tail_at`` give the bits of the whole-array formula (|G|·‖Vn_j‖₁, summed from the last
    column down by ``np.cumsum``), and a NaN makes every tail it enters NaN, so that no rank is accepted on it."""
    rng = np.random.default_rng(seed)
    G, v = rng.standard_normal((n, r)), rng.random(r)
    tail = np.cumsum((np.abs(G) * v[None, :])[:, ::-1], axis=1)[:, ::-1]
    assert np.array_equal(powers._tail_max(G, v), tail.max(axis=0))
    for j in range(r + 1):
        assert np.array_equal(powers._tail_at(G, v, j), tail[:, j] if j < r else np.zeros(n))
    G[rng.integers(n), r - 1] = np.nan
    assert np.all(np.isnan(powers._tail_max(G, v)))


def test_the_run_kernel_takes_unsorted_and_duplicate_columns(monkeypatch):
    """The blocked kernel walks each block's columns in ascending order: ``_square`` sorts a CSR whose indices are
    not sorted first (the same bits as the sorted matrix), and a column stored twice in a row adds both terms."""
    A = _random_csr(30, 7, False)
    perm = np.random.default_rng(3).permutation
    idx, dat = A.indices.copy(), A.data.copy()
    for i in range(30):  # shuffle each row's entries
        a, b = A.indptr[i], A.indptr[i + 1]
        p = perm(b - a)
        idx[a:b], dat[a:b] = idx[a:b][p], dat[a:b][p]
    U = sp.csr_matrix((dat, idx, A.indptr.copy()), shape=A.shape)
    assert not U.has_sorted_indices
    kernel, calls = powers._square_to_dense, []
    monkeypatch.setattr(powers, "_square_to_dense", lambda *a: calls.append(1) or kernel(*a))
    monkeypatch.setattr(powers, "_square_work", lambda M: M.shape[0] ** 3 / 20.0)  # the kernel's range
    assert np.array_equal(powers._square(powers._Pow("sparse", S=U)).D, _entrywise_square(A)) and calls == [1]
    # row 0 holds column 5 twice (0.25, then 0.5); row 5 is e_5: the square's entry (0, 5) adds both terms
    B = sp.csr_matrix(
        (np.array([0.25, 0.5, 1.0]), np.array([5, 5, 5]), np.array([0, 2, 2, 2, 2, 2, 3, 3])), shape=(7, 7)
    )
    assert B.has_sorted_indices and np.array_equal(B.indices, [5, 5, 5])  # duplicates kept, not summed
    out = np.zeros((7, 7))
    kernel(B.indptr, B.indices, B.data, *powers._row_runs(B.indptr, B.indices), out)
    assert out[0, 5] == 0.75 and out[5, 5] == 1.0 and np.count_nonzero(out) == 2
