"""Powers of a transition matrix for the exact ε-mixing time (:func:`srchain.mixing.mixing_time`, Eq. 10).

A power ``Q_k = P^{2^k}`` is held sparse (while it stays sparse), dense, or, for chains of ≥ 1500 states whose
powers are numerically of low rank, as a certified factorization ``U V`` with a rigorous bound on every row's L1
error: the forms, their squaring (:func:`_square`), the randomized compression (:func:`_compress`) and the total
variation of their rows to π (:func:`tv_rows`, :func:`_tv_of`). :mod:`srchain.mixing` decides with them.

P itself is held sparse wherever squaring it sparse is cheaper than dense BLAS (:func:`sparse_pays`), banded P
included: a square that is dense is written straight into a dense array by a Numba kernel that adds whole runs of
consecutive columns (:func:`_square_to_dense`). The TV sums and residuals run block by block of rows in reused
buffers, because fresh memory costs a page fault per page at first touch.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from numba import njit, prange

__all__ = ["tv_rows", "sparse_pays"]


#: Entries per block of rows in the total-variation sums (8 MB of float64): the blocks' temporaries are reused,
#: where whole-matrix temporaries (M − π, its absolute value, a fancy-indexed copy: three n × n arrays) cost fresh
#: pages at every call, and a fault on a fresh page took 30-400 µs of system time on a virtual machine (at 5000
#: states the faults of one exact mixing time took 8 s of system time against 9 s of arithmetic).
_TV_BLOCK = 1 << 20


def tv_rows(M, pi, rows=None) -> np.ndarray:
    r""":math:`\tfrac12\|M[x, :] - \pi\|_1` for every row :math:`x` of the dense matrix ``M`` (or the rows ``rows``),
    summed block by block of rows in reused buffers: the same numbers as ``0.5 * abs(M - pi).sum(axis=1)``."""
    M = np.asarray(M, dtype=np.float64)
    pi = np.asarray(pi, dtype=np.float64)
    idx = None if rows is None else np.asarray(rows, dtype=np.int64)
    m, n = (M.shape[0] if idx is None else idx.size), M.shape[1]
    out = np.empty(m)
    b = max(1, min(m, _TV_BLOCK // max(n, 1)))
    buf = np.empty((b, n))
    for s in range(0, m, b):
        blk = buf[: min(m, s + b) - s]
        if idx is None:
            np.subtract(M[s : s + b], pi, out=blk)
        else:
            np.take(M, idx[s : s + b], axis=0, out=blk, mode="clip")  # "raise" would copy through a buffer
            np.subtract(blk, pi, out=blk)
        np.abs(blk, out=blk)
        out[s : s + blk.shape[0]] = blk.sum(axis=1)
    return 0.5 * out


# ---------------------------------------------------------------------------------------------------------------
# Exact path. A power P^(2^k) is held as a `_Pow`: sparse (CSR), dense, or low rank ``U V`` (U: n×ρ, V: ρ×n) with
# ``err[x]`` ≥ ‖P^(2^k)(x, ·) − U(x)V‖₁, a rigorous bound on the row-L1 error (0 for the sparse and dense forms).
# ---------------------------------------------------------------------------------------------------------------
_SV_TOL = 1e-15  # singular values below this × the largest are float64 noise: dropped from the sketch
_TRUNC_TOL = 1e-15  # row-L1 mass a re-compression of a low-rank square may drop (added to err)
_CERT_MAX = 1e-11  # a compression is used only if its certified row-L1 residual is below this
#: A sketch whose predicted rank passes this × r_max is refused. The predictions extrapolate the decay of the
#: sketch's singular values, which for a 2-D chain's powers (log σ_j ~ −c√j, convex) underestimate the rank: the
#: coupled 100 × 100 chain's P⁴ (rank > 1562, r_max 1250) was predicted at 1622 from 512 columns and at 1834 from
#: 1024, where a factor 2 widened it to 1562 columns before refusing (8 s).
_REFUSE_PRED = 1.25
_BLOCK = 1024  # rows per block when low-rank rows are made explicit


def _lapack1():
    """Single-threaded BLAS for the tall-skinny factorizations (QR, SVD, eigh of ρ × ρ): OpenBLAS's threaded
    QR of a 2000 × 256 block took 6.6 s on a busy 2-core machine against 0.1 s on one thread."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


