"""BinaryConnect's stationary law by a discretised transfer operator (the exact counterpart of Figure 2's BC row).

BC (Eq. 7) keeps a real-valued latent weight ``w_r`` and takes the gradient at its rounding:

    w_r ← Π(w_r − α(∇f(Qd(w_r)) + ξ̄)),      Π the projection onto the box [lo, hi].

Its state is continuous, so it is not a chain on the lattice. Its stationary law is computed here by Ulam's method:
the box is cut into ``N`` bins of width ``h = Δ/(2r)`` (``r`` bins per half cell, so every bin lies inside one
cell of Qd, whose cell edges are ``lo + (k ± ½)Δ``), and the transfer operator is projected onto them,

    P[i, j] = (1/h) ∫_{bin i} Pr(Π(x − α g_k − αξ̄) ∈ bin j) dx,        g_k = f'(Qd(x)), constant on bin i.

With ``Λ(z) = E[(z − ξ̄)⁺]`` (the noise's closed-form lower partial expectation) the inner probability averaged
over ``x`` uniform on the bin is exact: for a bin whose shifted image is ``[c, c + h)``,
``Pr(x' ≥ e) = (α/h)[Λ((c + h − e)/α) − Λ((c − e)/α)]``, and the projection puts the tails on the end bins.
The stationary vector of ``P`` is computed by banded GTH elimination (subtraction-free, so metastable laws spanning
hundreds of orders of magnitude come out right, see :mod:`srchain.gth`), and pushed forward to the law of
``Qd(w_r)`` on the lattice by summing the bins of each cell.

Refinement: ``r`` starts where ``h`` is about the noise's step ``α·std(ξ̄)`` (at least one bin per half cell)
and doubles until the law of ``Qd(w_r)`` moves by less than ``tol`` in total variation (default 1e-3); the levels
and their changes are reported.

On a format's grid (:class:`srchain.grids.Grid`: bf16, fp16, fp8, fp4) the cells of Qd are the intervals between
the midpoints of neighbouring values (round-to-nearest-even decides only the midpoints, a null set), their widths
vary, and each half cell is cut into bins no wider than a target ``h`` that halves per level; the Ulam average then
uses each bin's own width (:mod:`srchain.toy.bc_grid`, which also counts a level's memory before allocating it).
The lattice keeps the path above, bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from srchain.errors import SrchainError
from srchain.grids import is_uniform
from srchain.gth import banded_gth, law_from_frames
from srchain.lattice import Lattice
from srchain.noise import NoiseModel
from srchain.operator_checks import check_sums
from srchain.problems import Problem
from srchain.quantize import check_alpha

__all__ = ["BCLaw", "bc_law", "bc_transfer_matrix", "level_cost", "TOL_MIN"]

#: Smallest refinement tolerance accepted: every row drops up to ``tol_drop`` (1e-14) of its mass and the laws
#: are sums of thousands of float64 terms, so changes in total variation below about 1e-12 are not resolved (and
#: refining towards them only grows the grid until memory runs out).
TOL_MIN = 1e-12
#: Cost model of one refinement level (see :func:`level_cost`): float64 arrays of the window's shape alive at once
#: while the Ulam matrix is assembled, seconds per window entry (vectorised NumPy, conservative) and per inner
#: operation of the banded GTH elimination (Numba, conservative).
_LEVEL_TABLES = 16
_SECONDS_PER_ENTRY = 1e-7
_SECONDS_PER_GTH_OP = 2e-9


@dataclass(frozen=True)
class BCLaw:
    """BC's stationary law at one α.

    Attributes
    ----------
    alpha : float
    states : ndarray (n, 1)
        Lattice points, aligned with ``pi``.
    pi : ndarray (n,)
        Law of ``Qd(w_r)`` (the pushed-forward law).
    edges : ndarray (N + 1,)
        Bin edges of the latent grid (real units).
    latent : ndarray (N,)
        Probability of each latent bin.
    bins_per_half_cell : int
        ``r`` of the finest level.
    levels : list of dict
        ``{"bins": N, "h": h, "tv_change": TV to the previous level}`` for every level computed.
    converged : bool
        The last change is below ``tol``.
    tol : float
    dropped_mass : float
        Largest noise tail mass left out of a row (rows are renormalised).
    """

    alpha: float
    states: np.ndarray
    pi: np.ndarray
    edges: np.ndarray
    latent: np.ndarray
    bins_per_half_cell: int
    levels: list = field(default_factory=list)
    converged: bool = True
    tol: float = 1e-3
    dropped_mass: float = 0.0
    stopped: str = ""

    @property
    def tv_change(self) -> float:
        return self.levels[-1]["tv_change"] if self.levels else float("nan")

    def to_dict(self) -> dict:
        return {
            "alpha": self.alpha,
            "pi": self.pi.tolist(),
            "bins_per_half_cell": self.bins_per_half_cell,
            "bins": int(self.latent.size),
            "tol": self.tol,
            "converged": self.converged,
            "tv_change": self.tv_change,
            "levels": self.levels,
            "dropped_mass": self.dropped_mass,
            "stopped": self.stopped or None,
        }


def bc_transfer_matrix(
    problem: Problem, noise: NoiseModel, lattice: Lattice, alpha: float, r: int, tol: float = 1e-14, qs: bool = False
):
    """Ulam matrix of BC's latent dynamics on bins of width ``Δ/(2r)`` in band form.

    Returns ``(B, b, edges, cell_of_bin, dropped)`` with ``B[i, j − i + b] = P[i, j]``.
    """
    if lattice.dim != 1:
        raise SrchainError("the BC transfer operator is 1-dimensional (use the simulator for d > 1)")
    if qs:
        raise SrchainError("the BC transfer operator takes the gradient at Qd(w_r); BC with Qs is simulated only")
    delta = lattice.delta
    lo = lattice.lo[0]
    n = lattice.size
    h = delta / (2 * r)
    N = (n - 1) * 2 * r
    edges = lo + h * np.arange(N + 1)
    cell = (np.arange(N) + r) // (2 * r)
    g = np.asarray(problem.gradient(lattice.points), dtype=np.float64).reshape(n)[cell]
    q = noise.quantile_width(tol)
    # Row i's image before noise is the bin shifted by −αg/h bins; the noise spreads it by ±αq/h bins (all but
    # ``tol`` of its mass). Only that window is computed (the band is as wide as the largest shift needs).
    shift = -alpha * g / h
    K = int(math.ceil(alpha * q / h)) + 2
    base = np.floor(shift).astype(np.int64)
    offs = np.arange(-K, K + 2)
    i = np.arange(N)
    tgt = i[:, None] + base[:, None] + offs[None, :]  # (N, w)
    lo_t = np.clip(tgt, 0, N - 1)
    c = edges[:-1] - alpha * g  # image of the bin's left edge, before noise

    def tail_ge(edge):  # Pr(x' ≥ edge) for x uniform on the bin (the Ulam average)
        z1 = (c[:, None] + h - edge) / alpha
        z0 = (c[:, None] - edge) / alpha
        return np.clip(alpha / h * (noise.lower_partial(z1) - noise.lower_partial(z0)), 0.0, 1.0)

    e = lo + h * lo_t
    s_lo = tail_ge(e)
    s_hi = tail_ge(e + h)
    P = s_lo - s_hi
    # projection: mass below edge 1 goes to bin 0, mass at or above edge N−1 to bin N−1 (targets beyond the box
    # are merged into the end bins, whose entries then hold the whole tail)
    P = np.where(tgt == 0, 1.0 - s_hi, P)
    P = np.where(tgt == N - 1, s_lo, P)
    below = tgt < 0
    above = tgt > N - 1
    P = np.where(below | above, 0.0, np.maximum(P, 0.0))
    # rows whose window crosses an end: the end bin's entry is the whole tail (1 − s_hi at edge 1, s_lo at N−1)
    first_in = np.argmax(tgt >= 0, axis=1)
    cross_lo = below.any(axis=1) & (tgt[:, -1] >= 0)
    if cross_lo.any():
        rr = np.nonzero(cross_lo)[0]
        P[rr, first_in[rr]] = 1.0 - tail_ge_rows(c[rr], h, alpha, noise, lo + h)
    cross_hi = above.any(axis=1) & (tgt[:, 0] <= N - 1)
    if cross_hi.any():
        rr = np.nonzero(cross_hi)[0]
        last_in = np.where(above[rr].any(axis=1), np.argmax(above[rr], axis=1) - 1, tgt.shape[1] - 1)
        P[rr, last_in] = tail_ge_rows(c[rr], h, alpha, noise, lo + h * (N - 1))
    full_lo = tgt[:, -1] < 0
    full_hi = tgt[:, 0] > N - 1
    rows = P.sum(axis=1)
    kept = ~(full_lo | full_hi)
    check_sums(rows[kept], tol + noise.table_error, f"BC's transfer operator at alpha = {alpha:g}", _bin_name(kept))
    dropped = float(np.max(np.abs(1.0 - rows[kept]))) if np.any(kept) else 0.0
    P /= np.where(rows > 0, rows, 1.0)[:, None]
    bw = int(max(np.max(np.abs(tgt[~below & ~above] - np.repeat(i, tgt.shape[1])[(~below & ~above).ravel()])), 1))
    b = min(N - 1, bw)
    B = np.zeros((N, 2 * b + 1))
    ok = ~below & ~above & (P > 0)
    ii = np.broadcast_to(i[:, None], tgt.shape)[ok]
    B[ii, tgt[ok] - ii + b] = P[ok]
    # rows whose whole window lies beyond an end (a huge drift) jump to that end bin with probability one
    for k in np.nonzero(full_lo)[0]:
        if k != 0:
            B[k, 0 - k + b] = 1.0
    for k in np.nonzero(full_hi)[0]:
        if k != N - 1:
            B[k, N - 1 - k + b] = 1.0
    return B, b, edges, cell, dropped


def _bin_name(kept):
    """Names the ``i``-th kept row (bin) in :func:`srchain.operator_checks.check_sums`'s message."""
    return lambda i: f"the law out of bin {int(np.flatnonzero(kept)[i])}"


