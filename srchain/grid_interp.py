r"""SR's, R's and k-bit SR's move laws for the many states whose mean steps share a binade: interpolated between a
few rows.

Along one axis of a format's grid, the probability that SR (Eq. 6 on the grid) or R (Eq. 4) moves to the value
:math:`v_t` depends on the row only through its mean step :math:`c = x - \alpha g` (:mod:`srchain.grid_chains`):

.. math::

    F_t(c) = \int K_t(y)\,\varphi_\alpha(c - y)\,dy,

with :math:`K_t` the hat function of :math:`v_t` (SR), the indicator of its rounding cell (R) or the staircase of
k-bit SR over its two cells (:mod:`srchain.grid_kbit`; like the others non-negative, at most 1), smoothed by the
step's density :math:`\varphi_\alpha`: for Gaussian noise an entire function of :math:`c`. Near 0 a float grid holds
128 (bf16) or 1024 (fp16) values per binade down to 1e-40, so that thousands of rows have mean steps in a tiny
interval and windows of ~10⁴ cells: on bf16 [−4, 10] at α = 0.01, 32,000 of the 33,185 rows have :math:`|c| < 2^{-8}`.
The rows whose mean step lies in the binade :math:`\pm[2^{e-1}, 2^e)` are computed here from :math:`m` reference
rows, the rule's own law (:func:`srchain.grid_sr.sr_axis_law`, :func:`srchain.grid_r.r_axis_law`) at the binade's
:math:`m` Chebyshev points, by barycentric interpolation: :math:`m` multiply-adds per entry (1 to 3 on most of those
binades) instead of a quadrature or a difference of the noise's excess.

**The error**, relative to each entry. In units of the noise (:math:`a = (c - v)/\alpha`, :math:`s` its standard
deviation, :math:`\eta` the binade's half-width), the density's :math:`m`-th derivative is
:math:`s^{-m}\,\mathrm{He}_m(z/s)\,\varphi_s(z)` with :math:`|\mathrm{He}_m(u)| \le (|u| + \sqrt m)^m`
(:math:`\mathrm{He}_m(u) = \mathrm{E}[(u + iY)^m]` for :math:`Y \sim N(0, 1)`, and
:math:`\mathrm{E}|Y|^j \le m^{j/2}` for :math:`j \le m`). Every :math:`z` that an entry integrates over is at most
:math:`Z` in size (the binade's targets and their cells, :func:`_binade`), so
:math:`|F^{(m)}| \le ((Z/s + \sqrt m)/s)^m F` with :math:`F` changing by a factor at most :math:`e^{2Z\eta/s^2}`
across the binade (:math:`\varphi_s(z + d)/\varphi_s(z) \le e^{|z d|/s^2}`), and interpolation at :math:`m`
Chebyshev points (node polynomial at most :math:`2(\eta/2)^m`) errs by at most

.. math::

    e^{2Z\eta/s^2}\;\frac{2(\eta/2)^m}{m!}\;\Big(\frac{Z/s + \sqrt m}{s}\Big)^m

relative to :math:`F`. A binade takes the smallest :math:`m \le` :data:`POINTS_MAX` that makes this at most
:data:`INTERPOLATION_ERROR` (2⁻⁵⁷, an eighth of an ulp), and only where :math:`2Z\eta/s^2 \le 1`; the reference rows'
own errors (a few ulps; up to 1–3e-11 where SR takes differences of the excess) carry over times the points'
Lebesgue constant (below 3 for :math:`m \le 24`) and that factor (at most :math:`e`). Where a binade's windows reach
an end of the grid, the end cell carries the tail beyond it, :math:`T(a) = \Pr(\bar\xi > a)` (or below): its
derivatives are :math:`\varphi_s^{(m-1)}`, and with the inverse Mills ratio :math:`\varphi(u)/Q(u) \le |u| + 1`,
:math:`|T^{(m)}| \le ((|a|/s + \sqrt m)/s)^m\,T` and :math:`T` changes by at most :math:`e^{(|a|/s + 1)|d|/s}` over a
shift :math:`d`: the bound holds with :math:`Z + s` in place of :math:`Z`, which such a binade takes. Other rows, and
the binades that hold fewer than :data:`ROWS_PER_POINT` values per reference row or whose rows step farther than the
window's reach, are computed directly.

Which cells a row keeps is decided cell by cell exactly as its rule does (the far cells that T_α certainly drops
leave the window, :func:`srchain.grid_sr.far_cells`, :func:`srchain.grid_r.far_cells`), and a binade's parameters
depend on the grid, the noise, α and tol alone: each row's law is the same whichever chunk of rows it is computed in.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from srchain._threads import over_threads
from srchain.errors import SrchainError
from srchain.noise import GaussianNoise

__all__ = [
    "binned_axis_law",
    "interpolated",
    "reference_rows",
    "error_bound",
    "points_needed",
    "POINTS_MAX",
    "INTERPOLATION_ERROR",
    "ROWS_PER_POINT",
]

#: The most reference rows (Chebyshev points) a binade takes.
POINTS_MAX = 24
#: The interpolation's error bound relative to each entry (module docstring): an eighth of an ulp.
INTERPOLATION_ERROR = 2.0**-57
#: A binade is interpolated where the grid holds at least this many values in it per reference row.
ROWS_PER_POINT = 4
#: Window cells per thread of :func:`_interpolate_rows`.
_CELLS_PER_THREAD = 1 << 16


def error_bound(Z: float, eta: float, s: float, m: int) -> float:
    """The interpolation's error relative to each entry at ``m`` Chebyshev points on a binade of half-width ``eta``,
    every ``|z|`` at most ``Z``, in units of the noise of standard deviation ``s`` (the module docstring's bound)."""
    spread = 2.0 * Z * eta / (s * s)
    log = spread + math.log(2.0) + m * math.log(eta / 2.0) - math.lgamma(m + 1.0)
    return math.exp(log + m * math.log((Z / s + math.sqrt(m)) / s))


def points_needed(Z: float, eta: float, s: float) -> int:
    """The fewest Chebyshev points (at most :data:`POINTS_MAX`) whose :func:`error_bound` is at most
    :data:`INTERPOLATION_ERROR`; 0 where none is, or where the entries may change by more than a factor ``e``
    across the binade (``2Zη/s² > 1``)."""
    if not 2.0 * Z * eta / (s * s) <= 1.0:
        return 0
    return next((m for m in range(1, POINTS_MAX + 1) if error_bound(Z, eta, s, m) <= INTERPOLATION_ERROR), 0)


def _binade(key, v, alpha, reach, s):
    """``(c0, eta_w, m, lo, hi)`` of the binade ``key`` (``2e`` for the mean steps in ``[2^{e−1}, 2^e)``,
    ``2e + 1`` for their negatives): its centre and half-width (in value), its number of reference rows (0: not
    interpolated) and the cells ``lo ≤ t ≤ hi`` its rows may target (each row's window: its mean step ± ``reach``,
    two cells more below and one above, and its own value ± 1, within ``reach`` of the mean step; clipped to the
    grid, whose end cells carry the tails beyond it)."""
    e, negative = key >> 1, key & 1
    eta_w = math.ldexp(0.25, e)
    c0 = -3.0 * eta_w if negative else 3.0 * eta_w
    c_lo, c_hi = c0 - eta_w, c0 + eta_w
    lo = int(np.searchsorted(v, c_lo - reach, side="left")) - 3
    hi = int(np.searchsorted(v, c_hi + reach, side="right")) + 2
    end = lo < 1 or hi > v.size - 2  # an end of the grid (its clipped tail) within reach
    lo, hi = max(lo, 0), min(hi, v.size - 1)
    inside = int(np.searchsorted(v, c_hi, side="left") - np.searchsorted(v, c_lo, side="left"))
    gap = float(np.max(np.diff(v[max(lo - 1, 0) : hi + 2])))
    Z = (max(c_hi - v[lo], v[hi] - c_lo) + gap) / alpha  # every |a| of a target, plus its cells' width
    # a tail Pr(ξ̄ > a) has the same bound on its derivatives relative to itself, and changes by at most
    # e^{(|a|/s + 1)|d|/s} over a shift d (the inverse Mills ratio is below |u| + 1): Z + s covers it
    m = points_needed(Z + s if end else Z, eta_w / alpha, s)
    if m and inside < ROWS_PER_POINT * m:
        m = 0
    return c0, eta_w, m, lo, hi


def _weights(tau_nodes, tau):
    """Barycentric interpolation weights ``(len(tau), m)`` at ``tau`` for the nodes ``tau_nodes`` (in [−1, 1])."""
    diff = tau_nodes[:, None] - tau_nodes[None, :]
    np.fill_diagonal(diff, 1.0)
    bary = 1.0 / np.prod(diff, axis=1)
    d = tau[:, None] - tau_nodes[None, :]
    hit = d == 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        q = bary / d
        L = q / q.sum(axis=1, keepdims=True)
    rows = hit.any(axis=1)
    L[rows] = hit[rows]  # a mean step at a node: that reference row itself
    return np.ascontiguousarray(L)


def _binning(noise, x, g, alpha, vp, tol):
    """``(keys, params, binned, c)``: each row's binade key (:func:`_binade`), the parameters of the binades met,
    which rows take an interpolated law, and the mean steps; None where no row does (or the noise is not Gaussian,
    or tol is 0)."""
    if type(noise).pdf is not GaussianNoise.pdf or not tol > 0 or x.size == 0:
        return None
    s = float(noise.s)
    reach = alpha * noise.quantile_width(tol)
    v = vp[1:-1]
    c = x - alpha * g  # the mean steps, as srchain.grid_chains._windows computes them
    _, e = np.frexp(c)
    keys = 2 * e.astype(np.int64) + (c < 0)
    ok = (c != 0.0) & np.isfinite(c) & (np.abs(alpha * g) <= reach)
    params = {int(k): _binade(int(k), v, alpha, reach, s) for k in np.unique(keys[ok])}
    binned = ok & np.isin(keys, [k for k, p in params.items() if p[2]])
    if not binned.any():
        return None
    return keys, params, binned, c


def interpolated(noise, v, x, g, alpha, tol) -> np.ndarray:
    """Which rows (positions ``x``, gradients ``g`` along the axis of values ``v``) take an interpolated law."""
    found = _binning(noise, x, g, alpha, np.r_[v[0], v, v[-1]], tol)
    return np.zeros(x.size, dtype=bool) if found is None else found[2]


def reference_rows(noise, v, x, g, alpha, tol) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """``(binned, refs)``: which rows (positions ``x``, gradients ``g`` along the axis of values ``v``) take an
    interpolated law, and per binade met ``(m, lo, hi)``: its reference rows and the cells they span."""
    found = _binning(noise, x, g, alpha, np.r_[v[0], v, v[-1]], tol)
    if found is None:
        return np.zeros(x.size, dtype=bool), []
    keys, params, binned, _ = found
    return binned, [params[int(k)][2:] for k in np.unique(keys[binned])]


def _references(law, far_cells, noise, alpha, vp, tol, param, own_lo, own_hi, index_dtype):
    """``(refT, far)``: a binade's reference rows, the rule's ``law`` at its Chebyshev points over its cells
    ``lo … hi`` (one row per cell, one column per point), and its far cells (``far_cells``); the cells that no row
    keeps (far ones, but the neighbours of the rows' own values ``own_lo … own_hi``) are left out (0)."""
    c0, eta_w, m, lo, hi = param
    far = far_cells(vp, lo, hi, alpha, noise, tol)
    keep = ~far
    keep[max(own_lo - 1 - lo, 0) : own_hi + 2 - lo] = True  # a row's own value's neighbours are never taken out
    span = hi - lo + 1
    ref_t = np.broadcast_to(np.arange(lo, hi + 1, dtype=index_dtype), (m, span)).copy()
    ref_valid = np.broadcast_to(keep, (m, span)).copy()
    nodes = c0 + eta_w * _chebyshev(m)
    ref = law(noise, nodes, np.zeros(m), alpha, vp, ref_t, np.full(m, lo, dtype=index_dtype), ref_valid,
              np.zeros(m, dtype=np.int64), 0.0)  # fmt: skip
    return np.ascontiguousarray(ref.T), far


def _chebyshev(m):
    return np.cos((2.0 * np.arange(m) + 1.0) * math.pi / (2.0 * m))


def _weights_at(param, c):
    """Each mean step's barycentric weights on the binade's reference rows (:func:`_weights`), with the points as
    rounded (``(node − c0)/η`` exact: same sign, within a factor 2, η a power of 2)."""
    c0, eta_w = param[0], param[1]
    nodes = c0 + eta_w * _chebyshev(param[2])
    return _weights((nodes - c0) / eta_w, (c - c0) / eta_w)


def _each_binade(law, far_cells, noise, alpha, vp, tol, own, found, index_dtype):
    """Per interpolated binade met (``found``: :func:`_binning`'s): ``(rows, L, refT, far, param)``, its rows, their
    weights (:func:`_weights_at`), its reference rows and far cells (:func:`_references`) and its parameters."""
    keys, params, binned, c = found
    for k in np.unique(keys[binned]):
        param = params[int(k)]
        rows = np.flatnonzero(binned & (keys == k))
        refT, far = _references(law, far_cells, noise, alpha, vp, tol, param, int(own[rows].min()),
                                int(own[rows].max()), index_dtype)  # fmt: skip
        yield rows, _weights_at(param, c[rows]), refT, far, param


def binned_axis_law(law, far_cells, noise, x, g, alpha, vp, t, first, valid, own, tol):
    """A rule's move law along one axis (``law``: :func:`srchain.grid_sr.sr_axis_law`,
    :func:`srchain.grid_r.r_axis_law` or :func:`srchain.grid_kbit.kbit_axis_law`, same arguments and result), the
    rows whose mean steps share an interpolated binade from its reference rows (module docstring), the others by
    ``law``. ``far_cells(vp, lo, hi, alpha, noise, tol)`` marks the cells ``lo ≤ t ≤ hi`` that the rule takes out
    of a row's window unless they are its own value's neighbours. ``valid`` is updated as ``law`` does."""
    found = _binning(noise, x, g, alpha, vp, tol)
    if found is None:
        return law(noise, x, g, alpha, vp, t, first, valid, own, tol)
    binned = found[2]
    n, W = t.shape
    probs = np.zeros((n, W))
    rest = np.flatnonzero(~binned)
    if rest.size:
        vr = valid[rest]
        probs[rest] = law(noise, x[rest], g[rest], alpha, vp, t[rest], first[rest], vr, own[rest], tol)
        valid[rest] = vr
    per = max(1, _CELLS_PER_THREAD // max(W, 1))
    for rows, L, refT, far, (_, _, _, lo, hi) in _each_binade(
        law, far_cells, noise, alpha, vp, tol, own, found, t.dtype
    ):
        over_threads(
            lambda i0, i1, rows=rows, L=L, refT=refT, far=far, lo=lo, hi=hi: _interpolate_rows(
                rows, L, refT, lo, hi, far, t, valid, own, probs, i0, i1
            ),
            rows.size,
            per,
        )
    return probs


@njit(cache=True, nogil=True)
def _interpolate_rows(rows, L, refT, lo, hi, far, t, valid, own, probs, k0, k1):
    """The laws of ``rows[k0:k1]`` (their valid cells, all within ``lo … hi``): ``Σ_j L[k, j] · ref_j(t)``, the
    reference rows ``refT`` (one row per cell); a ``far`` cell that is not the row's own value's neighbour leaves
    the window."""
    W = t.shape[1]
    for k in range(k0, k1):
        i = rows[k]
        for w in range(W):
            if not valid[i, w]:
                continue
            cell = t[i, w]
            if cell < lo or cell > hi:  # (the binade's cells hold every window: _binade)
                raise ValueError("a window beyond its binade's cells")
            j = cell - lo
            if far[j] and abs(cell - own[i]) > 1:
                valid[i, w] = False
                continue
            probs[i, w] = _value(L, k, refT, j)


@njit(cache=True, nogil=True, inline="always")
def _value(L, k, refT, j):
    acc = 0.0
    for q in range(L.shape[1]):
        acc += L[k, q] * refT[j, q]
    return max(acc, 0.0)


def interpolated_rows(law, far_cells, noise, vp, x, g, alpha, tol, own, first, last, direct, index_dtype, check):
    """Rows of T_α on a 1-D grid as CSR pieces ``(lengths, columns, values, dropped)``, as
    :func:`srchain.assemble.build_rows` makes them from the move laws, without the tables: the rows whose mean
    steps share an interpolated binade straight from its reference rows (two compiled passes: the entries kept and
    the law's sum, then the entries, normalised), the others by ``direct(rows)`` (their CSR pieces). ``own``,
    ``first`` and ``last``: each row's own index and window; ``check(sums, rows)`` checks the interpolated laws'
    sums (before the tol-drop) as :func:`srchain.operator_checks.check_move_laws` does. None where no row is
    interpolated."""
    found = _binning(noise, x, g, alpha, vp, tol)
    if found is None:
        return None
    binned = found[2]
    n = x.size
    lengths = np.zeros(n, dtype=np.int64)
    sums = np.zeros(n)
    kept = np.zeros(n)  # each row's kept mass (its normaliser), from the first pass
    work = [
        (rows, L, refT, param[3], far, np.flatnonzero(~far) + param[3])
        for rows, L, refT, far, param in _each_binade(law, far_cells, noise, alpha, vp, tol, own, found, np.int64)
    ]
    for rows, _, _, lo, far, _ in work:  # (the binade's cells hold every window, _binade: the kernel relies on it)
        if first[rows].min() < lo or last[rows].max() >= lo + far.size:
            raise SrchainError("internal: a window beyond its binade's cells")
    none_i, none_f = np.zeros(0, dtype=np.int64), np.zeros(0)

    def passes(write, indptr, cols, vals, dropped):
        for rows, L, refT, lo, far, kept_cells in work:
            per = max(1, _CELLS_PER_THREAD // max(int(np.max(last[rows] - first[rows])) + 1, 1))
            over_threads(
                lambda k0, k1, rows=rows, L=L, refT=refT, lo=lo, far=far, kept_cells=kept_cells: _rows_1d(
                    rows, L, refT, lo, far, kept_cells, own, first, last, tol, write, lengths, sums, kept, indptr,
                    cols, vals, dropped, k0, k1,
                ),
                rows.size,
                per,
            )  # fmt: skip

    passes(False, none_i, none_i.astype(index_dtype), none_f, none_f)
    check(sums[binned], np.flatnonzero(binned))
    rest = np.flatnonzero(~binned)
    if rest.size:
        r_len, r_cols, r_vals, r_dropped = direct(rest)
        lengths[rest] = r_len
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    cols = np.empty(int(indptr[-1]), dtype=index_dtype)
    vals = np.empty(int(indptr[-1]))
    dropped = np.zeros(n)
    if rest.size:
        _place_rows(rest, indptr, r_len, r_cols, r_vals, cols, vals)
    passes(True, indptr, cols, vals, dropped)
    worst = float(np.max(np.abs(dropped[binned])))
    return lengths, cols, vals, max(worst, r_dropped) if rest.size else worst


@njit(cache=True, nogil=True)
def _rows_1d(rows, L, refT, lo, far, kept_cells, own, first, last, tol, write, lengths, sums, totals, indptr, cols,
             vals, dropped, k0, k1):  # fmt: skip
    """The interpolated rows ``rows[k0:k1]`` (weights ``L``, reference rows ``refT`` from the cell ``lo``): unless
    ``write``, each row's entries kept into ``lengths``, its law's sum into ``sums`` and its kept mass into
    ``totals``; if ``write``, the entries from ``indptr[i]`` on, each divided by the row's kept mass (the sum of its
    entries in order, as the first pass added them), and the mass dropped. A row's cells are those of its window
    that are not ``far`` (``kept_cells``, in order) and its own value's neighbours; an entry is kept as
    :func:`srchain.assemble._assemble_row_1d` keeps it (at least ``tol``, or the row's own value or a neighbour)."""
    for k in range(k0, k1):
        i = rows[k]
        pos = indptr[i] if write else 0
        total = totals[i]  # (the first pass's; unused by it)
        law = 0.0
        kept = 0.0
        q, near_hi = max(own[i] - 1, first[i]), min(own[i] + 1, last[i])
        e0 = np.searchsorted(kept_cells, first[i])
        e1 = np.searchsorted(kept_cells, last[i], side="right")
        for e in range(e0, e1):
            cell = kept_cells[e]
            while q <= near_hi and q <= cell:  # the own value's neighbours that are far, in order (rare)
                if q < cell:
                    pos, law, kept = _entry(L, k, refT, q - lo, q, total, write, cols, vals, pos, law, kept)
                q += 1
            p = _value(L, k, refT, cell - lo)
            law += p
            if p == 0.0 or not (p >= tol or abs(cell - own[i]) <= 1):
                continue
            if write:
                cols[pos] = cell
                vals[pos] = p / total
            pos += 1
            kept += p
        while q <= near_hi:
            pos, law, kept = _entry(L, k, refT, q - lo, q, total, write, cols, vals, pos, law, kept)
            q += 1
        if not write:
            lengths[i] = pos
            sums[i] = law
            totals[i] = kept
            continue
        dropped[i] = 1.0 - kept


@njit(cache=True, nogil=True)
def _entry(L, k, refT, j, cell, total, write, cols, vals, pos, law, kept):
    """A far cell next to an interpolated row's own value: its probability added to the law's sum, and kept
    (written, divided by the row's kept mass ``total``) unless it is 0 (:func:`_rows_1d`)."""
    p = _value(L, k, refT, j)
    law += p
    if p == 0.0:
        return pos, law, kept
    if write:
        cols[pos] = cell
        vals[pos] = p / total
    return pos + 1, law, kept + p


@njit(cache=True, nogil=True)
def _place_rows(rows, indptr, lengths, cols_in, vals_in, cols, vals):
    """Copy the CSR rows ``rows`` (pieces ``lengths``, ``cols_in``, ``vals_in``) into place."""
    q = 0
    for k in range(rows.size):
        p = indptr[rows[k]]
        for e in range(lengths[k]):
            cols[p + e] = cols_in[q]
            vals[p + e] = vals_in[q]
            q += 1
