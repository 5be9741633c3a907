r"""SR's move law along one axis of a format's grid (Eq. 6 on the grid; :mod:`srchain.grid_chains` has the formula):
the divided second difference of the noise's excess at the *narrow* cells, the quadrature of
:mod:`srchain.grid_wide` at the *wide* ones (both gaps at most :data:`srchain.wide_moves.WIDE` · α·std).

The cells are sorted first (:func:`_mark_rows`), so that each is computed one way only, and where most are wide the
excess is evaluated only at the window positions that a narrow cell reads: near 0 on bf16 nearly every cell is wide,
and the excess of the whole window (an ``erfc`` per position) was computed there to be thrown away. Every number
that is kept is computed by the same operations as before, so T_α keeps its bits.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from srchain._threads import over_threads
from srchain.grid_wide import _wide_cells
from srchain.noise import _INV_SQRT_2PI, GaussianNoise
from srchain.wide_moves import WIDE

__all__ = ["sr_axis_law", "far_cells", "DROP"]

#: A far cell whose probability is certainly below ``DROP·tol`` is taken out of its row's window (T_α drops any entry
#: below tol that is not a nearest-neighbour move, in every product over coordinates).
DROP = 0.25

#: Window cells per thread of :func:`_mark_rows` and :func:`_sr_law_rows` (about 5 ms of work on one).
_CELLS_PER_THREAD = 1 << 16


def sr_axis_law(noise, x, g, alpha, vp, t, first, valid, own, tol):
    """SR's move law along one axis: ``probs`` ``(n, W)`` for rows at positions ``x`` with gradients ``g``, targets
    ``t`` (clipped into the padded values ``vp``; the window of row ``i`` starts at ``first[i]``), ``valid`` cells,
    each row's own index ``own`` and T_α's ``tol``. ``valid`` is updated: the cells that T_α certainly drops leave
    it (:func:`_mark_rows`), so the caller's targets there become −1."""
    x = np.ascontiguousarray(x)
    g = np.ascontiguousarray(g)
    n, W = t.shape
    wide = np.zeros((n, W), dtype=np.bool_)
    rows = max(1, _CELLS_PER_THREAD // max(W, 1))
    # a far cell whose probability is certainly below DROP·tol leaves the window (Gaussian noise: its peak is known)
    limit, c_pdf, drop = _limits(noise, alpha, tol)
    was_valid = np.count_nonzero(valid)
    over_threads(lambda i0, i1: _mark_rows(vp, t, valid, limit, wide, own, alpha, c_pdf, drop, i0, i1), n, rows)
    # the excess on the window extended by one value each side (targets are consecutive): everywhere while most
    # cells are narrow, else only at the positions that a narrow cell reads (a cell that left the window was wide)
    if 2 * (np.count_nonzero(wide) + was_valid - np.count_nonzero(valid)) < wide.size:
        e = noise.excess(_window_args(x, g, alpha, vp, first, W + 2))
    else:
        at = np.flatnonzero(_read_by_narrow(wide, valid))
        e = np.zeros((n, W + 2))
        e.ravel()[at] = noise.excess(_window_args_at(x, g, alpha, vp, first, W + 2, at))
    probs = np.zeros((n, W))
    over_threads(lambda i0, i1: _sr_law_rows(x, g, alpha, vp, t, e, valid, wide, probs, i0, i1), n, rows)
    return _wide_cells(noise, x, g, alpha, vp, t, np.nonzero(wide), probs)


@njit(cache=True, nogil=True)
def _mark_rows(vp, t, valid, limit, wide, own, alpha, c_pdf, drop, i0, i1):
    """``wide[i, w]`` at the valid cells of the rows ``i0 ≤ i < i1`` whose gaps are both at most ``limit``; a wide
    cell at least two values from its row's own index ``own[i]``, not at an end of the grid, whose bound
    ``c_pdf·(H0 + H1)/2`` on its probability (the density's peak times the hat's integral, ``H = gap/α``) is below
    ``drop`` leaves the window (``valid[i, w] = False``): T_α drops it whatever it is."""
    W = t.shape[1]
    nv = vp.shape[0] - 2
    for i in range(i0, i1):
        for w in range(W):
            if valid[i, w]:
                c = t[i, w]
                wide[i, w] = max(vp[c + 1] - vp[c], vp[c + 2] - vp[c + 1]) <= limit
                if wide[i, w] and abs(c - own[i]) > 1 and _is_far(vp, c, nv, alpha, c_pdf, drop):
                    wide[i, w] = False
                    valid[i, w] = False


@njit(cache=True, nogil=True, inline="always")
def _is_far(vp, c, nv, alpha, c_pdf, drop):
    """Whether the bound ``c_pdf·(H0 + H1)/2`` on the probability of the cell ``c`` (not an end of the grid) is
    below ``drop`` (:func:`_mark_rows`, for a wide cell)."""
    if not 0 < c < nv - 1:
        return False
    return c_pdf * (0.5 * ((vp[c + 1] - vp[c]) / alpha + (vp[c + 2] - vp[c + 1]) / alpha)) < drop


def far_cells(vp, lo, hi, alpha, noise, tol):
    """The cells ``lo ≤ t ≤ hi`` (a boolean array) that :func:`sr_axis_law` takes out of a row's window unless they
    are its own value's neighbours (:func:`_mark_rows`)."""
    limit, c_pdf, drop = _limits(noise, alpha, tol)
    return _far_cells(vp, lo, hi, limit, alpha, c_pdf, drop)


def _limits(noise, alpha, tol):
    """``(limit, c_pdf, drop)``: the widest gap of a wide cell, the density's peak (Gaussian noise, else 0) and
    the bound below which a far cell is dropped (0 but for Gaussian noise)."""
    std = float(noise.std)
    limit = WIDE * alpha * std if math.isfinite(std) else -1.0  # (no quadrature without a finite std)
    gaussian = type(noise).pdf is GaussianNoise.pdf
    return limit, (_INV_SQRT_2PI / float(noise.s) if gaussian else 0.0), (DROP * tol if gaussian else 0.0)


@njit(cache=True, nogil=True)
def _far_cells(vp, lo, hi, limit, alpha, c_pdf, drop):
    nv = vp.shape[0] - 2
    out = np.zeros(hi - lo + 1, dtype=np.bool_)
    for c in range(lo, hi + 1):
        wide = max(vp[c + 1] - vp[c], vp[c + 2] - vp[c + 1]) <= limit
        out[c - lo] = wide and _is_far(vp, c, nv, alpha, c_pdf, drop)
    return out


@njit(cache=True, nogil=True)
def _read_by_narrow(wide, valid):
    """The positions ``j`` of the extended windows that the valid cells not ``wide`` read (``w``, ``w + 1``,
    ``w + 2``)."""
    n, W = wide.shape
    need = np.zeros((n, W + 2), dtype=np.bool_)
    for i in range(n):
        for w in range(W):
            if valid[i, w] and not wide[i, w]:
                need[i, w] = True
                need[i, w + 1] = True
                need[i, w + 2] = True
    return need


@njit(cache=True, nogil=True)
def _sr_law_rows(x, g, alpha, vp, t, e, valid, wide, out, i0, i1):
    """SR's move law at the narrow valid cells of the rows ``i0 ≤ i < i1``, into ``out``: per row and target
    ``v_t`` (the padded values ``vp``), the hat function of the mean step plus the divided second difference of the
    excess ``e`` (:mod:`srchain.grid_chains`' docstring), the clipped tails at the ends. Element by element the same
    floating-point operations as the array form it replaced (so a uniform grid still gives
    :mod:`srchain.operators`' numbers bit for bit). The ``wide`` cells are left to the quadrature."""
    nv = vp.shape[0] - 2
    W = t.shape[1]
    for i in range(i0, i1):
        xi = x[i]
        ag = alpha * g[i]
        for w in range(W):
            if not valid[i, w] or wide[i, w]:
                continue
            c = t[i, w]
            vm, v0, v1 = vp[c], vp[c + 1], vp[c + 2]
            h0 = v0 - vm
            h1 = v1 - v0
            em, e0, e1 = e[i, w], e[i, w + 1], e[i, w + 2]
            if c == 0:  # Pr(Qs ≤ v_0)
                r_hi = (v1 - xi) / h1 + ag / h1
                p = min(max(r_hi, 0.0), 1.0) + alpha * (e1 - e0) / h1
            elif c == nv - 1:  # Pr(Qs ≥ v_{N−1})
                r_lo = (xi - vm) / h0 - ag / h0
                p = min(max(r_lo, 0.0), 1.0) + alpha * (em - e0) / h0
            else:
                # hat_t(x − αg): r_lo = (y_m − v_{t−1})/h_{t−1}, r_hi = (v_{t+1} − y_m)/h_t (cancellation-free)
                r_lo = (xi - vm) / h0 - ag / h0
                r_hi = (v1 - xi) / h1 + ag / h1
                p = max(0.0, min(r_lo, r_hi)) + alpha * ((em / h0 + e1 / h1) - e0 * (1.0 / h0 + 1.0 / h1))
            out[i, w] = max(p, 0.0)


@njit(cache=True, nogil=True)
def _window_args(x, g, alpha, vp, first, m):
    """:func:`srchain.grid_wide._arg` at the ``m`` values ``v_{first−1} …`` of each row's extended window (clipped to
    the padded values ``vp``), in the same floating-point operations."""
    n = x.shape[0]
    nv = vp.shape[0] - 2
    out = np.empty((n, m))
    for i in range(n):
        for w in range(m):
            c = min(max(first[i] - 1 + w, -1), nv)
            d = x[i] - vp[c + 1]
            s = 0.0 if d == 0 else d / alpha
            out[i, w] = s - g[i]
    return out


@njit(cache=True, nogil=True)
def _window_args_at(x, g, alpha, vp, first, m, at):
    """:func:`_window_args` at the flat positions ``at`` of the rows' extended windows only."""
    nv = vp.shape[0] - 2
    out = np.empty(at.shape[0])
    for k in range(at.shape[0]):
        i = at[k] // m
        c = min(max(first[i] - 1 + at[k] % m, -1), nv)
        d = x[i] - vp[c + 1]
        s = 0.0 if d == 0 else d / alpha
        out[k] = s - g[i]
    return out
