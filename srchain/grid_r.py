r"""R's move law along one axis of a format's grid (Eq. 4 on the grid): a difference of two CDF values where the
rounding cell is wide, the density integrated over it where it is *narrow* (there the difference loses the law).

R moves to ``v_t`` when the step ``y = x − α(g + ξ̄)`` lands in its rounding cell ``[m_{t−1}, m_t)`` between the
midpoints: :math:`\Pr = \Pr(b_{hi} < \bar\xi \le b_{hi} + H)` with :math:`b_{hi} = (x - m_t)/\alpha - g` and
:math:`H = (m_t - m_{t-1})/\alpha = (v_{t+1} - v_{t-1})/(2\alpha)`, taken as ``CDF(b_lo) − CDF(b_hi)`` (or
the SF's difference; the tails at the grid's ends), whose rounding error relative to the cell's mass is about
:math:`\epsilon\,\mathrm{std}/H`: all of it at bf16's gaps near 0 (down to 9.2e-41). Where ``H`` is at most
:data:`srchain.wide_moves.WIDE` · std (the same threshold as SR's quadrature; there the difference loses at most
``64 eps`` ≈ 1.4e-14) the density is integrated instead, every term positive:

* by the midpoint rule :math:`H\,f(b_{hi} + H/2)` for Gaussian noise where :math:`(H/s)(1 + |b|/s) < 2^{-26}`:
  its error :math:`H^3 f''/24` is below :math:`2^{-52}/24` of the cell's mass (:math:`f''/f = (z^2 - 1)/s^2`), in
  one compiled pass over the window (on bf16 [−4, 10] at α = 0.01, every value within ~4e-9 of 0);
* by :func:`srchain.wide_moves._integral` (Gauss–Legendre, split where the density has its kink at 0) elsewhere:
  a few ulps relative, however small.

The cells are sorted first, so the SF and CDF are evaluated only at the midpoints that a difference reads (near 0 on
bf16, a few hundred of a window's ~33,000): the chunk of rows at 0 of bf16 [−4, 10] at α = 0.01 took 0.30 s, now
0.19 s, with T_α's bits unchanged (46 settings of format, noise and α, and 16 chunks of bf16 [−4, 10], compared).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from srchain import grid_sr
from srchain._threads import over_threads
from srchain.grid_wide import ONE_NODE, _arg
from srchain.noise import _INV_SQRT_2PI, GaussianNoise
from srchain.wide_moves import WIDE, _integral

__all__ = ["r_axis_law", "far_cells"]

#: Window cells per thread of :func:`_sort_cells` (about 5 ms of work on one).
_CELLS_PER_THREAD = 1 << 16
#: How :func:`_sort_cells` leaves a cell: computed (by the midpoint rule) or not valid; a difference of the CDF (or
#: a tail, at an end of the grid); Gauss–Legendre.
_DONE, _DIFFERENCE, _QUADRATURE = 0, 1, 2


def r_axis_law(noise, x, g, alpha, vp, t, first, valid, own, tol):
    """R's move law along one axis: ``probs`` ``(n, W)`` for rows at positions ``x`` with gradients ``g``, targets
    ``t`` (clipped into the padded values ``vp``; row ``i``'s window starts at ``first[i]``, the targets are
    consecutive), ``valid`` cells, each row's own index ``own`` and T_α's ``tol``. ``valid`` is updated: the far
    cells that T_α certainly drops leave it (as in :func:`srchain.grid_sr.sr_axis_law`), so the caller's targets
    there become −1. The cells are sorted first (:func:`_sort_cells`), so that the SF and CDF are
    evaluated only at the midpoints that a difference (or a tail) reads: near 0 on bf16 nearly every cell is
    narrow, and they were evaluated on every midpoint of the window to be thrown away. Every number kept is computed
    by the same operations as before, so T_α keeps its bits."""
    x = np.ascontiguousarray(x)
    g = np.ascontiguousarray(g)
    n, W = t.shape
    n_v = vp.shape[0] - 2
    limit, gaussian, drop = _limits(noise, tol)  # a far cell of mass surely below drop leaves the window
    s = float(noise.s) if gaussian else 1.0
    probs = np.zeros((n, W))
    kind = np.zeros((n, W), dtype=np.int8)
    rows = max(1, _CELLS_PER_THREAD // max(W, 1))
    over_threads(
        lambda i0, i1: _sort_cells(x, g, alpha, vp, t, valid, limit, gaussian, s, own, drop, probs, kind, i0, i1),
        n,
        rows,
    )
    # differences and tails: y < m ⟺ ξ̄ > (x − m)/α − g, so Pr(m_{t−1} ≤ y < m_t) = SF(b_hi) − SF(b_lo) =
    # CDF(b_lo) − CDF(b_hi), at the W + 1 midpoints of a row (shared by neighbouring targets), only where read
    r, w = np.nonzero(kind == _DIFFERENCE)
    if r.size:
        cell = r * (W + 1) + w  # a cell's lower midpoint, flat in (n, W + 1); its upper one is the next
        mids = np.union1d(cell, cell + 1)
        mr, mk = np.divmod(mids, W + 1)
        j = np.clip(first[mr] + mk, 0, n_v)
        b = _arg(x[mr], 0.5 * (vp[j] + vp[j + 1]), g[mr], alpha)
        sf, cdf = noise.sf(b), noise.cdf(b)
        lo = np.searchsorted(mids, cell)
        hi = lo + 1  # (the upper midpoint is in mids, right after the lower one)
        c = t[r, w]
        exact = np.where(b[hi] > 0, sf[hi] - sf[lo], cdf[lo] - cdf[hi])
        p = np.where(c == 0, sf[hi], np.where(c == n_v - 1, cdf[lo], exact))
        probs[r, w] = np.maximum(p, 0.0)
    # Gauss–Legendre where the midpoint rule is not exact to rounding (or the noise is not Gaussian)
    r, w = np.nonzero(kind == _QUADRATURE)
    if r.size:
        c = t[r, w]
        h = (0.5 * (vp[c + 2] - vp[c])) / alpha
        b_hi = _arg(x[r], 0.5 * (vp[c + 1] + vp[c + 2]), g[r], alpha)
        probs[r, w] = np.maximum(h * _integral(noise.pdf, b_hi, h, 1.0, False), 0.0)
    return probs


@njit(cache=True, nogil=True)
def _sort_cells(x, g, alpha, vp, t, valid, limit, gaussian, s, own, drop, probs, kind, i0, i1):
    """Rows ``i0 ≤ i < i1``: each valid cell is marked for a difference of the CDF (an end of the grid, or a rounding
    cell ``H = (v_{t+1} − v_{t−1})/(2α)`` wider than ``limit``), for Gauss–Legendre, or, for Gaussian noise where
    ``(H/s)(1 + |b|/s) <`` :data:`srchain.grid_wide.ONE_NODE` (SR's one-node rule's
    bound: one node is exact to rounding), computed here as ``H·f(b + H/2)`` (``b = (x − m_t)/α − g`` as
    :func:`srchain.grid_wide._arg` computes it, the density as :meth:`srchain.noise.GaussianNoise.pdf`). A narrow
    cell at least two values from its row's own index, whose mass is at most ``f(0)·H < drop``, leaves the window
    (``valid[i, w] = False``): T_α drops it whatever it is."""
    n_v = vp.shape[0] - 2
    c_pdf = _INV_SQRT_2PI / s
    for i in range(i0, i1):
        for w in range(t.shape[1]):
            if not valid[i, w]:
                continue
            c = t[i, w]
            h = (0.5 * (vp[c + 2] - vp[c])) / alpha
            if not _narrow(c, n_v, h, limit):
                kind[i, w] = _DIFFERENCE
                continue
            if abs(c - own[i]) > 1 and _is_far(h, c_pdf, drop):
                valid[i, w] = False
                continue
            if gaussian:
                d = x[i] - 0.5 * (vp[c + 1] + vp[c + 2])
                a = (0.0 if d == 0 else d / alpha) - g[i]
                if (h / s) * (1.0 + abs(a) / s) < ONE_NODE:
                    z = (a + 0.5 * h) / s
                    probs[i, w] = max(h * (math.exp(-0.5 * z * z) * c_pdf), 0.0)
                    continue
            kind[i, w] = _QUADRATURE


@njit(cache=True, nogil=True, inline="always")
def _narrow(c, n_v, h, limit):
    """Whether the rounding cell ``c`` of width ``h`` is narrow (integrated, not differenced; never an end)."""
    return not (c == 0 or c == n_v - 1 or not h <= limit)


@njit(cache=True, nogil=True, inline="always")
def _is_far(h, c_pdf, drop):
    """Whether the bound ``f(0)·H`` on the mass of a narrow rounding cell of width ``H`` is below ``drop``."""
    return c_pdf * h < drop


def _limits(noise, tol):
    """``(limit, gaussian, drop)``: the widest narrow rounding cell (in units of α), whether the noise is Gaussian,
    and the bound below which a far narrow cell is dropped (0 but for Gaussian noise, whose peak is known)."""
    std = float(noise.std)
    gaussian = type(noise).pdf is GaussianNoise.pdf
    limit = WIDE * std if math.isfinite(std) else -1.0  # (no quadrature without a finite std)
    return limit, gaussian, grid_sr.DROP * tol if gaussian else 0.0


def far_cells(vp, lo, hi, alpha, noise, tol):
    """The cells ``lo ≤ t ≤ hi`` (a boolean array) that :func:`r_axis_law` takes out of a row's window unless they
    are its own value's neighbours (:func:`_sort_cells`)."""
    limit, gaussian, drop = _limits(noise, tol)
    c_pdf = _INV_SQRT_2PI / float(noise.s) if gaussian else 0.0  # (drop is 0 otherwise: nothing is far)
    return _far_cells(vp, lo, hi, limit, alpha, c_pdf, drop)


@njit(cache=True, nogil=True)
def _far_cells(vp, lo, hi, limit, alpha, c_pdf, drop):
    n_v = vp.shape[0] - 2
    out = np.zeros(hi - lo + 1, dtype=np.bool_)
    for c in range(lo, hi + 1):
        h = (0.5 * (vp[c + 2] - vp[c])) / alpha
        out[c - lo] = _narrow(c, n_v, h, limit) and _is_far(h, c_pdf, drop)
    return out
