r"""Exact chains on a format's grid (:class:`srchain.grids.Grid`): T_α for SR, SR with k random bits and R, the
limit operator Ũ (α → 0) and R's stall set.

On a grid of sorted values :math:`v` (per axis) the spacing :math:`h_t = v_{t+1} - v_t` depends on the position.
From the state :math:`x = v_c` the step is :math:`y = x - \alpha(g + \bar\xi)` with :math:`g = \partial_k f(x)`, and,
with the ramp :math:`R(t) = t^+`, the hat function of the value :math:`v_t` is a divided second difference:

.. math::

    \mathrm{hat}_t(y) = \frac{R(y - v_{t-1})}{h_{t-1}} - R(y - v_t)\Big(\frac{1}{h_{t-1}} + \frac{1}{h_t}\Big)
                        + \frac{R(y - v_{t+1})}{h_t}.

Since :math:`\mathbb{E}[R(y - v)] = \alpha\Lambda(a)` with :math:`a = (x - v)/\alpha - g` and
:math:`\Lambda(a) = \mathbb{E}[(a - \bar\xi)^+]`, SR (Eq. 6 on the grid) moves to :math:`v_t` with probability

.. math::

    \Pr(Q_s(y) = v_t) = \mathrm{hat}_t(x - \alpha g)
        + \alpha\Big[\frac{E(a_{t-1})}{h_{t-1}} - E(a_t)\Big(\frac{1}{h_{t-1}} + \frac{1}{h_t}\Big)
        + \frac{E(a_{t+1})}{h_t}\Big],

the deterministic rounding of the mean step plus the noise's correction in terms of the excess
:math:`E(a) = \Lambda(a) - a^+` (small in both tails, :meth:`srchain.noise.NoiseModel.excess`), so tiny
probabilities keep their relative accuracy as in :mod:`srchain.operators`; with :math:`h_t \equiv \Delta` it is
that module's formula. Where both gaps of a cell are at most :data:`srchain.wide_moves.WIDE` · α·std (bf16
and fp16 near 0, down to gaps of 9e-41) the differences would be rounding: there the hat function is integrated
against the noise's density by Gauss–Legendre instead (:mod:`srchain.grid_wide`), as :mod:`srchain.wide_moves` does
on the lattice; :mod:`srchain.grid_sr` sorts the cells between the two forms. R integrates the density over its
rounding cells at most WIDE·α·std wide (:mod:`srchain.grid_r`), and k-bit SR its staircase under Gaussian noise
(:mod:`srchain.grid_kbit`); under other noise k-bit SR's first differences are refused below 2^-30·α·std.
The ends of the grid carry the clipped tails (the projection the paper assumes).

R (Eq. 4 on the grid) moves to :math:`v_t` when :math:`y` falls between the midpoints around it (ties to even;
of probability zero for continuous noise, enumerated exactly for discrete noise). SR with :math:`k` random bits
(:mod:`srchain.rounding`) takes the value farther from zero with the truncated probability
:math:`\lfloor 2^k q_a\rfloor / 2^k`: its move law integrates that staircase against the step's density
(:mod:`srchain.grid_kbit`).

Rows whose mean steps :math:`x - \alpha g` share a binade (thousands near 0 on bf16 and fp16) take their law
by interpolation between a few reference rows, within 2^-57 of each entry (:mod:`srchain.grid_interp`).

The rows are assembled by :mod:`srchain.assemble` exactly as on a lattice (product over coordinates, entries below
``tol`` dropped except the self-loop and nearest-neighbour moves, rows renormalised).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.sparse as sp
from numba import njit

from srchain.assemble import RowsBuffer, build_rows, count_rows, per_value, stack_tables
from srchain.budget import check_memory
from srchain.errors import SrchainError
from srchain.grid_interp import binned_axis_law, interpolated_rows, reference_rows
from srchain.grid_kbit import far_cells as kbit_far_cells
from srchain.grid_kbit import half_costs, kbit_axis_law
from srchain.grid_r import far_cells as r_far_cells
from srchain.grid_r import r_axis_law
from srchain.grid_sr import DROP, sr_axis_law
from srchain.grid_sr import far_cells as sr_far_cells
from srchain.grids import Grid, axis_parity, axis_values
from srchain.noise import GaussianNoise, NoiseModel
from srchain.operator_checks import check_dropped, check_move_tables, check_stochastic, check_sums
from srchain.problems import Problem
from srchain.quantize import check_alpha
from srchain.rounding import check_sr_bits, kbit_up_probability
from srchain.wide_moves import WIDE

__all__ = [
    "grid_transition_matrix",
    "grid_move_laws",
    "grid_move_tables",
    "grid_u_tilde",
    "grid_limit_chain",
    "stall_set",
    "grid_estimate",
    "prepare_rows",
    "chunk_rows",
    "GRID_METHODS",
]

GRID_METHODS = ("sr", "r")
#: Memory for one chunk's move tables (as in :mod:`srchain.operators`).
CHUNK_BYTES = 512 * 2**20
_TABLES = 12
#: Most CDF (and density) evaluations one k-bit SR operator may make (up to ``2^k`` per cell and row).
KBIT_MAX_WORK = 4e8


def _gradients(problem: Problem, grid) -> np.ndarray:
    return np.asarray(problem.gradient(grid.points), dtype=np.float64).reshape(grid.size, grid.dim)


def _reach(noise: NoiseModel, grads, alpha, tol):
    """Half-width of the step's support around the mean step (``inf`` for tol = 0)."""
    q = noise.quantile_width(tol) if tol > 0 else math.inf
    return alpha * q


