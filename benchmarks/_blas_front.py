"""The dense GTH front kernel as it was before it was made fixed-order (BLAS dgemm for the trailing update and
the panel columns): the baseline of ``benchmarks/bench_front.py``. Same algorithm and blocking as
:func:`srchain.gth.front.front_eliminate`; its bits depend on the BLAS kernel (and can on its thread count).
"""

from __future__ import annotations

import math

import llvmlite.binding as llvm
import numpy as np
from numba import njit, types
from numba.extending import get_cython_function_address

__all__ = ["blas_front_eliminate"]

#: Below this many multiply-adds (r·r·w or r·w·w) a plain loop beats the call into BLAS dgemm (measured).
_BLAS_MIN_WORK = 32768
#: Pivots per panel: the panel's rows stay in cache while they are eliminated, and the trailing update is one
#: dgemm of inner dimension _PANEL.
_PANEL = 32
#: dgemm's TRANSA/TRANSB argument "N" (no transpose), as its character code.
_NO_TRANSPOSE = ord("N")

# BLAS dgemm (SciPy's), callable from Numba with caching: the symbol is registered with LLVM by name (before any
# cached kernel that calls it is loaded: importing this module does it).
llvm.add_symbol("srchain_bench_dgemm", get_cython_function_address("scipy.linalg.cython_blas", "dgemm"))
_vp = types.voidptr
_dgemm = types.ExternalFunction(
    "srchain_bench_dgemm", types.void(_vp, _vp, _vp, _vp, _vp, _vp, _vp, _vp, _vp, _vp, _vp, _vp, _vp)
)


@njit(cache=True, nogil=True)
def _trailing_update(F, p0, p1):
    """``F[p1:, p1:] += F[p1:, p0:p1] @ F[p0:p1, p1:]`` for row-major F (non-negative operands)."""
    m = F.shape[0]
    r = m - p1
    w = p1 - p0
    if r * r * w < _BLAS_MIN_WORK:
        for i in range(p1, m):
            for q in range(p0, p1):
                ci = F[i, q]
                if ci != 0.0:
                    for j in range(p1, m):
                        F[i, j] += ci * F[q, j]
        return
    flat = F.reshape(-1)
    ints = np.empty(6, dtype=np.int32)
    ints[0] = r
    ints[1] = r
    ints[2] = w
    ints[3] = m
    ints[4] = m
    ints[5] = m
    chars = np.array([_NO_TRANSPOSE, _NO_TRANSPOSE], dtype=np.uint8)
    one = np.ones(2)
    # column-major view: C^T (r×r, ld m) += R^T (r×w, ld m) · C'^T (w×r, ld m)
    a = flat[p0 * m + p1 :]
    b = flat[p1 * m + p0 :]
    c = flat[p1 * m + p1 :]
    _dgemm(
        chars[0:].ctypes,
        chars[1:].ctypes,
        ints[0:].ctypes,
        ints[1:].ctypes,
        ints[2:].ctypes,
        one[0:].ctypes,
        a.ctypes,
        ints[3:].ctypes,
        b.ctypes,
        ints[4:].ctypes,
        one[1:].ctypes,
        c.ctypes,
        ints[5:].ctypes,
    )


