"""Sparse GTH: order the states by nested dissection, factor the fronts over the tree in parallel threads, solve.

:func:`sparse_gth` runs the phases of :mod:`srchain.gth.multifrontal` on an order from
:mod:`srchain.gth.dissection`; :func:`factor_tree` runs the numeric factorisation on a thread pool, independent
subtrees at once (the kernels release the GIL), with the same operations in the same order as one thread.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from srchain.budget import check_memory
from srchain.errors import SrchainError
from srchain.gth.csr import offdiag_csr, relabel_pair
from srchain.gth.dissection import (
    GRAPH_LEAF,
    LATTICE_LEAF,
    axis_max_jumps,
    graph_nested_dissection,
    lattice_nested_dissection,
)
from srchain.gth.multifrontal import (
    Fronts,
    Rates,
    Tree,
    Updates,
    multifrontal_factor,
    multifrontal_solve,
    subtree_sizes,
    symbolic_fronts,
    workspace,
)
from srchain.gth.scaling import law_from_mant_expo, zero_pivot

__all__ = ["sparse_gth", "offdiag", "factor_tree"]

#: relabel_pair writes int32 column indices: the sparse solver takes fewer states than this.
_MAX_STATES = 2**31 - 1
#: Bytes per entry of P held during the factorisation besides the factor: the relabelled off-diagonal matrix and
#: its transpose, an int32 index and a float64 value each.
_RELABELLED_BYTES_PER_ENTRY = 24.0
_FLOAT_BYTES = 8.0
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
) -> np.ndarray:
    """The stationary law of ``A`` by multifrontal GTH.

    ``shape`` (a C-ordered box lattice of ``prod(shape)`` states) selects lattice nested dissection, otherwise the
    generic graph ordering runs; ``leaf`` overrides their leaf size. ``graph`` may hold ``[G]``, the off-diagonal
    graph of ``A`` (taken out of the list, so that it can be freed once relabelled). The factor's size is known
    exactly after the symbolic phase; it is checked against ``max_bytes`` (with the relabelled copies of the graph)
    before it is allocated.

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
        jmax = axis_max_jumps(G.indptr, G.indices, shp)
        nd = lattice_nested_dissection(shp, jmax, G.indptr, G.indices, int(leaf or LATTICE_LEAF))
    else:
        S = (G + G.T).tocsr()
        S.sort_indices()
        nd = graph_nested_dissection(S, int(leaf or GRAPH_LEAF))
        del S
    newpos, own_start, own_end, nchild = nd
    tree = Tree(own_start, own_end, nchild)
    rates = Rates(*relabel_pair(G.indptr, G.indices, G.data, newpos))
    del G
    front_ptr, front_idx = symbolic_fronts(tree, rates)
    m = np.diff(front_ptr)
    k = own_end - own_start
    factor_ptr = np.concatenate([[0], np.cumsum(m * k)]).astype(np.int64)
    check_memory(
        _FLOAT_BYTES * float(factor_ptr[-1])
        + _RELABELLED_BYTES_PER_ENTRY * float(A.nnz)
        + _FLOAT_BYTES * float(front_idx.size),
        max_bytes,
        f"the GTH elimination of {n:.3g} states (its fill: {int(factor_ptr[-1]):.3g} factor entries)",
        "use a coarser lattice (larger delta) or a smaller alpha (shorter jumps, less fill)",
    )
    fronts = Fronts(front_ptr, front_idx, factor_ptr, np.empty(int(factor_ptr[-1])))
    _factor(tree, rates, fronts, newpos, m.astype(np.float64) ** 2 * k, threads)
    del rates  # the relabelled copies go before the solve allocates
    mant, expo = multifrontal_solve(tree, fronts)
    del fronts
    return law_from_mant_expo(mant, expo)[newpos]


def _factor(tree, rates, fronts, newpos, work, threads):
    """:func:`multifrontal_factor` over the whole tree (:func:`factor_tree`); a zero pivot raises, naming the
    state in the caller's labels. Each of the (at most ``_threads(threads)``) concurrent calls takes a
    :class:`~srchain.gth.multifrontal.Workspace` from a pool and gives it back."""
    import queue

    n = tree.own_end[-1]
    spaces = queue.SimpleQueue()
    for _ in range(_threads(threads)):
        spaces.put(workspace(n, fronts.front_ptr))

    def run(t0, t1, incoming):
        space = spaces.get()
        try:
            status, bad, outgoing = multifrontal_factor(t0, t1, tree, rates, fronts, incoming, space)
        finally:
            spaces.put(space)
        if status:
            old = int(np.flatnonzero(newpos == bad)[0])
            raise zero_pivot(old, "the states eliminated after it")
        return outgoing

    factor_tree(run, tree.nchild, work, threads)


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
    if threads < 2 or nt < _PARALLEL_MIN_NODES:
        run(0, nt, _EMPTY)
        return
    size = subtree_sizes(nchild)
    sub = np.cumsum(work)  # subtree work = sum over a contiguous postorder range

    def subtree_work(t):
        lo = t - size[t] + 1
        return sub[t] - (sub[lo - 1] if lo > 0 else 0.0)

    def children(t):
        cs, c = [], t - 1
        for _ in range(int(nchild[t])):
            cs.append(c)
            c -= size[c]
        return cs[::-1]

    top, frontier = [], [nt - 1]
    while len(frontier) < _SUBTREES_PER_THREAD * threads:
        best = max((t for t in frontier if nchild[t] > 0), key=subtree_work, default=None)
        if best is None or subtree_work(best) < _MIN_SUBTREE_SHARE * sub[-1]:
            break
        frontier.remove(best)
        top.append(best)
        frontier.extend(children(best))
    if not top:
        run(0, nt, _EMPTY)
        return
    from concurrent.futures import ThreadPoolExecutor

    futs = {}
    with ThreadPoolExecutor(threads) as ex:
        for t in sorted(frontier, key=subtree_work, reverse=True):
            futs[t] = ex.submit(run, int(t - size[t] + 1), int(t + 1), _EMPTY)

        def node(t, kids):
            outs = [futs[c].result() for c in kids]
            incoming = Updates(*(np.concatenate([o[i] for o in outs]) for i in range(3))) if outs else _EMPTY
            return run(t, t + 1, incoming)

        for t in sorted(top):  # postorder: children first, so every wait is on a task submitted earlier
            futs[t] = ex.submit(node, int(t), children(t))
        futs[nt - 1].result()
        for f in futs.values():  # surface any error
            f.result()
