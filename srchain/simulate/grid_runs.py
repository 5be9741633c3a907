r"""The grid simulators' fast path: runs of equal gaps, and the step inside a run in fixed point.

On a float format's grid the gaps are equal inside a binade (and among the subnormals). Where the step's point
``y = M − αξ̄`` (``M = x − α g(x)``, the mean step's point) stays in the run of equal gaps holding ``M``'s cell, the
index of the rounded point is affine in ``y``: counted from the run's first index ``B``,
``X = (M − v_B)/h − αξ̄/h``, and SR (Eq. 6) rounds to ``B + ⌊X + 1 − u⌋`` (up iff X's fraction is at least the
uniform ``u``), R (Eq. 4) to ``B + ⌊X + ½⌋``, SR with k random bits from the cell ``⌊X⌋`` away from zero iff the
uniform's k leading bits are below the fraction's (:func:`kbit_index`).

:func:`fixed_runs` writes that step in fixed point, as the fixed lattice's kernels do
(:mod:`srchain.simulate.kernels_1d`): per state, ``X·2^f`` is an integer minus a shifted integer, and the floor is
an arithmetic shift. Within one axis the gaps of the runs used are ``h_B = h_max·2^-s`` (a float format's binades,
``0 ≤ s ≤`` :data:`SHIFT_MAX`; one run on a uniform grid), so ``αξ̄/h = αξ̄/h_max·2^s``: one product per step and
axis, ``A = ⌊αξ̄ · 2^(f + SHIFT_MAX)/h_max⌋``, shifted right by ``SHIFT_MAX − s`` for the state's run. The step's
dependency chain is a table load, a shift, two additions and a shift (the float form was a load, a multiply-add, an
addition and a float-to-integer conversion). Runs whose gap is outside that window of binades, or is not a power
of two times ``h_max``, are not used (their steps take the look-up).

Accuracy: every rounding (``S0 = (M − v_B)/h`` and ``(1 − u)`` truncated to ``f`` fraction bits, ``A`` rounded and
truncated, the shift's floor) errs by less than one unit of ``2^-f`` cells, five in all. ``f = 54 − ⌈log2(2c + 2)⌉``
for runs of at most ``c`` cells (``f`` = 45 for bf16's 128-cell binades, 42 for fp16's 1024), so the floor is
taken to within ``5·2^-f`` cells, as close as float64's own rounding of ``X + 1 − u`` (half a unit in the last place
of ``c``, twice): the index differs from the exact rounding only when ``X + 1 − u`` lies that close to an integer,
an event of probability about ``2^-40`` per step. The look-up path (:func:`srchain.simulate.grid._round_step`)
computes ``u < (y − v_c)/h`` in float64 instead; the two agree except at such near-ties.

BC (Eq. 7) rounds its latent weight with Qd, deterministically and exactly: :func:`bc_runs` tabulates, per value,
the float form of the same affine index inside its run, ``rint((y − v_B)/h + p) − p`` (ties to the even value), as
one product and one addition whose result's bits are the index.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["runs", "fixed_runs", "kbit_index", "bc_runs", "SHIFT_MAX", "NO_RUN"]

#: Binades (run gaps ``h_max·2^-s``, ``s ≤ SHIFT_MAX``) per axis that the fixed-point fast path covers.
SHIFT_MAX = 7
#: A state with no usable run: ``Y = NO_RUN − A`` is never in ``[0, W)`` (``|A| ≤ 2^62`` and ``W = 0``).
NO_RUN = 1 << 62
#: Bound on ``|αξ̄ · C|`` before its conversion to an integer (a larger step is outside every run: see fixed_runs).
A_MAX = float(1 << 62)
#: k-bit SR takes the fixed-point path only where the fraction keeps this many bits beyond the k compared.
KBIT_MARGIN = 12
#: 1.5·2^52: a float64 in [2^52, 2^53) is an integer, and its bits minus this constant's are that integer's offset.
RINT_MAGIC = 6755399441055744.0


def runs(axes, M):
    """The fast path's tables in float: per state and axis, the run of equal gaps (a float format's binade, or its
    subnormals) holding the cell of the mean step's point ``M``: its first index ``B`` and ``S = ((M − v_B)/h, 1/h,
    cells in the run)``, so that in the run a point ``y = M − αξ̄`` has the index ``B + (M − v_B)/h − αξ̄/h`` (exact
    products: ``1/h`` is a power of two on a format's grid, and ``M − v_B`` is exact within a binade). A state
    whose cells-in-run entry is negative has no run (``fixed_runs`` gives it :data:`NO_RUN`)."""
    n, d = M.shape
    S = np.zeros((n, d, 3))
    B = np.zeros((n, d), dtype=np.int64)
    for j, v in enumerate(axes):  # axes, vectorised over states
        if v.size < 2:
            S[:, j, 2] = -1.0  # never in a run (the kernel's one-value branch comes first anyway)
            continue
        h = np.diff(v)
        new = np.concatenate([[True], h[1:] != h[:-1]])
        run = np.cumsum(new) - 1
        first = np.flatnonzero(new)
        last = np.concatenate([first[1:] - 1, [h.size - 1]])
        m = M[:, j]
        c = np.clip(np.searchsorted(v, m, side="right") - 1, 0, v.size - 2)
        lo, hi = first[run[c]], last[run[c]]
        inv = 1.0 / h[c]
        S[:, j, 0] = (m - v[lo]) * inv
        S[:, j, 1] = inv
        S[:, j, 2] = hi + 1 - lo
        B[:, j] = lo
    return np.ascontiguousarray(S), B


def fixed_runs(S, B, axes, min_f=0):
    """The fixed-point form of :func:`runs`' tables (``axes``: each axis's sorted values).

    Returns ``(Q, C, F, Z)``: ``Q`` int64, flattened state-major (entry ``e = state·d + j`` at ``Q[4e:4e + 4]``)
    with ``Q[4e] = ⌊S0·2^f⌋ + B·2^f``, ``Q[4e + 1] = SHIFT_MAX − s`` (the run's gap is ``h_max·2^-s``), ``Q[4e + 2] =
    B·2^f`` and ``Q[4e + 3] = cells·2^f``; per axis ``C[j] = 2^(f + SHIFT_MAX)/h_max``, ``F[j] = f`` and ``Z[j]``, the
    index of the axis's last value ≤ 0 (−1 if none: k-bit SR rounds away from zero). A step with ``A =
    ⌊clip(αξ̄·C, ±2^62)⌋`` is in its run iff ``0 ≤ Y − Q[4e + 2] < Q[4e + 3]`` for ``Y = Q[4e] − (A >> Q[4e + 1])``,
    and then its index is ``(Y + U) >> f`` with ``U = ⌊(1 − u)·2^f⌋`` (SR) or ``2^(f − 1)`` (R), or
    :func:`kbit_index` (SR with k bits). ``f = min(52, 54 − ⌈log2(2c + 2)⌉, 61 − bits(n))`` for the longest run of
    ``c`` cells and ``n`` values, so that nothing overflows: ``|A >> r| ≤ 2^62``, ``B·2^f < 2^61``, and a clipped ``A``
    (``≥ 2^62``, shifted by at most SHIFT_MAX) exceeds every ``S0·2^f + cells·2^f < 2^55``: it never lands in a run.
    A state whose mean step's point lies outside the box (``S0`` outside ``[0, cells]``) gets no run, and neither
    does an axis whose ``f`` is below ``min_f``.
    """
    n, d, _ = S.shape
    Q = np.zeros((n, d, 4), dtype=np.int64)
    Q[:, :, 0] = NO_RUN
    C = np.zeros(d)
    F = np.ones(d, dtype=np.int64)
    Z = np.array([int(np.searchsorted(v, 0.0, side="right")) - 1 for v in axes], dtype=np.int64)
    for j in range(d):
        cells, inv = S[:, j, 2], S[:, j, 1]
        has = cells > 0
        if not has.any():
            continue
        base = float(inv[has].min())  # 1/h_max: the coarsest run used
        with np.errstate(divide="ignore"):
            s = np.round(np.log2(inv / base))
        # a power-of-two multiple of 1/h_max within the window, and M inside its run (outside the box it is not):
        # then |S0·2^f| + cells·2^f < 2^55, which a clipped A, shifted, exceeds
        s0 = S[:, j, 0]
        use = has & (s <= SHIFT_MAX) & (base * np.exp2(s) == inv) & (s0 >= 0) & (s0 <= cells)
        c = int(cells[use].max())
        f = min(52, 54 - int(np.ceil(np.log2(2 * c + 2))), 61 - int(len(axes[j])).bit_length())
        if f < min_f:
            continue
        lo = B[use, j] << f
        Q[use, j, 0] = np.trunc(S[use, j, 0] * 2.0**f).astype(np.int64) + lo
        Q[use, j, 1] = SHIFT_MAX - s[use].astype(np.int64)
        Q[use, j, 2] = lo
        Q[use, j, 3] = cells[use].astype(np.int64) << f
        C[j] = base * 2.0 ** (f + SHIFT_MAX)
        F[j] = f
    return np.ascontiguousarray(Q.reshape(-1)), C, F, Z


@njit(cache=True, nogil=True, inline="always")
def kbit_index(Y, f, m, bits, Z):
    """SR with ``bits`` random bits inside a run (:mod:`srchain.rounding`): the index of the cell ``c = Y >> f``,
    plus one with probability ``⌊frac·2^k⌋/2^k`` away from zero (up in a positive cell, down in a cell whose upper
    value is ≤ 0, the axis's index ``Z``), the uniform's ``k`` leading bits ``m >> (53 − k)`` against the fraction's
    (``frac·2^f = Y & (2^f − 1)``). As :func:`srchain.simulate.grid._round_step` decides in float64, up to near-ties
    of the fraction's k-bit truncation (``f ≥ k +`` :data:`KBIT_MARGIN`)."""
    c = Y >> f
    fr = Y & ((np.int64(1) << f) - 1)
    r = m >> (53 - bits)
    if c + 1 <= Z:  # a negative cell: away from zero is down, with probability ⌊(1 − frac)·2^k⌋/2^k
        return c + np.int64(r >= (((np.int64(1) << f) - fr) >> (f - bits)))
    return c + np.int64(r < (fr >> (f - bits)))


def bc_runs(axes, parity):
    r"""BC's rounding Qd (Eq. 3 on the grid: the nearest value, ties to the even one) inside a run of equal gaps, as
    one product, one addition and an integer subtraction.

    Per value ``k`` of each axis (flat over ``axes``, as the simulator's ``vals``), the run of equal gaps holding
    ``v_k`` (at a binade's edge, the run above it): its first index ``B``, its ``L`` cells, its gap ``h`` and ``p``,
    the parity of ``v_B``'s last mantissa bit (from ``parity``, the values' evenness). Inside the run ``y`` rounds
    to ``B + j`` with :math:`j = \mathrm{rint}((y - v_B)/h + p) - p`: a tie goes to the even ``j + p``, the even
    value. ``y·(1/h) + c`` with ``c = 1.5·2^52 + p − v_B/h`` is that rint plus :data:`RINT_MAGIC`, exactly, in one
    rounding (``1/h`` a power of two, so the product is exact; ``v_B/h`` an integer, ``|v_B/h| + L < 2^50``). So
    the index is ``bits(y·RF[2e] + RF[2e + 1]) − RI[3e]``, and it is Qd(y) iff it lies in the run's interior,
    ``0 ≤ index − RI[3e + 1] < RI[3e + 2]`` (unsigned): both neighbours in the run, so both midpoints are the
    run's, and ``y`` is inside the box. Any other ``y`` (±inf and NaN included) fails the test.

    Returns ``(RF, RI)``, flat: float64 ``[1/h, c]`` and int64 ``[bits(1.5·2^52) + p − B, B + 1, L − 1]`` per value.
    A value with no usable run has ``L − 1 = 0`` (never taken): a gap that is not a power of two (a fixed grid's Δ
    such as 14/3000), parities that do not alternate along the run, or indices past 2^50."""
    RF, RI = [], []
    magic_bits = int(np.float64(RINT_MAGIC).view(np.int64))
    for v, even in zip(axes, parity, strict=True):
        n = v.size
        rf = np.zeros((n, 2))
        rf[:, 1] = RINT_MAGIC
        ri = np.zeros((n, 3), dtype=np.int64)
        if n > 2:  # vectorised over the runs of equal gaps, cells first[r] … last[r]
            even = np.asarray(even, dtype=bool)
            h = np.diff(v)
            new = np.concatenate([[True], h[1:] != h[:-1]])
            first = np.flatnonzero(new)
            L = np.diff(np.append(first, h.size))  # cells per run
            inv = 1.0 / h[first]
            base = v[first] * inv
            p = np.where(even[first], 0, 1)
            ok = (np.frexp(inv)[0] == 0.5) & (inv * h[first] == 1.0)  # (a run of one cell: L − 1 = 0, never taken)
            ok &= (base == np.round(base)) & (np.abs(base) + L < 2.0**50)
            ok &= np.logical_and.reduceat(even[:-1] != even[1:], first)  # parities alternate along the run
            r = (np.cumsum(new) - 1)[np.minimum(np.arange(n), n - 2)]  # v_k's run (an edge's: the run above)
            k = np.flatnonzero(ok[r])
            r = r[k]
            rf[k, 0] = inv[r]
            rf[k, 1] = RINT_MAGIC + p[r] - base[r]
            ri[k, 0] = magic_bits + p[r] - first[r]
            ri[k, 1] = first[r] + 1
            ri[k, 2] = L[r] - 1
        RF.append(rf)
        RI.append(ri)
    return np.ascontiguousarray(np.concatenate(RF).reshape(-1)), np.ascontiguousarray(np.concatenate(RI).reshape(-1))
