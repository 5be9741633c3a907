r"""The stationary law of a chain on a format's grid whose rows are dense: T_α's rates assembled straight into a
dense array and solved by dense GTH.

On a 1-D grid holding 0 in bf16 or fp16 the move windows of the states near 0 span nearly every state (bf16 on
[−4, 10]: 33,185 values, about 10,000 entries kept per row): eliminating any state fills its whole window, so the
sparse solvers' factor is dense anyway, and T_α in CSR (12 bytes an entry, 40 while it is assembled) plus that fill
needs 23–29 GiB there. Here each chunk of rows is assembled and checked exactly as
:func:`srchain.grid_chains.grid_transition_matrix` does (the same entries, bit for bit) and scattered into a dense
array (its diagonal dropped: GTH never reads it), one of two ways, unless the **lifted chain** applies first
(:mod:`srchain.grid_lifted`: the interpolated rows' Bernstein nodes as states of their own, no dense core; taken
where its dense front, the nodes and the rows computed directly, is at most 0.9 times the core below and it needs
no more memory; on bf16 [−4, 10] at α = 0.01, 3,263 against 12,194 states, and 1.9 s against 9.7–10.0 s):

* **Values reached from their neighbours only first** (:func:`thin_states`: a bound on the noise's density
  certifies that T_α drops every other move to them; on bf16 [−4, 10] at α = 0.01 the 20,991 values within ~1e-13
  of 0). Their rates to one another go into short lists, and :class:`srchain.gth.thin.ThinFirst` eliminates each as
  soon as the row after it is in, updating a few rows, so only a chunk's thin rows are held; the other ``K``
  values' rates form a dense ``K × K`` core, eliminated last, its values in order of how many rows move to them
  (counted as the rows are scattered; fewest first, :data:`CORE_ORDER`): the dense GTH of the CSR T_α with those
  values first and the core so ordered (the same bits with the core in the grid's order, where the thin values'
  exit rates are summed in that order too), in about ``8·K²`` bytes (1.2 against 8.8 GB there).
* **Otherwise the n × n array**, solved by :func:`srchain.gth.dense.dense_gth_rates` in the order of
  :func:`srchain.gth.dense.few_predecessors_first`: the states that few others move to first (the same bits as
  :func:`srchain.gth.dense_gth` of the CSR T_α so permuted, on any number of threads). In the grid's order the
  ~11,600 values around the narrow ones, eliminated before them, fill every row and cost the full ``n³/3`` (on bf16
  [−4, 10] at α = 0.01: 63–75 s against 10.7 s with the permutation).

The residual :math:`\|\pi P - \pi\|_1` is computed by assembling the rows once more, a chunk at a time, since the
elimination overwrites the array. The chunks whose π sums to at most :data:`SKIP_MASS` in all (on bf16 [−4, 10] at
α = 0.01 every value within 0.5 of 0: 7.8e-36 of the mass, and the widest rows; at α = 0.001 those within 1e-4 of
0, 7.8e-19) are not assembled again: leaving out rows of mass :math:`S` changes :math:`\|\pi P - \pi\|_1` by at
most :math:`S` (P is stochastic), so the residual reported is the one of the other rows plus :math:`S`, an upper
bound (the exact value where :math:`S = 0`, e.g. chunks whose π underflowed to 0, which add exactly +0).

:func:`law_route` says which route a law takes: this one where its memory is smaller than the sparse route's
estimate (:func:`srchain.grid_chains.grid_estimate`), the CSR operator and the stationary solvers otherwise.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from srchain._pages import zeros
from srchain._threads import threads_for
from srchain.budget import check_memory, format_bytes
from srchain.errors import SrchainError
from srchain.grid_chains import CHUNK_BYTES, _check_resolvable, chunk_rows, grid_estimate, prepare_rows
from srchain.gth.thin import add_thin
from srchain.operator_checks import check_dropped, check_rows

if TYPE_CHECKING:
    from srchain.grids import Grid
    from srchain.noise import NoiseModel
    from srchain.problems import Problem
    from srchain.stationary import StationaryResult

__all__ = ["dense_bytes", "thin_bytes", "thin_states", "route_bytes", "law_route", "grid_law_dense"]

#: A progress bar (on a terminal) for the elimination of this many states or more (about 6 s on 2 cores).
_BAR_STATES = 8000
#: The thin-first route eliminates the core's values in order of how many rows move to them, fewest first (False:
#: in the grid's order, the bits of the CSR T_α's dense GTH with the thin values first). On bf16 [−4, 10] at
#: α = 0.01 the core's elimination took 5.7–6.2 s instead of 7.1–7.3 s (the outer values' narrow rows go before the
#: dense block around 0 and leave it fewer columns).
CORE_ORDER = True
#: The dense route is considered from this many states on (below, the sparse solvers are fast whatever the fill).
DENSE_ROUTE_MIN = 1500


def dense_bytes(n: int, tables: float = CHUNK_BYTES) -> float:
    """Memory of :func:`grid_law_dense` on ``n`` states (bytes): the array of rates, one chunk's move ``tables``
    (at most :data:`srchain.grid_chains.CHUNK_BYTES`), its assembled rows (40 bytes an entry against the tables' 96
    a window slot: under half the tables) and a few vectors per state."""
    return 8.0 * n * n + 1.5 * tables + 64.0 * n


def route_bytes(problem, noise, grid, alpha, method="sr", tol=1e-14, sr_bits=None) -> tuple[float, float]:
    """``(dense, sparse)``: the memory of :func:`grid_law_dense` and of the sparse route (T_α in CSR with its
    assembly, :func:`srchain.grid_chains.grid_estimate`, and the solver's relabelled copy) for a law on ``grid``.
    Nothing of size ``n × window`` is allocated."""
    # the chunks first: prepare_rows refuses what the assembly would (k-bit SR's staircase beyond its work limit)
    # before any sample row is built (on bf16 [−4, 10], 3.5 s of 4-bit SR rows for a law that is then refused)
    alpha, method, bits, grads, chunks, width = prepare_rows(problem, noise, grid, alpha, method, tol, sr_bits)
    need, nnz = grid_estimate(problem, noise, grid, alpha, method, tol, sr_bits)
    tables = _chunk_bytes(noise, grid, alpha, method, tol, bits, grads, chunks, width)
    thin = thin_states(noise, grid, float(alpha), tol)
    T = 0 if thin is None else int(thin.sum())
    if T:
        dense = thin_bytes(grid.size, T, tables, _ring(chunks, thin))
    else:
        dense = dense_bytes(grid.size, tables)
    return dense, float(need) + 12.0 * nnz


def _chunk_bytes(noise, grid, alpha, method, tol, bits, grads, chunks, width) -> float:
    """The most memory one chunk of rows takes while it is built (:func:`srchain.grid_chains.chunk_rows`), per slot
    of the chunk's widest window: the move tables of a row computed directly (96 bytes, as
    :func:`srchain.grid_chains.grid_estimate` counts them), the CSR pieces of an interpolated one (40 bytes, the
    assembly's; :mod:`srchain.grid_interp` builds no tables)."""
    from srchain.grid_interp import interpolated

    per = np.full(grid.size, 96.0)
    if not noise.is_discrete:  # (SR, R and k-bit SR alike)
        v = grid.points[:, 0]
        per[interpolated(noise, v, v, np.ascontiguousarray(grads[:, 0]), alpha, tol)] = 40.0
    return max(float(per[a:b].sum()) * (float(width[a:b].max()) + 2.0) for a, b in chunks)


def law_route(problem, noise, grid, alpha, method="sr", tol=1e-14, sr_bits=None, solver="auto") -> tuple[str, float]:
    """``(route, bytes)``: ``"dense"`` (:func:`grid_law_dense`) for a 1-D chain on a format's grid of at least
    :data:`DENSE_ROUTE_MIN` states whose dense route needs less memory than its sparse route (:func:`route_bytes`),
    or whenever ``solver`` is ``"dense"``/``"gth-dense"`` on a 1-D format's grid; ``"sparse"`` otherwise. ``bytes``
    is the chosen route's memory, NaN where the dense route does not apply (a lattice, a 2-D grid, another solver)."""
    from srchain.grids import Grid

    if not isinstance(grid, Grid) or grid.dim != 1 or solver not in ("auto", "dense", "gth-dense"):
        return "sparse", math.nan
    dense, sparse = route_bytes(problem, noise, grid, alpha, method, tol, sr_bits)
    if solver != "auto" or (grid.size >= DENSE_ROUTE_MIN and dense < sparse):
        return "dense", dense
    return "sparse", sparse


def _chunks_of(problem, noise, grid, alpha, method, tol, sr_bits):
    """The checked arguments and chunks of :func:`srchain.grid_chains.prepare_rows`, the grid's gaps checked."""
    alpha, method, bits, grads, chunks, _ = prepare_rows(problem, noise, grid, alpha, method, tol, sr_bits)
    _check_resolvable(noise, grid, alpha, method, bits)
    return alpha, method, bits, grads, chunks


def _bar(chunks, n, desc):
    """``chunks`` with a tqdm bar (on a terminal, from :data:`_BAR_STATES` states on)."""
    from tqdm.auto import tqdm

    return tqdm(chunks, desc=desc, unit="chunk", disable=None if n >= _BAR_STATES else True, leave=False)


def _rows(args, a, b):
    """Rows ``a ≤ i < b`` of T_α as a checked CSR block ``(b − a) × n`` and the largest dropped mass."""
    indptr, indices, data, dr = _raw_rows(args, a, b)
    return sp.csr_matrix((data, indices, indptr), shape=(b - a, args[2].size)), dr


def _raw_rows(args, a, b):
    """:func:`_rows` as its arrays ``(indptr, indices, data, dropped)``, checked, no matrix built (SciPy would copy
    the columns into 32-bit integers)."""
    problem, noise, grid, alpha, method, tol, grads, bits = args
    ln, ci, va, dr = chunk_rows(problem, noise, grid, alpha, method, tol, grads, bits, a, b)
    indptr = np.zeros(b - a + 1, dtype=np.int64)
    np.cumsum(ln, out=indptr[1:])
    check_rows(indptr, va, f"T_alpha at alpha = {alpha:g}")
    return indptr, ci, va, dr


def thin_states(noise, grid, alpha: float, tol: float) -> np.ndarray | None:
    """The values of a 1-D grid that T_α certainly reaches from their neighbours only (a boolean mask), or None
    where no bound on the noise's density is known. Any rule moves to ``v_c`` only from a step landing in
    ``[v_{c−1}, v_{c+1}]``, of probability at most ``f_max·(v_{c+1} − v_{c−1})/α`` (``f_max`` the density's peak,
    at 0 for the Gaussian, Laplace and Student-t noises); with half of it below
    :data:`srchain.grid_sr.DROP` · tol (the bound by which SR's and R's laws take such a cell out of a far row's
    window) that entry is dropped from every row but a nearest neighbour's (:func:`srchain.assemble._assemble`).
    The ends (which carry the tails) never are."""
    from srchain.grid_sr import DROP
    from srchain.noise import GaussianNoise, LaplaceNoise, StudentTNoise

    if type(noise) not in (GaussianNoise, LaplaceNoise, StudentTNoise) or grid.dim != 1:
        return None
    v = grid.points[:, 0]
    thin = np.zeros(v.size, dtype=bool)
    thin[1:-1] = float(noise.pdf(0.0)) * (0.5 * ((v[2:] - v[:-2]) / alpha)) < DROP * tol
    return thin


def thin_bytes(n: int, thin: int, tables: float = CHUNK_BYTES, ring: int | None = None) -> float:
    """Memory of :func:`grid_law_dense` on ``n`` states of which ``thin`` are eliminated first from lists
    (:mod:`srchain.gth.thin`): the core's ``K × K`` rates (``K = n − thin``), ``ring`` thin rows held at once (at
    most ``n − K``), the lists and factors, one chunk's tables and rows."""
    from srchain.gth.thin import CAP

    K = n - thin
    held = thin if ring is None else min(ring, thin)
    return 8.0 * K * (K + held) + 8.0 * CAP * (3 * n + thin) + 1.5 * tables + 96.0 * n


def _law_thin_first(args, chunks, thin, n, threads, say):
    """The law by :class:`srchain.gth.thin.ThinFirst`, fed T_α's rows chunk by chunk in grid order by position
    (the thin values first, then the core, each in grid order): rates to the core into dense rows, to a thin value
    into the row's list. A thin value is eliminated once the row after it is in (only its neighbours move to it,
    and the fill reaches rows already in), so the thin rows held are a chunk's; the core is eliminated last, in
    order of the rows that move to each of its values (:data:`CORE_ORDER`). Returns ``(pi, nnz, dropped, loops)``,
    or None where an entry to a thin value comes from beyond its neighbours or a list outgrows its capacity (then
    the caller takes the dense route)."""
    from srchain.gth.thin import ThinFirst

    T = int(thin.sum())
    order = np.r_[np.flatnonzero(thin), np.flatnonzero(~thin)]
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    before = np.r_[0, np.cumsum(thin)]  # thin values below each grid index
    tf = ThinFirst(n, T, _ring(chunks, thin), labels=order)
    say(f"assembling T_alpha's rates: {T} values reached from their neighbours only (eliminated as they come)")
    nnz, dropped, loops = 0, 0.0, 0
    moves = np.zeros(n - T, dtype=np.int64)  # the rows that move to each core state
    for a, b in _bar(chunks, n, "T_alpha's rates"):
        indptr, indices, data, dr = _raw_rows(args, a, b)
        status = _scatter_thin(
            indptr, indices, data, a, pos, thin, T, tf.ring, tf.C,
            tf.ocol, tf.oval, tf.ocnt, tf.irow, tf.icnt, tf.done, moves,
        )  # fmt: skip
        # an entry to a thin value from beyond its neighbours (the bound says it cannot happen) or a list outgrown;
        # else the thin values whose next row is in go
        if status < 0 or not tf.eliminate(int(before[b - 1])):
            return None
        loops += status
        nnz += int(indptr[-1])
        dropped = max(dropped, dr)
    if not tf.eliminate(T):
        return None
    if loops == 0:
        return np.zeros(0), nnz, dropped, loops
    say(f"eliminating the dense core of {n - T} values (GTH, those that fewest rows move to first)")
    order = np.argsort(moves, kind="stable") if CORE_ORDER else None
    pi_pos = tf.law(threads, progress=n >= _BAR_STATES, order=order)
    return pi_pos[pos], nnz, dropped, loops


def _ring(chunks, thin) -> int:
    """Thin rows held at once by :func:`_law_thin_first`: a chunk's, and the one before them."""
    before = np.r_[0, np.cumsum(thin)]
    return max(int(before[b] - before[a]) for a, b in chunks) + 2


#: Groups of rows that :func:`_scatter_rows` scatters in parallel (each counts the moves to the core in its own row).
_GROUPS = 32


def _scatter_thin(indptr, indices, data, a, pos, thin, T, ring, C, ocol, oval, ocnt, irow, icnt, done, moves):
    """Scatter CSR rows ``a, a + 1, …`` by position (:func:`_law_thin_first`): a thin row into its ring slot
    (cleared first; free once the thin values ``done`` positions back are eliminated), a core row into ``C``, each
    rate to a thin value into the row's list; ``moves`` (the core's states) counts the other rows that move to each.
    Returns the self-loops met, or −1 for an entry to a thin value from beyond its neighbours, a list outgrown or a
    ring slot still in use. The rows are scattered in parallel (each into its own slot or row; :data:`_GROUPS`
    groups of rows, each counting into its own row of counts), then their few rates to thin values (at most two a
    row, its neighbours) go into the lists in order of rows and entries."""
    rows = indptr.size - 1
    to_thin = np.full((rows, 2), -1, dtype=np.int64)
    loops = np.zeros(rows, dtype=np.int64)
    counts = np.zeros((min(_GROUPS, max(rows, 1)), moves.size), dtype=np.int64)
    with threads_for(int(indptr[-1])):
        ok = _scatter_rows(indptr, indices, a, pos, thin, T, ring, C, data, done, to_thin, loops, counts)
    if not ok or not _add_thin_rates(indices, data, a, pos, to_thin, ocol, oval, ocnt, irow, icnt):
        return -1
    moves += counts.sum(axis=0)
    return int(loops.sum())


@njit(cache=True, nogil=True, parallel=True)
def _scatter_rows(indptr, indices, a, pos, thin, T, ring, C, data, done, to_thin, loops, counts):
    """:func:`_scatter_thin`'s rates to the core, ``counts.shape[0]`` groups of consecutive rows in parallel; each
    row's entries to thin values (at most its two neighbours) into ``to_thin``, its self-loops into ``loops``, its
    moves to each core state into its group's ``counts``. False for an entry to a thin value from beyond the
    neighbours or a ring slot still in use."""
    R = ring.shape[0]
    rows = indptr.size - 1
    groups = counts.shape[0]
    bad = np.zeros(groups, dtype=np.int64)
    for g in prange(groups):
        for r in range(g * rows // groups, (g + 1) * rows // groups):
            i = a + r
            pi = pos[i]
            if thin[i]:
                if pi - done >= R:
                    bad[g] += 1
                    continue
                row = ring[pi % R]
                row[:] = 0.0
            else:
                row = C[pi - T]
            m = 0
            for e in range(indptr[r], indptr[r + 1]):
                j = indices[e]
                if j == i:
                    loops[r] += 1  # (GTH never reads the diagonal)
                elif not thin[j]:
                    row[pos[j] - T] = data[e]
                    counts[g, pos[j] - T] += 1
                elif abs(j - i) > 1 or m == 2:
                    bad[g] += 1
                    break
                else:
                    to_thin[r, m] = e
                    m += 1
    return bad.sum() == 0


@njit(cache=True, nogil=True)
def _add_thin_rates(indices, data, a, pos, to_thin, ocol, oval, ocnt, irow, icnt):
    """The rates of :func:`_scatter_rows`' ``to_thin`` into the rows' lists, in order; False where a list is full."""
    for r in range(to_thin.shape[0]):
        for m in range(2):
            e = to_thin[r, m]
            if e >= 0 and not add_thin(ocol, oval, ocnt, irow, icnt, pos[a + r], pos[indices[e]], data[e]):
                return False
    return True


def grid_law_dense(
    problem: Problem,
    noise: NoiseModel,
    grid: Grid,
    alpha: float,
    method: str = "sr",
    tol: float = 1e-14,
    sr_bits: int | None = None,
    max_bytes: float | None = None,
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[StationaryResult, int, float]:
    r"""The stationary law :math:`\pi_\alpha` of SR (Eq. 6 on the grid), SR with ``sr_bits`` random bits or R on
    ``grid``, by dense GTH on T_α's rates assembled as a dense array (``n × n``, or ``K × K`` with the values that
    only their neighbours reach in lists, eliminated as they come: see the module docstring).

    Parameters
    ----------
    problem, noise, grid, alpha, method, tol, sr_bits
        As :func:`srchain.grid_chains.grid_transition_matrix`.
    max_bytes : float, optional
        Refuse (before allocating) when the route's memory (:func:`thin_bytes` or :func:`dense_bytes`) exceeds it.
    threads : int, optional
        Threads of the elimination (default: the CPUs this process may use, at most 16); the law's bits do not
        depend on it.
    progress : callable, optional
        Called with a short text as each phase (assembly, elimination, residual) starts. From
        :data:`_BAR_STATES` states on, each phase also shows a tqdm bar on a terminal.

    Returns
    -------
    tuple
        ``(result, nnz, dropped)``: a :class:`srchain.stationary.StationaryResult` (method ``"gth-lifted"`` or
        ``"gth-dense"``), the entries T_α keeps and its largest dropped row mass.

    Raises
    ------
    SrchainError
        Memory, the grid's gaps or the arguments as :func:`srchain.grid_chains.grid_transition_matrix`; a chain
        without a self-loop (its aperiodicity is not checked here); a zero pivot (reducible, or its rates underflow).
    """
    from srchain.gth.dense import dense_gth_rates, few_predecessors_first

    t0 = time.perf_counter()
    n = grid.size
    alpha, method, bits, grads, chunks = _chunks_of(problem, noise, grid, alpha, method, tol, sr_bits)
    thin = thin_states(noise, grid, alpha, tol)
    T = 0 if thin is None else int(thin.sum())
    check_memory(
        thin_bytes(n, T, ring=_ring(chunks, thin)) if T else dense_bytes(n),
        max_bytes,
        f"the dense rates of T_alpha on the {getattr(grid, 'format', 'fixed')} grid of {n:.3g} states "
        f"({format_bytes(8.0 * (n - T) * (n - T) if T else 8.0 * n * n)} for the array)",
        "use a smaller domain (the grid is finest near 0), a coarser format or a smaller alpha",
    )
    args = (problem, noise, grid, alpha, method, tol, grads, bits)
    say = progress or (lambda text: None)
    lifted = _law_lifted(args, chunks, thin, n, T, max_bytes, threads, say)
    if lifted is not None:
        pi, nnz, dropped, loops = lifted
        _check_rows(dropped, loops, alpha)
        return _result(args, chunks, pi, nnz, dropped, t0, say, method="gth-lifted")
    done = _law_thin_first(args, chunks, thin, n, threads, say) if T else None
    if done is not None:
        pi, nnz, dropped, loops = done
        _check_rows(dropped, loops, alpha)
        return _result(args, chunks, pi, nnz, dropped, t0, say)
    say(f"assembling T_alpha's {n} x {n} rates")
    F = zeros(n * n).reshape(n, n)  # (no huge pages asked for: srchain._pages)
    nnz, dropped, loops = 0, 0.0, 0
    predecessors = np.zeros(n, dtype=np.int64)
    for a, b in _bar(chunks, n, "T_alpha's rates"):
        block, dr = _rows(args, a, b)
        own = np.arange(a, b)
        rows = np.repeat(own, np.diff(block.indptr))
        F[rows, block.indices] = block.data
        loops += int(np.count_nonzero(F[own, own] > 0))
        F[own, own] = 0.0  # (GTH never reads the diagonal)
        predecessors += np.bincount(block.indices[block.indices != rows], minlength=n)
        nnz += block.nnz
        dropped = max(dropped, dr)
    _check_rows(dropped, loops, alpha)
    order = few_predecessors_first(predecessors)
    say(f"eliminating {n} states (dense GTH{'' if order is None else ', those with few predecessors first'})")
    pi = dense_gth_rates(F, threads, progress=n >= _BAR_STATES, order=order)  # (a format's grid: at least 2 values)
    del F
    return _result(args, chunks, pi, nnz, dropped, t0, say)


def _law_lifted(args, chunks, thin, n, T, max_bytes, threads, say):
    """The law by :func:`srchain.grid_lifted.lifted_law` where it applies (:data:`srchain.grid_lifted.LIFTED`), its
    dense front (the nodes and the rows computed directly) is at most 0.9 times this route's core, and it needs no
    more memory than this route (or ``max_bytes``); else None. (fp16 on [−4, 10] at α = 0.01: a front of 21,963
    against an n × n array of 36,097, 46–56 s against 224–232 s.)"""
    from srchain import grid_lifted

    problem, noise, grid, alpha, method, tol, grads, bits = args
    if not grid_lifted.LIFTED:
        return None
    own = thin_bytes(n, T, ring=_ring(chunks, thin)) if T else dense_bytes(n)
    budget = min(own, math.inf if max_bytes is None else float(max_bytes))
    # (a front of more than 0.9 times this route's core would not be smaller)
    return grid_lifted.lifted_law(problem, noise, grid, alpha, method, tol, grads, chunks, budget, 0.9 * (n - T),
                                  threads, say, bits)  # fmt: skip


def _check_rows(dropped, loops, alpha):
    check_dropped(dropped, f"T_alpha at alpha = {alpha:g}")
    if loops == 0:
        raise SrchainError(
            "T_alpha has no self-loop, so the dense route cannot vouch for its aperiodicity; use --solver gth"
        )


#: The residual leaves out the chunks of rows of least π while their mass sums to at most this (see the module):
#: 1/128 of float64's unit roundoff, so the bound exceeds the residual by less than 1% of the rounding error of one
#: sum of π near 1 (on bf16 [−4, 10] at α = 0.001, the rows within 1e-4 of 0, 7.8e-19 of the mass: 6.22e-17 is
#: reported for 6.09e-17, 1.2 s sooner; it was 2⁻¹⁰⁰).
SKIP_MASS = 2.0**-60


def _skipped(chunks, pi):
    """``(skip, mass)``: which chunks the residual leaves out (those of least π, while their π sums to at most
    :data:`SKIP_MASS`) and their mass."""
    mass = np.array([pi[a:b].sum() for a, b in chunks])  # one sum per chunk of rows
    order = np.argsort(mass, kind="stable")
    within = np.cumsum(mass[order]) <= SKIP_MASS
    skip = np.zeros(len(chunks), dtype=np.bool_)
    skip[order[within]] = True
    return skip, float(mass[skip].sum())


def _result(args, chunks, pi, nnz, dropped, t0, say, method="gth-dense"):
    """``(result, nnz, dropped)`` with the residual ``‖πP − π‖₁`` from the rows assembled once more, an upper bound
    where chunks of least π are left out (:func:`_skipped`: plus their mass)."""
    from srchain.stationary import StationaryResult  # noqa: F811 - the class at run time

    n = pi.size
    say("the residual")
    skip, left_out = _skipped(chunks, pi)
    flow = np.zeros(n)
    for k, (a, b) in enumerate(_bar(chunks, n, "residual")):
        if skip[k]:  # rows of π summing to left_out at most: ‖πP − π‖₁ moves by less than left_out without them
            continue
        block, _ = _rows(args, a, b)
        flow += block.T @ pi[a:b]
    res = StationaryResult(
        pi=pi,
        residual=float(np.abs(flow - pi).sum()) + left_out,
        method=method,
        underflow=int(np.sum(pi == 0.0)),
        seconds=time.perf_counter() - t0,
    )
    return res, nnz, dropped
