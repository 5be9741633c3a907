"""Sparse GTH: order the states by nested dissection, factor the fronts over the tree in parallel threads, solve.

:func:`sparse_gth` runs the phases of :mod:`srchain.gth.multifrontal` on an order from
:mod:`srchain.gth.dissection`; :func:`factor_tree` runs the numeric factorisation on a thread pool, independent
subtrees at once (the kernels release the GIL), with the same operations in the same order as one thread.

Memory: the factor (an ``m × k`` block per front) grows like ``n log n`` on a 2-D lattice, 7.1 GiB at 10⁷ states,
while the work concentrates near the root. When the factor is larger than the memory set aside for it
(:data:`FACTOR_BYTES`, or what ``max_bytes`` leaves), :func:`keep_plan` keeps the blocks of the fronts nearest the
root and cuts the tree below them into subtrees whose blocks are not stored; back-substitution solves the kept
fronts, then factors each cut subtree again (the same operations in the same order, so the same bits) and solves
it, one subtree per thread at a time. At 10⁷ states a 2 GiB budget keeps 28% of the factor and refactors subtrees
holding about a fifth of the work.
"""

from __future__ import annotations

import threading

import numpy as np
import scipy.sparse as sp

from srchain._pages import zeros
from srchain.budget import GIB, check_memory
from srchain.errors import SrchainError
from srchain.gth.csr import offdiag_csr, relabel_split
from srchain.gth.dissection import (
    GRAPH_LEAF,
    LATTICE_LEAF,
    graph_nested_dissection,
    lattice_nested_dissection,
)
from srchain.gth.extended import factor_extended, solve_extended
from srchain.gth.front import front_eliminate_split
from srchain.gth.multifrontal import (
    Fronts,
    Rates,
    Tree,
    Updates,
    assemble_node,
    multifrontal_factor,
    retire_node,
    solve_nodes,
    subtree_sizes,
    symbolic_fronts,
    workspace,
)
from srchain.gth.scaling import TINY_EXIT, UNDERFLOW, law_from_mant_expo, zero_pivot

__all__ = ["sparse_gth", "offdiag", "factor_tree", "keep_plan", "FACTOR_BYTES"]

#: relabel_split writes int32 indices: the sparse solver takes fewer states than this.
_MAX_STATES = 2**31 - 1
#: Bytes per entry of P held during the factorisation besides the factor: the relabelled rates (each once), an
#: int32 index and a float64 value.
_RELABELLED_BYTES_PER_ENTRY = 12.0
#: Bytes per state held besides: the elimination order, the relabelled rates' two row pointers, the law's mantissa
#: and exponent, and each thread's front positions (int32).
_BYTES_PER_STATE = 48.0
_FLOAT_BYTES = 8.0
#: Bytes per factor entry (and per entry of the largest front) with an exponent per entry: float64 and int64.
_EXTENDED_BYTES = 16.0
_INDEX_BYTES = 4.0
#: Memory for the kept blocks of the factor (bytes) when the caller sets no limit. A larger factor keeps the
#: fronts nearest the root and refactors the subtrees below them during back-substitution (:func:`keep_plan`).
FACTOR_BYTES = 2 * GIB
#: With ``max_bytes``, the kept share is tried at the budget and then at halves of it, this many times, before the
#: elimination is refused.
_PLAN_HALVINGS = 8
#: Fronts of at least this order, run one node at a time above the subtrees (:func:`factor_tree`), are eliminated
#: with each panel's rows split over the threads (:func:`srchain.gth.front.front_eliminate_split`; the same bits).
#: Below it a panel's rows are too few to pay for the hand-offs.
SPLIT_FRONT = 512
#: Default thread count: the usable CPUs, at most this many (the top of the tree runs on fewer threads, so more
#: would mostly add workspace memory).
_MAX_THREADS = 8
#: Trees with fewer nodes are factored in the calling thread: too little work to pay for a thread pool.
_PARALLEL_MIN_NODES = 64
#: The top of the tree is split into about this many subtrees per thread, so that unequal subtrees balance out.
_SUBTREES_PER_THREAD = 3
#: ... but a subtree with less than this share of the total work is not split further.
_MIN_SUBTREE_SHARE = 0.02
#: An empty update stack.
_EMPTY = Updates(np.empty(0, dtype=np.int64), np.empty(0), np.empty(0, dtype=np.int64))


