"""Envelope (variable-band, skyline) GTH in the natural order: banded GTH where every row keeps its own extent.

:func:`srchain.gth.banded.banded_gth` stores and eliminates ``N × (2b + 1)`` rates, ``b`` the *largest* move of
any state. On a number format's grid (:mod:`srchain.grids`) the moves span many more states where the values are
dense than where they are sparse (fp16 on [1, 8]: a row near 1 spans 4× the states of a row near 8), so most of that
band is zeros. Here row ``i`` is stored from its first to its last column, ``[first_i, last_i]``, as a skyline
(envelope) profile:

* ``first_i``: the leftmost positive rate of row ``i`` (or ``i``). GTH in the natural order never fills to the left
  of it: eliminating ``p`` adds to ``(i, j)`` only for ``j > p`` and only when ``(i, p)`` is in the row, i.e.
  ``p ≥ first_i``.
* ``last_i``: the rightmost positive rate of row ``i``, closed under the fill:
  ``last_i ← max(last_i, max_{first_i ≤ p < i} last_p)`` (eliminating ``p`` fills row ``i`` up to ``last_p``).

Eliminating ``p`` then touches the rows ``i > p`` with ``first_i ≤ p`` and the columns ``p < j ≤ last_p``: the cost
is ``Σ_p (rows below p in its column) × (row p's length right of p)`` instead of ``N b²``.

**The same bits as banded GTH.** Every rate the envelope leaves out is one that banded GTH holds as an exact zero:
its sums add ``+0.0`` (no change to a non-negative sum), its updates add ``c · 0 = +0.0``, and both kernels skip a
zero ``c``; the non-zero terms are visited in the same order (columns and rows ascending). So
:func:`envelope_law` returns :func:`srchain.gth.banded.banded_law`'s law bit for bit (``tests/test_envelope_gth.py``),
at the cost of the envelope.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from srchain.gth.scaling import SCALE, SCALE_EXP, law_from_frames, zero_pivot

__all__ = ["envelope_profile", "envelope_law", "envelope_gth", "envelope_size"]

#: As in :mod:`srchain.gth.banded`: back-substitution keeps each term below 2^_TERM_EXP.
_TERM_EXP = 960


def envelope_profile(A) -> tuple[np.ndarray, np.ndarray]:
    """``(first, last)`` of the row-stochastic sparse ``A``: per row the first and last column of its positive
    off-diagonal rates (the row itself when it has none), ``last`` closed under the fill of GTH elimination in the
    natural order (module docstring)."""
    A = A.tocsr()
    n = A.shape[0]
    first = np.arange(n, dtype=np.int64)
    last = np.arange(n, dtype=np.int64)
    _extents(A.indptr.astype(np.int64), A.indices.astype(np.int64), A.data, first, last)
    _close(first, last)
    return first, last


@njit(cache=True, nogil=True)
def _extents(indptr, indices, data, first, last):
    """The first and last column of each row's positive off-diagonal rates (``first``/``last`` start at the row)."""
    for i in range(first.shape[0]):
        for e in range(indptr[i], indptr[i + 1]):
            j = indices[e]
            if j != i and data[e] > 0.0:
                if j < first[i]:
                    first[i] = j
                if j > last[i]:
                    last[i] = j


@njit(cache=True, nogil=True)
def _scatter(indptr, indices, data, start, first, E):
    """The positive off-diagonal rates into the envelope ``E`` (duplicates summed, as SciPy's canonical form)."""
    for i in range(first.shape[0]):
        for e in range(indptr[i], indptr[i + 1]):
            j = indices[e]
            if j != i and data[e] > 0.0:
                E[start[i] + j - first[i]] += data[e]


@njit(cache=True, nogil=True)
def _close(first, last):
    """``last_i ← max(last_i, max_{first_i ≤ p < i} last_p)`` in increasing ``i`` (each ``last_p`` already closed)."""
    for i in range(first.shape[0]):
        m = last[i]
        for p in range(first[i], i):
            if last[p] > m:
                m = last[p]
        last[i] = m


def envelope_size(first: np.ndarray, last: np.ndarray) -> int:
    """Rates the envelope stores (float64 each)."""
    return int(np.sum(last - first + 1))


