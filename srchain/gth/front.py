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
SkylakeX kernels gave other bits). The blocking only changes which entries are updated when, never the order of the
operations on one entry: the trailing update takes :data:`_ROWS` rows at a time, in register tiles of
``_ROWS × (vectors · lanes)`` entries that receive every pivot of the panel, in order, before they are stored
(:func:`_tile`, explicit vectors of :data:`_LANES` float64: eight where the CPU has AVX-512, else four). A tile
computes ``fma(c·2^-52, u·2^52, y)`` for ``fma(c, u, y)`` where both scalings are exact (every ``c`` of its rows 0 or
at least ``2^-970``, every pivot-row entry below ``2^970``): the same number, but a subnormal ``u`` (censored rates
underflow across separators) becomes normal, and the CPU takes no microcode assist on it (~8 ns each here). Numba
compiles without fast-math, so LLVM does not reassociate the sums; ``fma`` (scalar, or ``llvm.fma`` on vectors, lane
by lane) is IEEE 754's fusedMultiplyAdd, the same bits whether the CPU has the instruction or the C library emulates
it.
"""

from __future__ import annotations

import math

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import literally, njit, types
from numba.core import cgutils, config
from numba.extending import intrinsic

__all__ = ["front_eliminate", "front_eliminate_split", "panel_rows", "scalable", "update_rows"]

#: Pivots per panel: the panel's pivot rows stay in cache while the rows below receive their updates.
_PANEL = 32


def _vector_lanes() -> int:
    """float64 lanes of the vectors the trailing update's tiles use: 8 where LLVM targets this machine's CPU and it
    has AVX-512, else 4 (AVX2; narrower CPUs split the vectors, with the same bits)."""
    if config.CPU_NAME is not None:  # NUMBA_CPU_NAME: code for another CPU (a portable cache)
        return 4
    try:
        return 8 if llvm.get_host_cpu_features().get("avx512f", False) else 4
    except RuntimeError:  # pragma: no cover - a platform where LLVM cannot read the features
        return 4


#: float64 lanes per vector of a tile (:func:`_vector_lanes`).
_LANES = _vector_lanes()
#: Rows that receive the trailing update together (each pivot row's vector is loaded once for all of them).
_ROWS = 8 if _LANES == 8 else 4
#: Vectors per row of a tile, by its rows: the tile's accumulators and the pivot rows' vectors fit the 32 (AVX-512)
#: or 16 (AVX2) vector registers. Measured on a 3000 × 3000 front with AVX-512: 8 × 2 vectors 55 GFLOP/s, 4 × 3 43,
#: 6 × 3 54, the previous kernel (four rows, four pivots per sweep, 256-bit) 34; compiled for AVX2
#: (``NUMBA_CPU_NAME=haswell``) 4 × 3 and 4 × 2 as fast as the previous kernel.
_VECS = {8: 2, 4: 3, 1: 4}
_VECS_ROWS, _VECS_ONE = _VECS[_ROWS], _VECS[1]  # (for the compiled code: no dict)
#: A tile may take ``fma(c·2^-52, u·2^52, y)`` for ``fma(c, u, y)``, the same number (both scalings exact), when every
#: multiplier c is 0 or at least _C_MIN and every pivot-row entry u is below _U_MAX: then a subnormal u is normal.
_C_MIN = 2.0**-970
_U_MAX = 2.0**970
_DOWN52 = 2.0**-52


@intrinsic
def fma(typingctx, x, y, z):
    """``x·y + z`` rounded once (IEEE 754 fusedMultiplyAdd, LLVM's ``llvm.fma.f64``): the same bits on every machine,
    by the FMA instruction where the CPU has one and by the C library's correctly rounded ``fma`` where it has not."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


@intrinsic
def _tile(typingctx, F, cb, i, j, nz, cnt, rows, narrow, scaled):
    """Rows ``i … i + rows − 1``, columns ``j … j + w − 1``: ``F[r, c] = fma(cb[rows·t + r − i], F[nz[t], c], F[r, c])``
    for ``t = 0 … cnt − 1`` in order, the tile held in vector registers from its load to its store. ``w`` is
    ``_VECS[rows]`` vectors of :data:`_LANES`, or one vector if ``narrow``; if ``scaled``, each pivot-row vector is
    multiplied by 2^52 after its load (``cb`` then holds ``c·2^-52``). ``rows``, ``narrow``, ``scaled``: literals.
    ``F`` is C-contiguous (rows of stride ``F.strides[0]``), ``cb`` holds each pivot's ``c`` for the tile's rows."""
    if not isinstance(rows, types.IntegerLiteral) or not isinstance(narrow, types.BooleanLiteral):
        return None
    if not isinstance(scaled, types.BooleanLiteral):
        return None
    up52 = scaled.literal_value
    if F.layout != "C" or F.dtype != types.float64 or cb.dtype != types.float64 or nz.dtype != types.int64:
        return None  # (the tile's addresses assume rows of consecutive float64)
    nr = rows.literal_value
    nv = 1 if narrow.literal_value else _VECS[nr]
    sig = types.void(F, cb, i, j, nz, cnt, rows, narrow, scaled)

    def codegen(context, builder, signature, args):
        f_arr = context.make_array(signature.args[0])(context, builder, args[0])
        c_arr = context.make_array(signature.args[1])(context, builder, args[1])
        q_arr = context.make_array(signature.args[4])(context, builder, args[4])
        i64 = ir.IntType(64)
        vty = ir.VectorType(ir.DoubleType(), _LANES)
        vfma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vty, [vty] * 3), f"llvm.fma.v{_LANES}f64")
        ld = builder.udiv(cgutils.unpack_tuple(builder, f_arr.strides)[0], ir.Constant(i64, 8))
        row0, col0, count = (context.cast(builder, args[a], signature.args[a], types.int64) for a in (2, 3, 5))

        def vector(ptr, v):  # the v-th vector from ptr (unaligned)
            return builder.bitcast(builder.gep(ptr, [ir.Constant(i64, v * _LANES)]), vty.as_pointer())

        rowp = [
            builder.gep(f_arr.data, [builder.add(builder.mul(builder.add(row0, ir.Constant(i64, r)), ld), col0)])
            for r in range(nr)
        ]
        acc = []  # stack slots: LLVM keeps them in registers across the loop
        for r in range(nr):
            for v in range(nv):
                slot = cgutils.alloca_once(builder, vty)
                builder.store(builder.load(vector(rowp[r], v), align=8), slot)
                acc.append(slot)
        undef = ir.Constant(vty, ir.Undefined)
        splat = ir.Constant(ir.VectorType(ir.IntType(32), _LANES), [0] * _LANES)
        with cgutils.for_range(builder, count) as loop:
            t = loop.index
            q = builder.load(builder.gep(q_arr.data, [t]))
            up = builder.gep(f_arr.data, [builder.add(builder.mul(q, ld), col0)])
            u = [builder.load(vector(up, v), align=8) for v in range(nv)]
            if up52:  # u·2^52: exact, and a subnormal u becomes normal (no microcode assist)
                two52 = ir.Constant(vty, [float(2.0**52)] * _LANES)
                u = [builder.fmul(x, two52) for x in u]
            for r in range(nr):
                c = builder.load(
                    builder.gep(c_arr.data, [builder.add(builder.mul(t, ir.Constant(i64, nr)), ir.Constant(i64, r))])
                )
                cv = builder.shuffle_vector(
                    builder.insert_element(undef, c, ir.Constant(ir.IntType(32), 0)), undef, splat
                )
                for v in range(nv):
                    slot = acc[r * nv + v]
                    builder.store(builder.call(vfma, [cv, u[v], builder.load(slot)]), slot)
        for r in range(nr):
            for v in range(nv):
                builder.store(builder.load(acc[r * nv + v]), vector(rowp[r], v), align=8)
        return context.get_dummy_value()

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
                ui, up = np.uint64(i), np.uint64(p)  # unsigned: no wrap-around test, and the loop vectorises
                for j in range(np.uint64(p + 1), np.uint64(m)):
                    F[ui, j] = fma(ci, F[up, j], F[ui, j])
    return 0