def offdiag(A: sp.csr_matrix) -> sp.csr_matrix:
    """The positive off-diagonal part of ``A`` (canonical CSR): the transition graph without self-loops."""
    ptr, ind, dat = offdiag_csr(A.indptr, A.indices, A.data)
    return sp.csr_matrix((dat, ind, ptr), shape=A.shape, copy=False)


def sparse_gth(
    A: sp.csr_matrix,
    shape=None,
    leaf: int | None = None,
    threads: int | None = None,
    graph: list | None = None,
    max_bytes: float | None = None,
    factor_bytes: float | None = None,
    progress: bool = False,
) -> np.ndarray:
    """The stationary law of ``A`` by multifrontal GTH.

    ``shape`` (a C-ordered box lattice of ``prod(shape)`` states) selects lattice nested dissection, otherwise the
    generic graph ordering runs; ``leaf`` overrides their leaf size. ``graph`` may hold ``[G]``, the off-diagonal
    graph of ``A`` (taken out of the list, so that it can be freed once relabelled). The factor's size is known
    exactly after the symbolic phase. At most ``factor_bytes`` of it (default :data:`FACTOR_BYTES`, less where
    ``max_bytes`` demands) is kept; the subtrees whose blocks are not kept are factored again during
    back-substitution (:func:`keep_plan`), so the law has the same bits whatever the budget, the thread count or
    the machine. The memory, kept factor and relabelled rates included, is checked against ``max_bytes`` before
    the factor is allocated.

    Where the float64 factorisation meets a zero pivot, or a rate lost to underflow beside an exit rate below
    2^-450 (a barrier deeper than float64's range, whose censored rates leave it), the chain is factored again
    with an exponent per entry (:mod:`srchain.gth.extended`: one thread, every block kept, the float64 bits
    wherever no value leaves float64's range).

    ``progress``: a tqdm bar (on a terminal) of the numeric work done, in percent (each front's ``m²k``, the cut
    subtrees counted twice), advanced by each subtree, each node above them, each panel of a split front.

    Raises
    ------
    SrchainError
        Too many states, a disconnected graph or a zero pivot (the chain is reducible, or its rates underflow), or
        over ``max_bytes``.
    """
    n = A.shape[0]
    if n >= _MAX_STATES:
        raise SrchainError(f"the sparse GTH solver handles fewer than 2^31 states, got {n}")
    G = graph.pop() if graph else offdiag(A)
    if shape is not None and int(np.prod(shape)) == n:
        shp = np.asarray(shape, dtype=np.int64)
        nd = lattice_nested_dissection(shp, G.indptr, G.indices, int(leaf or LATTICE_LEAF))
    else:
        S = (G + G.T).tocsr()
        S.sort_indices()
        nd = graph_nested_dissection(S, int(leaf or GRAPH_LEAF))
        del S
    newpos, own_start, own_end, nchild = nd
    tree = Tree(own_start, own_end, nchild)
    rates = Rates(*relabel_split(G.indptr, G.indices, G.data, newpos, own_start, own_end))
    del G
    front_ptr, front_idx = symbolic_fronts(tree, rates)
    m = np.diff(front_ptr)
    k = own_end - own_start
    block = m * k  # the factor's entries per front
    nthreads = _threads(threads)
    held = (
        _RELABELLED_BYTES_PER_ENTRY * float(rates.indices.size + rates.tind.size)
        + _INDEX_BYTES * float(front_idx.size)
        + _BYTES_PER_STATE * n
        + _FLOAT_BYTES * nthreads * float(m.max(initial=1)) ** 2
    )
    factor_ptr, cuts, kept, cut_max = _plan_within(nchild, block, factor_bytes, max_bytes, held, nthreads)
    check_memory(
        held + _FLOAT_BYTES * (kept + nthreads * cut_max),
        max_bytes,
        f"the GTH elimination of {n:.3g} states (its fill: {int(block.sum()):.3g} factor entries, "
        f"{kept:.3g} of them kept)",
        "use a coarser lattice (larger delta) or a smaller alpha (shorter jumps, less fill)",
    )
    fronts = Fronts(front_ptr, front_idx, factor_ptr, zeros(kept))  # (no huge pages asked for: srchain._pages)
    work = m.astype(np.float64) ** 2 * k
    bar = _Progress(work, nchild, cuts, progress)
    try:
        _factor(tree, rates, fronts, work, threads, bar)
    except BaseException as exc:
        bar.close()
        if not isinstance(exc, _Underflow):
            raise
        del fronts
        check_memory(
            held + _EXTENDED_BYTES * float(block.sum() + m.max(initial=1) ** 2),
            max_bytes,
            f"the GTH elimination of {n:.3g} states with an exponent per entry (its censored rates leave float64's "
            f"range; fill: {int(block.sum()):.3g} factor entries, all kept)",
            "use a coarser lattice (larger delta) or a smaller alpha (shorter jumps, less fill)",
        )
        status, bad, xptr, fm, fe = factor_extended(tree, rates, front_ptr, front_idx)
        if status:
            raise zero_pivot(int(np.flatnonzero(newpos == bad)[0]), "the states eliminated after it") from None
        mant, expo = solve_extended(tree, front_ptr, front_idx, xptr, fm, fe)
        return law_from_mant_expo(mant, expo)[newpos]
    mant = np.zeros(n)
    expo = np.zeros(n, dtype=np.int64)
    solve_tree(tree, fronts, block, mant, expo, threads)
    del fronts  # the kept blocks go before the cut subtrees are factored again
    try:
        if cuts.size:
            _refactor_and_solve(tree, rates, front_ptr, front_idx, block, cuts, mant, expo, newpos, threads, bar)
    finally:
        bar.close()
    del rates
    return law_from_mant_expo(mant, expo)[newpos]


