r"""R's move law along one axis of a format's grid (Eq. 4 on the grid) at its *narrow* cells, where the difference of
two CDF values loses the law.

R moves to ``v_t`` when the step ``y = x − α(g + ξ̄)`` lands in its rounding cell ``[m_{t−1}, m_t)`` between the
midpoints: :math:`\Pr = \Pr(b_{hi} < \bar\xi \le b_{hi} + H)` with :math:`b_{hi} = (x - m_t)/\alpha - g` and
:math:`H = (m_t - m_{t-1})/\alpha = (v_{t+1} - v_{t-1})/(2\alpha)`. :mod:`srchain.grid_chains` takes it as
``CDF(b_lo) − CDF(b_hi)`` (or the SF's difference), whose rounding error relative to the cell's mass is about
:math:`\epsilon\,\mathrm{std}/H`: all of it at bf16's gaps near 0 (down to 9.2e-41). Where ``H`` is at most
:data:`srchain.wide_moves.WIDE` · std (the same threshold as SR's quadrature; there the difference loses at most
``64 eps`` ≈ 1.4e-14) the density is integrated instead, every term positive:

* by the midpoint rule :math:`H\,f(b_{hi} + H/2)` for Gaussian noise where :math:`(H/s)(1 + |b|/s) < 2^{-26}`:
  its error :math:`H^3 f''/24` is below :math:`2^{-52}/24` of the cell's mass (:math:`f''/f = (z^2 - 1)/s^2`), in
  one compiled pass over the window (on bf16 [−4, 10] at α = 0.01, every value within ~4e-9 of 0);
* by :func:`srchain.wide_moves._integral` (Gauss–Legendre, split where the density has its kink at 0) elsewhere:
  a few ulps relative, however small.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from srchain._threads import over_threads
from srchain.noise import _INV_SQRT_2PI, GaussianNoise
from srchain.wide_moves import WIDE, _integral

__all__ = ["r_narrow_cells"]

#: The midpoint rule is exact to rounding where ``(H/s)·(1 + |b|/s)`` is below this (Gaussian noise).
_MIDPOINT = 2.0**-26
#: Window cells per thread of :func:`_gauss_midpoints` (about 5 ms of work on one).
_CELLS_PER_THREAD = 1 << 16


def r_narrow_cells(noise, exact, b_hi, vp, t, alpha, interior):
    """``exact`` (``(n, W)``, R's law by differences; modified in place and returned) with its narrow cells, those
    among ``interior`` (not at an end of the grid) whose rounding cell is at most ``WIDE`` · std wide in units of
    ξ̄, replaced by the integral of the noise's density over the rounding cell. ``b_hi``: ``(x − m_t)/α − g`` per
    cell; ``t``: the targets clipped into the padded values ``vp`` (``vp[t + 1]`` is ``v_t``)."""
    std = float(noise.std)
    if not math.isfinite(std):
        return exact  # (no quadrature without a finite std)
    limit = WIDE * std
    n, W = exact.shape
    if type(noise).pdf is GaussianNoise.pdf:
        # the midpoint rule in one compiled pass; the other narrow cells are marked for Gauss–Legendre
        quad = np.zeros((n, W), dtype=np.bool_)
        s = float(noise.s)
        rows = max(1, _CELLS_PER_THREAD // max(W, 1))
        over_threads(
            lambda i0, i1: _gauss_midpoints(exact, b_hi, vp, t, alpha, interior, limit, s, quad, i0, i1), n, rows
        )
    else:
        H = (0.5 * (vp[t + 2] - vp[t])) / alpha
        quad = interior & (H <= limit)
    r, w = np.nonzero(quad)
    if r.size:
        h = (0.5 * (vp[t[r, w] + 2] - vp[t[r, w]])) / alpha
        exact[r, w] = h * _integral(noise.pdf, b_hi[r, w], h, 1.0, False)
    return exact


@njit(cache=True, nogil=True)
def _gauss_midpoints(exact, b_hi, vp, t, alpha, interior, limit, s, quad, i0, i1):
    """Rows ``i0 ≤ i < i1``: each interior cell whose rounding cell ``H = (v_{t+1} − v_{t−1})/(2α)`` is at most
    ``limit`` wide takes ``H·f(b + H/2)`` where ``(H/s)(1 + |b|/s) <`` :data:`_MIDPOINT` (the density as
    :meth:`srchain.noise.GaussianNoise.pdf` computes it), else is marked in ``quad``."""
    c_pdf = _INV_SQRT_2PI / s
    for i in range(i0, i1):
        for j in range(exact.shape[1]):
            if not interior[i, j]:
                continue
            c = t[i, j]
            h = (0.5 * (vp[c + 2] - vp[c])) / alpha
            if h > limit:
                continue
            a = b_hi[i, j]
            if (h / s) * (1.0 + abs(a) / s) < _MIDPOINT:
                z = (a + 0.5 * h) / s
                exact[i, j] = h * (math.exp(-0.5 * z * z) * c_pdf)
            else:
                quad[i, j] = True