class _Pow:
    __slots__ = ("kind", "S", "D", "U", "V", "err")

    def __init__(self, kind, S=None, D=None, U=None, V=None, err=None):
        self.kind, self.S, self.D, self.U, self.V, self.err = kind, S, D, U, V, err

    def rows(self, idx) -> np.ndarray:
        if self.kind == "dense":
            return self.D[idx]
        if self.kind == "sparse":
            return self.S[idx].toarray()
        return self.U[idx] @ self.V

    def rmul(self, M: np.ndarray) -> np.ndarray:
        """``M @ self`` for dense rows ``M`` (a sparse power by the run kernel :func:`_rows_times_csr`)."""
        if self.kind == "dense":
            return M @ self.D
        if self.kind == "sparse":
            S = self.S if self.S.has_sorted_indices else self.S.sorted_indices()
            out = np.zeros((M.shape[0], S.shape[1]))
            _rows_times_csr(np.ascontiguousarray(M), S.indptr, S.indices, S.data, *_row_runs(S.indptr, S.indices), out)
            return out
        return (M @ self.U) @ self.V


def _tv_sparse(S: sp.csr_matrix, pi: np.ndarray, psum: float) -> np.ndarray:
    """½‖S(x, ·) − π‖₁ for every row of a CSR matrix: ½(Σπ + Σ_{y in row}(|S − π_y| − π_y))."""
    S = S.tocsr()
    S.sort_indices()
    p = pi[S.indices]
    contrib = np.abs(S.data - p) - p
    # each row's terms summed on their own, left to right (a running sum over all rows would carry the rounding of
    # the whole matrix into every row); rounding ≤ γ·(‖row‖₁ + 3Σπ)/2, see _SPARSE_TV
    rowsum = sp.csr_matrix((contrib, S.indices, S.indptr), shape=S.shape) @ np.ones(S.shape[1])
    return 0.5 * (psum + rowsum)


def _tv_of(Q: _Pow, idx, pi, psum) -> tuple[np.ndarray, np.ndarray | None]:
    """TV of rows ``idx`` of Q, and their explicit L1 norms (only for the low-rank form, else None)."""
    if Q.kind == "sparse":
        return _tv_sparse(Q.S[idx], pi, psum), None
    if Q.kind == "dense":
        return tv_rows(Q.D, pi, idx), None
    tv = np.empty(len(idx))
    b = max(1, min(len(idx), _BLOCK))
    buf = np.empty((b, Q.V.shape[1]))  # one buffer for every block's rows U(x)·V (see _TV_BLOCK)
    for s in range(0, len(idx), b):
        R = buf[: min(len(idx), s + b) - s]
        np.matmul(Q.U[idx[s : s + b]], Q.V, out=R)
        np.subtract(R, pi, out=R)
        np.abs(R, out=R)
        tv[s : s + R.shape[0]] = 0.5 * R.sum(axis=1)
    return tv, None


def _density(S: sp.csr_matrix) -> float:
    return S.nnz / float(S.shape[0] * S.shape[1])


@njit(cache=True, nogil=True)
def _square_row_nnz(indptr, indices, n, rows):
    """Nonzeros in the given rows of the square of the CSR pattern ``(indptr, indices)`` (n × n)."""
    mark = np.full(n, -1, dtype=np.int64)
    cnt = 0
    for i in rows:
        for p in range(indptr[i], indptr[i + 1]):
            k = indices[p]
            for q in range(indptr[k], indptr[k + 1]):
                j = indices[q]
                if mark[j] != i:
                    mark[j] = i
                    cnt += 1
    return cnt