def tail_ge_rows(c, h, alpha, noise, edge):
    """``Pr(x' ≥ edge)`` for rows with pre-noise image ``[c, c + h)`` (vector ``c``)."""
    z1 = (c + h - edge) / alpha
    z0 = (c - edge) / alpha
    return np.clip(alpha / h * (noise.lower_partial(z1) - noise.lower_partial(z0)), 0.0, 1.0)


def level_cost(
    problem: Problem,
    noise: NoiseModel,
    lattice: Lattice,
    alpha: float,
    r: int,
    tol_drop: float = 1e-14,
    gmax: float | None = None,
) -> tuple[float, float]:
    """``(bytes, seconds)`` of one refinement level with ``r`` bins per half cell, from sizes alone.

    ``N = 2(n − 1)r`` bins of width ``h = Δ/(2r)``; each row's window holds ``2K + 3`` targets with
    ``K = ⌈α·q/h⌉ + 2`` (``q`` the noise's ``tol_drop`` quantile width), and the band is at most
    ``min(N − 1, ⌈α·max|f'|/h⌉ + K + 2)``. Memory: :data:`_LEVEL_TABLES` window-shaped arrays plus the band matrix;
    time: the window entries plus the banded GTH's ``N·b²`` operations.
    """
    n = lattice.size
    N = 2.0 * (n - 1) * int(r)
    h = lattice.delta / (2 * int(r))
    if gmax is None:
        g = np.asarray(problem.gradient(lattice.points), dtype=np.float64)
        gmax = float(np.max(np.abs(g))) if g.size else 0.0
    q = float(noise.quantile_width(tol_drop))
    with np.errstate(over="ignore"):
        K = math.ceil(alpha * q / h) + 2 if math.isfinite(alpha * q / h) else math.inf
        b = min(N - 1, math.ceil(alpha * gmax / h) + K + 2) if math.isfinite(K + alpha * gmax / h) else N - 1
    w = 2.0 * K + 3
    nbytes = N * w * 8 * _LEVEL_TABLES + N * (2 * b + 1) * 8 + N * 8 * 8
    seconds = N * w * _SECONDS_PER_ENTRY + N * b * b * _SECONDS_PER_GTH_OP
    return float(nbytes), float(seconds)