@njit(cache=True, nogil=True)
def scalable(F, p0, p1):
    """Whether the pivot rows ``p0 ≤ p < p1`` hold nothing at or above ``_U_MAX`` (NaN included) in their trailing
    columns ``j ≥ p1``: then each entry times 2^52 is exact and finite, and :func:`update_rows`' tiles may scale it."""
    for p in range(p0, p1):
        for j in range(p1, F.shape[0]):
            if not F[p, j] < _U_MAX:
                return False
    return True


@njit(cache=True, nogil=True)
def update_rows(F, p0, p1, inv, i0, i1, nz, scale):
    """Apply the panel ``p0 ≤ p < p1`` (pivot rows eliminated by :func:`panel_rows`) to the rows ``i0 ≤ i < i1``
    below it: first the row's panel columns, ``c_ip = (a_ip + Σ_{q<p} c_iq a_qp)/s_p`` one pivot at a time, then
    its trailing columns ``a_ij += c_ip a_pj`` (j ≥ p1) for p in increasing order, each term rounded once. A row
    is computed from itself and the pivot rows only, so any split of the rows (over threads) gives the same bits.

    Rows go :data:`_ROWS` at a time through the trailing columns (:func:`_trailing_tiles`; the last ones, fewer,
    one by one), with the pivots whose ``c`` is nonzero in any of them
    (``nz``: scratch for ``p1 − p0`` integers); a zero ``c`` adds exactly nothing (``fma(0, a, y) = y``), so the
    grouping changes no bit. ``scale``: :func:`scalable` of the panel (computed once per panel by the caller).
    """
    w = p1 - p0
    used = np.zeros(w, dtype=np.bool_)
    cb = np.empty(_ROWS * w)
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
                _trailing_tiles(F, i, p1, nz, cnt, cb, _ROWS, scale)
            else:
                for r in range(i, i + g):
                    _trailing_tiles(F, r, p1, nz, cnt, cb, 1, scale)
        i += g


