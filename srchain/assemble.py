"""Rows of a transition matrix as products over coordinates of 1-D move laws (CSR assembly).

The exact operators (:mod:`srchain.operators` on a lattice, :mod:`srchain.grid_chains` on a format's grid) compute,
for every state and coordinate, the targets and probabilities of one step; a row of ``P`` is their product over
coordinates (the noise is independent per coordinate and rounding acts per coordinate). This module keeps the
entries worth keeping and builds the CSR pieces.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from srchain._pages import zeros
from srchain._threads import threads_for

__all__ = ["build_rows", "count_rows", "per_value", "stack_tables", "RowsBuffer"]


def _own(targets, own):
    """Each state's own index per axis: the window's centre unless given."""
    if own is None:
        return np.ascontiguousarray(targets[:, :, targets.shape[2] // 2])
    return np.ascontiguousarray(own, dtype=np.int64)


def _tables(targets, probs, row_of):
    """``(targets, probs, row_of)`` as :func:`_assemble` reads them: tables of shape ``(m, W)`` and each row's table
    row per axis ``(n, d)``; per-row tables ``(n, d, W)`` (``row_of`` None) are their own, row ``i·d + k``."""
    if row_of is None:
        n, d, W = probs.shape
        row_of = np.arange(n * d, dtype=np.int64).reshape(n, d)
        targets, probs = targets.reshape(n * d, W), probs.reshape(n * d, W)
    return np.ascontiguousarray(targets), np.ascontiguousarray(probs), np.ascontiguousarray(row_of, dtype=np.int64)


def per_value(own, g, size):
    """``(first, each)``: the first row at each of the axis' ``size`` values and each row's value's rank among them,
    where the gradient along the axis is a function of the position along it (bit for bit); ``(None, None)`` otherwise
    or where fewer than half the rows repeat a value. A row's move law along an axis depends on nothing else (its
    window too), and each row's law is computed alone, so one law per value has the bits of one per row: on a
    separable problem's d-dimensional box each axis has one law per value."""
    n = own.shape[0]
    at = np.full(size, n, dtype=np.int64)
    np.minimum.at(at, own, np.arange(n, dtype=np.int64))
    first = at[at < n]
    if 2 * first.size > n:
        return None, None
    rank = np.cumsum(at < n) - 1
    each = rank[own]
    gb = g.view(np.int64)
    if not np.array_equal(gb, gb[first][each]):
        return None, None
    return first, each


def stack_tables(axes, n):
    """``(targets, probs, row_of)`` from each axis' tables ``(targets (m_k, W), probs (m_k, W), each)`` for ``n``
    rows: ``each`` the row's table row on that axis (None: one per row), offset by the axes before it."""
    row_of = np.empty((n, len(axes)), dtype=np.int64)
    base = 0
    for k, (t, _, each) in enumerate(axes):
        row_of[:, k] = base + (np.arange(n) if each is None else each)
        base += t.shape[0]
    if len(axes) == 1:
        return axes[0][0], axes[0][1], row_of
    return np.concatenate([a[0] for a in axes]), np.concatenate([a[1] for a in axes]), row_of


#: Rows per parallel task of :func:`_assemble` (each task owns its scratch; rows never share an output entry).
_ROWS_PER_TASK = 2048


@njit(cache=True, nogil=True, inline="always")
def _useful(t, p, own_k, tol):
    """Whether a 1-D entry can be part of a kept product: a target, a positive probability, and either at least
    ``tol`` or the own value or a neighbour (a product is at most each factor, and a far factor below ``tol`` makes
    both :func:`_assemble`'s exceptions fail)."""
    return t >= 0 and p != 0.0 and (p >= tol or abs(t - own_k) <= 1)