@njit(cache=True, nogil=True)
def _row_runs(indptr, indices):
    """Each row's maximal runs of consecutive positions holding consecutive columns, as a CSR of runs: row ``i``'s
    runs are ``rptr[i]:rptr[i + 1]``, run ``r`` starts at position ``rq[r]`` (column ``indices[rq[r]]``) and has
    ``rl[r]`` entries. A banded row is one run; a row of the d-dimensional lattice one run per line it meets."""
    n = indptr.size - 1
    rptr = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        c = 0
        for p in range(indptr[i], indptr[i + 1]):
            if p == indptr[i] or indices[p] != indices[p - 1] + 1:
                c += 1
        rptr[i + 1] = rptr[i] + c
    rq = np.empty(rptr[n], dtype=np.int64)
    rl = np.zeros(rptr[n], dtype=np.int64)
    r = -1
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            if p == indptr[i] or indices[p] != indices[p - 1] + 1:
                r += 1
                rq[r] = p
            rl[r] += 1
    return rptr, rq, rl


@njit(inline="always")
def _add_row(row, a, k, indices, data, rptr, rq, rl):  # pragma: no cover - compiled
    """``row += a·A[k, :]`` run by run (:func:`_row_runs`): contiguous slices, which the compiler vectorises. Inlined
    into its callers' Numba IR (no call in their innermost loop)."""
    for rr in range(rptr[k], rptr[k + 1]):
        q = rq[rr]
        c = indices[q]
        L = rl[rr]
        dst = row[c : c + L]
        src = data[q : q + L]
        for t in range(L):
            dst[t] += a * src[t]


#: Rows of the product made together by the run kernel: each row k of A is read once for the whole block (from
#: cache) instead of once per row (from L3: on the coupled 100 × 100 chain's P², 12.5 MB of A per row of P⁴).
_ROW_BLOCK = 8


@njit(cache=True, nogil=True, parallel=True)
def _square_to_dense(indptr, indices, data, rptr, rq, rl, out):
    """``out = A·A`` for the CSR matrix A with sorted indices, written into the zeroed dense ``out``: each row on its
    own, its terms added in A's row order (the same numbers under any thread count). Row ``k`` of A is added to row
    ``i`` of the product run by run (:func:`_row_runs`): contiguous slices, which the compiler vectorises (a
    column-by-column scatter does not vectorise: 3-4x slower). Blocks of :data:`_ROW_BLOCK` rows of the product are
    made together, k ascending: row k of A is added to every row of the block that has an entry in column k while it
    is in cache; each entry still receives its terms in A's row order (k ascending)."""
    n = out.shape[0]
    nb = (n + _ROW_BLOCK - 1) // _ROW_BLOCK
    for b in prange(nb):
        i0 = b * _ROW_BLOCK
        m = min(n, i0 + _ROW_BLOCK) - i0
        ptr = np.empty(_ROW_BLOCK, dtype=np.int64)
        kmin, kmax = n, -1
        for r in range(m):
            ptr[r] = indptr[i0 + r]
            if indptr[i0 + r] < indptr[i0 + r + 1]:
                kmin = min(kmin, indices[indptr[i0 + r]])
                kmax = max(kmax, indices[indptr[i0 + r + 1] - 1])
        for k in range(kmin, kmax + 1):
            for r in range(m):
                end = indptr[i0 + r + 1]
                while ptr[r] < end and indices[ptr[r]] == k:  # (a duplicate column: its terms in row order)
                    a = data[ptr[r]]
                    ptr[r] += 1
                    _add_row(out[i0 + r], a, k, indices, data, rptr, rq, rl)


@njit(cache=True, nogil=True, parallel=True)
def _rows_times_csr(M, indptr, indices, data, rptr, rq, rl, out):
    """``out = M·A`` for dense rows M and the CSR matrix A (sorted indices, runs from :func:`_row_runs`), into the
    zeroed ``out``: row k of A added to row i of the product run by run (contiguous, vectorised), k ascending, each
    row on its own (the same numbers under any thread count). With scipy's product of a CSR matrix and a block of
    dense vectors the search's last step on the coupled 100 × 100 chain (190 rows times the blocks of P) took 1.0 s;
    with this kernel, under 0.3 s."""
    k, m = M.shape
    for i in prange(k):
        row = out[i]
        for j in range(m):
            a = M[i, j]
            if a != 0.0:
                _add_row(row, a, j, indices, data, rptr, rq, rl)