class _Progress:
    """:func:`sparse_gth`'s progress bar: the work of every front (``work[t]``), and again of the subtrees below
    ``cuts`` (refactored), shown in percent and advanced from the factorising threads (under a lock); nothing at all
    unless ``enabled``."""

    def __init__(self, work: np.ndarray, nchild: np.ndarray, cuts: np.ndarray, enabled: bool):
        self.bar = None
        self.work = np.concatenate([[0.0], np.cumsum(work)])  # a subtree's work: a contiguous postorder range
        size = subtree_sizes(nchild)
        total = self.work[-1] + sum(self.work[t + 1] - self.work[t + 1 - size[t]] for t in cuts)
        self.scale = 100.0 / total if total > 0 else 0.0
        self.lock = threading.Lock()
        if enabled and total > 0:
            from tqdm.auto import tqdm

            fmt = "{l_bar}{bar}| {n:.0f}%"
            self.bar = tqdm(total=100.0, desc="sparse GTH", unit="%", disable=None, leave=False, bar_format=fmt)

    def add(self, units: float) -> None:
        if self.bar is not None:
            with self.lock:
                self.bar.update(units * self.scale)

    def nodes(self, t0: int, t1: int) -> None:
        """The fronts ``t0 ≤ t < t1`` are done."""
        self.add(self.work[t1] - self.work[t0])

    def panels(self, t: int, m: int, k: int):
        """An ``on_panel`` callback for node ``t``'s front (order ``m``, ``k`` pivots) split over the threads: each
        panel adds its share of ``work[t]`` (eliminating pivot p costs about ``(m − p)²``), and the calls add up to
        the front's work."""
        done = [0.0]
        whole = float(m) ** 3 - float(m - k) ** 3
        w = self.work[t + 1] - self.work[t]

        def on_panel(p1: int) -> None:
            now = w * (float(m) ** 3 - float(m - p1) ** 3) / whole
            self.add(now - done[0])
            done[0] = now

        return on_panel if self.bar is not None else None

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def keep_plan(nchild: np.ndarray, block: np.ndarray, budget: float):
    """Which blocks of the factor to keep within ``budget`` entries: ``(factor_ptr, cuts)``.

    ``block[t]`` is node ``t``'s ``m × k`` entries (postordered tree, ``nchild`` children per node). When all fit,
    every node is kept, laid out in postorder. Otherwise the kept nodes grow from the root, always into the cut
    subtree with the most entries (a node is kept if its block still fits; a leaf never is), and ``cuts`` lists the
    roots of the subtrees left, in decreasing order of their entries. ``factor_ptr[t]`` is a kept node's offset in
    the kept factor, −1 for the nodes of cut subtrees. The kept nodes are the top of the tree (every ancestor of a
    kept node is kept), where the fronts are large and a stored entry saves the most work (``m²k`` operations for
    ``mk`` entries).
    """
    nt = nchild.size
    block = np.asarray(block, dtype=np.int64)
    total = int(block.sum())
    if total <= budget or nt == 0:
        ptr = np.zeros(nt, dtype=np.int64)
        np.cumsum(block[:-1], out=ptr[1:])
        return ptr, np.empty(0, dtype=np.int64)
    import heapq

    size = subtree_sizes(nchild)
    below = np.cumsum(block)

    def entries(t: int) -> int:  # the blocks of t's subtree: a contiguous postorder range
        lo = t - int(size[t]) + 1
        return int(below[t] - (below[lo - 1] if lo > 0 else 0))

    ptr = np.full(nt, -1, dtype=np.int64)
    used = 0
    cuts = []
    heap = [(-entries(nt - 1), nt - 1)]
    while heap:
        e, t = heapq.heappop(heap)
        if nchild[t] > 0 and used + int(block[t]) <= budget:
            ptr[t] = used
            used += int(block[t])
            c = t - 1
            for _ in range(int(nchild[t])):
                heapq.heappush(heap, (-entries(c), c))
                c -= int(size[c])
        else:
            cuts.append((e, t))
    cuts.sort()
    return ptr, np.array([t for _, t in cuts], dtype=np.int64)