def _windows(grid, rows, grads, alpha, spread):
    """Per row (the grid's ``rows``, a slice or indices; ``grads`` theirs) and axis the first and last target index
    (:func:`_axis_windows`) and the row's own index. Where an axis' gradient is a function of the position along it
    (:func:`srchain.assemble.per_value`), its windows are found once per value."""
    points, coords = grid.points[rows], np.array(grid.coords[rows], dtype=np.int64)
    lo = np.empty(points.shape, dtype=np.int64)
    hi = np.empty(points.shape, dtype=np.int64)
    for k in range(grid.dim):  # axes, vectorised over states
        c = coords[:, k]
        first, each = per_value(c, grads[:, k], grid.shape[k]) if grid.dim > 1 else (None, None)
        pick = slice(None) if first is None else first
        a, b = _axis_windows(grid, k, c[pick], points[pick, k], grads[pick, k], alpha, spread)
        lo[:, k], hi[:, k] = (a, b) if first is None else (a[each], b[each])
    return lo, hi, coords


def _axis_windows(grid, k, c, x, g, alpha, spread):
    """``(lo, hi)``: the first and last target index along axis ``k`` of rows at indices ``c``, positions ``x``,
    gradients ``g`` there (mean step ± spread, one cell more, own ± 1)."""
    v = axis_values(grid, k)
    ym = x - alpha * g
    with np.errstate(invalid="ignore", over="ignore"):
        a = np.searchsorted(v, ym - spread, side="right") - 2
        b = np.searchsorted(v, ym + spread, side="left") + 1
    return np.clip(np.minimum(a, c - 1), 0, v.size - 1), np.clip(np.maximum(b, c + 1), 0, v.size - 1)


def _pad(v):
    """Values with one extra value at each end (a mirror of the end spacing) so that ``t ± 1`` always exists."""
    return np.concatenate([[2 * v[0] - v[1]], v, [2 * v[-1] - v[-2]]])


def _axis_law(noise, v, even, x, g, alpha, tgt, valid, method, bits, own, tol):
    """Move law along one axis for rows with positions ``x`` (n,), gradients ``g`` (n,), targets ``tgt`` (n, W),
    their own indices ``own`` (n,); ``tol``: T_α's (entries below it, not nearest-neighbour moves, are dropped).
    ``tgt`` is clipped to the grid in place (only padding beyond a row's window lies outside it)."""
    n_v = v.size
    vp = _pad(v)
    t = np.clip(tgt, 0, n_v - 1, out=tgt)
    if not noise.is_discrete:  # SR, R and k-bit SR: each rule's law, interpolated where rows share a binade
        law, far = _rule_law(method, bits)
        first = np.ascontiguousarray(tgt[:, 0])
        return binned_axis_law(law, far, noise, x, g, alpha, vp, t, first, valid, own, tol)
    vm, v0, v1 = vp[t], vp[t + 1], vp[t + 2]  # v_{t-1}, v_t, v_{t+1}
    h0, h1 = v0 - vm, v1 - v0
    at_lo, at_hi = t == 0, t == n_v - 1
    law = _axis_law_discrete(noise, v, even, x[:, None], g[:, None], alpha, vm, v0, v1, h0, h1, at_lo, at_hi, t,
                             method, bits)  # fmt: skip
    return np.where(valid, law, 0.0)  # none in the padding (the clipped end's tail would be counted again)


