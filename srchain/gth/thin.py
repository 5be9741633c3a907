r"""GTH for a chain whose first ``T`` states (its *thin* states) are each reached from a few others only, without the
``n × n`` array: the rates to the other (*core*) states in dense rows, every rate to a thin state in short per-row
lists.

On bf16 [−4, 10] at α = 0.01, T_α reaches the 20,991 values within ~1e-13 of 0 only from their neighbours (any
other move to so narrow a cell is below tol and dropped), while every state near 0 moves to the 12,194 core values.
Eliminated first, a thin state updates only the rows of its predecessors (its neighbours and, through the fill, the
core value next to its run), so the thin states need no column of their own: this is dense GTH
(:func:`srchain.gth.dense.dense_gth_rates`) with the thin states first, entry by entry the same operations (the
pivot's exit rate summed over its later columns in order, ``c_ip = F[i, p]·(1/s_p)`` and
``F[i, j] = fma(c_ip, F[p, j], F[i, j])``), so the censored core rates are that elimination's bits. The core is
then eliminated as one dense front (:func:`srchain.gth.dense.eliminate_front`), in position order or in an order
given (its block permuted in place: the values that fewest rows move to first leave the dense block fewer columns),
and the law back-substituted by
:func:`srchain.gth.multifrontal.multifrontal_solve` over a tree of one node per thin state (its front: itself and its
predecessors at its elimination) below the core's: the same law, summed in another order than the single front's.
Fed row by row (:class:`ThinFirst`), a thin state is eliminated as soon as every row that moves to it is in, so
only those few rows are held: memory ``8·K²`` bytes and lists instead of ``8·n²`` (1.2 against 8.8 GB on bf16
[−4, 10]).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from srchain._pages import zeros
from srchain.gth.dense import eliminate_front, permute_in_place
from srchain.gth.front import fma
from srchain.gth.multifrontal import Fronts, Tree, multifrontal_solve
from srchain.gth.scaling import law_from_mant_expo, zero_pivot

__all__ = ["CAP", "ThinFirst", "add_thin"]

#: Entries to thin states a row may hold (its neighbours and their fill; 2–3 on a format's grid), and predecessors
#: a thin state may have. More, and :class:`ThinFirst` says so (the caller takes the dense route).
CAP = 16


class ThinFirst:
    """Storage and elimination for GTH with the thin states first (module docstring), fed row by row.

    States are numbered by *position*: thin ``0 … T − 1``, core ``T … n − 1``. A core row's rates to the core go
    into :attr:`C` (``K × K``), a thin row's into a ring of ``ring`` rows (slot ``p % ring``), every rate to a thin
    state into the row's list (:func:`add_thin`). A thin state is eliminated (:meth:`eliminate`) once every row
    that moves to it has been fed; its ring slot is then free, so only the thin rows fed and not yet eliminated are
    held: ``8·(K² + ring·K)`` bytes. :meth:`law` eliminates the core and back-substitutes."""

    def __init__(self, n: int, T: int, ring: int, labels: np.ndarray | None = None):
        K = n - T
        self.n, self.T, self.K, self.done = n, T, K, 0
        self.labels = labels  # each position's state in the caller's labels (for a zero pivot's error)
        # one array for the back-substitution's factor: the core's K × K block, then CAP + 1 values per thin state
        self.factor = zeros(K * K + T * (CAP + 1))  # (no huge pages asked for: srchain._pages)
        self.C = self.factor[: K * K].reshape(K, K)
        self.ring = np.zeros((max(ring, 1), K))
        self.ocol = np.zeros((n, CAP), dtype=np.int64)
        self.oval = np.zeros((n, CAP))
        self.ocnt = np.zeros(n, dtype=np.int64)
        self.irow = np.empty((max(T, 1), CAP), dtype=np.int64)
        self.icnt = np.zeros(max(T, 1), dtype=np.int64)
        self.fidx = np.empty((max(T, 1), CAP + 1), dtype=np.int32)
        self.fcnt = np.zeros(max(T, 1), dtype=np.int64)

    def eliminate(self, upto: int) -> bool:
        """Eliminate the thin states ``done … upto − 1`` (every row moving to them fed); False where a list
        outgrows :data:`CAP` or a state is no longer reached (then this elimination cannot go on)."""
        status = _eliminate_thin(
            self.ring, self.C, self.T, self.done, upto, self.ocol, self.oval, self.ocnt, self.irow, self.icnt,
            self.fidx, self.fcnt, self.factor,
        )  # fmt: skip
        if status > 0:
            raise self._zero_pivot(status - 1)
        self.done = max(self.done, upto)
        return status == 0

    def _zero_pivot(self, p: int):
        return zero_pivot(p if self.labels is None else int(self.labels[p]))

    def law(self, threads: int | None = None, progress: bool = False, order: np.ndarray | None = None) -> np.ndarray:
        """The stationary law by position, every thin state eliminated: the core eliminated as one dense front
        (:func:`srchain.gth.dense.eliminate_front`), its states in ``order`` (default: by position; :attr:`C` is
        permuted in place), then :func:`srchain.gth.multifrontal.multifrontal_solve` over one node per thin state
        below the core's."""
        n, T, K = self.n, self.T, self.K
        core = np.arange(K, dtype=np.int64)
        if order is not None and not np.array_equal(order, core):
            core = np.asarray(order, dtype=np.int64)
            permute_in_place(self.C, core)
        status = eliminate_front(self.C, K, threads, progress)
        if status:
            raise self._zero_pivot(T + int(core[status - 1]))
        own = np.arange(T + 1, dtype=np.int64)
        tree = Tree(own_start=own, own_end=np.r_[own[1:], n].astype(np.int64), nchild=np.zeros(T + 1, np.int64))
        front_ptr = np.zeros(T + 2, dtype=np.int64)
        np.cumsum(np.r_[self.fcnt[:T], K], out=front_ptr[1:])
        front_idx = np.empty(int(front_ptr[-1]), dtype=np.int32)
        _pack_fronts(self.fidx, self.fcnt, front_ptr, front_idx, T, core)
        factor_ptr = np.r_[K * K + np.arange(T, dtype=np.int64) * (CAP + 1), 0]
        mant, expo = multifrontal_solve(tree, Fronts(front_ptr, front_idx, factor_ptr, self.factor))
        return law_from_mant_expo(mant, expo)


