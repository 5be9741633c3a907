r"""GTH for a chain whose first ``T`` states (its *thin* states) are each reached from a few others only, without the
``n × n`` array: their rates to the other (*core*) states in a dense ``n × K`` array, every rate to a thin state in
short per-row lists.

On bf16 with 0 in the domain, T_α reaches the ~21,400 values within 1e-13 of 0 only from their neighbours (any other
move to so narrow a cell is below tol and dropped), while every state near 0 moves to the ~11,600 core values.
Eliminated first, a thin state updates only the rows of its predecessors (its neighbours and, through the fill, the
core value next to its run), so the thin states need no column of their own: this is dense GTH with the thin states
first (:func:`srchain.gth.dense.dense_gth_rates` in the order of
:func:`srchain.gth.dense.few_predecessors_first`), entry by entry the same operations (the pivot's exit rate summed
over its later columns in order, ``c_ip = F[i, p]·(1/s_p)`` and ``F[i, j] = fma(c_ip, F[p, j], F[i, j])``), so the
censored core rates are that elimination's bits. The core is then eliminated as one dense front
(:func:`srchain.gth.dense.eliminate_front`) and the law back-substituted by
:func:`srchain.gth.multifrontal.multifrontal_solve` over a tree of one node per thin state (its front: itself and its
predecessors at its elimination) below the core's: the same law, summed in another order than the single front's.
Memory: ``8·n·K`` bytes instead of ``8·n²`` (3.1 against 8.8 GB on bf16 [−4, 10]).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from srchain.gth.dense import eliminate_front
from srchain.gth.front import fma
from srchain.gth.multifrontal import Fronts, Tree, multifrontal_solve
from srchain.gth.scaling import law_from_mant_expo, zero_pivot

__all__ = ["CAP", "thin_first_law"]

#: Entries to thin states a row may hold (its neighbours and their fill; 2–3 on a format's grid), and predecessors
#: a thin state may have. More, and :func:`thin_first_law` returns None (the caller takes the dense route).
CAP = 16


def thin_first_law(G, T, ocol, oval, ocnt, threads=None, progress=False):
    """The stationary law, by position (thin states ``0 … T − 1``, core states ``T … n − 1``), of the chain whose
    off-diagonal rates to the core states are ``G`` (``n × K``, column ``k`` for position ``T + k``) and to the thin
    states the lists ``ocol[r, :ocnt[r]]``, ``oval[r, :ocnt[r]]`` (positions below ``T``; at most :data:`CAP` a
    row). Everything is overwritten. Returns None where a list would outgrow :data:`CAP`.

    Raises
    ------
    SrchainError
        A zero pivot (the chain is reducible, or its rates underflow).
    """
    n, K = G.shape
    icnt = np.zeros(T, dtype=np.int64)
    irow = np.empty((T, CAP), dtype=np.int64)
    fidx = np.empty((T, CAP + 1), dtype=np.int32)
    fcnt = np.empty(T, dtype=np.int64)
    if K < CAP + 1 or not _in_lists(ocol, ocnt, irow, icnt):
        return None
    status = _eliminate_thin(G, T, ocol, oval, ocnt, irow, icnt, fidx, fcnt)
    if status < 0:
        return None
    if status:
        raise zero_pivot(status - 1)
    status = eliminate_front(G[T:], K, threads, progress)  # the censored core: rows T … n − 1, contiguous
    if status:
        raise zero_pivot(T + status - 1)
    own = np.arange(T + 1, dtype=np.int64)
    own[T] = T
    tree = Tree(own_start=own, own_end=np.r_[own[1 : T + 1], n].astype(np.int64), nchild=np.zeros(T + 1, np.int64))
    sizes = np.r_[fcnt, K]
    front_ptr = np.zeros(T + 2, dtype=np.int64)
    np.cumsum(sizes, out=front_ptr[1:])
    front_idx = np.empty(int(front_ptr[-1]), dtype=np.int32)
    _pack_fronts(fidx, fcnt, front_ptr, front_idx, T, n)
    factor_ptr = np.arange(T + 1, dtype=np.int64) * K  # thin node p's column in row p of G, the core's block after
    mant, expo = multifrontal_solve(tree, Fronts(front_ptr, front_idx, factor_ptr, G.ravel()))
    return law_from_mant_expo(mant, expo)


@njit(cache=True, nogil=True)
def _in_lists(ocol, ocnt, irow, icnt):
    """Each thin state's predecessors (``irow[j, :icnt[j]]``) from the rows' lists; False if more than CAP."""
    for r in range(ocol.shape[0]):
        for e in range(ocnt[r]):
            j = ocol[r, e]
            if icnt[j] == irow.shape[1]:
                return False
            irow[j, icnt[j]] = r
            icnt[j] += 1
    return True


@njit(cache=True, nogil=True)
def _sort_list(col, val, m):
    """Sort the first ``m`` entries of a row's list by column (insertion sort: a handful of entries)."""
    for a in range(1, m):
        c, v = col[a], val[a]
        b = a - 1
        while b >= 0 and col[b] > c:
            col[b + 1], val[b + 1] = col[b], val[b]
            b -= 1
        col[b + 1], val[b + 1] = c, v