def _plan_within(nchild, block, factor_bytes, max_bytes, held, nthreads):
    """:func:`keep_plan` for ``factor_bytes`` (default :data:`FACTOR_BYTES`), halved while the kept blocks and
    one cut subtree per thread do not fit in what ``max_bytes`` leaves after ``held``. Returns ``(factor_ptr,
    cuts, kept entries, entries of the largest cut subtree)``."""
    budget = (FACTOR_BYTES if factor_bytes is None else float(factor_bytes)) / _FLOAT_BYTES
    size = subtree_sizes(nchild)
    below = np.cumsum(np.asarray(block, dtype=np.int64))
    for _ in range(_PLAN_HALVINGS + 1):
        ptr, cuts = keep_plan(nchild, block, budget)
        kept = int(block[ptr >= 0].sum())
        cut_max = 0
        if cuts.size:
            lo = cuts - size[cuts] + 1
            cut_max = int((below[cuts] - np.where(lo > 0, below[lo - 1], 0)).max())
        if max_bytes is None or held + _FLOAT_BYTES * (kept + nthreads * cut_max) <= max_bytes:
            break
        budget /= 2
    return ptr, cuts, kept, cut_max


def _refactor_and_solve(tree, rates, front_ptr, front_idx, block, cuts, mant, expo, newpos, threads, bar):
    """Factor each cut subtree again (its blocks into a scratch factor of its own) and back-substitute it, the
    largest first, one subtree per thread at a time; the kept nodes above are solved already. ``bar``: the
    :class:`_Progress` to advance."""
    import queue

    nchild = tree.nchild
    size = subtree_sizes(nchild)
    local = np.full(nchild.size, -1, dtype=np.int64)  # each node's offset in its cut subtree's scratch factor
    mcut = 1
    for t in cuts:
        lo = int(t - size[t] + 1)
        b = block[lo : t + 1]
        local[lo : t + 1] = np.cumsum(b) - b
        mcut = max(mcut, int(np.diff(front_ptr[lo : t + 2]).max()))
    n = tree.own_end[-1]
    nthreads = min(_threads(threads), cuts.size)
    spaces = queue.SimpleQueue()
    for _ in range(nthreads):
        spaces.put(workspace(n, np.array([0, mcut])))

    def run(t):
        lo, hi = int(t - size[t] + 1), int(t + 1)
        fronts = Fronts(front_ptr, front_idx, local, zeros(int(local[t] + block[t])))
        space = spaces.get()
        try:
            status, bad, _ = multifrontal_factor(lo, hi, tree, rates, fronts, _EMPTY, space)
        finally:
            spaces.put(space)
        if status & 1:  # not reached: the first factorisation of this subtree, with the same operations, passed
            raise zero_pivot(int(np.flatnonzero(newpos == bad)[0]), "the states eliminated after it")
        bar.nodes(lo, hi)
        solve_nodes(lo, hi, tree, fronts, mant, expo)

    if nthreads < 2:
        for t in cuts:
            run(t)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(nthreads) as ex:
        for f in [ex.submit(run, t) for t in cuts]:
            f.result()


