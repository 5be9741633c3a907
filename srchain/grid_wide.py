r"""SR's move law at the *wide* cells of a format's grid: cells whose gaps on both sides are at most
:data:`srchain.wide_moves.WIDE` · α·std (bf16 and fp16 near 0, down to gaps of 9.2e-41), where the divided second
difference of :mod:`srchain.grid_chains` would be all rounding. There the hat function is integrated against the
noise's density by Gauss–Legendre (:func:`srchain.wide_moves._integral`, as on the fixed lattice); for Gaussian noise
in two compiled passes around NumPy's ``exp`` (:func:`gauss_hat_integrals`), the same bits as the array form except
at half cells so narrow that one or two nodes are exact to rounding (:data:`ONE_NODE`, :data:`TWO_NODES`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from srchain._threads import over_threads
from srchain.noise import _INV_SQRT_2PI, GaussianNoise
from srchain.wide_moves import _T, _WT, NODES, _integral

__all__: list[str] = []


def _arg(x, v, g, alpha):
    """``(x − v)/α − g``: exactly −g at ``v = x``; ``±inf`` when ``(x − v)/α`` overflows (the tails are 0 there)."""
    d = x - v
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        s = np.where(d == 0, 0.0, d / alpha)
    return s - g


def _wide_cells(noise, x, g, alpha, vp, t, wide, probs):
    r"""SR's law at the cells whose gaps are both at most :data:`srchain.wide_moves.WIDE` · α·std, by quadrature of
    the noise's density instead of differences of its excess (which lose :math:`4\epsilon(\alpha\,\mathrm{std}/h)^2`
    relative there: all of it at bf16's gaps near 0). With :math:`a = (x - v_t)/\alpha - g` and
    :math:`H_{0,1} = h_{t-1,t}/\alpha`, the hat function integrated against the step's density is

    .. math::

        \Pr(Q_s = v_t) = H_0\int_0^1 (1-u)\,f(a + H_0 u)\,du + H_1\int_0^1 (1-u)\,f(a - H_1 u)\,du,

    with :math:`\Pr(\bar\xi \ge a)` (the lowest value) or :math:`\Pr(\bar\xi \le a)` (the highest) in place of the
    half beyond the grid: every term positive, a few ulps relative however small (:mod:`srchain.wide_moves` does the
    same on the fixed lattice). ``wide`` lists those cells as ``(rows, columns)``, row-major
    (:func:`srchain.grid_sr.sr_axis_law` finds them, the far cells that T_α certainly drops taken out before); other
    cells keep ``probs``."""
    nv = vp.shape[0] - 2
    r, w = wide
    if not r.size:
        return probs
    if type(noise).pdf is GaussianNoise.pdf:  # the same bits in two compiled passes around NumPy's exp
        a, lower, upper = gauss_hat_integrals(x, g, alpha, vp, t, r, w, float(noise.s))
    else:
        c = t[r, w]
        a = _arg(x[r], vp[c + 1], g[r], alpha)
        H0 = (vp[c + 1] - vp[c]) / alpha
        H1 = (vp[c + 2] - vp[c + 1]) / alpha
        lower = H0 * _integral(noise.pdf, a, H0, 1.0, True)
        upper = H1 * _integral(noise.pdf, a, H1, -1.0, True)
    edge = np.empty(2 * t.shape[0], dtype=np.int64)
    ks = edge[: _place_law(probs, r, w, t, lower, upper, nv, edge)]  # (probs: a fresh array of the caller's)
    # the tails beyond the grid, only where they are added: at the lowest and the highest value
    c = t[r[ks], w[ks]]
    first = c == 0
    last = (c == nv - 1) & ~first
    law = lower[ks] + upper[ks]
    law[first] = noise.sf(a[ks][first]) + upper[ks][first]
    law[last] = noise.cdf(a[ks][last]) + lower[ks][last]
    probs[r[ks], w[ks]] = law
    return probs


@njit(cache=True, nogil=True)
def _place_law(probs, r, w, t, lower, upper, nv, edge):
    """``probs[r, w] = lower + upper`` at every wide cell; the cells at the lowest or highest value, whose tails
    beyond the grid replace one half, are listed in ``edge``: returns how many (at most two a row: a row's valid
    targets are distinct values of the grid)."""
    m = 0
    for k in range(r.size):
        i, j = r[k], w[k]
        probs[i, j] = lower[k] + upper[k]
        c = t[i, j]
        if c == 0 or c == nv - 1:
            edge[m] = k
            m += 1
    return m


#: A half cell of width ``h`` (in units of α) at ``a`` takes one node, at the centroid of its weight ``1 − u``,
#: where ``(h/s)(1 + |a|/s + h/s)`` is below this: the log-density's slope and curvature over the cell are then below
#: 2^-26 and 2^-52, and the one-node rule's relative error, about ``(φ'² + |φ''|)/36``, below 2^-56 (half an ulp is
#: 2^-53). On bf16 [−4, 10] at α = 0.01, half the cells that the quadrature takes (those within ~1e-8 of 0) qualify.
ONE_NODE = 2.0**-26
#: Below this (the same quantity), two nodes: Gauss's rule for the weight ``1 − u`` on [0, 1] (nodes
#: ``0.4 ∓ √0.06``, exact for cubics). With ``φ'' = (h/s)²`` the density's fourth derivative is at most ``10 C⁴`` of
#: it, and the rule's relative error ``10 C⁴/4! · ∫(1 − u)p₂² / ½ = C⁴/720`` is below 2^-57 (``p₂`` its node
#: polynomial, ``∫(1 − u)p₂² = 1/600``). On bf16 [−4, 10] at α = 0.01, the cells within ~1e-3 of 0 that one node does
#: not take.
TWO_NODES = 2.0**-12
_T2 = np.array([0.4 - math.sqrt(0.06), 0.4 + math.sqrt(0.06)])
_W2 = np.array([0.25 + 1.0 / (60.0 * math.sqrt(0.06)), 0.25 - 1.0 / (60.0 * math.sqrt(0.06))])  # Σ = ½, Σ W u = 1/6
#: Cells per block of :func:`gauss_hat_integrals` (its two node arrays: at most 1 MiB, in L2).
_CELL_BLOCK = 1 << 12
#: Cells from which :func:`gauss_hat_integrals` uses a second thread (about 10 ms of work on one).
_CELLS_PER_THREAD = 1 << 16


def gauss_hat_integrals(x, g, alpha, vp, t, r, w, s):
    r"""SR's hat-function integrals at the wide cells ``(r, w)`` of a format's grid for Gaussian noise of standard
    deviation ``s``: ``(a, lower, upper)`` with :math:`a = (x - v_c)/\alpha - g`, ``lower`` =
    ``H0 * _integral(pdf, a, H0, 1.0, True)`` and ``upper`` = ``H1 * _integral(pdf, a, H1, -1.0, True)``
    (:func:`_wide_cells`' quadrature), bit for bit (except where a half cell takes one or two nodes,
    :data:`ONE_NODE`, :data:`TWO_NODES`: within 2^-56 relative of the exact integral there): the same operations on
    every element, in
    the same order, with NumPy's ``exp`` (whose results differ from the C library's in the last bit for a few
    percent of arguments) between two compiled passes over a block of cells. Each integral is split where the
    density peaks, and nearly always that point lies beyond the cell, so one of its two pieces has no width: its
    nodes are not evaluated (they add exactly +0 to a non-negative sum), which halves the ``exp`` calls. The cells
    are split over Numba's threads (each cell is computed by one, so the bits do not depend on how many), each with
    its own blocks."""
    m = r.size
    a, lower, upper = np.empty(m), np.empty(m), np.empty(m)
    c_pdf = _INV_SQRT_2PI / s

    def part(k0, k1):
        q = np.empty(_CELL_BLOCK * 4 * NODES)  # the pieces with a width, NODES entries each, in order
        span = np.empty((_CELL_BLOCK * 4, 2))  # each such piece's start and width
        pieces = np.empty((_CELL_BLOCK, 2), dtype=np.int64)
        for b0 in range(k0, k1, _CELL_BLOCK):
            b1 = min(k1, b0 + _CELL_BLOCK)
            used = _gauss_nodes(x, g, alpha, vp, t, r, w, b0, b1, s, _T, _T2, a, q, span, pieces)
            e = q[:used]
            np.exp(e, out=e)
            _gauss_sums(alpha, vp, t, r, w, b0, b1, c_pdf, q, span, _T, _WT, _W2, pieces, lower, upper)

    over_threads(part, m, _CELLS_PER_THREAD)
    return a, lower, upper


@njit(cache=True, nogil=True)
def _gauss_nodes(x, g, alpha, vp, t, r, w, k0, k1, s, tn, t2, a, q, span, pieces):
    """For the cells ``k0 ≤ k < k1``: ``a`` (as :func:`_arg`), and per integral and piece of nonzero width, in order,
    per node the exponent ``-0.5 z z`` of the density at ``a ± h·u`` (:func:`srchain.wide_moves._integral_block`'s
    operations), packed into ``q``, and the piece's start and width into ``span``; ``pieces[k − k0, side]`` is 1 or 2
    (which pieces: the first if it has a width, the second if it has), or −1 / −2 where the half cell takes one node
    (:data:`ONE_NODE`: one exponent, at u = 1/3) or two (:data:`TWO_NODES`). Returns the entries written."""
    pos = 0
    p = 0
    for k in range(k0, k1):
        i = r[k]
        c = t[i, w[k]]
        d = x[i] - vp[c + 1]
        ak = (0.0 if d == 0 else d / alpha) - g[i]
        a[k] = ak
        b = k - k0
        for side in range(2):
            sign = 1.0 if side == 0 else -1.0
            h = (vp[c + 1] - vp[c]) / alpha if side == 0 else (vp[c + 2] - vp[c + 1]) / alpha
            crit = (h / s) * (1.0 + abs(ak) / s + h / s)
            if crit < ONE_NODE:  # one node at the weight's centroid u = 1/3
                pieces[b, side] = -1
                z = (ak + (sign * h) / 3.0) / s
                q[pos] = -0.5 * z * z
                pos += 1
                continue
            if crit < TWO_NODES:  # Gauss's two nodes for the weight 1 − u
                pieces[b, side] = -2
                for j in range(2):
                    z = (ak + (sign * h) * t2[j]) / s
                    q[pos + j] = -0.5 * z * z
                pos += 2
                continue
            cut = (-sign * ak) / h if h > 0 else 0.0
            cut = min(max(cut, 0.0), 1.0)
            sh = sign * h
            first = 0 if cut > 0.0 else 1  # a piece of no width adds exactly +0: skipped
            last = 2 if cut < 1.0 else 1
            pieces[b, side] = last - first
            for piece in range(first, last):
                lo = 0.0 if piece == 0 else cut
                width = cut if piece == 0 else 1.0 - cut
                span[p, 0] = lo
                span[p, 1] = width
                p += 1
                for j in range(tn.size):
                    u = lo + width * tn[j]
                    z = (ak + sh * u) / s
                    q[pos + j] = -0.5 * z * z
                pos += tn.size
    return pos


@njit(cache=True, nogil=True)
def _gauss_sums(alpha, vp, t, r, w, k0, k1, c_pdf, e, span, tn, wn, w2, pieces, lower, upper):
    """``lower`` and ``upper`` of the cells ``k0 ≤ k < k1`` from the densities' exponentials ``e`` (packed as
    :func:`_gauss_nodes` wrote them) and the weights ``width·w_j·(1 − u)`` of each piece: each the sum of its
    pieces' weighted densities in :func:`srchain.wide_moves._integral_block`'s order, times ``H0`` or ``H1``."""
    pos = 0
    p = 0
    for k in range(k0, k1):
        i = r[k]
        c = t[i, w[k]]
        b = k - k0
        for side in range(2):
            acc = 0.0
            if pieces[b, side] == -1:  # one node (see ONE_NODE): the weight 1 − u integrates to 1/2
                acc = 0.5 * (e[pos] * c_pdf)
                pos += 1
            elif pieces[b, side] == -2:  # two (see TWO_NODES)
                acc += w2[0] * (e[pos] * c_pdf)
                acc += w2[1] * (e[pos + 1] * c_pdf)
                pos += 2
            for _ in range(pieces[b, side]):
                lo = span[p, 0]
                width = span[p, 1]
                p += 1
                for j in range(NODES):
                    u = lo + width * tn[j]
                    acc += (width * wn[j] * (1.0 - u)) * (e[pos + j] * c_pdf)
                pos += NODES
            if side == 0:
                lower[k] = ((vp[c + 1] - vp[c]) / alpha) * acc
            else:
                upper[k] = ((vp[c + 2] - vp[c + 1]) / alpha) * acc
