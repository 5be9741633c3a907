"""Dense GTH: all states in one front, in NumPy for small chains or by the blocked Numba kernel.

Eliminating state p (first to last): ``s_p = Σ_{j>p} F[p, j]``, ``c_ip = F[i, p]/s_p`` and
``F[i, j] += c_ip F[p, j]`` for ``i, j > p``; then ``π_{n−1} = 1`` and ``π_p = Σ_{i>p} π_i c_ip`` from the last
state back. Cost ``O(n³)``, memory ``n²`` floats.

The order matters for the cost, not for the law (GTH is exact in any order, and accurate entrywise in each):
eliminating ``p`` updates only the rows of the states that move to it, so a state with few predecessors is cheap to
eliminate first and dear to eliminate late, once the fill has given it many. :func:`few_predecessors_first` orders
such states first (on bf16 with 0 in its domain, the ~21,500 values so close to 0 that only their neighbours move to
them), and :func:`dense_gth_rates` eliminates in a given order by permuting the array in place.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from numba import njit

from srchain.gth.front import front_eliminate, front_eliminate_split
from srchain.gth.multifrontal import Fronts, Tree, multifrontal_solve
from srchain.gth.scaling import EXP_FLOOR, law_from_mant_expo, zero_pivot

__all__ = ["small_gth", "dense_gth", "dense_gth_rates", "eliminate_front", "few_predecessors_first", "FEW"]

#: :func:`few_predecessors_first` puts first the states that at most this many others move to: eliminating one then
#: updates at most this many rows (and, as the fill reaches their columns, a few more), against every remaining row
#: that moves to it later in the order.
FEW = 8


def _rates(A: sp.csr_matrix) -> np.ndarray:
    """The off-diagonal rates of ``A`` as a dense array (GTH never reads the diagonal)."""
    F = A.toarray()
    np.fill_diagonal(F, 0.0)
    return F


def small_gth(A: sp.csr_matrix) -> np.ndarray:
    """The stationary law of ``A`` by dense GTH in NumPy (nothing to compile): the algorithm of
    :func:`srchain.gth.front.front_eliminate` and :func:`srchain.gth.multifrontal.multifrontal_solve`, one
    vectorised update per pivot. π is carried as mantissa and exponent (:mod:`srchain.gth.scaling`), each
    ``π_p = Σ_{i>p} π_i c_ip`` summed relative to its largest term (exact powers of two, so the bits are those of
    summing relative to the largest ``π_i`` wherever that does not underflow).

    Raises
    ------
    SrchainError
        A zero pivot (the chain is reducible, or its rates underflow).
    """
    n = A.shape[0]
    F = _rates(A)
    for p in range(n - 1):
        s = F[p, p + 1 :].sum()
        if not (s > 0.0) or not np.isfinite(s):
            raise zero_pivot(p)
        F[p + 1 :, p] /= s
        F[p + 1 :, p + 1 :] += np.outer(F[p + 1 :, p], F[p, p + 1 :])
    mant = np.zeros(n)
    expo = np.zeros(n, dtype=np.int64)
    mant[n - 1] = 1.0
    for p in range(n - 2, -1, -1):
        # each term π_i c_ip as (mant_i · c's mantissa) · 2^(expo_i + c's exponent): one rounding, as forming the
        # product directly, and no flush to 0 however far π_i c_ip lies below π_i (a barrier deeper than float64)
        cm, ce = np.frexp(F[p + 1 :, p])
        e = expo[p + 1 :] + ce
        pos = (mant[p + 1 :] > 0) & (cm > 0)
        if not np.any(pos):
            continue
        # sum relative to the largest term, not the largest π_i: a law falling by more than ~2^-1022 in one step
        # would otherwise underflow to 0 and take every state behind it along
        top = e[pos].max()
        # an exactly rounded sum (math.fsum): no BLAS dot, whose summation order depends on the CPU and threads
        acc = math.fsum(np.ldexp(mant[p + 1 :] * cm, np.clip(e - top, EXP_FLOOR, 0)))
        fm, fe = np.frexp(acc)
        mant[p], expo[p] = fm, top + fe
    return law_from_mant_expo(mant, expo)


def dense_gth(A: sp.csr_matrix, threads: int | None = None) -> np.ndarray:
    """The stationary law of ``A`` by the blocked dense kernel: :func:`dense_gth_rates` of its off-diagonal rates.

    Raises
    ------
    SrchainError
        A zero pivot (the chain is reducible, or its rates underflow).
    """
    return dense_gth_rates(_rates(A), threads)


def few_predecessors_first(predecessors: np.ndarray, few: int = FEW) -> np.ndarray | None:
    """An elimination order for dense GTH: the states with at most ``few`` predecessors (``predecessors[i]``: the
    other states with a positive rate to ``i``), then the others, each in their own order; ``None`` where that is
    the order they are in (none or all have few, or those that have lead already)."""
    few_ = np.asarray(predecessors) <= few
    order = np.concatenate([np.flatnonzero(few_), np.flatnonzero(~few_)])
    return None if np.array_equal(order, np.arange(order.size)) else order


@njit(cache=True, nogil=True)
def _permute_rows(F, order):
    """``F[k] ← F[order[k]]`` for every row, in place: along each cycle of the permutation with one row saved."""
    n = order.size
    done = np.zeros(n, dtype=np.bool_)
    row = np.empty(F.shape[1])
    for s in range(n):
        if done[s]:
            continue
        done[s] = True
        if order[s] == s:
            continue
        row[:] = F[s]
        k = s
        while order[k] != s:
            F[k] = F[order[k]]
            k = order[k]
            done[k] = True
        F[k] = row


@njit(cache=True, nogil=True)
def _permute_columns(F, order, i0, i1):
    """``F[i, k] ← F[i, order[k]]`` for the rows ``i0 ≤ i < i1``, in place (one row saved at a time)."""
    row = np.empty(order.size)
    for i in range(i0, i1):
        for k in range(order.size):
            row[k] = F[i, order[k]]
        F[i, :] = row


def permute_in_place(F: np.ndarray, order: np.ndarray) -> None:
    """``F ← F[order][:, order]`` without a second array: the rows along the permutation's cycles, then each row's
    columns (split over Numba's threads; plain copies, so the result is the same on any number)."""
    from srchain._threads import over_threads

    order = np.ascontiguousarray(order, dtype=np.int64)
    _permute_rows(F, order)
    over_threads(lambda i0, i1: _permute_columns(F, order, i0, i1), F.shape[0], 256)


def eliminate_front(F: np.ndarray, k: int, threads: int | None = None, progress: bool = False) -> int:
    """GTH-eliminate the first ``k`` states of the dense front ``F`` (its own states; ``k`` = its order keeps the
    last), each panel's rows split over ``threads`` threads from :data:`srchain.gth.sparse.SPLIT_FRONT` states on
    (the same bits), with a tqdm bar of the work done where ``progress`` (on a terminal only). Returns 0, or ``p +
    1`` for a zero pivot at ``p`` (:func:`srchain.gth.front.front_eliminate`)."""
    from srchain.gth.sparse import SPLIT_FRONT, _threads

    n = F.shape[0]
    nthreads = _threads(threads)
    bar, on_panel = None, None
    if progress:
        from tqdm.auto import tqdm

        # eliminating state p updates (n − p − 1)² entries: the bar counts the work done, in percent
        bar = tqdm(total=100.0, desc="dense GTH", unit="%", disable=None, bar_format="{l_bar}{bar}| {n:.0f}%")

        def on_panel(p1):
            bar.update(100.0 * (1.0 - ((n - p1) / n) ** 3) - bar.n)

    try:
        if nthreads > 1 and n >= SPLIT_FRONT:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(nthreads - 1) as ex:
                return front_eliminate_split(F, k, ex.submit, nthreads, on_panel)
        if on_panel is not None:  # one part: the caller's thread does every row (the same operations)
            return front_eliminate_split(F, k, None, 1, on_panel)
        return front_eliminate(F, k)
    finally:
        if bar is not None:
            bar.close()


def dense_gth_rates(
    F: np.ndarray, threads: int | None = None, progress: bool = False, order: np.ndarray | None = None
) -> np.ndarray:
    """The stationary law of the chain whose off-diagonal rates are the dense ``n × n`` array ``F`` (its diagonal
    must be 0; ``F`` is overwritten by the factor), its states eliminated in ``order`` (default: as they are; the
    law, in ``F``'s labels, has the bits of the permuted chain's): one front that owns every state, eliminated by
    :func:`srchain.gth.front.front_eliminate` (each panel's rows split over ``threads`` threads from
    :data:`srchain.gth.sparse.SPLIT_FRONT` states on: the same bits) and back-substituted by
    :func:`srchain.gth.multifrontal.multifrontal_solve`. ``progress``: a tqdm bar of the elimination's work (on a
    terminal only).

    Raises
    ------
    SrchainError
        A zero pivot (the chain is reducible, or its rates underflow).
    """
    n = F.shape[0]
    if order is not None:
        permute_in_place(F, order)
    status = eliminate_front(F, n, threads, progress)
    if status:
        raise zero_pivot(status - 1 if order is None else int(order[status - 1]))
    one = np.zeros(1, dtype=np.int64)
    tree = Tree(own_start=one, own_end=np.array([n], dtype=np.int64), nchild=one)
    fronts = Fronts(
        front_ptr=np.array([0, n], dtype=np.int64),
        front_idx=np.arange(n, dtype=np.int32),
        factor_ptr=one,
        factor=F.ravel(),
    )
    mant, expo = multifrontal_solve(tree, fronts)
    pi = law_from_mant_expo(mant, expo)
    if order is None:
        return pi
    out = np.empty(n)
    out[order] = pi
    return out