def _rule_law(method, bits):
    """``(law, far_cells)`` of a rule on continuous noise (:func:`srchain.grid_interp.binned_axis_law`'s)."""
    if method == "r":
        return r_axis_law, r_far_cells
    if bits is None:
        return sr_axis_law, sr_far_cells
    return functools.partial(kbit_axis_law, bits=bits), kbit_far_cells


def _axis_law_discrete(noise, v, even, xx, gg, alpha, vm, v0, v1, h0, h1, at_lo, at_hi, t, method, bits):
    """Discrete noise: the law enumerated over its support (exact, no differences)."""
    vals, w = noise.support()
    out = np.zeros(v0.shape)
    for val, p in zip(vals, w, strict=True):  # the support is small
        y = xx - alpha * (gg + val)
        if method == "r":
            j = np.clip(np.searchsorted(v, y, side="right") - 1, 0, v.size - 2)
            mid = 0.5 * (v[j] + v[j + 1])
            up = (y > mid) | ((y == mid) & even[j + 1])
            idx = np.where(up, j + 1, j)
            idx = np.where(y >= v[-1], v.size - 1, np.where(y <= v[0], 0, idx))
            out += p * (t == idx)
            continue
        yc = np.clip(y, v[0], v[-1])
        j = np.clip(np.searchsorted(v, yc, side="right") - 1, 0, v.size - 2)
        if bits is None:
            pu = (yc - v[j]) / (v[j + 1] - v[j])
        else:
            pu = kbit_up_probability(yc, v, bits)
        out += p * (np.where(t == j + 1, pu, 0.0) + np.where(t == j, 1.0 - pu, 0.0))
    return out


def _rule(method) -> str:
    from srchain.rules import parse_rule

    rule = parse_rule(method)
    if not rule.is_lattice_chain:
        raise SrchainError(f"unknown method {method!r} for a chain on a grid; choose one of {', '.join(GRID_METHODS)}")
    return rule.label


def grid_move_laws(problem, noise, grid, alpha, method="sr", tol=1e-14, grads=None, rows=None, sr_bits=None):
    """Per-coordinate move laws on a grid: ``(targets, probs, own)``, each ``(n, d, W)`` / ``(n, d)``; targets
    ``-1`` mark no entry (windows differ between rows). (:func:`grid_move_tables` without a table per row.)"""
    targets, probs, row_of, own = grid_move_tables(problem, noise, grid, alpha, method, tol, grads, rows, sr_bits)
    return targets[row_of], probs[row_of], own


def grid_move_tables(problem, noise, grid, alpha, method, tol, grads=None, rows=None, sr_bits=None):
    """The move laws of :func:`grid_move_laws` as the assembly reads them (:func:`srchain.assemble.build_rows`):
    ``(targets, probs, row_of, own)``, tables ``(m, W)`` and each row's table row per axis ``(n, d)``. Along an
    axis whose gradient is a function of the position along it (:func:`srchain.assemble.per_value`) a table row is
    one value's law, shared by every row at that value (a separable problem's box: one per value), else one row's."""
    alpha = check_alpha(alpha)
    method = _rule(method)
    bits = check_sr_bits(sr_bits)
    rows = slice(0, grid.size) if rows is None else rows
    pts = grid.points[rows]
    if grads is None:
        grads = np.asarray(problem.gradient(pts), dtype=np.float64).reshape(-1, grid.dim)
    spread = _reach(noise, grads, alpha, tol)
    own = np.array(grid.coords[rows], dtype=np.int64)
    n, d = own.shape
    axes = []  # per axis: the rows whose laws are computed, each row's among them, their windows
    for k in range(d):
        first, each = per_value(own[:, k], grads[:, k], grid.shape[k]) if d > 1 else (None, None)
        pick = slice(None) if first is None else first
        axes.append((pick, each, *_axis_windows(grid, k, own[pick, k], pts[pick, k], grads[pick, k], alpha, spread)))
    W = max(int(np.max(hi - lo)) + 1 for _, _, lo, hi in axes) if n else 1
    offs = np.arange(W, dtype=np.int64)
    tables = []
    for k, (pick, each, lo, hi) in enumerate(axes):
        v = axis_values(grid, k)
        t = lo[:, None] + offs
        valid = t <= hi[:, None]
        law = _axis_law(
            noise, v, axis_parity(grid, k), pts[pick, k], grads[pick, k], alpha, t, valid, method, bits,
            np.ascontiguousarray(own[pick, k]), tol,
        )  # fmt: skip
        np.copyto(t, -1, where=~valid)
        tables.append((t, law, each))
    return (*stack_tables(tables, n), own)


