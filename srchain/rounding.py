r"""Rounding onto any sorted grid of values (a format's grid, :mod:`srchain.grids`): Qd, Qs and Qs with k bits.

For :math:`w` in the cell :math:`[v_j, v_{j+1}]` of the sorted values :math:`v` (spacing :math:`h_j = v_{j+1} - v_j`):

* **Qd** (Eq. 3 on a grid): round to the nearest value; a tie (the midpoint) goes to the *even* value (the one whose
  last mantissa bit is 0): round-to-nearest-even, what a cast to the format does. Outside the grid's range the
  result is the nearest end (the projection onto the box the paper assumes), not the cast's ±inf.
* **Qs** (Eq. 5 on a grid): :math:`v_{j+1}` with probability :math:`q = (w - v_j)/h_j`, else :math:`v_j`;
  :math:`\mathbb{E}[Q_s(w)] = w` and :math:`\operatorname{Var}[Q_s(w)] = h_j^2 q(1 - q)`.
* **Qs with k random bits** (hardware SR): the format adds :math:`k` random bits to the magnitude's discarded bits
  and truncates, so the value *farther from zero* is taken with probability
  :math:`\lfloor 2^k q_a\rfloor / 2^k`, where :math:`q_a` is the fractional distance from the value nearer zero.
  The probability is truncated, so the rounding is biased toward zero by exactly
  :math:`h_j\,(q_a - \lfloor 2^k q_a\rfloor/2^k) \in [0, h_j 2^{-k})` (:func:`kbit_bias`); :math:`k = \infty` is Qs.

Each rule has a scalar Numba kernel taking the uniform draw as an argument (the simulators own the random stream)
and a vectorised NumPy function. ``values`` is a sorted float64 array with at least two entries; ``even`` the
per-value parity (:func:`srchain.grids.axis_parity`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from srchain.errors import SrchainError

__all__ = [
    "qd_grid",
    "qs_grid",
    "qs_kbit",
    "kbit_bias",
    "kbit_up_probability",
    "check_sr_bits",
    "qd_grid_scalar",
    "qs_grid_scalar",
    "qs_kbit_scalar",
    "cell_of",
]

MAX_SR_BITS = 32


def check_sr_bits(k) -> int | None:
    """``k`` (random bits of hardware SR) as an int in 1…32, or ``None`` for exact SR; :class:`SrchainError`
    otherwise."""
    if k is None:
        return None
    try:
        kk = int(k)
    except (TypeError, ValueError):
        kk = -1
    if isinstance(k, bool) or kk != k or not 1 <= kk <= MAX_SR_BITS:
        raise SrchainError(f"the SR random bits k must be an integer from 1 to {MAX_SR_BITS}, got {k!r}")
    return kk


@njit(cache=True, nogil=True, inline="always")
def cell_of(values, w):
    """Index ``j`` of the cell ``[v_j, v_{j+1}]`` holding ``w`` (clipped to ``0 … n−2``): binary search."""
    lo = 0
    hi = values.size - 1
    # invariant: values[lo] <= w < values[hi] (outside the range the ends are clipped below)
    if w < values[0]:
        return 0
    if w >= values[hi]:
        return hi - 1
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if values[mid] <= w:
            lo = mid
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def qd_grid_scalar(w, values, even):
    """Round-to-nearest-even onto ``values`` (clipped to its ends)."""
    n = values.size
    if w <= values[0]:
        return values[0]
    if w >= values[n - 1]:
        return values[n - 1]
    j = cell_of(values, w)
    mid = 0.5 * (values[j] + values[j + 1])
    if w > mid or (w == mid and even[j + 1]):
        return values[j + 1]
    return values[j]


@njit(cache=True, nogil=True)
def qs_grid_scalar(w, values, u):
    """Stochastic rounding onto ``values`` with the uniform draw ``u`` in [0, 1): up iff ``u < q``."""
    n = values.size
    if w <= values[0]:
        return values[0]
    if w >= values[n - 1]:
        return values[n - 1]
    j = cell_of(values, w)
    q = (w - values[j]) / (values[j + 1] - values[j])
    return values[j + 1] if u < q else values[j]


@njit(cache=True, nogil=True)
def qs_kbit_scalar(w, values, u, k):
    """SR with ``k`` random bits (``r = ⌊2^k u⌋``): away from zero iff ``r < ⌊2^k q_a⌋``."""
    n = values.size
    if w <= values[0]:
        return values[0]
    if w >= values[n - 1]:
        return values[n - 1]
    j = cell_of(values, w)
    a = values[j]
    b = values[j + 1]
    scale = 2.0**k
    r = np.floor(u * scale)
    if b <= 0.0:  # a negative cell: away from zero is down
        qa = (b - w) / (b - a)
        return a if r < np.floor(qa * scale) else b
    qa = (w - a) / (b - a)
    return b if r < np.floor(qa * scale) else a


def _cells(values, w):
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size < 2 or np.any(np.diff(v) <= 0):
        raise SrchainError("values must be a sorted 1-D array of at least 2 distinct numbers")
    w = np.asarray(w, dtype=np.float64)
    j = np.clip(np.searchsorted(v, w, side="right") - 1, 0, v.size - 2)
    return v, w, j


def qd_grid(w, values, even=None):
    """Vectorised :func:`qd_grid_scalar`: round-to-nearest-even onto ``values`` (``even`` defaults to "the larger
    index wins ties")."""
    v, w, j = _cells(values, w)
    ev = np.ones(v.size, dtype=bool) if even is None else np.asarray(even, dtype=bool)
    mid = 0.5 * (v[j] + v[j + 1])
    out = np.where((w > mid) | ((w == mid) & ev[j + 1]), v[j + 1], v[j])
    return np.clip(out, v[0], v[-1])


def qs_grid(w, values, rng=None, u=None):
    """Vectorised :func:`qs_grid_scalar` with draws ``u`` (or from ``rng``, a NumPy Generator)."""
    v, w, j = _cells(values, w)
    if u is None:
        u = np.random.default_rng(rng).random(w.shape)
    q = (np.clip(w, v[0], v[-1]) - v[j]) / (v[j + 1] - v[j])
    return np.where(np.asarray(u) < q, v[j + 1], v[j])


def _bits(k) -> int:
    """``k`` checked by :func:`check_sr_bits`, where ``None`` (exact SR) is not an option."""
    bits = check_sr_bits(k)
    if bits is None:
        raise SrchainError("k (random bits of SR) must be an integer in 1…32 here, not None")
    return bits


def kbit_up_probability(w, values, k: int) -> np.ndarray:
    r"""Probability that SR with ``k`` bits returns the upper neighbour :math:`v_{j+1}` of ``w``."""
    k = _bits(k)
    v, w, j = _cells(values, w)
    w = np.clip(w, v[0], v[-1])
    a, b = v[j], v[j + 1]
    s = 2.0**k
    neg = b <= 0
    qa = np.where(neg, (b - w) / (b - a), (w - a) / (b - a))
    away = np.floor(qa * s) / s
    return np.where(neg, 1.0 - away, away)


def qs_kbit(w, values, k: int, rng=None, u=None):
    """Vectorised :func:`qs_kbit_scalar` with draws ``u`` (or from ``rng``)."""
    k = _bits(k)
    v, w, j = _cells(values, w)
    if u is None:
        u = np.random.default_rng(rng).random(w.shape)
    w = np.clip(w, v[0], v[-1])
    a, b = v[j], v[j + 1]
    s = 2.0**k
    r = np.floor(np.asarray(u) * s)
    neg = b <= 0
    qa = np.where(neg, (b - w) / (b - a), (w - a) / (b - a))
    away = r < np.floor(qa * s)
    return np.where(neg, np.where(away, a, b), np.where(away, b, a))


def kbit_bias(w, values, k: int) -> np.ndarray:
    r"""Exact bias :math:`\mathbb{E}[Q_s^{(k)}(w)] - w` of SR with ``k`` random bits (toward zero, below one
    :math:`h_j 2^{-k}` in size): :math:`-\operatorname{sign}\cdot h_j(q_a - \lfloor 2^k q_a\rfloor 2^{-k})`."""
    k = _bits(k)
    v, w, j = _cells(values, w)
    wc = np.clip(w, v[0], v[-1])
    p = kbit_up_probability(wc, v, k)
    return v[j] + p * (v[j + 1] - v[j]) - wc
