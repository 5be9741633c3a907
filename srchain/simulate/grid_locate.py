"""Where a point lies on a grid's axis: the cell-location table of the grid simulators (:mod:`srchain.simulate.grid`).

A cell ``c`` of the sorted values ``v`` holds ``v_c ≤ y < v_{c+1}``. The table buckets ``y`` by a linear map or by
its float64 bits (which follow a float format's binades), so that a bucket holds at most one value: the cell is the
bucket's first cell or the next one, found without a search.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from srchain.simulate.kernels_1d import _f64_bits

__all__ = ["LOCATOR_MAX"]

#: Largest cell-location table per axis (entries, int32): beyond it the buckets hold several values and the
#: location walks the rest.
LOCATOR_MAX = 2**22
LINEAR, BITS = 0, 1


@njit(cache=True, nogil=True, inline="always")
def _bucket(y, mode, lo, invh, klo, k0, shift, nbm1):
    """The bucket of ``y`` on one axis: LINEAR ``⌊(y − lo)/h⌋``; BITS the float64's bits made monotone (negative
    values' magnitude bits flipped), halved so that differences fit an int64, minus those of ``lo``, shifted right
    by ``shift``. Both are monotone in ``y``; the result is clipped to ``[0, nbm1]``."""
    if mode == LINEAR:
        t = min(max((y - lo) * invh, 0.0), float(nbm1))
        return int(t)
    b = _f64_bits(y)
    hk = (b ^ ((b >> 63) & 0x7FFFFFFFFFFFFFFF)) >> 1
    hk -= min(max(hk, -k0), k0)  # the magnitudes below the grid's least nonzero one collapse onto 0
    return min(max((hk - klo) >> shift, 0), nbm1)


@njit(cache=True, nogil=True)
def _buckets(v, mode, lo, invh, klo, k0, shift, nbm1):
    out = np.empty(v.size, dtype=np.int64)
    for i in range(v.size):
        out[i] = _bucket(v[i], mode, lo, invh, klo, k0, shift, nbm1)
    return out


@njit(cache=True, nogil=True, inline="always")
def _cell(y, vals, o, n, tab, to, mode, lo, invh, klo, k0, shift, nbm1):
    """The cell ``c`` (``v_c ≤ y < v_{c+1}``, clipped to ``[0, n − 2]``) of ``y`` on the axis ``v = vals[o:o+n]``:
    the bucket's first cell from the table, then one branch-free step (a bucket holds at most one value when the
    table is fine enough) and a walk for coarser tables."""
    c = np.int64(tab[to + _bucket(y, mode, lo, invh, klo, k0, shift, nbm1)])
    c += np.int64(vals[o + c + 1] <= y)
    c = min(c, n - 2)
    while c < n - 2 and vals[o + c + 1] <= y:
        c += 1
    return c


@njit(cache=True, nogil=True)
def _cells(y, v, tab, lp, lf):
    """:func:`_cell` of every ``y`` on the one axis ``v`` (for tests)."""
    out = np.empty(y.shape[0], dtype=np.int64)
    for i in range(y.shape[0]):
        out[i] = _cell(
            y[i], v, 0, v.shape[0], tab, 0, lp[0, 0], lf[0, 0], lf[0, 1], lp[0, 1], lp[0, 2], lp[0, 3], lp[0, 4]
        )
    return out


def _locator(v: np.ndarray):
    """The cell-location table of one axis (sorted values ``v``): ``(table, params)`` with ``params = (mode, lo,
    invh, klo, k0, shift, nbm1)`` for :func:`_bucket`, and ``table[b]`` the last cell whose left value lies in a lower
    bucket than ``b`` (so the cell of a ``y`` in bucket ``b`` is ``table[b]`` or after it). Of the two bucketings
    (LINEAR, fine enough for the narrowest cell; BITS, of the float's bits, which follow a float format's binades)
    the one with fewer buckets such that no bucket holds two values; both capped at :data:`LOCATOR_MAX`."""
    n = v.size
    if n < 2:
        return np.zeros(1, dtype=np.int32), (LINEAR, float(v[0]), 0.0, 0, 0, 0, 0)
    cands = []
    bits = v.view(np.int64)
    hk = (bits ^ ((bits >> 63) & 0x7FFFFFFFFFFFFFFF)) >> 1
    gaps = np.diff(hk)
    inner = gaps[(hk[:-1] != 0) & (hk[1:] != 0) & ((hk[:-1] > 0) == (hk[1:] > 0))]  # not next to 0 or across it
    shift = max(0, int(inner.min() if inner.size else gaps.min()).bit_length() - 1)  # 2^shift ≤ the least key gap
    nz = np.abs(hk[hk != 0])
    k0 = max(0, int(nz.min()) - (1 << shift)) if nz.size else 0
    hk = hk - np.clip(hk, -k0, k0)
    span = int(hk[-1] - hk[0])
    while (span >> shift) + 1 > LOCATOR_MAX:
        shift += 1
    cands.append((BITS, float(v[0]), 0.0, int(hk[0]), k0, shift, span >> shift))
    width = float(v[-1] - v[0])
    invh = 1.0 / float(np.diff(v).min())
    if width * invh + 1 > LOCATOR_MAX:
        invh = (LOCATOR_MAX - 1) / width
    cands.append((LINEAR, float(v[0]), invh, 0, 0, 0, int(width * invh)))
    scored = []
    for p in cands:
        bv = _buckets(v, *p)
        most = int(np.max(np.bincount(bv)))  # values sharing a bucket (≤ 1: no walk)
        scored.append(((most > 1, p[6]), p, bv))
    _, p, bv = min(scored, key=lambda e: e[0])
    table = np.clip(np.searchsorted(bv, np.arange(p[6] + 1), side="left") - 1, 0, n - 2).astype(np.int32)
    return table, p