@njit(cache=True, nogil=True)
def add_thin(ocol, oval, ocnt, irow, icnt, i, j, x):
    """Append the rate ``x`` from position ``i`` to thin position ``j`` to ``i``'s list and ``j``'s predecessors;
    False where either is full."""
    if ocnt[i] == ocol.shape[1] or icnt[j] == irow.shape[1]:
        return False
    ocol[i, ocnt[i]], oval[i, ocnt[i]] = j, x
    ocnt[i] += 1
    irow[j, icnt[j]] = i
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
def _row(ring, C, T, r):
    """Position ``r``'s rates to the core: its ring slot (thin) or its row of the core's block."""
    return ring[r % ring.shape[0]] if r < T else C[r - T]


@njit(cache=True, nogil=True)
def _eliminate_thin(ring, C, T, p0, p1, ocol, oval, ocnt, irow, icnt, fidx, fcnt, factor):
    """Eliminate the thin states ``p0 ≤ p < p1`` in order (see the module docstring): node ``p``'s front goes to
    ``fidx[p, :fcnt[p]]`` (itself, then its predecessors in increasing position) and its multipliers to ``factor``
    (CAP + 1 values from ``K² + p·(CAP + 1)``, the own row's unused). Returns 0, ``p + 1`` for a zero pivot at
    ``p``, or −1 where a list would outgrow its capacity or ``p`` is no longer reached."""
    K = C.shape[1]
    cap = ocol.shape[1]
    cbuf = np.empty(irow.shape[1] + 1)
    for p in range(p0, p1):
        Gp = ring[p % ring.shape[0]]
        m = ocnt[p]
        _sort_list(ocol[p], oval[p], m)
        s = 0.0  # Σ_{j > p} F[p, j] in column order: the thin columns after p, then the core's
        for e in range(m):
            if ocol[p, e] > p:
                s += oval[p, e]
        for k in range(K):
            s += Gp[k]
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
            Gi = _row(ring, C, T, i)
            for k in range(K):
                Gi[k] = fma(c, Gp[k], Gi[k])
        if nf == 1:  # nothing moves to p any more: a state that cannot be reached (the dense route handles it)
            return -1
        base = K * K + p * (cap + 1)
        for r in range(nf):
            factor[base + r] = cbuf[r]
        fcnt[p] = nf
    return 0


@njit(cache=True, nogil=True)
def _pack_fronts(fidx, fcnt, front_ptr, front_idx, T, core):
    """The fronts' rows, node after node: each thin node's from ``fidx``, then the core's (positions ``T + core``,
    in its order of elimination)."""
    for p in range(T):
        for r in range(fcnt[p]):
            front_idx[front_ptr[p] + r] = fidx[p, r]
    for r in range(core.size):
        front_idx[front_ptr[T] + r] = T + core[r]