class _Underflow(Exception):
    """The float64 factorisation met a zero pivot or a product below float64's normal range."""


def _factor(tree, rates, fronts, work, threads, bar):
    """:func:`multifrontal_factor` over the whole tree (:func:`factor_tree`); a zero pivot, or a rate lost to
    underflow beside a tiny exit rate (both :data:`~srchain.gth.scaling.UNDERFLOW` and
    :data:`~srchain.gth.scaling.TINY_EXIT` met), raises :class:`_Underflow`. Each of the (at most
    ``_threads(threads)``) concurrent calls takes a :class:`~srchain.gth.multifrontal.Workspace` from a pool and
    gives it back. ``bar``: the :class:`_Progress` to advance."""
    import queue

    n = tree.own_end[-1]
    spaces = queue.SimpleQueue()
    for _ in range(_threads(threads)):
        spaces.put(workspace(n, fronts.front_ptr))

    flags = []  # each call's underflow flags (list.append is atomic across the threads)
    nthreads = _threads(threads)
    m = np.diff(fronts.front_ptr)
    helpers = None
    if nthreads > 1 and int(m.max(initial=0)) >= SPLIT_FRONT:
        from concurrent.futures import ThreadPoolExecutor

        helpers = ThreadPoolExecutor(nthreads - 1)

    def run(t0, t1, incoming):
        space = spaces.get()
        try:
            if helpers is not None and t1 == t0 + 1 and m[t0] >= SPLIT_FRONT:  # a large front above the subtrees
                F, k = assemble_node(t0, tree, rates, fronts, incoming, space)
                status = front_eliminate_split(F, k, helpers.submit, nthreads, bar.panels(t0, int(m[t0]), int(k)))
                if status == 0:
                    status, outgoing = retire_node(t0, F, k, fronts, space)
                else:
                    status = 1
            else:
                status, bad, outgoing = multifrontal_factor(t0, t1, tree, rates, fronts, incoming, space)
        finally:
            spaces.put(space)
        if status & 1:  # a zero pivot: the chain is reducible, or its censored rates underflowed
            raise _Underflow
        flags.append(status)
        if not (helpers is not None and t1 == t0 + 1 and m[t0] >= SPLIT_FRONT):  # (a split front: by its panels)
            bar.nodes(t0, t1)
        return outgoing

    try:
        factor_tree(run, tree.nchild, work, threads)
    finally:
        if helpers is not None:
            helpers.shutdown()
    both = UNDERFLOW | TINY_EXIT
    if int(np.bitwise_or.reduce(np.array(flags, dtype=np.int64))) & both == both:
        raise _Underflow


def _threads(threads: int | None) -> int:
    import os

    if threads:
        return int(threads)
    try:
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        ncpu = os.cpu_count() or 1
    return max(1, min(ncpu, _MAX_THREADS))


