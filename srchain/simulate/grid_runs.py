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
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["runs", "fixed_runs", "kbit_index", "SHIFT_MAX", "NO_RUN"]

#: Binades (run gaps ``h_max·2^-s``, ``s ≤ SHIFT_MAX``) per axis that the fixed-point fast path covers.
SHIFT_MAX = 7
#: A state with no usable run: ``Y = NO_RUN − A`` is never in ``[0, W)`` (``|A| ≤ 2^62`` and ``W = 0``).
NO_RUN = 1 << 62
#: Bound on ``|αξ̄ · C|`` before its conversion to an integer (a larger step is outside every run: see fixed_runs).
A_MAX = float(1 << 62)
#: k-bit SR takes the fixed-point path only where the fraction keeps this many bits beyond the k compared.
KBIT_MARGIN = 12


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