#: A chunk's rows have windows within this factor of each other (tables are as wide as the chunk's widest row),
#: or within :data:`_WIDTH_SLACK` cells: narrow windows are padded rather than split into many small chunks, each of
#: which costs a few hundred microseconds of Python (a 2-D bf16 box of 10^6 states, windows of 5 to 11 cells, was cut
#: into 3347 chunks).
_WIDTH_SPREAD = 1.3
_WIDTH_SLACK = 16


def _chunks(grid, grads, alpha, spread):
    """Row ranges whose move tables fit :data:`CHUNK_BYTES` and whose windows are of similar width (on a format's
    grid the window grows where the values are dense; consecutive rows change it gradually). Where every axis' law
    is one per value (:func:`srchain.assemble.per_value`), the tables are as many as the values and only the rows'
    own arrays (windows, table rows) grow with a chunk: chunks of :data:`CHUNK_BYTES` of those."""
    c, pts = grid.coords, grid.points
    shared = [per_value(c[:, k], grads[:, k], grid.shape[k]) for k in range(grid.dim)] if grid.dim > 1 else []
    if shared and all(first is not None for first, _ in shared):
        width = np.zeros(grid.size, dtype=np.int64)
        for k, (first, each) in enumerate(shared):  # (each value's window, as _windows finds it)
            lo, hi = _axis_windows(grid, k, c[first, k], pts[first, k], grads[first, k], alpha, spread)
            np.maximum(width, (hi - lo)[each], out=width)
        width += 1
        ends = np.r_[np.arange(0, grid.size, CHUNK_BYTES // (grid.dim * 8 * _TABLES))[1:], grid.size]
    else:
        lo, hi, _ = _windows(grid, slice(None), grads, alpha, spread)
        width = (hi - lo).max(axis=1) + 1
        ends = _chunk_ends(width, grid.dim * 8 * _TABLES, CHUNK_BYTES, _WIDTH_SPREAD, _WIDTH_SLACK)
    starts = np.concatenate([[0], ends[:-1]])
    return list(zip(starts.tolist(), ends.tolist(), strict=True)), width, None


@njit(cache=True, nogil=True)
def _chunk_ends(width, row_bytes, chunk_bytes, spread, slack):
    """End of each chunk of :func:`_chunks` (greedy over consecutive rows)."""
    n = width.shape[0]
    ends = np.empty(n, dtype=np.int64)
    m = 0
    start = 0
    while start < n:
        end, wmin, wmax = start + 1, width[start], width[start]
        while end < n:
            w = width[end]
            lo_w, hi_w = min(wmin, w), max(wmax, w)
            if hi_w > max(spread * lo_w, lo_w + slack) or (end + 1 - start) * (hi_w + 2) * row_bytes > chunk_bytes:
                break
            wmin, wmax, end = lo_w, hi_w, end + 1
        ends[m] = end
        m += 1
        start = end
    return ends[:m]


#: Bytes per kept entry while T_α is assembled: the columns and values (16), as much again while their buffer grows
#: (:class:`srchain.assemble.RowsBuffer`: it holds 10% more than its first chunk's rate asks, and copies what it has
#: once if a later chunk does not fit) and the int32 indices SciPy may make of them (4), rounded up.
_ASSEMBLY_BYTES = 40
#: Bytes per entry of the elimination fill of a 1-D chain (value and column index of a sparse row).
_FILL_BYTES = 12


def grid_estimate(problem, noise, grid, alpha, method="sr", tol=1e-14, sr_bits=None, samples=64, with_tables=False):
    """``(bytes, nnz)`` of :func:`grid_transition_matrix` *and its stationary solve*: the entries kept on evenly
    spaced sample rows (as many as one chunk's tables hold at the widest window), scaled to all rows; nothing of
    size n × window is allocated.

    The bytes count the assembly's peak (:data:`_ASSEMBLY_BYTES` per entry) and, on a 1-D grid, the fill of GTH
    elimination in the natural order (banded or nested dissection alike: a state's move window couples every state
    in it, so eliminating it fills its whole window): :data:`_FILL_BYTES` per state of every row's window. On a grid
    holding 0 the windows near 0 span nearly every state (bf16 on [−4, 10]: about 10,600 entries kept per row but
    windows of up to all 33,185 states, about 10 GiB of fill), which is why such grids take
    :mod:`srchain.grid_dense`'s route. ``with_tables``: also the bytes of one chunk's move tables (a third item)."""
    alpha = check_alpha(alpha)
    grads = _gradients(problem, grid)
    spread = _reach(noise, grads, alpha, tol)
    n = grid.size
    lo, hi, _ = _windows(grid, slice(None), grads, alpha, spread)
    widest = int(np.max(hi - lo)) + 1
    fit = min(n, max(1, int(CHUNK_BYTES // (grid.dim * (widest + 2) * 8 * _TABLES))))  # rows of one chunk
    idx = np.unique(np.linspace(0, n - 1, min(n, samples, fit)).astype(np.int64))
    targets, probs, row_of, own = grid_move_tables(problem, noise, grid, alpha, method, tol, grads[idx], idx, sr_bits)
    per_row = count_rows(targets, probs, grid, tol, own, row_of) / idx.size
    nnz = per_row * n * 1.1 + n
    fill = _FILL_BYTES * float(np.sum(hi - lo + 1)) if grid.dim == 1 else 0.0
    tables = min(CHUNK_BYTES, fit * widest * grid.dim * 8 * _TABLES)
    need = int(nnz * _ASSEMBLY_BYTES + n * grid.dim * 8 * 4 + tables + fill)
    return (need, int(nnz), int(tables)) if with_tables else (need, int(nnz))


#: SR's move law is a divided *second* difference of the excess at gaps ``h``: its rounding error relative to a
#: cell's probability is about ``4 eps (α·std/h)²`` (the excess is O(std), the cell's mass O(h/(α·std))), 6e-5 at
#: ``h = 2^-18·α·std`` and falling as ``h²``; at bf16's gaps near 0 (9.2e-41) it is all rounding. k-bit SR under
#: non-Gaussian noise takes first differences of the CDF: ``eps·α·std/h``, 2.4e-7 at ``2^-30·α·std`` (under Gaussian
#: noise it integrates the density over narrow cells, :mod:`srchain.grid_kbit`, as R does, :mod:`srchain.grid_r`).
_RESOLVE_SR = 2.0**-18
_RESOLVE_FIRST = 2.0**-30


def _check_resolvable(noise: NoiseModel, grid, alpha, method, bits) -> None:
    """Refuse a grid whose gaps are too fine for float64 to resolve the move law at this α where no quadrature takes
    over: k-bit SR under non-Gaussian noise (first differences of the CDF) on a grid holding 0 in bf16 or fp16 (gaps
    down to 9e-41 or 6e-8); for SR, only a tiny gap next to one wider than :data:`srchain.wide_moves.WIDE` · α·std
    (possible on :meth:`Grid.from_values` grids, never on a format's, whose neighbouring gaps differ by at most 2×).
    R integrates the density over its narrow rounding cells (:mod:`srchain.grid_r`) and is never refused; nor is
    k-bit SR under Gaussian noise (:mod:`srchain.grid_kbit`)."""
    if noise.is_discrete or method == "r" or (bits is not None and _gaussian(noise)):
        return
    std = float(noise.std)
    if not math.isfinite(std):
        return
    sr = method == "sr" and bits is None
    limit = (_RESOLVE_SR if sr else _RESOLVE_FIRST) * alpha * std
    for k in range(grid.dim):
        v = axis_values(grid, k)
        gaps = np.diff(v)
        if not gaps.size:
            continue
        small = np.minimum(np.r_[gaps, np.inf], np.r_[np.inf, gaps]) < limit  # per value: its smaller gap
        if sr:
            small &= np.maximum(np.r_[gaps, 0.0], np.r_[0.0, gaps]) > WIDE * alpha * std
        if small.any():
            fine = np.abs(v[small]).max()
            raise SrchainError(
                f"the {getattr(grid, 'format', 'grid')} values with |w| <= {fine:.3g} are closer than {limit:.2g} "
                f"(down to {gaps.min():.2g}), too fine for float64 to resolve the move law at alpha = {alpha:g}; use "
                "a domain that leaves them out, a coarser format or a smaller alpha"
            )


def prepare_rows(problem, noise, grid, alpha, method, tol, sr_bits):
    """The checked arguments of an assembly of T_α on ``grid`` and its chunks of rows: ``(alpha, method, bits,
    grads, chunks, width)`` (see :func:`grid_transition_matrix` for what is refused)."""
    alpha = check_alpha(alpha)
    method = _rule(method)
    bits = check_sr_bits(sr_bits)
    if method != "sr" and bits is not None:
        raise SrchainError("--sr-bits applies to SR only")
    if problem.dim != grid.dim:
        raise SrchainError(f"the problem is {problem.dim}-dimensional but the grid is {grid.dim}-dimensional")
    grads = _gradients(problem, grid)
    spread = _reach(noise, grads, alpha, tol)
    chunks, width, _ = _chunks(grid, grads, alpha, spread)
    if bits is not None and not noise.is_discrete:
        work = _kbit_work(noise, grid, grads, alpha, tol, spread, bits)
        if work > KBIT_MAX_WORK:
            k = bits - 1  # the most bits within the limit
            while k >= 1 and _kbit_work(noise, grid, grads, alpha, tol, spread, k) > KBIT_MAX_WORK:
                k -= 1
            fewer = (
                f"use fewer --sr-bits (exact up to about k = {k} here), "
                if k >= 1
                else "even k = 1 is out of reach: use "
            )
            raise SrchainError(
                f"the exact k-bit SR operator needs about {work:.2g} CDF evaluations (up to 2^k per cell and row); "
                f"{fewer}a smaller grid or a smaller alpha"
            )
    return alpha, method, bits, grads, chunks, width


def _gaussian(noise) -> bool:
    return type(noise).pdf is GaussianNoise.pdf


def _kbit_work(noise, grid, grads, alpha, tol, spread, bits) -> float:
    """The density and CDF evaluations of k-bit SR's move laws (:mod:`srchain.grid_kbit`), summed over rows and axes:
    each half of a window's cell costs ``2^k`` differences on the staircase, ``M·NODES`` densities on ``M``
    sub-cells where that is fewer, nothing to speak of on a narrow cell (every cell takes the staircase under
    non-Gaussian noise); on a 1-D grid the rows of an interpolated binade count as its reference rows
    (:func:`srchain.grid_interp.reference_rows`)."""
    lo, hi, _ = _windows(grid, slice(None), grads, alpha, spread)
    std = float(noise.std)
    limit = WIDE * std if _gaussian(noise) and math.isfinite(std) else -1.0
    total = 0.0
    for k in range(grid.dim):
        v = axis_values(grid, k)
        cost = half_costs(np.diff(v) / alpha, limit, bits)
        below = np.r_[0.0, np.cumsum(2.0 * cost)]  # the cells c < j (the cell c lies between v_c and v_c+1)

        def cells(a, b, below=below, top=v.size - 1):  # the cells from a − 1 to b
            return below[np.clip(b + 1, 0, top)] - below[np.clip(a - 1, 0, top)] + 2.0

        rows = np.ones(grid.size, dtype=bool)
        if grid.dim == 1:
            binned, refs = reference_rows(noise, v, grid.points[:, 0], grads[:, 0], alpha, tol)
            rows = ~binned
            total += sum(m * float(cells(np.int64(a), np.int64(b))) for m, a, b in refs)
        total += float(np.sum(cells(lo[rows, k], hi[rows, k])))
    return total


def chunk_rows(problem, noise, grid, alpha, method, tol, grads, bits, a, b, index_dtype=np.int64, into=None):
    """CSR pieces ``(lengths, columns of index_dtype, values, dropped)`` of the rows ``a ≤ i < b`` of T_α
    (:func:`prepare_rows`' arguments), their move laws checked; ``into``: a :class:`srchain.assemble.RowsBuffer` the
    columns and values are written into. On a 1-D grid the rows whose mean steps share an interpolated binade are
    built straight from its reference rows (:func:`srchain.grid_interp.interpolated_rows`: the same entries as from
    their move laws' tables, without the tables)."""
    what = f"T_alpha at alpha = {alpha:g}"
    # the same invariants as on the lattice: each 1-D law sums to 1 within its window's tail (before the rows are
    # renormalised, which would hide a law that does not), and the matrix is stochastic; the far cells that T_α
    # certainly drops have left the windows, each with less than DROP·tol (srchain.grid_sr, grid_r, grid_kbit)
    drops = DROP * tol

    def direct(rows, into=None):
        targets, probs, row_of, own = grid_move_tables(problem, noise, grid, alpha, method, tol, grads[rows], rows,
                                                       bits)  # fmt: skip
        check_move_tables(probs, row_of, tol + noise.table_error + probs.shape[1] * drops, what, rows)
        return build_rows(targets, probs, grid, tol, own, index_dtype, into, row_of)

    if grid.dim == 1 and drops and not noise.is_discrete:
        lo, hi, own = _windows(grid, slice(a, b), grads[a:b], alpha, _reach(noise, grads, alpha, tol))
        allowed = tol + noise.table_error + int(np.max(hi - lo) + 1) * drops

        def check(sums, rows):
            check_sums(sums, allowed, what, lambda i: f"the move law of state {a + rows[i]} along axis 0")

        law, far = _rule_law(method, bits)
        x, g = grid.points[a:b, 0], np.ascontiguousarray(grads[a:b, 0])
        vp = _pad(axis_values(grid, 0))
        done = interpolated_rows(
            law, far, noise, vp, x, g, alpha, tol, own[:, 0], lo[:, 0], hi[:, 0], lambda rows: direct(a + rows),
            index_dtype, check,
        )  # fmt: skip
        if done is not None and into is not None:  # (pieces of its own: copied in)
            lengths, cols, vals, dropped = done
            at_cols, at_vals = into.claim(b - a, vals.size)
            at_cols[:], at_vals[:] = cols, vals
            return lengths, at_cols, at_vals, dropped
        if done is not None:
            return done
    return direct(np.arange(a, b), into)


def grid_transition_matrix(problem, noise, grid, alpha, method="sr", tol=1e-14, max_bytes=None, sr_bits=None):
    r"""The exact transition matrix of SR, SR with ``sr_bits`` random bits, or R on ``grid`` (a format's grid).

    Returns an :class:`srchain.operators.Operator` (``P`` row-stochastic, :math:`P = T_\alpha^\top`); its
    ``window`` is the widest row's window. See the module docstring for the move laws.

    Raises
    ------
    SrchainError
        The estimated memory exceeds ``max_bytes``, k-bit SR's staircase would need more than
        :data:`KBIT_MAX_WORK` CDF evaluations, or the grid's smallest gap is below :data:`_RESOLVE_SR` ·α·std
        (:data:`_RESOLVE_FIRST` for k-bit SR), where float64 cannot resolve the move law's differences.
    """
    from srchain.operators import Operator

    alpha, method, bits, grads, chunks, width = prepare_rows(problem, noise, grid, alpha, method, tol, sr_bits)
    if max_bytes is not None:
        need, nnz = grid_estimate(problem, noise, grid, alpha, method, tol, bits)
        check_memory(
            need,
            max_bytes,
            f"T_alpha on the {getattr(grid, 'format', 'fixed')} grid of {grid.size:.3g} states (about {nnz:.3g} "
            f"entries)",
            "use a smaller domain (the grid is finest near 0), a coarser format, a smaller alpha or a larger tol",
        )
    _check_resolvable(noise, grid, alpha, method, bits)
    lengths, dropped = [], 0.0
    n = grid.size
    col_dtype = np.int32 if n < 2**31 - 1 else np.int64  # what SciPy would convert the columns to
    into = RowsBuffer(n, col_dtype)
    for a, b in chunks:  # chunks of rows, each vectorised / compiled
        ln, _, _, dr = chunk_rows(problem, noise, grid, alpha, method, tol, grads, bits, a, b, col_dtype, into)
        lengths.append(ln)
        dropped = max(dropped, dr)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.concatenate(lengths), out=indptr[1:])
    cols, vals = into.arrays()
    P = sp.csr_matrix((vals, cols, indptr), shape=(n, n))
    P.has_sorted_indices = True
    check_dropped(dropped, f"T_alpha at alpha = {alpha:g}")
    check_stochastic(P, f"T_alpha at alpha = {alpha:g}")
    label = method if bits is None else f"sr{bits}"
    return Operator(P=P, alpha=alpha, method=label, dropped_mass=dropped, window=int(width.max()), lattice=grid)


def grid_u_tilde(problem, noise, grid) -> sp.csr_matrix:
    r"""The rates :math:`\tilde U` of Theorem 5 on a grid (row convention, zero diagonal): the position-dependent
    :math:`\Delta` is the gap to the neighbour the move goes to,

    .. math::

        \tilde U(x, x^{+}_k) = \frac{\Lambda(-g_k(x))}{x^{+}_k - x_k},\qquad
        \tilde U(x, x^{-}_k) = \frac{\Upsilon(-g_k(x))}{x_k - x^{-}_k},

    with :math:`x^{\pm}_k` the next value up/down on axis :math:`k` (SR's move law divided by α as α → 0: the step
    :math:`\alpha(g + \bar\xi)` is then inside the neighbouring cell). In 1-D the limit law satisfies detailed
    balance :math:`\tilde\pi_{t+1}/\tilde\pi_t = \Lambda(-g(v_t))/\Upsilon(-g(v_{t+1}))`: the gap cancels, so
    :math:`\tilde\pi` weighs *states*, not lengths.
    """
    grads = _gradients(problem, grid)
    up = noise.lower_partial(-grads)
    down = noise.upper_partial(-grads)
    n, d = grads.shape
    c = grid.coords
    strides = grid.strides
    ids = np.arange(n, dtype=np.int64)
    rows, cols, vals = [], [], []
    for k in range(d):  # axes, vectorised over states
        h = np.diff(axis_values(grid, k))
        ok = c[:, k] < grid.shape[k] - 1
        rows.append(ids[ok])
        cols.append(ids[ok] + strides[k])
        vals.append(up[ok, k] / h[c[ok, k]])
        ok = c[:, k] > 0
        rows.append(ids[ok])
        cols.append(ids[ok] - strides[k])
        vals.append(down[ok, k] / h[c[ok, k] - 1])
    U = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    U.sort_indices()
    return U


def grid_limit_chain(problem, noise, grid):
    r"""Ũ, α0 and T̃ (Eq. 9) on a grid; ``stationary(...)`` of it is :math:`\tilde\pi`."""
    from srchain.operators import LimitChain, alpha0, t_tilde

    U = grid_u_tilde(problem, noise, grid)
    return LimitChain(u_tilde=U, alpha0=alpha0(U), t_tilde=t_tilde(U), lattice=grid)


def stall_set(problem: Problem, grid: Grid, alpha: float, noise: NoiseModel | None = None) -> np.ndarray:
    r"""Flat indices of the states where R (Eq. 4) stalls: its fixed points.

    A state :math:`x` stalls when every coordinate rounds back, :math:`Q_d(x_k - \alpha(g_k + \xi)) = x_k`, for
    every noise value: with ``noise=None`` (or continuous noise, whose unbounded support lets R leave every state
    with some probability) for the mean gradient only, :math:`\xi = 0`; with a discrete noise law for every value of
    its support (then the set is R's absorbing states, exactly). On a format's grid this is
    :math:`\alpha g_k \le (x_k - x_k^-)/2` when :math:`g_k > 0` and :math:`-\alpha g_k \le (x_k^+ - x_k)/2` when
    :math:`g_k < 0` (equality stalls only at an even value): :math:`|\alpha\nabla f| < \mathrm{ulp}/2` with the
    ulp on the side the step goes (at a power of two the gap below is half the gap above).
    """
    alpha = check_alpha(alpha)
    grads = _gradients(problem, grid)
    pts = grid.points
    if noise is not None and noise.is_discrete:
        vals = np.asarray(noise.support()[0], dtype=np.float64)  # type: ignore[index]  # discrete: not None
    else:
        vals = np.zeros(1)
    ok = np.ones(grid.size, dtype=bool)
    for k in range(grid.dim):
        v = axis_values(grid, k)
        even = axis_parity(grid, k)
        x = pts[:, k]
        for val in vals:  # the support is small
            y = x - alpha * (grads[:, k] + val)
            j = np.clip(np.searchsorted(v, y, side="right") - 1, 0, v.size - 2)
            mid = 0.5 * (v[j] + v[j + 1])
            r = np.where((y > mid) | ((y == mid) & even[j + 1]), v[j + 1], v[j])
            r = np.clip(r, v[0], v[-1])
            ok &= r == x
    return np.flatnonzero(ok)
