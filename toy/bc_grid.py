r"""BC's transfer operator on a format's grid (:class:`srchain.grids.Grid`): Ulam bins of variable width.

On the fixed lattice every cell of Qd has width Δ and :mod:`srchain.toy.bc_law` cuts each half cell into ``r``
bins of width ``Δ/(2r)``. On a float grid the spacing grows with :math:`|w|`, so the bins follow the grid:

* **Cells of Qd.** Qd (round-to-nearest-even) sends ``w`` to the representable value ``v_k`` for
  ``w ∈ (m_{k−1}, m_k)``, ``m_k = (v_k + v_{k+1})/2`` the midpoint of neighbouring values (``m_{−1} = v_0`` and
  ``m_{n−1} = v_{n−1}``, the box's ends, which BC's latent weight never leaves). The ties-to-even rule only decides
  the midpoints themselves, a null set for the latent law (its noise has a density or, for a finite minibatch,
  atoms that the Ulam average over a bin spreads), so the cell of ``v_k`` is taken as ``[m_{k−1}, m_k)``.
* **Bins.** Each half cell ``[v_k, m_k)`` and ``[m_k, v_{k+1})`` (width ``(v_{k+1} − v_k)/2``) is cut into
  ``r_k = max(1, ⌈width/h⌉)`` equal bins, so no bin is wider than the target ``h`` and every bin lies inside one
  cell. Refinement halves ``h``: bins wider than ``h/2`` split, bins in the fine part of the grid (near 0) stay.
* **Ulam average.** With bin ``i = [a_i, a_i + h_i)`` of its own width ``h_i``, ``g_i = f'(Qd(a_i))`` and the
  shifted image ``[c_i, c_i + h_i)``, ``c_i = a_i − α g_i``, the probability that the next latent weight lies at or
  above an edge ``e`` averaged over ``x`` uniform on the bin is
  ``(α/h_i)[Λ((c_i + h_i − e)/α) − Λ((c_i − e)/α)]``, ``Λ(z) = E[(z − ξ̄)⁺]``; the projection onto the box puts the
  tails on the end bins.
* **Windows.** Row ``i`` holds the bins that meet ``[c_i − αq, c_i + h_i + αq]`` (``q`` the noise's ``tol_drop``
  quantile width), clipped to the box; with variable widths the windows are ragged, so they are stored flat (one
  entry per (row, target)), and the band of the banded GTH solve is the largest ``|j − i|``. Their sizes are
  counted (:func:`grid_level_cost`) before any window-sized array is allocated.
"""

from __future__ import annotations

import math

import numpy as np

from srchain.errors import SrchainError
from srchain.grids import axis_values
from srchain.noise import NoiseModel
from srchain.operator_checks import check_sums
from srchain.problems import Problem

__all__ = [
    "GridLevels",
    "half_cells",
    "grid_bins",
    "grid_windows",
    "grid_transfer_matrix",
    "grid_level_cost",
    "grid_first_h",
]

#: float64/int64 arrays as long as a block of the flat windows alive at once while the matrix is assembled (row,
#: col, the row's c and h, the two edges, two Λ arguments and values per edge, the two tails, the entries): a
#: conservative count.
_GRID_TABLES = 16
#: Entries of the flat windows computed at once (:func:`grid_transfer_matrix` works in blocks of whole rows).
CHUNK = 1 << 20
#: Seconds per window entry (vectorised NumPy) and per inner operation of the banded GTH (Numba); conservative.
_SECONDS_PER_ENTRY = 2e-7
_SECONDS_PER_GTH_OP = 2e-9