def envelope_law(A, profile: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The normalised stationary law of the row-stochastic sparse ``A`` by :func:`envelope_gth` in the natural order;
    bit for bit :func:`srchain.gth.banded.banded_law` (``profile``: :func:`envelope_profile`, computed when not
    given)."""
    A = A.tocsr()
    if not A.has_canonical_format:
        A = A.copy()
        A.sum_duplicates()
    first, last = envelope_profile(A) if profile is None else profile
    n = A.shape[0]
    start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(last - first + 1, out=start[1:])
    E = np.zeros(int(start[-1]))
    _scatter(A.indptr.astype(np.int64), A.indices.astype(np.int64), A.data, start, first, E)
    return law_from_frames(*envelope_gth(E, start, first, last))


def envelope_gth(E, start, first, last):
    """Stationary vector of a chain whose off-diagonal rates are stored as an envelope: rate ``(i, j)`` at
    ``E[start[i] + j − first[i]]`` for ``first[i] ≤ j ≤ last[i]`` (the diagonal's slot is ignored), by GTH
    elimination in the natural order. Returns ``(mant, frame)`` as :func:`srchain.gth.banded.banded_gth` does
    (``π_i ∝ mant[i] · 2^(600·frame[i])``); ``E`` is overwritten.

    Raises
    ------
    SrchainError
        A zero pivot (the chain is reducible or its rates underflow), as every GTH solver of :mod:`srchain.gth`.
    """
    mant, frame, bad = _envelope_gth(E, start, first, last)
    if bad >= 0:
        raise zero_pivot(bad)
    return mant, frame


@njit(cache=True, nogil=True)
def _envelope_gth(E, start, first, last):
    """The kernel of :func:`envelope_gth`: ``(mant, frame, bad)``, ``bad`` the first zero pivot (−1: none)."""
    N = first.shape[0]
    # below[p]: the last row i with first[i] ≤ p (rows p+1 … below[p] may hold a rate into p)
    below = np.empty(N, dtype=np.int64)
    run = np.full(N, -1, dtype=np.int64)
    for i in range(N):
        f = first[i]
        if run[f] < i:
            run[f] = i
    m = -1
    for p in range(N):
        m = max(m, run[p], p)
        below[p] = m
    buf = np.empty(N)  # row p right of p, copied: the updates then read an array they do not write (vectorised)
    for p in range(N - 1):
        sp = start[p] - first[p]
        top = last[p]
        s = 0.0
        for j in range(p + 1, top + 1):
            s += E[sp + j]
        if not (s > 0.0 and s < np.inf):
            return np.zeros(N), np.zeros(N, dtype=np.int64), p
        m = top - p
        for k in range(m):
            buf[k] = E[sp + p + 1 + k]
        for i in range(p + 1, below[p] + 1):
            if first[i] > p:
                continue
            si = start[i] - first[i]
            a = E[si + p]
            if a <= 0.0:
                continue
            c = a / s
            E[si + p] = c
            # row i's columns p+1 … top but its diagonal, each element as banded GTH computes it
            row = E[si + p + 1 : si + top + 1]
            d = i - p - 1
            for k in range(min(d, m)):
                row[k] += c * buf[k]
            for k in range(d + 1, m):
                row[k] += c * buf[k]
    mant = np.zeros(N)
    frame = np.zeros(N, dtype=np.int64)
    mant[N - 1] = 1.0
    cur = 0
    big = SCALE
    small = 2.0**-SCALE_EXP
    for p in range(N - 2, -1, -1):
        # the same frame policy as banded GTH (srchain.gth.banded._banded_gth), over the same non-zero terms
        emax = -(2**62)
        for i in range(p + 1, below[p] + 1):
            if first[i] > p:
                continue
            a = E[start[i] - first[i] + p]
            if a > 0.0 and mant[i] > 0.0:
                emax = max(emax, math.frexp(mant[i])[1] + math.frexp(a)[1] + SCALE_EXP * frame[i])
        if emax > -(2**62) and emax // SCALE_EXP < cur:
            cur = emax // SCALE_EXP
        v = 0.0
        for i in range(p + 1, below[p] + 1):
            if first[i] > p:
                continue
            a = E[start[i] - first[i] + p]
            if a > 0.0 and mant[i] > 0.0:
                am, ae = math.frexp(a)
                shift = SCALE_EXP * (frame[i] - cur) + ae
                if math.frexp(mant[i])[1] + shift > _TERM_EXP:
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