def first_level(noise: NoiseModel, lattice: Lattice, alpha: float, max_bins: int = 400_000) -> int:
    """``r0``, the bins per half cell of :func:`bc_law`'s first level (``h ≈ α·std(ξ̄)/2``, at least 1)."""
    cells2 = 2 * (lattice.size - 1)
    std = noise.std if math.isfinite(noise.std) else noise.quantile_width(0.3)
    with np.errstate(over="ignore", divide="ignore"):
        ratio = lattice.delta / 2 / (alpha * std) if alpha * std > 0 else math.inf
    r0 = max(1, math.ceil(ratio)) if math.isfinite(ratio) else max_bins
    return int(min(r0, max(1, max_bins // (4 * cells2))))


def _level(problem, noise, lattice, alpha, r, tol_drop):
    B, b, edges, cell, dropped = bc_transfer_matrix(problem, noise, lattice, alpha, r, tol=tol_drop)
    mant, frame = banded_gth(B, b)
    latent = law_from_frames(mant, frame)
    pi = np.bincount(cell, weights=latent, minlength=lattice.size)
    return pi, latent, edges, dropped


class _LatticeLevels:
    """The refinement levels on the lattice: level ``r`` has ``r`` bins per half cell (``h = Δ/(2r)``); the next
    level doubles ``r``."""

    def __init__(self, problem, noise, lattice, alpha, tol_drop, max_bins, r0):
        self.args = (problem, noise, lattice, alpha)
        self.tol_drop = tol_drop
        self.cells2 = 2 * (lattice.size - 1)
        self.first = int(first_level(noise, lattice, alpha, max_bins) if r0 is None else r0)
        g = np.asarray(problem.gradient(lattice.points), dtype=np.float64)
        self.gmax = float(np.max(np.abs(g))) if g.size else 0.0

    def next(self, r):
        return 2 * r

    def bins(self, r):
        return self.cells2 * r

    def h(self, r):
        return self.args[2].delta / (2 * r)

    def per_half_cell(self, r):
        return r

    def cost(self, r):
        return level_cost(*self.args, r, self.tol_drop, self.gmax)

    def solve(self, r):
        return _level(*self.args, r, self.tol_drop)


def bc_law(
    problem: Problem,
    noise: NoiseModel,
    lattice: Lattice,
    alpha: float,
    tol: float = 1e-3,
    r0: int | None = None,
    max_bins: int = 400_000,
    tol_drop: float = 1e-14,
    max_memory: float | None = None,
    max_seconds: float | None = None,
    h0: float | None = None,
) -> BCLaw:
    """BC's stationary law (Eq. 7 with Qd) by the refined transfer operator (see the module docstring).

    Parameters
    ----------
    problem, noise, lattice
        A 1-D problem, its gradient noise and its grid: the lattice ``lo + ΔZ`` on the box, or a format's grid
        (:class:`srchain.grids.Grid`, bins of variable width: :mod:`srchain.toy.bc_grid`).
    alpha : float
        Learning rate α > 0.
    tol : float
        Stop refining when the law of ``Qd(w_r)`` moves by less than this (total variation) between levels;
        ``TOL_MIN <= tol < 1``.
    r0 : int, optional
        Bins per half cell of the first level on the lattice (default: ``h ≈ α·std(ξ̄)/2``, at least 1).
    h0 : float, optional
        Target bin width of the first level on a format's grid (default
        :func:`srchain.toy.bc_grid.grid_first_h`); each level halves it.
    max_bins : int
        Stop refining (``converged=False``) before the grid would exceed this many bins.
    max_memory, max_seconds : float, optional
        Every level's cost is estimated first (:func:`level_cost`; on a format's grid
        :func:`srchain.toy.bc_grid.grid_level_cost`, before any window-sized array exists): a first level over
        either limit is refused, a later one ends the refinement (``converged=False``, ``stopped`` says why).
        ``max_memory`` defaults to
        :func:`srchain.budget.default_max_memory`; ``max_seconds`` to no limit.

    Returns
    -------
    BCLaw

    Raises
    ------
    SrchainError
        A bad ``alpha`` or ``tol``, a problem that is not 1-D, or a first level over the limits.
    """
    from srchain.budget import check_memory, default_max_memory, format_bytes

    alpha = check_alpha(alpha)
    tol = float(tol)
    if not TOL_MIN <= tol < 1:
        raise SrchainError(
            f"tol must be in [{TOL_MIN:g}, 1), got {tol:g}: changes in total variation below "
            f"{TOL_MIN:g} are not resolved by the discretised operator (each row drops up to "
            f"{tol_drop:g} of its mass)"
        )
    if lattice.dim != 1:
        raise SrchainError("bc_law is for 1-D problems; simulate BC for d > 1")
    mem = default_max_memory() if max_memory is None else float(max_memory)
    secs = math.inf if max_seconds is None else float(max_seconds)
    if is_uniform(lattice):
        levels_of = _LatticeLevels(problem, noise, lattice, alpha, tol_drop, max_bins, r0)
        hint = "use a larger delta or skip the exact laws"
    else:
        from srchain.toy.bc_grid import GridLevels

        levels_of = GridLevels(problem, noise, lattice, alpha, tol_drop, max_bins, h0, mem)
        hint = "use a smaller domain (a format's grid is finest near 0) or a coarser format, or simulate BC"
    p = levels_of.first
    need, took = levels_of.cost(p)
    what = f"BC's transfer operator at alpha={alpha:g} ({levels_of.bins(p):.3g} bins)"
    check_memory(need, mem, what, hint)
    if not took <= secs:
        raise SrchainError(f"{what} would take about {took:.3g} s, more than max_seconds={secs:.3g}; {hint}")
    levels = []
    pi, latent, edges, dropped = levels_of.solve(p)
    levels.append({"bins": int(latent.size), "h": levels_of.h(p), "tv_change": None})
    converged = False
    stopped = ""
    spent = took
    while levels_of.bins(levels_of.next(p)) <= max_bins:
        p2 = levels_of.next(p)
        n2 = levels_of.bins(p2)
        need, took = levels_of.cost(p2)
        if not need <= mem:
            stopped = f"the next level ({n2} bins) needs about {format_bytes(need)}, max_memory is {format_bytes(mem)}"
            break
        if not spent + took <= secs:
            stopped = f"the next level ({n2} bins) would take about {took:.3g} s more than max_seconds allows"
            break
        spent += took
        pi2, latent2, edges2, dropped2 = levels_of.solve(p2)
        change = 0.5 * float(np.abs(pi2 - pi).sum())
        levels.append({"bins": int(latent2.size), "h": levels_of.h(p2), "tv_change": change})
        pi, latent, edges, p, dropped = pi2, latent2, edges2, p2, max(dropped, dropped2)
        if change < tol:
            converged = True
            break
    else:
        stopped = f"the next level would exceed max_bins={max_bins}"
    return BCLaw(
        alpha=alpha,
        states=lattice.points,
        pi=pi,
        edges=edges,
        latent=latent,
        bins_per_half_cell=levels_of.per_half_cell(p),
        levels=levels,
        converged=converged,
        tol=tol,
        dropped_mass=dropped,
        stopped=stopped,
    )
