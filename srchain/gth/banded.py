"""Banded GTH: chains whose moves span at most ``b`` states, in ``O(N b²)`` (BinaryConnect's law, 1-D SR chains).

Eliminating the states in their natural order, state ``p`` only touches ``p+1 … p+b`` and the fill-in stays inside
the band, so the rates are stored in band form ``B[i, j − i + b]`` and updated in place.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from srchain.gth.scaling import SCALE, SCALE_EXP, law_from_frames, zero_pivot

__all__ = ["banded_gth", "banded_law", "bandwidth"]

#: Back-substitution keeps each term below 2^_TERM_EXP (sums of up to 2^60 terms stay finite); a larger one moves
#: the state's value to a higher frame first.
_TERM_EXP = 960


def bandwidth(A) -> int:
    """The largest ``|i − j|`` over the positive off-diagonal entries of the sparse matrix ``A`` (0 if none)."""
    coo = A.tocoo()
    off = (coo.row != coo.col) & (coo.data > 0)
    return int(np.abs(coo.row[off].astype(np.int64) - coo.col[off]).max(initial=0))


def banded_law(A, b: int | None = None) -> np.ndarray:
    """The normalised stationary law of the row-stochastic sparse ``A`` by :func:`banded_gth` in the natural order
    (``b``: its :func:`bandwidth`, computed when not given). On a 1-D lattice the natural order keeps every
    eliminated state next to the states still to come, so no censored rate has to cross a barrier (where nested
    dissection's far separators can make one underflow)."""
    n = A.shape[0]
    b = bandwidth(A) if b is None else int(b)
    b = max(1, min(b, n - 1))
    coo = A.tocoo()
    off = (coo.row != coo.col) & (coo.data > 0)
    rows = coo.row[off].astype(np.int64)
    B = np.zeros((n, 2 * b + 1))
    B[rows, coo.col[off] - rows + b] = coo.data[off]
    return law_from_frames(*banded_gth(B, b))


def banded_gth(B, b):
    """Stationary vector of a chain whose off-diagonal rates are stored in band form ``B[i, j − i + b]``
    (``|j − i| ≤ b``; the diagonal column ``b`` is ignored), by GTH elimination in the natural order.

    Eliminating state ``p`` only touches states ``p+1 … p+b``, and the fill-in stays inside the band, so the cost is
    ``O(N b²)``. Back-substitution rescales by ``2^±600`` and keeps a per-state frame counter, so values far
    outside the float64 range are neither lost nor NaN (:mod:`srchain.gth.scaling`). Returns ``(mant, frame)``:
    ``π_i ∝ mant[i] · 2^(600·frame[i])`` (:func:`srchain.gth.scaling.law_from_frames` normalises it). ``B`` is
    overwritten.

    Raises
    ------
    SrchainError
        A zero pivot: after eliminating states ``0 … p−1`` state ``p`` has no positive rate to a later state, so
        ``{0, …, p}`` is closed and the chain is reducible (or its rates underflow) — the same policy as the other
        GTH solvers of :mod:`srchain.gth`.
    """
    mant, frame, bad = _banded_gth(B, int(b))
    if bad >= 0:
        raise zero_pivot(bad)
    return mant, frame


@njit(cache=True, nogil=True)
def _banded_gth(B, b):
    """The kernel of :func:`banded_gth`: ``(mant, frame, bad)`` with ``bad`` the first zero pivot (−1: none)."""
    N = B.shape[0]
    for p in range(N - 1):
        top = min(N - 1, p + b)
        s = 0.0
        for j in range(p + 1, top + 1):
            s += B[p, j - p + b]
        if not (s > 0.0 and s < np.inf):
            return np.zeros(N), np.zeros(N, dtype=np.int64), p
        for i in range(p + 1, top + 1):
            a = B[i, p - i + b]
            if a <= 0.0:
                continue
            c = a / s
            B[i, p - i + b] = c
            for j in range(p + 1, top + 1):
                if j != i:
                    B[i, j - i + b] += c * B[p, j - p + b]
    mant = np.zeros(N)
    frame = np.zeros(N, dtype=np.int64)
    mant[N - 1] = 1.0
    cur = 0
    big = SCALE
    small = 2.0**-SCALE_EXP
    for p in range(N - 2, -1, -1):
        top = min(N - 1, p + b)
        # A term far below the current frame (π falling by more than ~2^-470 in one step) would underflow to 0 there
        # and take every state behind it with it: move down to the frame of the largest term first.
        emax = -(2**62)
        for i in range(p + 1, top + 1):
            a = B[i, p - i + b]
            if a > 0.0 and mant[i] > 0.0:
                emax = max(emax, math.frexp(mant[i])[1] + math.frexp(a)[1] + SCALE_EXP * frame[i])
        if emax > -(2**62) and emax // SCALE_EXP < cur:
            cur = emax // SCALE_EXP
        v = 0.0
        for i in range(p + 1, top + 1):
            a = B[i, p - i + b]
            if a > 0.0 and mant[i] > 0.0:
                # mant[i] · a in the current frame, as (mant[i] · a's mantissa) · 2^shift: the same rounding as
                # forming the product directly, with no intermediate overflow or flush to zero
                am, ae = math.frexp(a)
                shift = SCALE_EXP * (frame[i] - cur) + ae
                if math.frexp(mant[i])[1] + shift > _TERM_EXP:  # a large c (tiny exit rate): move to a higher frame
                    up = (math.frexp(mant[i])[1] + shift - _TERM_EXP) // SCALE_EXP + 1
                    v = math.ldexp(v, -SCALE_EXP * up)
                    cur += up
                    shift -= SCALE_EXP * up
                v += math.ldexp(mant[i] * am, shift)
        if v > big or (0.0 < v < small):
            shift = 1 if v > big else -1
            while v > big or (0.0 < v < small):
                v *= 2.0 ** (-SCALE_EXP * shift)
                cur += shift
        mant[p] = v
        frame[p] = cur
    return mant, frame, -1