def half_cells(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(starts, widths, cell)`` of the ``2(n − 1)`` half cells of the sorted grid ``values``.

    Half cell ``2k`` is ``[v_k, m_k)`` and lies in the cell of ``v_k``; half cell ``2k + 1`` is ``[m_k, v_{k+1})``
    and lies in the cell of ``v_{k+1}`` (``m_k`` the midpoint).
    """
    v = np.asarray(values, dtype=np.float64)
    mid = 0.5 * (v[:-1] + v[1:])
    starts = np.stack([v[:-1], mid], axis=1).ravel()
    ends = np.stack([mid, v[1:]], axis=1).ravel()
    k = np.arange(v.size - 1)
    cell = np.stack([k, k + 1], axis=1).ravel()
    return starts, ends - starts, cell


def bins_per_half_cell(widths: np.ndarray, h: float) -> np.ndarray:
    """``r_k = max(1, ⌈width_k / h⌉)`` as float64 (the counts are checked against the limits before use)."""
    with np.errstate(over="ignore", divide="ignore"):
        return np.maximum(1.0, np.ceil(widths / h))


def grid_bins(values: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(edges, cell_of_bin, r)``: the ``N + 1`` bin edges for target width ``h``, the Qd cell of each bin and the
    bins per half cell."""
    starts, widths, hcell = half_cells(values)
    r = bins_per_half_cell(widths, h).astype(np.int64)
    hc = np.repeat(np.arange(r.size), r)
    local = np.arange(hc.size) - np.repeat(np.cumsum(r) - r, r)
    edges = np.empty(hc.size + 1)
    edges[:-1] = starts[hc] + (widths / r)[hc] * local
    edges[-1] = float(values[-1])
    return edges, hcell[hc], r


def grid_windows(problem: Problem, noise: NoiseModel, values, alpha: float, edges, cell, tol: float):
    """Per bin: the shifted image's left end ``c``, the width ``hw`` and the first and last target bins."""
    n = values.size
    g = np.asarray(problem.gradient(values.reshape(n, 1)), dtype=np.float64).reshape(n)[cell]
    hw = np.diff(edges)
    c = edges[:-1] - alpha * g
    spread = alpha * float(noise.quantile_width(tol))
    last = edges.size - 2
    jlo = np.clip(np.searchsorted(edges, c - spread, side="right") - 1, 0, last)
    jhi = np.clip(np.searchsorted(edges, c + hw + spread, side="right") - 1, 0, last)
    return c, hw, jlo, jhi


def _band(jlo, jhi) -> int:
    i = np.arange(jlo.size)
    return int(min(max(1, int(np.max(np.maximum(i - jlo, jhi - i)))), jlo.size - 1))


def grid_level_cost(problem, noise, grid, alpha, h, tol_drop=1e-14, max_memory=None) -> tuple[float, float, int]:
    """``(bytes, seconds, bins)`` of one level with target bin width ``h``, counted before the matrix is built.

    The bin count ``N`` comes from the half cells alone, and a level needs at least ``N·8·15`` bytes (the band
    matrix, at least 3 wide, and the per-bin arrays); when that lower bound already exceeds ``max_memory`` it is
    returned as the estimate (the level is refused without allocating anything of size ``N``). Otherwise the
    windows' sizes and the band come from the bin edges (a few arrays of ``N`` floats, within the limit): memory is
    :data:`_GRID_TABLES` arrays of one block of the flat windows (:data:`CHUNK` entries and a row), the band matrix
    ``N × (2b + 1)`` and the per-bin arrays; time the window entries plus the banded GTH's ``N·b²`` operations.
    """
    values = axis_values(grid, 0)
    _, widths, _ = half_cells(values)
    N = float(bins_per_half_cell(widths, h).sum())
    lower = N * 8 * 15
    if not lower <= (math.inf if max_memory is None else float(max_memory)) or not lower <= 2.0**50:
        return lower, N * _SECONDS_PER_ENTRY, int(min(N, 2**62))
    edges, cell, _ = grid_bins(values, h)
    _, _, jlo, jhi = grid_windows(problem, noise, values, alpha, edges, cell, tol_drop)
    W = jhi - jlo + 1
    nnz = float(np.sum(W))
    block = min(nnz, float(CHUNK + np.max(W)))  # a block ends at the first row that reaches CHUNK entries
    b = float(_band(jlo, jhi))
    nbytes = block * 8 * _GRID_TABLES + N * (2 * b + 1) * 8 + N * 8 * 12
    seconds = nnz * _SECONDS_PER_ENTRY + N * b * b * _SECONDS_PER_GTH_OP
    return float(nbytes), float(seconds), int(N)


def grid_first_h(noise: NoiseModel, grid, alpha: float, max_bins: int = 400_000) -> float:
    """The first level's target width: ``α·std(ξ̄)``, at most the widest half cell (so that halving it always
    splits a bin) and wide enough that the first level holds at most ``max_bins/4`` bins where it can."""
    _, widths, _ = half_cells(axis_values(grid, 0))
    std = noise.std if math.isfinite(noise.std) else noise.quantile_width(0.3)
    wmax = float(np.max(widths))
    h = min(float(alpha * std), wmax) if alpha * std > 0 else wmax
    cap = max_bins // 4
    if bins_per_half_cell(widths, h).sum() > cap:  # r_k ≤ w_k/h + 1, so N ≤ 2(n−1) + Σw/h ≤ cap
        room = cap - widths.size
        h = wmax if room <= 0 else min(wmax, max(h, float(widths.sum()) / room))
    return h


def grid_transfer_matrix(problem: Problem, noise: NoiseModel, grid, alpha: float, h: float, tol: float = 1e-14):
    """Ulam matrix of BC's latent dynamics on the bins of target width ``h`` (see the module docstring), in band
    form ``B[i, j − i + b] = P[i, j]``.

    The flat windows are computed in blocks of whole rows of about :data:`CHUNK` entries, so the working arrays
    stay small beside the band matrix; each row's entries are summed in the same order whatever the blocks.

    Returns ``(B, b, edges, cell_of_bin, dropped)`` as :func:`srchain.toy.bc_law.bc_transfer_matrix` does.
    """
    if grid.dim != 1:
        raise SrchainError("the BC transfer operator is 1-dimensional (use the simulator for d > 1)")
    values = axis_values(grid, 0)
    edges, cell, _ = grid_bins(values, h)
    N = edges.size - 1
    c, hw, jlo, jhi = grid_windows(problem, noise, values, alpha, edges, cell, tol)
    W = jhi - jlo + 1
    cum = np.concatenate([[0], np.cumsum(W)])
    starts = np.searchsorted(cum, np.arange(0, cum[-1], CHUNK), side="right") - 1
    blocks = np.unique(np.append(starts, N))
    b = _band(jlo, jhi)
    B = np.zeros((N, 2 * b + 1))
    dropped = 0.0
    for r0, r1 in zip(blocks[:-1].tolist(), blocks[1:].tolist(), strict=True):  # a loop over blocks of rows
        Wb = W[r0:r1]
        row = np.repeat(np.arange(r0, r1), Wb)
        col = jlo[row] + np.arange(row.size) - np.repeat(cum[r0:r1] - cum[r0], Wb)
        P = _entries(noise, alpha, c[row], hw[row], edges[col], edges[col + 1], col, N)
        sums = np.bincount(row - r0, weights=P, minlength=r1 - r0)
        check_sums(
            sums,
            tol + noise.table_error,
            f"BC's transfer operator at alpha = {alpha:g}",
            lambda i, r0=r0: f"the law out of bin {r0 + int(i)} (w = {edges[r0 + int(i)]:.6g})",
        )
        dropped = max(dropped, float(np.max(np.abs(1.0 - sums))))
        B[row, col - row + b] = P / sums[row - r0]
    return B, b, edges, cell, dropped


def _entries(noise, alpha, cr, hr, e_lo, e_hi, col, N):
    """``P[i, j]`` for flat (row, target) pairs: the row's shifted image ``[cr, cr + hr)``, the target's edges."""

    def tail_ge(edge):  # Pr(x' ≥ edge) for x uniform on the row's bin (the Ulam average with the bin's own width)
        z1 = (cr + hr - edge) / alpha
        z0 = (cr - edge) / alpha
        return np.clip(alpha / hr * (noise.lower_partial(z1) - noise.lower_partial(z0)), 0.0, 1.0)

    s_lo = tail_ge(e_lo)
    s_hi = tail_ge(e_hi)
    # the projection onto the box: the end bins take the whole tails (the windows are clipped to the box, so a
    # window that reaches an end holds that end bin)
    P = np.where(col == 0, 1.0 - s_hi, np.where(col == N - 1, s_lo, s_lo - s_hi))
    return np.maximum(P, 0.0)


class GridLevels:
    """The refinement levels of :func:`srchain.toy.bc_law.bc_law` on a format's grid: level ``h`` is the target bin
    width (bins per half cell ``⌈width/h⌉``); the next level halves it."""

    def __init__(self, problem, noise, grid, alpha, tol_drop, max_bins, h0=None, max_memory=None):
        self.problem, self.noise, self.grid, self.alpha, self.tol_drop = problem, noise, grid, alpha, tol_drop
        self.max_memory = max_memory
        self.widths = half_cells(axis_values(grid, 0))[1]
        self.first = float(grid_first_h(noise, grid, alpha, max_bins) if h0 is None else h0)
        if not (math.isfinite(self.first) and self.first > 0):
            raise SrchainError(f"h0 must be a positive bin width, got {h0!r}")

    def next(self, h):
        return 0.5 * h

    def bins(self, h):
        return int(min(bins_per_half_cell(self.widths, h).sum(), 2.0**62))

    def h(self, h):
        return float(h)

    def per_half_cell(self, h):
        return int(np.max(bins_per_half_cell(self.widths, h)))

    def cost(self, h):
        nbytes, seconds, _ = grid_level_cost(
            self.problem, self.noise, self.grid, self.alpha, h, self.tol_drop, self.max_memory
        )
        return nbytes, seconds

    def solve(self, h):
        from srchain.gth import banded_gth, law_from_frames

        B, b, edges, cell, dropped = grid_transfer_matrix(
            self.problem, self.noise, self.grid, self.alpha, h, tol=self.tol_drop
        )
        mant, frame = banded_gth(B, b)
        latent = law_from_frames(mant, frame)
        pi = np.bincount(cell, weights=latent, minlength=self.grid.size)
        return pi, latent, edges, dropped