def factor_tree(run, nchild: np.ndarray, work: np.ndarray, threads: int | None) -> None:
    """Run the numeric factorisation over the postordered tree, in parallel threads where it pays.

    ``run(t0, t1, incoming)`` factors the nodes ``t0 ≤ t < t1`` given the update matrices of their outside
    children (an :class:`~srchain.gth.multifrontal.Updates` stack) and returns its own leftover update stack.
    ``work[t]`` estimates node ``t``'s cost. The top of the tree is cut into subtrees (the *frontier*, grown by
    splitting the one with the most work until there are about :data:`_SUBTREES_PER_THREAD` per thread); they run
    on a thread pool (the kernels release the GIL), and each node above them runs as soon as its children are
    done, fed their update matrices. Each front is still eliminated by one thread, in the same order of
    operations, so the result does not depend on the number of threads.
    """
    nt = nchild.size
    threads = _threads(threads)
    top, frontier = _frontier(nchild, work, threads)
    if not top:
        run(0, nt, _EMPTY)
        return
    size = subtree_sizes(nchild)
    sub = np.cumsum(work)  # subtree work = sum over a contiguous postorder range

    def subtree_work(t):
        return _subtree_work(t, sub, size)

    from concurrent.futures import ThreadPoolExecutor

    futs = {}
    with ThreadPoolExecutor(threads) as ex:
        for t in sorted(frontier, key=subtree_work, reverse=True):
            futs[t] = ex.submit(run, int(t - size[t] + 1), int(t + 1), _EMPTY)

        def node(t, kids):
            # each child's update matrices are taken out of `futs`, so that they are freed once stacked here
            # (a finished future holds its result: kept in `futs`, every update matrix would live to the end)
            outs = [futs.pop(c).result() for c in kids]
            incoming = Updates(*(np.concatenate([o[i] for o in outs]) for i in range(3))) if outs else _EMPTY
            del outs
            return run(t, t + 1, incoming)

        for t in sorted(top):  # postorder: children first, so every wait is on a task submitted earlier
            futs[t] = ex.submit(node, int(t), _children(t, nchild, size))
        futs[nt - 1].result()
        for f in futs.values():  # surface any error
            f.result()


def _frontier(nchild: np.ndarray, work: np.ndarray, threads: int) -> tuple[list, list]:
    """``(top, frontier)``: the nodes above the subtrees that run in parallel, and the subtrees' roots (grown from
    the root by splitting the one with the most ``work`` until there are about :data:`_SUBTREES_PER_THREAD` per
    thread, none below :data:`_MIN_SUBTREE_SHARE` of the whole); ``top`` is empty where one thread, or a small
    tree, runs it all."""
    nt = nchild.size
    if threads < 2 or nt < _PARALLEL_MIN_NODES:
        return [], [nt - 1]
    size = subtree_sizes(nchild)
    sub = np.cumsum(work)

    def subtree_work(t):
        return _subtree_work(t, sub, size)

    top, frontier = [], [nt - 1]
    while len(frontier) < _SUBTREES_PER_THREAD * threads:
        best = max((t for t in frontier if nchild[t] > 0), key=subtree_work, default=None)
        if best is None or subtree_work(best) < _MIN_SUBTREE_SHARE * sub[-1]:
            break
        frontier.remove(best)
        top.append(best)
        frontier.extend(_children(best, nchild, size))
    return top, frontier


def _subtree_work(t: int, sub: np.ndarray, size: np.ndarray) -> float:
    """The work of node ``t``'s subtree: a contiguous postorder range of ``sub``, the work's running sum."""
    lo = t - size[t] + 1
    return float(sub[t] - (sub[lo - 1] if lo > 0 else 0.0))


def _children(t: int, nchild: np.ndarray, size: np.ndarray) -> list:
    """The children of node ``t`` of the postordered tree, in postorder."""
    cs, c = [], t - 1
    for _ in range(int(nchild[t])):
        cs.append(c)
        c -= size[c]
    return cs[::-1]


def solve_tree(tree, fronts, block: np.ndarray, mant: np.ndarray, expo: np.ndarray, threads: int | None) -> None:
    """Back-substitution (:func:`~srchain.gth.multifrontal.solve_nodes`) over the whole tree, the nodes whose block
    is kept: the top of the tree first, root down, then the subtrees below it (:func:`_frontier`, by ``block``, the
    factor's entries per node) in parallel threads. A front reads only its ancestors' states and writes only its
    own, each front is solved by one thread in the same order of operations: the same bits on any thread count."""
    nchild = tree.nchild
    top, frontier = _frontier(nchild, block.astype(np.float64), _threads(threads))
    if not top:
        solve_nodes(0, nchild.size, tree, fronts, mant, expo)
        return
    for t in sorted(top, reverse=True):  # (postorder: a parent after its children, so root down is descending)
        solve_nodes(int(t), int(t) + 1, tree, fronts, mant, expo)
    size = subtree_sizes(nchild)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(_threads(threads)) as ex:
        subtrees = sorted(frontier, key=lambda t: -float(block[int(t - size[t] + 1) : int(t) + 1].sum()))
        for f in [ex.submit(solve_nodes, int(t - size[t] + 1), int(t) + 1, tree, fronts, mant, expo) for t in subtrees]:
            f.result()