#: The run kernel's multiply-adds against dense BLAS's n³: the kernel (~7·10⁹ per second on 2 cores, vectorised
#: slices) is used below n³/_KERNEL_DIV, BLAS above (~9·10¹⁰ per second there; measured on P of the 1-D toy chain,
#: 838 entries per row, and the coupled 2-D chain, 400 entries in 23 runs per row; on that chain's P², 1254 entries
#: in 41 runs per row, the kernel made 4.2·10⁹ per second).
_KERNEL_DIV = 16.0


def _square_work(A: sp.csr_matrix) -> float:
    """Multiply-adds of the product A·A of a CSR matrix: Σ_k (nonzeros in column k)·(nonzeros in row k)."""
    n = A.shape[0]
    return float(np.dot(np.bincount(A.indices, minlength=n).astype(float), np.diff(A.indptr).astype(float)))


#: Below this many states a P denser than 10% is held dense whatever its band: BLAS squares it in milliseconds,
#: where the run kernel's fixed costs (its threads, the runs) made the exact path slower than plain dense doubling
#: (300 states: 33 ms against 19 ms held dense; at 1000 states the two are even).
_SPARSE_MIN_STATES = 1500


def sparse_pays(A: sp.csr_matrix) -> bool:
    """Whether P is best held sparse for the exact path: it is sparse, or (from :data:`_SPARSE_MIN_STATES` states on)
    squaring it by the run kernel costs less than dense BLAS would (a band of 838 entries per row at 5000 states:
    3.5·10⁹ multiply-adds against 1.25·10¹¹)."""
    n = A.shape[0]
    return _density(A) < 0.1 or (n >= _SPARSE_MIN_STATES and _square_work(A) < n**3 / _KERNEL_DIV)


@njit(cache=True, nogil=True, parallel=True)
def _dense_row_nnz(D):
    """Nonzeros in each row of the dense matrix D."""
    n, m = D.shape
    cnt = np.zeros(n, dtype=np.int64)
    for i in prange(n):
        c = 0
        for j in range(m):
            if D[i, j] != 0.0:
                c += 1
        cnt[i] = c
    return cnt