@njit(cache=True, nogil=True, inline="always")
def _assemble_row(i, targets, probs, row_of, own, strides, tol, counts_only, pos, indices, data, idx, beg, end):
    """Row ``i`` of P from ``pos`` on (see :func:`_assemble`); returns the position after it and the kept mass.
    Each axis' combinations run from its first to its last entry that can be kept (:func:`_useful`; ``beg``, ``end``
    and ``idx``: scratch): a chunk's tables are as wide as its widest row, and a window's ends hold the step's tails
    (on bf16 [1/32, 8]² at α = 1e-5, 5 cells an axis of which 3 are kept)."""
    d = row_of.shape[1]
    kept = 0.0
    W = probs.shape[1]
    for k in range(d):
        r = row_of[i, k]
        b = 0
        while b < W and not _useful(targets[r, b], probs[r, b], own[i, k], tol):
            b += 1
        e = W
        while e > b and not _useful(targets[r, e - 1], probs[r, e - 1], own[i, k], tol):
            e -= 1
        if b == e:  # no entry along this axis: an empty row
            return pos, kept
        beg[k] = b
        end[k] = e
        idx[k] = b
    done = False
    while not done:
        p = 1.0
        col = 0
        moved = 0
        far = False
        valid = True
        for k in range(d):
            w = idx[k]
            r = row_of[i, k]
            t = targets[r, w]
            if t < 0 or probs[r, w] == 0.0:
                valid = False
                for k2 in range(k + 1, d):  # no combination with this entry is kept: on to axis k's next one
                    idx[k2] = end[k2] - 1
                break
            p *= probs[r, w]
            col += t * strides[k]
            own_k = own[i, k]
            if t != own_k:
                moved += 1
                if abs(t - own_k) > 1:
                    far = True
        if valid and (p >= tol or (moved <= 1 and not far)):
            if not counts_only:
                indices[pos] = col
                data[pos] = p
            pos += 1
            kept += p
        # next combination (last coordinate fastest: increasing column order)
        k = d - 1
        while k >= 0:
            idx[k] += 1
            if idx[k] < end[k]:
                break
            idx[k] = beg[k]
            k -= 1
        if k < 0:
            done = True
    return pos, kept


@njit(cache=True, nogil=True, inline="always")
def _assemble_row_1d(i, targets, probs, row_of, own, stride, tol, counts_only, pos, indices, data):
    """:func:`_assemble_row` on one axis (the same entries, values and kept mass; no combinations to walk)."""
    kept = 0.0
    own_i = own[i, 0]
    r = row_of[i, 0]
    for w in range(probs.shape[1]):
        t = targets[r, w]
        p = probs[r, w]
        if t < 0 or p == 0.0:
            continue
        if p >= tol or abs(t - own_i) <= 1:
            if not counts_only:
                indices[pos] = t * stride
                data[pos] = p
            pos += 1
            kept += p
    return pos, kept


@njit(cache=True, nogil=True, parallel=True)
def _assemble(targets, probs, row_of, own, strides, tol, counts_only, indptr, indices, data, dropped):
    """Rows of P as products over coordinates of the 1-D move laws, in increasing column order.

    Row ``i``'s law along axis ``k`` is the table row ``row_of[i, k]`` of ``targets`` and ``probs`` (``(m, W)``:
    one per row and axis, or one per value of an axis where the law depends on nothing else). Keeps an entry if its
    probability is ≥ tol, or if it is the self-loop or a nearest-neighbour move (one coordinate by ±1, the others
    staying). ``counts_only``: writes row ``i``'s number of kept entries into ``indptr[i + 1]``; otherwise writes the
    row from ``indptr[i]`` on, normalised, and its kept mass deficit into ``dropped[i]``. ``own[i, k]`` is state
    ``i``'s own index along axis ``k`` (the centre of a symmetric window on a lattice; anywhere in the window on a
    format's grid, whose windows are not centred).

    Blocks of rows run in parallel; a row is computed by one thread alone, its products over coordinates and its
    normalising sum in a fixed order, so P's bits do not depend on the thread count.
    """
    n, d = row_of.shape
    tasks = (n + _ROWS_PER_TASK - 1) // _ROWS_PER_TASK
    for b in prange(tasks):
        idx = np.empty(d, dtype=np.int64)
        beg = np.empty(d, dtype=np.int64)
        end = np.empty(d, dtype=np.int64)
        for i in range(b * _ROWS_PER_TASK, min(n, (b + 1) * _ROWS_PER_TASK)):
            at = 0 if counts_only else indptr[i]
            if d == 1:
                pos, kept = _assemble_row_1d(i, targets, probs, row_of, own, strides[0], tol, counts_only, at,
                                             indices, data)  # fmt: skip
            else:
                pos, kept = _assemble_row(i, targets, probs, row_of, own, strides, tol, counts_only, at, indices,
                                          data, idx, beg, end)  # fmt: skip
            if counts_only:
                indptr[i + 1] = pos
                continue
            dropped[i] = 1.0 - kept
            s = 0.0
            for q in range(indptr[i], pos):
                s += data[q]
            for q in range(indptr[i], pos):
                data[q] /= s


