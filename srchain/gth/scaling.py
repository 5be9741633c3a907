"""The one underflow policy of the GTH solvers: π carried as mantissa × power of two, normalised exactly.

The stationary laws of metastable chains span hundreds of orders of magnitude, beyond float64's range of about
2^±1022. Every GTH solver in :mod:`srchain.gth` therefore carries the unnormalised π in two parts, a float
*mantissa* and an integer power of two, and never forms a value that could overflow to inf or be flushed to 0
before the largest entry is known:

* Back-substitution accumulates each ``π_p = Σ_{i > p} π_i c_ip`` relative to a common power of two (per front
  in :func:`srchain.gth.multifrontal.multifrontal_solve`, per pivot in :func:`srchain.gth.dense.small_gth`, per
  frame in :func:`srchain.gth.banded.banded_gth`); a running sum that exceeds :data:`SCALE` = 2^:data:`SCALE_EXP`
  is divided by it (an exact operation) and the shift counted in the exponent. The sums are of non-negative terms,
  so a few values below 2^1024 cannot overflow in between.
* That power of two follows the largest *term*, not the largest ``π_i``: behind a barrier deeper than float64's
  range (π falling by more than ~2^-1022 in one step) a term would otherwise underflow to 0 and take every state
  behind it along. The banded solver moves down to the frame of the largest term, ``small_gth`` sums relative to
  it, and a multifrontal front where a value or product leaves the normal range is solved again with an exponent
  per state. All rescaling is by exact powers of two, so where nothing underflows the bits are unchanged.
* The dense and multifrontal solvers store each finished ``π_p`` by ``frexp`` (mantissa in [½, 1), exponent an
  integer); :func:`law_from_mant_expo` then shifts every entry to the largest one with ``ldexp`` (exact unless the
  result is subnormal) and normalises. Entries below 2^:data:`EXP_FLOOR` times the largest are below even the
  subnormals and become exactly 0: the caller counts them as underflow.
* The banded solver keeps its mantissas within [2^−600, 2^600] and counts *frames* of 2^600 instead of bits
  (``π_i ∝ mant[i] · 2^(600·frame[i])``, the form :func:`srchain.toy.bc_law.bc_law` and ``srchain.toy.explore``
  read); :func:`law_from_frames` normalises it exactly, through :func:`law_from_mant_expo`.

A zero pivot (no positive rate from a state to the states eliminated after it) means the chain is reducible, or
that its rates underflowed to 0 before elimination: every solver raises :func:`zero_pivot`'s error then, rather
than return a law with zeros where mass belongs. The multifrontal factorisation also reports, per front, whether a
value left float64's normal range beside a tiny exit rate (:func:`underflow_flags`); where both happened, the
chain is factored again with an exponent per entry (:mod:`srchain.gth.extended`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from srchain.errors import SrchainError

__all__ = [
    "SCALE_EXP",
    "SCALE",
    "EXP_FLOOR",
    "law_from_mant_expo",
    "law_from_frames",
    "ZeroPivot",
    "zero_pivot",
    "underflow_flags",
    "UNDERFLOW",
    "TINY_EXIT",
    "MIN_NORMAL",
]

#: Running sums of back-substitution are rescaled by 2^-SCALE_EXP once one exceeds 2^SCALE_EXP (float64's largest
#: value is about 2^1024, so sums of a few such values cannot overflow); the banded solver's frames are this wide.
SCALE_EXP = 600
SCALE = 2.0**SCALE_EXP
#: ldexp shifts below this give 0 in float64 (2^-1075 is below the smallest subnormal): shifts are clipped here.
EXP_FLOOR = -1100


def law_from_mant_expo(mant: np.ndarray, expo: np.ndarray) -> np.ndarray:
    """The normalised law ``π ∝ mant · 2^expo`` (``mant`` from ``frexp``, 0 for no mass), shifted to the largest
    entry by ``ldexp`` before it is summed."""
    pos = mant > 0
    if not np.any(pos):
        raise SrchainError("GTH produced an all-zero vector; the chain is probably reducible")
    emax = int(expo[pos].max())
    w = np.zeros(mant.size)
    shift = np.clip(expo[pos] - emax, EXP_FLOOR, 0)
    w[pos] = np.ldexp(mant[pos], shift)
    return w / w.sum()


def law_from_frames(mant: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """The normalised law ``π ∝ mant · 2^(SCALE_EXP·frame)`` of :func:`srchain.gth.banded.banded_gth`: each entry
    is split by ``frexp`` and shifted by ``ldexp`` (:func:`law_from_mant_expo`), exact where a log-space
    normalisation would lose ``|log π| · eps`` of relative accuracy (1e-13 at π = 1e-300)."""
    m, e = np.frexp(np.asarray(mant, dtype=np.float64))
    return law_from_mant_expo(m, e.astype(np.int64) + SCALE_EXP * np.asarray(frame, dtype=np.int64))


class ZeroPivot(SrchainError):
    """GTH met a state with no positive rate to the states eliminated after it: the chain is reducible, or the
    censored rates underflowed in this elimination order (another order may succeed)."""


def zero_pivot(state: int, after: str = "the states after it") -> ZeroPivot:
    """The error for a zero pivot at ``state`` (in the caller's labels): the chain is reducible, or its rates
    underflow. ``after`` names the states the pivot's rates go to."""
    return ZeroPivot(
        f"GTH found no positive rate out of state {state} to {after}; the chain is reducible (or its rates underflow)"
    )


#: The smallest normal float64: :func:`underflow_flags`'s threshold, and in multifrontal back-substitution the value
#: below which a boundary value, product or own value in the front's frame has lost bits to underflow (the front is
#: then solved again with an exponent per state).
MIN_NORMAL = 2.0**-1022


#: :func:`underflow_flags`: a value may have left float64's normal range (a product ``c_ip · a_pj`` of positive
#: numbers below 2^-1022, a subnormal ``c`` or rate, or an exit rate above :data:`S_MAX`, so that a ``c`` could
#: be flushed to 0).
UNDERFLOW = 2
#: :func:`underflow_flags`: an exit rate ``s_p`` below :data:`S_TINY`. Its ``c_ip = a_ip / s_p`` multiply the
#: rates out of p by up to ``1/s_p``, so rates lost to underflow (each fma loses at most 2^-1075) can matter.
TINY_EXIT = 4
#: An exit rate above this could flush a ``c = a/s`` with ``a ≥ 2^-1022`` to 0 (:data:`UNDERFLOW`).
S_MAX = 2.0**50
#: A rate lost to underflow is at most 2^-1075 per fma (gradual underflow); a tiny exit rate ``s`` multiplies it by
#: up to ``1/s`` into rates of order ``s``: a relative error up to ``N · 2^-1075 / s²`` after ``N`` operations,
#: below 2^-53 for ``s > 2^-500`` (``N < 2^30``). Measured on a lattice with a barrier of depth 10^-d per step:
#: d = 160 (exit rates near 2^-531) put 4% of the mass in the wrong basin, d = 155 (2^-515) 2e-12, d = 150 nothing;
#: 2^-450 leaves a margin. The SR chains of the tests, whose laws span more than float64's range, stay above it.
S_TINY = 2.0**-450


@njit(cache=True, nogil=True)
def underflow_flags(F, k):
    """:data:`UNDERFLOW` | :data:`TINY_EXIT` as met in eliminating the first ``k`` states of ``F`` (done:
    ``F[p, p+1:]`` holds pivot p's rates, ``F[p+1:, p]`` its ``c`` values). Both together, anywhere in the tree,
    mean that the float64 factorisation may have lost a censored rate that a tiny exit rate then made large (a
    barrier deeper than float64's range); apart, no lost value is multiplied by a large ``c``. O(mk), beside the
    elimination's O(m²k)."""
    m = F.shape[0]
    flags = 0
    for p in range(min(k, m - 1)):
        rmin = math.inf
        s = 0.0
        for j in range(p + 1, m):
            a = F[p, j]
            if a > 0.0:
                s += a
                if a < rmin:
                    rmin = a
        cmin = math.inf
        for i in range(p + 1, m):
            c = F[i, p]
            if 0.0 < c < cmin:
                cmin = c
        if s > S_MAX or rmin < MIN_NORMAL or cmin < MIN_NORMAL or (cmin < math.inf and rmin * cmin < MIN_NORMAL):
            flags |= UNDERFLOW
        if s < S_TINY:
            flags |= TINY_EXIT
    return flags