@njit(cache=True, nogil=True)
def _panel_columns(F, p0, p1, inv, M, X):
    """The panel's columns of the rows below it, ``C = X · M`` by one dgemm, for the row-by-row recurrence
    ``c_ip = (x_ip + Σ_{q<p} c_iq u_qp) / s_p`` over the panel's pivots p (``x`` the rows' entries before the
    panel, ``u_qp = F[q, p]`` the pivot rows). In matrix form ``c = x D (I − U D)⁻¹ = x (I − V)⁻¹ D`` with
    ``D = diag(1/s_p)`` and ``V = D U`` strictly upper triangular, non-negative and row-substochastic (u_qp is a
    term of s_q), so ``M = (I + V + V² + …) D`` is non-negative, with ``(I − V)⁻¹``'s entries at most 1 (no
    overflow), and is built by the forward recurrence ``W = I + W V``, without a subtraction: every ``c_ip`` is
    still a sum of products of non-negative numbers."""
    m = F.shape[0]
    w = p1 - p0
    r = m - p1
    for a in range(w):  # row a of W = (I − V)⁻¹, V = D U (row-substochastic: W's entries are at most 1)
        base = a * w
        for p in range(w):
            M[base + p] = 0.0
        M[base + a] = 1.0
        for p in range(a + 1, w):
            s = 0.0
            for q in range(a, p):
                s += M[base + q] * (inv[q] * F[p0 + q, p0 + p])
            M[base + p] = s
    for a in range(w):  # M = W D
        base = a * w
        for p in range(a, w):
            M[base + p] *= inv[p]
    for i in range(r):
        for p in range(w):
            X[i * w + p] = F[p1 + i, p0 + p]
    flat = F.reshape(-1)
    ints = np.empty(4, dtype=np.int32)
    ints[0] = w
    ints[1] = r
    ints[2] = m
    ints[3] = w
    chars = np.array([_NO_TRANSPOSE, _NO_TRANSPOSE], dtype=np.uint8)
    ab = np.array([1.0, 0.0])
    # column-major view: Cᵀ (w×r, ld m) = Mᵀ (w×w, ld w) · Xᵀ (w×r, ld w)
    c = flat[p1 * m + p0 :]
    _dgemm(
        chars[0:].ctypes,
        chars[1:].ctypes,
        ints[0:].ctypes,
        ints[1:].ctypes,
        ints[0:].ctypes,
        ab[0:].ctypes,
        M.ctypes,
        ints[3:].ctypes,
        X.ctypes,
        ints[3:].ctypes,
        ab[1:].ctypes,
        c.ctypes,
        ints[2:].ctypes,
    )


@njit(cache=True, nogil=True)
def blas_front_eliminate(F, k):
    """GTH-eliminate the first ``k`` states of the dense front ``F`` (m×m, off-diagonal rates; a root front with
    ``k == m`` keeps its last state). Returns 0, or ``p + 1`` if state p has no positive rate to the states after it.

    Right-looking and blocked: each panel of ``_PANEL`` pivots is eliminated by rank-1 updates of its rows (over
    every column), then of the rows below it (over the panel's columns only, one row at a time so that the row's
    panel segment stays in cache), then the trailing matrix receives ``C · R`` (BLAS dgemm) with ``C`` the scaled
    columns ``c_ip`` and ``R`` the pivot rows: products and sums of non-negative numbers only. Afterwards
    ``F[i, p]`` (i > p) holds ``c_ip`` and ``F[k:, k:]`` the off-diagonal rates of the chain censored on the
    remaining states. Every entry receives the same operations in the same order as the unblocked algorithm's.
    """
    m = F.shape[0]
    kk = min(k, m - 1)
    inv = np.empty(_PANEL)
    M = np.empty(_PANEL * _PANEL)
    X = np.empty(max(m, 1) * _PANEL)
    p0 = 0
    while p0 < kk:
        p1 = min(p0 + _PANEL, kk)
        for p in range(p0, p1):  # the panel's rows, every remaining column
            s = 0.0
            for j in range(p + 1, m):
                s += F[p, j]
            if not (s > 0.0) or not math.isfinite(s):
                return p + 1
            iv = 1.0 / s
            if not math.isfinite(iv):  # a subnormal exit rate: its c values would be inf (and 0·inf = NaN)
                return p + 1
            inv[p - p0] = iv
            for i in range(p + 1, p1):
                ci = F[i, p] * iv
                F[i, p] = ci
                if ci != 0.0:
                    for j in range(p + 1, m):
                        F[i, j] += ci * F[p, j]
        w = p1 - p0
        r = m - p1
        if r * w * w < _BLAS_MIN_WORK:
            for i in range(p1, m):  # the rows below, the panel's columns, row by row
                for p in range(p0, p1):
                    ci = F[i, p] * inv[p - p0]
                    F[i, p] = ci
                    if ci != 0.0:
                        for j in range(p + 1, p1):
                            F[i, j] += ci * F[p, j]
        else:
            _panel_columns(F, p0, p1, inv, M, X)
        if p1 < m:
            _trailing_update(F, p0, p1)
        p0 = p1
    return 0