def count_rows(targets, probs, lattice, tol: float, own=None, row_of=None) -> int:
    """Entries :func:`_assemble` keeps for the rows whose move laws are given (per-row tables ``(n, d, W)``, or
    tables ``(m, W)`` read through ``row_of``, as :func:`build_rows`)."""
    own = _own(targets, own)
    targets, probs, row_of = _tables(targets, probs, row_of)
    n = row_of.shape[0]
    counts = np.zeros(n + 1, dtype=np.int64)
    dummy_i = np.zeros(0, dtype=np.int64)
    dummy_f = np.zeros(0, dtype=np.float64)
    with threads_for(n * probs.shape[1] * row_of.shape[1]):
        _assemble(targets, probs, row_of, own, lattice.strides, tol, True, counts, dummy_i, dummy_f, dummy_f)
    return int(counts[1:].sum())


#: Bytes from which a :class:`RowsBuffer` maps its own memory (:func:`srchain._pages.zeros`).
_MAPPED_ROWS = 1 << 24


class RowsBuffer:
    """The columns and values of a CSR matrix whose rows are assembled a chunk at a time, each chunk written where it
    stays: no concatenation of the chunks' pieces at the end (on a 10^6-state 2-D bf16 box, 14 million entries in 8
    chunks, that copy was 0.25 s of a 0.8 s build, and it held both copies at once).

    The buffer is sized after the first chunk, for all ``n`` rows at that chunk's entries per row (and 10% more); a
    chunk that does not fit makes it larger, to the entries per row so far, copying what is written once. Its
    unused end is never written, so its pages take no memory (:meth:`arrays` returns views).
    """

    def __init__(self, n: int, index_dtype=np.int64):
        self.n = n
        self.rows = 0
        self.used = 0
        self.indices = np.empty(0, dtype=index_dtype)
        self.data = np.empty(0, dtype=np.float64)

    def claim(self, rows: int, nnz: int):
        """Views ``(indices, data)`` of the next ``nnz`` entries, those of the next ``rows`` rows."""
        end = self.used + nnz
        self.rows += rows
        if end > self.data.size:
            want = -(-end * self.n * 11 // (10 * self.rows)) if self.rows < self.n else end  # (⌈1.1·end·n/rows⌉)
            size = max(end, want)
            for name in ("indices", "data"):
                old = getattr(self, name)
                new = zeros(size, old.dtype, least=_MAPPED_ROWS)
                new[: self.used] = old[: self.used]
                setattr(self, name, new)
        views = self.indices[self.used : end], self.data[self.used : end]
        self.used = end
        return views

    def arrays(self):
        """``(indices, data)`` of every row claimed so far."""
        return self.indices[: self.used], self.data[: self.used]


def build_rows(
    targets, probs, lattice, tol: float, own=None, index_dtype=np.int64, into: RowsBuffer | None = None, row_of=None
):
    """CSR pieces (row lengths, columns of ``index_dtype``, values, dropped mass) of the rows whose move laws are
    given: per-row tables ``(n, d, W)``, or tables ``(m, W)`` that row ``i`` reads along axis ``k`` at ``row_of[i,
    k]`` (one per value of an axis where its law depends on nothing else: :func:`srchain.grid_chains.grid_move_tables`;
    then each row's own indices ``own`` are required); ``into``: the columns and values are written into that buffer
    (and are views of it)."""
    own = _own(targets, own)
    targets, probs, row_of = _tables(targets, probs, row_of)
    n = row_of.shape[0]
    strides = lattice.strides
    counts = np.zeros(n + 1, dtype=np.int64)
    dummy_i = np.zeros(0, dtype=np.int64)
    dummy_f = np.zeros(0, dtype=np.float64)
    with threads_for(n * probs.shape[1] * row_of.shape[1]):
        _assemble(targets, probs, row_of, own, strides, tol, True, counts, dummy_i, dummy_f, dummy_f)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts[1:], out=indptr[1:])
        nnz = int(indptr[-1])
        if into is None:
            indices = np.empty(nnz, dtype=index_dtype)
            data = np.empty(nnz, dtype=np.float64)
        else:
            indices, data = into.claim(n, nnz)
        dropped = np.zeros(n, dtype=np.float64)
        _assemble(targets, probs, row_of, own, strides, tol, False, indptr, indices, data, dropped)
    return counts[1:], indices, data, float(np.max(np.abs(dropped))) if n else 0.0
