"""Invariants every operator build checks before it hands a matrix on: a law that float64 failed to resolve is
refused in one line instead of being solved into a wrong stationary law with a tiny residual.

* Each 1-D move law of :func:`srchain.operators.move_laws` sums to 1 within its stated error: at most ``tol`` of
  the noise lies beyond the move window (:func:`srchain.operators.transition_matrix`'s contract), the noise's own
  :attr:`~srchain.noise.NoiseModel.table_error` (a tabulated law's), plus :data:`ROUNDING` for float64 (the
  cancellation-free forms and :mod:`srchain.wide_moves` give each probability to about 1e-13 absolute or better;
  the allowance leaves four orders of magnitude of margin and still catches any law whose differences were
  rounding noise: at ``--sigma 1e16`` the sums were off by order 1).
* The mass each row drops (entries below ``tol``, the window's tail) lies within [0, 1], up to :data:`ROUNDING`.
* A finished transition matrix is finite, non-negative and row-stochastic within :data:`ROUNDING`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from srchain._threads import threads_for
from srchain.errors import SrchainError
from srchain.move_kernels import _any_near_underflow

__all__ = [
    "ROUNDING",
    "check_move_laws",
    "check_move_tables",
    "check_rates_representable",
    "check_sums",
    "check_dropped",
    "check_stochastic",
]

#: Float64 rounding allowed in a move law's or a row's sum (see the module docstring).
ROUNDING = 1e-9


def check_move_laws(probs: np.ndarray, tol: float, rows_start: int, what: str, states=None) -> None:
    """Refuse 1-D move laws ``probs`` (n, d, W) whose sums leave ``[1 − tol − ROUNDING, 1 + tol + ROUNDING]``, or
    with a NaN (``tol``: the window's tail plus the law's own error). ``rows_start`` is the first row's state
    index (or ``states`` each row's); ``what`` names the chain in the message."""
    if probs.ndim == 3 and probs.dtype == np.float64 and probs.flags.c_contiguous:
        sums = np.empty(probs.shape[:2], dtype=np.float64)
        with threads_for(probs.size):
            _law_sums(probs, sums)  # threaded: the build's checks must not be its serial part
    else:
        sums = probs.sum(axis=-1)
    state = (lambda i: rows_start + i) if states is None else (lambda i: int(states[i]))
    check_sums(sums, tol, what, lambda i, k: f"the move law of state {state(i)} along axis {k}")


def check_move_tables(probs: np.ndarray, row_of: np.ndarray, tol: float, what: str, states) -> None:
    """:func:`check_move_laws` of tables ``probs`` ``(m, W)`` that state ``states[i]`` reads along axis ``k`` at
    ``row_of[i, k]`` (:func:`srchain.grid_chains.grid_move_tables`): each table row summed once, each refusal naming
    a state that reads it."""
    sums = np.empty((probs.shape[0], 1), dtype=np.float64)
    with threads_for(probs.size):
        _law_sums(np.ascontiguousarray(probs).reshape(probs.shape[0], 1, -1), sums)
    check_sums(sums[row_of, 0], tol, what, lambda i, k: f"the move law of state {int(states[i])} along axis {k}")


@njit(cache=True, nogil=True, parallel=True)
def _law_sums(probs, out):
    """``out[i, k] = Σ_w probs[i, k, w]``, one row per task."""
    n, d, W = probs.shape
    for i in prange(n):
        for k in range(d):
            s = 0.0
            for w in range(W):
                s += probs[i, k, w]
            out[i, k] = s


@njit(cache=True, nogil=True, parallel=True)
def _row_checks(indptr, data, sums, flags):
    """Per row of a CSR matrix: its sum, and flags (1: a NaN or infinite entry, 2: a negative one); one row per
    task."""
    for i in prange(sums.size):
        s = 0.0
        f = 0
        for q in range(indptr[i], indptr[i + 1]):
            x = data[q]
            if not np.isfinite(x):
                f |= 1
            elif x < 0:
                f |= 2
            s += x
        sums[i] = s
        flags[i] = f


def check_sums(sums: np.ndarray, tol: float, what: str, name) -> None:
    """Refuse sums (any shape) of probability laws outside ``[1 − tol − ROUNDING, 1 + tol + ROUNDING]`` (or NaN);
    ``name(*index)`` names the offending law in the message."""
    s = np.asarray(sums, dtype=np.float64)
    bad = ~((s >= 1.0 - tol - ROUNDING) & (s <= 1.0 + tol + ROUNDING))
    if np.any(bad):
        idx = tuple(int(v[0]) for v in np.nonzero(bad))
        raise SrchainError(
            f"{what}: {name(*idx)} sums to {float(s[idx]):.17g}, not 1 within tol + {ROUNDING:g}; float64 cannot "
            f"resolve these move probabilities (change sigma, alpha or delta by a few orders of magnitude)"
        )


def check_dropped(dropped: float, what: str) -> None:
    """Refuse a largest dropped row mass outside ``[−ROUNDING, 1]`` (or NaN)."""
    if not (-ROUNDING <= dropped <= 1.0):
        raise SrchainError(
            f"{what}: a row drops mass {dropped:.6g}, outside [0, 1]; float64 cannot resolve these move probabilities"
        )


def check_stochastic(P: sp.csr_matrix, what: str) -> None:
    """Refuse a matrix with a NaN, inf or negative entry, or a row whose sum is not 1 within :data:`ROUNDING`."""
    if P.format != "csr":
        P = P.tocsr()
    check_rows(P.indptr, P.data, what)


def check_rows(indptr: np.ndarray, data: np.ndarray, what: str) -> None:
    """:func:`check_stochastic` of the CSR rows ``(indptr, data)`` (no matrix built)."""
    n = indptr.size - 1
    s = np.empty(n, dtype=np.float64)
    flags = np.empty(n, dtype=np.int8)
    with threads_for(int(indptr[-1])):
        _row_checks(indptr, np.ascontiguousarray(data, dtype=np.float64), s, flags)
    if np.any(flags & 1):
        raise SrchainError(f"{what} has NaN or infinite entries; float64 cannot represent this chain")
    if np.any(flags & 2):
        i = int(np.flatnonzero(flags & 2)[0])
        raise SrchainError(f"{what} has a negative entry in row {i}; float64 cannot represent this chain")
    off = np.abs(s - 1.0) > ROUNDING
    if np.any(off):
        i = int(np.flatnonzero(off)[0])
        raise SrchainError(f"{what}: row {i} sums to {float(s[i]):.17g}, not 1; float64 cannot represent this chain")


#: Smallest positive normal float64: below it a probability has lost relative accuracy (or is 0).
_TINY = float(np.finfo(np.float64).tiny)


def check_rates_representable(noise, lattice, grads: np.ndarray, alpha: float, targets, probs, J: int) -> None:
    """Refuse an α so small that a nearest-neighbour move, α·Ũ(x, x ± Δe_k) to first order, underflows float64.

    Such a chain would lose moves that Ũ has (and look reducible, or be silently wrong); the message says that
    it is underflow, and the smallest α the lattice can represent. Only the rows whose neighbour moves came out
    below the smallest normal float64 are examined (usually none); a rate that is itself below it is the noise's
    own underflow, not α's, and is left to the reducibility check.
    """
    if J < 1:
        return
    with threads_for(probs.size):
        if not _any_near_underflow(targets, probs, J, _TINY):  # threaded scan; the usual answer
            return
    near = probs[:, :, [J - 1, J + 1]]
    low = (targets[:, :, [J - 1, J + 1]] >= 0) & (near < _TINY)
    i, k, side = np.nonzero(low)
    g = grads[i, k]
    rates = np.where(side == 1, noise.lower_partial(-g), noise.upper_partial(-g)) / lattice.delta
    rates = rates[rates >= _TINY]
    if rates.size == 0:
        return
    r = float(rates.min())
    if alpha * r < _TINY:
        raise SrchainError(
            f"alpha = {alpha:.3g} is so small that the smallest move probability, alpha times "
            f"Ũ's rate {r:.3g}, underflows float64 (below {_TINY:.3g}); the smallest alpha this "
            f"lattice represents is about {_TINY / r:.2g}. For alpha this small pi_alpha equals the "
            f"limit law of Theorem 5 (Eq. 9) to O(alpha): use that"
        )