@njit(cache=True, nogil=True, parallel=True)
def _dense_col_nnz(D):
    """Nonzeros in each column of the dense matrix D (blocks of 256 columns in parallel, rows read in order)."""
    n, m = D.shape
    cnt = np.zeros(m, dtype=np.int64)
    for b in prange((m + 255) // 256):
        j0 = b * 256
        j1 = min(m, j0 + 256)
        for i in range(n):
            for j in range(j0, j1):
                if D[i, j] != 0.0:
                    cnt[j] += 1
    return cnt


@njit(cache=True, nogil=True, parallel=True)
def _dense_to_csr(D, indptr, indices, data):
    """Fill ``indices`` and ``data`` with D's nonzeros, row by row in column order (``indptr`` from
    :func:`_dense_row_nnz`): the CSR form of D, written in parallel without scipy's dense scan (3.4 s for a
    10⁴ × 10⁴ matrix, against ~0.1 s here)."""
    n, m = D.shape
    for i in prange(n):
        p = indptr[i]
        for j in range(m):
            v = D[i, j]
            if v != 0.0:
                indices[p] = j
                data[p] = v
                p += 1


def _kernel_csr(D: np.ndarray):
    """D's nonzeros as CSR when the run kernel squares them in fewer than n³/_KERNEL_DIV multiply-adds (from
    :data:`_SPARSE_MIN_STATES` states on), else None (BLAS squares D faster). The square of a d-dimensional chain's P
    has a bounded support, dense in form but not in fact: the coupled 100 × 100 chain's P² holds 12.5% nonzeros in 41
    runs per row, and P⁴ = P²·P² took 4.7 s by the kernel against 13 s by BLAS."""
    n = D.shape[0]
    if n < _SPARSE_MIN_STATES:
        return None
    cnt = _dense_row_nnz(D)
    if cnt.sum() >= 0.5 * n * n:  # a screen, not a bound: a power's pattern half full squares far above n³/16
        return None
    # the square's multiply-adds (as _square_work counts them) from the counts, before any CSR is built: the
    # coupled chain's P⁴ (35% nonzero) would make 560 MB of CSR only to be squared by BLAS
    if float(np.dot(_dense_col_nnz(D).astype(float), cnt.astype(float))) >= n**3 / _KERNEL_DIV:
        return None
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(cnt, out=indptr[1:])
    indices = np.empty(indptr[n], dtype=np.int64)
    data = np.empty(indptr[n])
    _dense_to_csr(D, indptr, indices, data)
    return sp.csr_matrix((data, indices, indptr), shape=D.shape)


def _square_dense(D: np.ndarray) -> np.ndarray:
    """D·D for a dense power: by the run kernel (:func:`_square_to_dense`) where :func:`_kernel_csr` says it pays,
    else by BLAS."""
    S = _kernel_csr(D)
    if S is None:
        return D @ D
    out = np.zeros(D.shape)  # calloc'd: its pages are first touched by the kernel's threads, not by a serial fill
    _square_to_dense(S.indptr, S.indices, S.data, *_row_runs(S.indptr, S.indices), out)
    return out


def _square_dense_freeing(Q: _Pow) -> _Pow:
    """Q·Q for a dense power Q, like :func:`_square_dense`, but where the run kernel squares it (reading only Q's CSR
    copy) the square is written into Q's own memory and Q, the same matrix, is held as that CSR from then on: no
    fresh n × n array (fresh pages cost a fault each on a VM: 400 MB of them were ~1 s of the coupled 100 × 100
    chain's split path). Q must not be read as dense afterwards."""
    S = _kernel_csr(Q.D)
    if S is None:
        return _Pow("dense", D=Q.D @ Q.D)
    D = Q.D
    D.fill(0.0)
    _square_to_dense(S.indptr, S.indices, S.data, *_row_runs(S.indptr, S.indices), D)
    Q.kind, Q.S, Q.D = "sparse", S, None
    return _Pow("dense", D=D)


def worth_compressing(Q: _Pow) -> bool:
    """A power not yet low rank, dense or at least 2% full (a sparser one is cheap to square as it is)."""
    return Q.kind == "dense" or (Q.kind == "sparse" and _density(Q.S) > 0.02)


def _square(Q: _Pow) -> _Pow:
    """Q·Q for a sparse or low-rank power (a dense one :mod:`srchain.mixing` squares itself, alive rows first): the
    sparse square while it stays sparse, else dense (by the run kernel, or by BLAS where the kernel's multiply-adds
    pass n³/_KERNEL_DIV), or the low-rank square."""
    if Q.kind == "lowrank":
        return _square_lowrank(Q)
    A = Q.S
    n = A.shape[0]
    work = _square_work(A)
    if work >= n**3 / _KERNEL_DIV:
        D = A.toarray()
        return _Pow("dense", D=D @ D)
    rows = np.unique(np.linspace(0, n - 1, min(n, 256)).astype(np.int64))  # the square's density, sampled
    # scipy's sparse product runs ~40x slower per multiply-add than dense BLAS and builds every entry in CSR first
    # (10⁸ entries at 10⁴ states, 1.2 GB): it is used only for a square that stays sparse
    dense = work >= 0.1 * n * n and _square_row_nnz(A.indptr, A.indices, n, rows) >= 0.1 * n * rows.size
    if work < n**3 / 40.0 and not dense:
        C = (A @ A).tocsr()
        if _density(C) < 0.1:
            return _Pow("sparse", S=C)
        return _Pow("dense", D=C.toarray())
    D = np.zeros((n, n))
    if not A.has_sorted_indices:
        A = A.sorted_indices()
    _square_to_dense(A.indptr, A.indices, A.data, *_row_runs(A.indptr, A.indices), D)
    return _Pow("dense", D=D)


@njit(cache=True, nogil=True)
def _tail_max(G, vn1):
    """``out[j] = max_x Σ_{i ≥ j} |G[x, i]|·vn1[i]``, each row's tail summed from its last column down (a NaN
    anywhere in a column's tails makes ``out[j]`` NaN). One pass, no n × ρ temporaries: those cost fresh pages
    (see _TV_BLOCK), 0.3 s per low-rank square at rank ~700 and 10⁴ states."""
    n, r = G.shape
    out = np.zeros(r)
    for x in range(n):
        acc = 0.0
        for i in range(r - 1, -1, -1):
            acc += abs(G[x, i]) * vn1[i]
            if out[i] == out[i] and not acc <= out[i]:
                out[i] = acc
    return out


@njit(cache=True, nogil=True)
def _tail_at(G, vn1, j):
    """``Σ_{i ≥ j} |G[x, i]|·vn1[i]`` for every row x, summed as in :func:`_tail_max`."""
    n, r = G.shape
    out = np.zeros(n)
    for x in range(n):
        acc = 0.0
        for i in range(r - 1, j - 1, -1):
            acc += abs(G[x, i]) * vn1[i]
        out[x] = acc
    return out


def _truncate(W: np.ndarray, V: np.ndarray, tol: float):
    """Re-compress ``W V`` (n×ρ times ρ×n, V with orthonormal rows) to its leading terms.

    With ``WᵀW = H Λ Hᵀ`` (eigenvalues descending), ``W V = (W H)(Hᵀ V)`` exactly, the columns of ``W H`` are
    orthogonal with norms √λ_j and ``Hᵀ V`` keeps orthonormal rows. Dropping terms j ≥ ρ' changes row x by at most
    ``Σ_{j ≥ ρ'} |(W H)_{xj}|·‖(HᵀV)_j‖₁`` in L1, computed from the matrices themselves (so the bound holds however
    accurate the eigensolver is); ρ' is the smallest rank whose bound is ≤ ``tol`` in every row.
    """
    with _lapack1():
        lam, H = np.linalg.eigh(W.T @ W)
    H = H[:, ::-1]
    G = W @ H
    Vn = H.T @ V
    vn1 = np.abs(Vn).sum(axis=1)
    ok = np.flatnonzero(_tail_max(G, vn1) <= tol)
    rho = max(1, int(ok[0]) if ok.size else G.shape[1])
    dropped = _tail_at(G, vn1, rho)
    return np.ascontiguousarray(G[:, :rho]), np.ascontiguousarray(Vn[:rho]), dropped


def _square_lowrank(Q: _Pow) -> _Pow:
    """(UV)(UV) = (U(VU))V, re-compressed by :func:`_truncate` (V has orthonormal rows, and keeps them).

    Error: P²−Q̃² = E·P + Q̃·E, so err' = err + ‖Q̃(x,·)‖₁·max err + dropped, with ‖Q̃(x, ·)‖₁ ≤ 1 + err(x)
    (the true row has L1 norm 1) and ‖E(x,·)P‖₁ ≤ ‖E(x,·)‖₁ (P is stochastic).
    """
    U, V, dropped = _truncate(Q.U @ (Q.V @ Q.U), Q.V, _TRUNC_TOL)
    e = Q.err
    return _Pow("lowrank", U=U, V=V, err=e + (1.0 + e) * e.max() + dropped)


def _compress(Q: _Pow, r_max: int, rng) -> _Pow | None:
    """A certified low-rank form of an exact power (sparse or dense), or None when its numerical rank is > r_max.

    Randomized range finder (Halko, Martinsson, Tropp 2011): Y = QΩ with Gaussian Ω, widened until Y's trailing
    singular value is at float64 noise level; Q ≈ B_Q (B_Qᵀ Q), truncated by the SVD of B_Qᵀ Q. The residual
    ‖Q(x, ·) − U(x)V‖₁ is then computed for every row (O(n²ρ)), so the bound does not rest on the randomization.
    """
    n = Q.D.shape[0] if Q.kind == "dense" else Q.S.shape[0]
    X = Q.D if Q.kind == "dense" else (Q.S.toarray() if _density(Q.S) > 0.01 else None)

    def apply(Om):
        return X @ Om if X is not None else np.asarray(Q.S @ Om)

    r = 32
    r_cap = r_max + max(16, r_max // 4)  # the widest sketch: r_max plus oversampling
    Y = apply(rng.standard_normal((n, r)))
    prev: tuple[int, float] | None = None
    while True:
        with _lapack1():
            s = np.linalg.svd(np.linalg.qr(Y, mode="r"), compute_uv=False)
        ratio = s[-1] / s[0]
        if ratio <= 1e-14:
            break
        # geometric extrapolation of the decay from σ_1 (singular values of 1-D smoothing kernels decay faster)
        pred = r * math.log(_SV_TOL) / math.log(max(ratio, 1e-300)) if ratio < 1 else math.inf
        if prev is not None:
            # and from the tail's own slope (log σ_r − log σ_{r/2}) per column: 2-D kernels decay slower than
            # geometrically (log σ_j ~ −c√j), where the first rule underestimated P⁴'s rank on the coupled
            # 100 × 100 chain and widened the sketch to 2048 columns before refusing (153 s of a 476 s run)
            slope = (math.log(max(ratio, 1e-300)) - math.log(max(prev[1], 1e-300))) / (r - prev[0])
            pred = max(pred, r + (math.log(1e-14) - math.log(ratio)) / slope if slope < 0 else math.inf)
        if r >= r_max or pred > _REFUSE_PRED * r_max:
            return None  # refusing only costs speed: the exact path goes on with this power uncompressed
        prev = (r, ratio)
        # widen to the predicted rank plus a tenth (at most doubling): a QR of the sketch costs n·r², and doubling
        # from 512 to 1024 columns for a rank of 679 made the compression of the coupled chain's P⁸ take 16 s
        extra = min(r, r_cap - r, max(32, int(1.1 * pred) + 16 - r)) if math.isfinite(pred) else min(r, r_cap - r)
        Y = np.hstack([Y, apply(rng.standard_normal((n, extra)))])
        r += extra
    with _lapack1():
        Bq, _ = np.linalg.qr(Y)
    B = Bq.T @ X if X is not None else np.asarray((Q.S.T @ Bq).T)
    with _lapack1():
        Qb, Rb = np.linalg.qr(B.T)  # B = Rbᵀ Qbᵀ: SVD of the small factor only
        W, s, Zt = np.linalg.svd(Rb.T)
    Ub, Vt = W, Zt @ Qb.T
    rho = max(1, int(np.sum(s > _SV_TOL * s[0])))
    if rho > r_max:
        return None
    U = (Bq @ Ub[:, :rho]) * s[:rho][None, :]
    V = Vt[:rho]
    err = np.empty(n)
    buf = np.empty((min(n, _BLOCK), n))  # one buffer for every block's residual (see _TV_BLOCK)
    for a in range(0, n, _BLOCK):
        R = buf[: min(n, a + _BLOCK) - a]
        np.matmul(U[a : a + _BLOCK], V, out=R)
        np.subtract(X[a : a + _BLOCK] if X is not None else Q.S[a : a + _BLOCK].toarray(), R, out=R)
        np.abs(R, out=R)
        err[a : a + _BLOCK] = R.sum(axis=1)
    if err.max() > _CERT_MAX:
        return None
    return _Pow("lowrank", U=U, V=V, err=err)


def _pow_bytes(Q: _Pow) -> float:
    if Q.kind == "dense":
        return float(Q.D.nbytes)
    if Q.kind == "sparse":
        return float(Q.S.data.nbytes + Q.S.indices.nbytes + Q.S.indptr.nbytes)
    return float(Q.U.nbytes + Q.V.nbytes + (0 if Q.err is None else Q.err.nbytes))