@njit(cache=True, nogil=True)
def _eliminate_thin(G, T, ocol, oval, ocnt, irow, icnt, fidx, fcnt):
    """Eliminate the thin states ``0 … T − 1`` in order (see the module docstring); node ``p``'s front goes to
    ``fidx[p, :fcnt[p]]`` (itself, then its predecessors in increasing position) and its multipliers to row ``p``
    of ``G`` (``G[p, 0]`` unused, ``G[p, r]`` for front row ``r``). Returns 0, ``p + 1`` for a zero pivot at
    ``p``, or −1 where a list would outgrow its capacity."""
    K = G.shape[1]
    cap = ocol.shape[1]
    cbuf = np.empty(irow.shape[1] + 1)
    for p in range(T):
        m = ocnt[p]
        _sort_list(ocol[p], oval[p], m)
        s = 0.0  # Σ_{j > p} F[p, j] in column order: the thin columns after p, then the core's
        for e in range(m):
            if ocol[p, e] > p:
                s += oval[p, e]
        for k in range(K):
            s += G[p, k]
        if not (s > 0.0) or not np.isfinite(s):
            return p + 1
        inv = 1.0 / s
        if not np.isfinite(inv):
            return p + 1
        preds = irow[p, : icnt[p]]
        preds.sort()
        fidx[p, 0] = p
        cbuf[0] = 0.0  # (the own row's entry of the node's factor is never read)
        nf = 1
        for e in range(preds.size):
            i = preds[e]
            if i <= p:  # eliminated already (its update to later rows is done)
                continue
            f = 0.0
            for q in range(ocnt[i]):
                if ocol[i, q] == p:  # read F[i, p], and drop it: no later step reads column p
                    f = oval[i, q]
                    last = ocnt[i] - 1
                    ocol[i, q], oval[i, q] = ocol[i, last], oval[i, last]
                    ocnt[i] = last
                    break
            c = f * inv
            if c == 0.0:  # adds exactly nothing
                continue
            fidx[p, nf] = i
            cbuf[nf] = c
            nf += 1
            for e2 in range(m):  # the pivot's thin columns after p: fill into row i's list
                j = ocol[p, e2]
                if j <= p or j == i:  # (F[i, i] is never read)
                    continue
                q = 0
                while q < ocnt[i] and ocol[i, q] != j:
                    q += 1
                if q == ocnt[i]:
                    if q == cap or icnt[j] == irow.shape[1]:
                        return -1
                    ocol[i, q], oval[i, q] = j, 0.0
                    ocnt[i] += 1
                    irow[j, icnt[j]] = i
                    icnt[j] += 1
                oval[i, q] = fma(c, oval[p, e2], oval[i, q])
            for k in range(K):
                G[i, k] = fma(c, G[p, k], G[i, k])
        if nf == 1:  # nothing moves to p any more: a state that cannot be reached (the dense route handles it)
            return -1
        for r in range(nf):  # the pivot row is dead now: it keeps node p's multipliers
            G[p, r] = cbuf[r]
        fcnt[p] = nf
    return 0


@njit(cache=True, nogil=True)
def _pack_fronts(fidx, fcnt, front_ptr, front_idx, T, n):
    """The fronts' rows, node after node: each thin node's from ``fidx``, then the core's (positions T … n − 1)."""
    for p in range(T):
        for r in range(fcnt[p]):
            front_idx[front_ptr[p] + r] = fidx[p, r]
    for r in range(n - T):
        front_idx[front_ptr[T] + r] = T + r
