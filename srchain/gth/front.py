"""GTH elimination inside one dense *front*: the blocked kernel every dense and sparse solver runs.

With the states numbered in elimination order and ``a_ij`` the off-diagonal rates of the chain censored on the
states not yet eliminated, eliminating state ``p`` does

    s_p  = Σ_{j > p} a_pj                       (its total rate to the remaining states: a sum, never 1 − a_pp)
    c_ip = a_ip / s_p                 (i > p)
    a_ij += c_ip · a_pj               (i, j > p, i ≠ j)

(see :mod:`srchain.gth`). :func:`front_eliminate` does this for the first ``k`` states of a dense ``m × m`` front,
a panel of :data:`_PANEL` pivots at a time.

Same bits everywhere: every entry receives its updates one pivot at a time, in increasing pivot order, each a
single correctly rounded fused multiply-add (``a_ij ← fma(c_ip, a_pj, a_ij)``), exactly as in the unblocked
algorithm. No BLAS call is made: a BLAS ``dgemm`` sums a product's terms in an order that depends on the CPU's
kernel and can depend on its thread count, so the law would change in its last bits with ``OPENBLAS_NUM_THREADS``,
between a laptop and a Dask worker (which runs BLAS on one thread), or between machines (OpenBLAS's Haswell and
SkylakeX kernels gave other bits). The blocking (rows four at a time, columns in blocks of :data:`_COLS`, eight or
four pivots per sweep over a row segment) only changes which entries are updated when, never the order of the
operations on one entry. Numba compiles without fast-math, so LLVM does not reassociate the sums; ``fma`` is
IEEE 754's fusedMultiplyAdd, the same bits whether the CPU has the instruction or the C library emulates it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["front_eliminate", "front_eliminate_split", "panel_rows", "update_rows"]

#: Pivots per panel: the panel's pivot rows stay in cache while the rows below receive their updates.
_PANEL = 32
#: Columns per block of the trailing update: a block of the panel's pivot rows (_PANEL × _COLS floats, 128 KiB)
#: stays in the L2 cache, four rows' segments (16 KiB) in L1, while the rows below sweep over it (measured: 256 and
#: 1024 were no faster).
_COLS = 512
#: Rows that sweep a column block together (each pivot row segment is loaded once for all of them).
_ROWS = 4


@intrinsic
def fma(typingctx, x, y, z):
    """``x·y + z`` rounded once (IEEE 754 fusedMultiplyAdd, LLVM's ``llvm.fma.f64``): the same bits on every machine,
    by the FMA instruction where the CPU has one and by the C library's correctly rounded ``fma`` where it has not."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


@njit(cache=True, nogil=True)
def panel_rows(F, p0, p1, inv):
    """Eliminate the pivots ``p0 ≤ p < p1`` inside the panel's own rows (over every column), writing ``1/s_p`` to
    ``inv[p − p0]``. Returns 0, or ``p + 1`` if state p has no positive (finite) rate to the states after it."""
    m = F.shape[0]
    for p in range(p0, p1):
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
                ui, up = np.uint64(i), np.uint64(p)  # unsigned: the loop vectorises (see _trailing1)
                for j in range(np.uint64(p + 1), np.uint64(m)):
                    F[ui, j] = fma(ci, F[up, j], F[ui, j])
    return 0


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
def front_eliminate(F, k):
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


def front_eliminate_split(F, k, submit, parts: int, on_panel=None) -> int:
    """:func:`front_eliminate` with each panel's update of the rows below it split into ``parts`` row ranges, the
    first run by the caller and the others by ``submit`` (a thread pool's ``submit``; the kernels release the GIL).
    The same bits as :func:`front_eliminate`: a row's update reads only itself and the panel's pivot rows, and how
    the rows are grouped changes no operation on any entry (see :func:`update_rows`). For the largest fronts, near
    the root of a separator tree, which would otherwise be eliminated by one thread while the others wait.
    ``on_panel(p1)``, if given, is called after each panel (the first ``p1`` states eliminated)."""
    m = F.shape[0]
    kk = min(k, m - 1)
    inv = np.empty(_PANEL)
    nzs = [np.empty(_PANEL, dtype=np.int64) for _ in range(parts)]
    p0 = 0
    while p0 < kk:
        p1 = min(p0 + _PANEL, kk)
        status = panel_rows(F, p0, p1, inv)
        if status:
            return status
        rows = m - p1
        step = -(-rows // (parts * _ROWS)) * _ROWS  # whole groups of rows per part (the last part takes the rest)
        cuts = list(range(p1, m, step)) + [m]
        futs = [
            submit(update_rows, F, p0, p1, inv, lo, hi, nzs[q])
            for q, (lo, hi) in enumerate(zip(cuts[1:-1], cuts[2:], strict=True), 1)
        ]
        update_rows(F, p0, p1, inv, cuts[0], cuts[1], nzs[0])
        for f in futs:
            f.result()
        if on_panel is not None:
            on_panel(p1)
        p0 = p1
    return 0