@njit(cache=True, nogil=True)
def _trailing_tiles(F, i, p1, nz, cnt, cb, rows, scale):
    """Rows ``i … i + rows − 1``: their trailing columns ``j ≥ p1`` receive the pivots ``nz[:cnt]`` (in order), a
    register tile (:func:`_tile`) at a time, then one vector at a time, then the last columns one by one (fewer than
    a vector's lanes). ``cb``: scratch for ``rows · cnt`` values. Where ``scale`` (:func:`scalable`) and every
    multiplier is 0 or at least ``_C_MIN``, the tiles take ``c·2^-52`` and ``u·2^52`` (the same fma, both scalings
    exact)."""
    literally(rows)  # compiled for each number of rows: the tile's shape is fixed in its code
    m = F.shape[0]
    for t in range(cnt):
        for r in range(rows):
            c = F[i + r, nz[t]]
            cb[rows * t + r] = c
            if c != 0.0 and c < _C_MIN:
                scale = False
    if scale:
        for x in range(rows * cnt):
            cb[x] *= _DOWN52
        j = _tiles(F, cb, i, p1, nz, cnt, rows, True)
    else:
        j = _tiles(F, cb, i, p1, nz, cnt, rows, False)
    for r in range(rows):  # unsigned indices: no wrap-around tests
        y = np.uint64(i + r)
        for t in range(cnt):
            q = np.uint64(nz[t])
            c = F[y, q]
            for jj in range(np.uint64(j), np.uint64(m)):
                F[y, jj] = fma(c, F[q, jj], F[y, jj])


@njit(cache=True, nogil=True)
def _tiles(F, cb, i, p1, nz, cnt, rows, scaled):
    """:func:`_trailing_tiles`' columns from ``p1`` on: register tiles, then single vectors. Returns the first column
    left (fewer than a vector's lanes remain)."""
    literally(rows)  # (both literals: compiled for each tile shape and scaling)
    literally(scaled)
    m = F.shape[0]
    j = p1
    wide = _LANES * (_VECS_ROWS if rows == _ROWS else _VECS_ONE)
    while j + wide <= m:
        _tile(F, cb, i, j, nz, cnt, rows, False, scaled)
        j += wide
    while j + _LANES <= m:
        _tile(F, cb, i, j, nz, cnt, rows, True, scaled)
        j += _LANES
    return j


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
        update_rows(F, p0, p1, inv, p1, m, nz, scalable(F, p0, p1))
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
        sc = scalable(F, p0, p1)
        rows = m - p1
        step = -(-rows // (parts * _ROWS)) * _ROWS  # whole groups of rows per part (the last part takes the rest)
        cuts = list(range(p1, m, step)) + [m]
        futs = [
            submit(update_rows, F, p0, p1, inv, lo, hi, nzs[q], sc)
            for q, (lo, hi) in enumerate(zip(cuts[1:-1], cuts[2:], strict=True), 1)
        ]
        update_rows(F, p0, p1, inv, cuts[0], cuts[1], nzs[0], sc)
        for f in futs:
            f.result()
        if on_panel is not None:
            on_panel(p1)
        p0 = p1
    return 0
