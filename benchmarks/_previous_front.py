"""The fixed-order front kernel before its register tiles (srchain 0.1.0 as of 2026-12-05), kept verbatim as the
baseline of ``bench_front.py``: four rows at a time through 512-column blocks, four pivots per sweep, vectorised by
LLVM. The same bits as :func:`srchain.gth.front.front_eliminate` (``tests/test_same_bits.py`` checks the kernel
against the unblocked algorithm)."""

import numpy as np
from numba import njit

from srchain.gth.front import fma, panel_rows

_PANEL = 32
_COLS = 512
_ROWS = 4


@njit(cache=True, nogil=True)
def update_rows(F, p0, p1, inv, i0, i1, nz):
    """Apply the panel ``p0 ≤ p < p1`` (pivot rows eliminated by :func:`panel_rows`) to the rows ``i0 ≤ i < i1``
    below it: first the row's panel columns, ``c_ip = (a_ip + Σ_{q<p} c_iq a_qp)/s_p`` one pivot at a time, then
    its trailing columns ``a_ij += c_ip a_pj`` (j ≥ p1) for p in increasing order, each term rounded once. A row
    is computed from itself and the pivot rows only, so any split of the rows (over threads) gives the same bits.

    Rows go four at a time through the trailing columns, with the pivots whose ``c`` is nonzero in any of them
    (``nz``: scratch for ``p1 − p0`` integers); a zero ``c`` adds exactly nothing (``fma(0, a, y) = y``), so the
    grouping changes no bit.
    """
    w = p1 - p0
    used = np.zeros(w, dtype=np.bool_)
    i = i0
    while i < i1:
        g = min(_ROWS, i1 - i)
        for p in range(w):
            used[p] = False
        for r in range(i, i + g):  # the panel's columns of each row
            ur = np.uint64(r)
            for p in range(p0, p1):
                ci = F[r, p] * inv[p - p0]
                F[r, p] = ci
                if ci != 0.0:
                    used[p - p0] = True
                    up = np.uint64(p)
                    for j in range(np.uint64(p + 1), np.uint64(p1)):
                        F[ur, j] = fma(ci, F[up, j], F[ur, j])
        cnt = 0
        for p in range(w):
            if used[p]:
                nz[cnt] = p0 + p
                cnt += 1
        if cnt:
            if g == _ROWS:
                _trailing4(F, i, p1, nz, cnt)
            else:
                for r in range(i, i + g):
                    _trailing1(F, r, p1, nz, cnt)
        i += g


# The trailing kernels index F with unsigned integers: Numba then emits no wrap-around test for negative indices, and
# LLVM vectorises the column loops (with signed indices it does not).


@njit(cache=True, nogil=True)
def _trailing1(F, i, p1, nz, cnt):
    """Row ``i``'s trailing columns receive the pivots ``nz[:cnt]`` (in order), a column block at a time."""
    m = F.shape[0]
    y = np.uint64(i)
    for jb in range(p1, m, _COLS):
        j0, j1 = np.uint64(jb), np.uint64(min(jb + _COLS, m))
        for t in range(cnt):
            q = np.uint64(nz[t])
            c = F[y, q]
            for j in range(j0, j1):
                F[y, j] = fma(c, F[q, j], F[y, j])


@njit(cache=True, nogil=True)
def _trailing4(F, i, p1, nz, cnt):
    """Rows ``i … i+3``: their trailing columns receive the pivots ``nz[:cnt]`` (in order), a column block at a
    time, eight pivots per sweep, then four, then one (each pivot row segment is read once for the four rows, and
    each row's entry is read and written once per sweep)."""
    m = F.shape[0]
    y0, y1, y2, y3 = np.uint64(i), np.uint64(i + 1), np.uint64(i + 2), np.uint64(i + 3)
    for jb in range(p1, m, _COLS):
        j0, j1 = np.uint64(jb), np.uint64(min(jb + _COLS, m))
        t = 0
        while t + 4 <= cnt:
            qa, qb, qc, qd = np.uint64(nz[t]), np.uint64(nz[t + 1]), np.uint64(nz[t + 2]), np.uint64(nz[t + 3])
            a0, b0, c0, d0 = F[y0, qa], F[y0, qb], F[y0, qc], F[y0, qd]
            a1, b1, c1, d1 = F[y1, qa], F[y1, qb], F[y1, qc], F[y1, qd]
            a2, b2, c2, d2 = F[y2, qa], F[y2, qb], F[y2, qc], F[y2, qd]
            a3, b3, c3, d3 = F[y3, qa], F[y3, qb], F[y3, qc], F[y3, qd]
            for j in range(j0, j1):
                ua, ub, uc, ud = F[qa, j], F[qb, j], F[qc, j], F[qd, j]
                F[y0, j] = fma(d0, ud, fma(c0, uc, fma(b0, ub, fma(a0, ua, F[y0, j]))))
                F[y1, j] = fma(d1, ud, fma(c1, uc, fma(b1, ub, fma(a1, ua, F[y1, j]))))
                F[y2, j] = fma(d2, ud, fma(c2, uc, fma(b2, ub, fma(a2, ua, F[y2, j]))))
                F[y3, j] = fma(d3, ud, fma(c3, uc, fma(b3, ub, fma(a3, ua, F[y3, j]))))
            t += 4
        while t < cnt:
            q = np.uint64(nz[t])
            c0, c1, c2, c3 = F[y0, q], F[y1, q], F[y2, q], F[y3, q]
            for j in range(j0, j1):
                u = F[q, j]
                F[y0, j] = fma(c0, u, F[y0, j])
                F[y1, j] = fma(c1, u, F[y1, j])
                F[y2, j] = fma(c2, u, F[y2, j])
                F[y3, j] = fma(c3, u, F[y3, j])
            t += 1


@njit(cache=True, nogil=True)
def previous_front_eliminate(F, k):
    """GTH-eliminate the first ``k`` states of the dense front ``F`` (m×m, off-diagonal rates; a root front with
    ``k == m`` keeps its last state). Returns 0, or ``p + 1`` if state p has no positive rate to the states after it.

    Right-looking and blocked: each panel of ``_PANEL`` pivots is eliminated inside its own rows
    (:func:`panel_rows`), then applied to every row below it (:func:`update_rows`): products and sums of
    non-negative numbers only. Afterwards ``F[i, p]`` (i > p) holds ``c_ip`` and ``F[k:, k:]`` the off-diagonal rates
    of the chain censored on the remaining states. Every entry receives the same operations in the same order as
    the unblocked algorithm's (see the module docstring).
    """
    m = F.shape[0]
    kk = min(k, m - 1)
    inv = np.empty(_PANEL)
    nz = np.empty(_PANEL, dtype=np.int64)
    p0 = 0
    while p0 < kk:
        p1 = min(p0 + _PANEL, kk)
        status = panel_rows(F, p0, p1, inv)
        if status:
            return status
        update_rows(F, p0, p1, inv, p1, m, nz)
        p0 = p1
    return 0
