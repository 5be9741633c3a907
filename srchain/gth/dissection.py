"""Elimination orders for the sparse GTH: nested dissection of the chain's graph, on a lattice or in general.

Both return ``(newpos, own_start, own_end, nchild)``: ``newpos[old]`` is a state's elimination position and the
rest is the postordered separator tree (children before parents; node ``t`` owns the positions
``own_start[t] ≤ v < own_end[t]`` and has ``nchild[t]`` children), the fields of
:class:`srchain.gth.multifrontal.Tree`. A separator is eliminated after the two parts it separates, so no edge
joins the fronts of two sibling subtrees and the subtrees can be factored independently (in parallel threads).

* :func:`lattice_nested_dissection`, for chains on a C-ordered box lattice: cuts near the middle of the longest
  axis (moved to where the chain's jumps across are shortest, :func:`_cut_widths`), with separators that follow the
  chain's *local* jumps across the cut.
* :func:`graph_nested_dissection`, for any chain: George's automatic nested dissection by BFS level sets
  (:func:`bfs_levels`) of the symmetrised graph.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit

from srchain.errors import SrchainError

__all__ = [
    "LATTICE_LEAF",
    "GRAPH_LEAF",
    "bfs_levels",
    "axis_max_jumps",
    "lattice_nested_dissection",
    "graph_nested_dissection",
]

#: Lattice nested dissection: domains of at most this many cells are leaves (eliminated in one front).
LATTICE_LEAF = 32
#: Graph nested dissection: leaves of at most this many states (no lattice geometry to exploit, so the separators
#: are thicker and larger leaves pay).
GRAPH_LEAF = 48
#: Lattice nested dissection: a cut may move from the middle of its axis by up to ``1/CUT_SLACK`` of the domain's
#: extent along it (so parts stay between 3/8 and 5/8), to where the chain's jumps across it are shortest: on a
#: format's grid the middle often falls on a binade's end, where the finer side jumps farther (:func:`_cut_widths`).
CUT_SLACK = 8
#: Initial capacity (tree nodes) of the lattice dissection's node tables; they double when full.
_TREE_CAPACITY = 64
#: Graph nested dissection: the separator is the smallest BFS level that leaves between these fractions of the
#: domain's states before it (a balanced split, so that the tree's depth stays logarithmic).
_SPLIT_LO = 0.3
_SPLIT_HI = 0.7
#: BFS sweeps, each from the last state the previous one reached, to find a pseudo-peripheral start (George and
#: Liu): level sets from a far-out state are many and thin.
_PERIPHERAL_SWEEPS = 2


@njit(cache=True, nogil=True)
def bfs_levels(indptr, indices, label, lab, start, level, order):
    """BFS from ``start`` over nodes with ``label == lab`` (symmetric graph); fills ``level`` (must be −1 for the
    domain's nodes on entry) and ``order`` (visit order). Returns the number of nodes reached."""
    head = 0
    tail = 1
    order[0] = start
    level[start] = 0
    while head < tail:
        v = order[head]
        head += 1
        lv = level[v] + 1
        for e in range(indptr[v], indptr[v + 1]):
            j = indices[e]
            if label[j] == lab and level[j] < 0:
                level[j] = lv
                order[tail] = j
                tail += 1
    return tail


# --------------------------------------------------------------------------------------------------------------
# lattice ordering with separators that follow the local jump length
# --------------------------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def axis_max_jumps(indptr, indices, shape):
    """Largest |coordinate difference| per axis over the entries of a matrix on a C-ordered box lattice."""
    d = shape.shape[0]
    strides = np.ones(d, dtype=np.int64)
    for a in range(d - 2, -1, -1):
        strides[a] = strides[a + 1] * shape[a + 1]
    out = np.zeros(d, dtype=np.int64)
    ci = np.empty(d, dtype=np.int64)
    n = indptr.shape[0] - 1
    for i in range(n):
        r = i
        for a in range(d):
            ci[a] = r // strides[a]
            r -= ci[a] * strides[a]
        for e in range(indptr[i], indptr[i + 1]):
            r = np.int64(indices[e])
            for a in range(d):
                c = r // strides[a]
                r -= c * strides[a]
                x = c - ci[a] if c > ci[a] else ci[a] - c
                if x > out[a]:
                    out[a] = x
    return out


@njit(cache=True, nogil=True)
def _cut_widths(indptr, indices, shape, strides):
    """``(w, reach)``, per axis ``a`` and cut ``x[a] = x`` over the whole lattice: ``w[a, x]``, at most how many
    slabs thick its separator is, the fewer of the slabs on either side of the cut that the entries crossing it
    reach (``min(R, L)``: ``R`` the farthest slab at or right of the cut that an entry reaches from its left, ``L``
    the same on the left; 0 where no entry crosses), and ``reach[a, x] = max(R, L)``, how far from the cut the
    ends of those entries lie. Per state and axis only its farthest entry each way counts: a nearer one reaches
    less far."""
    d = shape.shape[0]
    R = np.zeros((d, shape.max() + 1), dtype=np.int64)
    L = np.zeros((d, shape.max() + 1), dtype=np.int64)
    ci = np.empty(d, dtype=np.int64)
    lo = np.empty(d, dtype=np.int64)
    hi = np.empty(d, dtype=np.int64)
    for i in range(indptr.shape[0] - 1):
        r = i
        for a in range(d):
            ci[a] = r // strides[a]
            r -= ci[a] * strides[a]
            lo[a] = ci[a]
            hi[a] = ci[a]
        for e in range(indptr[i], indptr[i + 1]):
            r = np.int64(indices[e])
            for a in range(d):
                c = r // strides[a]
                r -= c * strides[a]
                lo[a] = min(lo[a], c)
                hi[a] = max(hi[a], c)
        for a in range(d):  # the entries ci → lo and ci → hi, each crossing the cuts between its ends
            for x in range(lo[a] + 1, ci[a] + 1):
                R[a, x] = max(R[a, x], ci[a] - x + 1)
                L[a, x] = max(L[a, x], x - lo[a])
            for x in range(ci[a] + 1, hi[a] + 1):
                R[a, x] = max(R[a, x], hi[a] - x + 1)
                L[a, x] = max(L[a, x], x - ci[a])
    return np.minimum(R, L), np.maximum(R, L)


@njit(cache=True, nogil=True)
def _cut_at(widths, reach, axis, lo, hi):
    """The cut of ``[lo, hi)`` along ``axis``: the middle, or the position within ``s = (hi − lo) // CUT_SLACK`` of
    it whose :func:`_cut_widths` is least (the nearest such, the lower first; the middle wherever widths tie),
    among those whose jumps reach at most ``s``; the middle where its own reach farther: the box is then thick for
    the jumps (a separator takes most of a side) and a cut off the middle only unbalances it."""
    ext = hi - lo
    mid = lo + ext // 2
    s = ext // CUT_SLACK
    best = mid
    if reach[axis, mid] > s:
        return mid
    for off in range(1, s + 1):
        for x in (mid - off, mid + off):
            if lo < x < hi and widths[axis, x] < widths[axis, best] and reach[axis, x] <= s:
                best = x
    return best


@njit(cache=True, nogil=True)
def _in_box(j, lo, hi, strides):
    r = j
    for a in range(lo.shape[0]):
        c = r // strides[a]
        r -= c * strides[a]
        if c < lo[a] or c >= hi[a]:
            return False
    return True


@njit(cache=True, nogil=True)
def _flat(cur, strides):
    """C-order index of the multi-index ``cur``."""
    v = 0
    for a in range(cur.shape[0]):
        v += cur[a] * strides[a]
    return v


@njit(cache=True, nogil=True)
def _next_cell(cur, lo, hi):
    """Advance the multi-index ``cur`` to the next cell of the box ``[lo, hi)`` in C order; False after the last."""
    a = cur.shape[0] - 1
    while a >= 0:
        cur[a] += 1
        if cur[a] < hi[a]:
            return True
        cur[a] = lo[a]
        a -= 1
    return False


@njit(cache=True, nogil=True)
def _mark_cut(lo, hi, axis, mid, jw, st, shape, strides, indptr, indices):
    """Mark (``st = 2``) both ends of every edge of the domain ``[lo, hi)`` (its unassigned cells, ``st != 1``)
    that crosses the cut ``x[axis] = mid``. Such an edge has both ends within ``jw`` cells of the cut, so only the
    slabs ``mid − jw ≤ x[axis] < mid + jw`` are scanned; both directions of an edge are seen from its tail."""
    slo = lo.copy()
    shi = hi.copy()
    slo[axis] = max(mid - jw, lo[axis])
    shi[axis] = min(mid + jw, hi[axis])
    cur = slo.copy()
    while True:
        v = _flat(cur, strides)
        if st[v] != 1:
            left = cur[axis] < mid
            for e in range(indptr[v], indptr[v + 1]):
                j = np.int64(indices[e])
                if st[j] != 1 and _in_box(j, lo, hi, strides):
                    if (((j // strides[axis]) % shape[axis]) < mid) != left:
                        st[v] = 2
                        st[j] = 2
        if not _next_cell(cur, slo, shi):
            return


@njit(cache=True, nogil=True)
def _take_marked(slo, shi, st, strides, out, o, keep):
    """Cells of the slab ``[slo, shi)`` marked 2: appended to ``out[o:]`` and assigned (``st = 1``) if
    ``keep == 1``, unmarked (``st = 0``) if ``keep == 0``, only counted if ``keep == -1``. Returns ``o`` plus their
    number."""
    d = slo.shape[0]
    for a in range(d):
        if shi[a] <= slo[a]:
            return o
    cur = slo.copy()
    while True:
        v = _flat(cur, strides)
        if st[v] == 2:
            if keep == 1:
                out[o] = v
                st[v] = 1
            elif keep == 0:
                st[v] = 0
            o += 1
        if not _next_cell(cur, slo, shi):
            return o


@njit(cache=True, nogil=True)
def _collect_box(lo, hi, assigned, strides, out, o):
    """Append the unassigned cells of the box ``[lo, hi)`` to ``out[o:]`` (C order) and mark them assigned."""
    d = lo.shape[0]
    for a in range(d):
        if hi[a] <= lo[a]:
            return o
    cur = lo.copy()
    while True:
        v = _flat(cur, strides)
        if assigned[v] == 0:
            assigned[v] = 1
            out[o] = v
            o += 1
        if not _next_cell(cur, lo, hi):
            return o


@njit(cache=True, nogil=True)
def lattice_nested_dissection(shape, indptr, indices, leaf, thin_cuts=True):
    """Nested dissection of a chain on a C-ordered box lattice with separators that follow the *local* jumps.

    A domain is a box minus the cells already taken by its ancestors' separators. It is cut at the middle of its
    longest axis into a left part ``x < mid`` and a right part ``x ≥ mid`` (with ``thin_cuts``, wherever the jumps
    are short for the box: the axis longest in units of the jumps across its cut, and the cut within 1/8 of the
    extent from the middle where they are shortest, :func:`_cut_at`: still the middle of the longest axis wherever
    the jumps are the same everywhere); the separator is the set of the right part's cells that have a neighbour (an
    edge of ``P`` in either direction) in the left part, or the left part's cells with a neighbour in the right
    part, whichever is smaller. Removing it disconnects the two parts exactly, whatever the jumps, and it is one
    cell thick wherever the chain only jumps by ±1 across the cut: a chain whose longer jumps live in a corner pays
    for them only there (a global slab width would double every separator). Only the slabs that the entries
    crossing the cut reach are examined (:func:`_cut_widths`). Domains
    of at most ``leaf`` cells, or one cell thick along their longest axis, are leaves.

    ``(indptr, indices)`` is the off-diagonal pattern of P (edges are followed in both directions); with
    ``thin_cuts=False`` every cut is at the middle of the longest axis. Returns ``(newpos, own_start, own_end,
    nchild)`` (see the module).
    """
    d = shape.shape[0]
    n = 1
    for a in range(d):
        n *= shape[a]
    strides = np.ones(d, dtype=np.int64)
    for a in range(d - 2, -1, -1):
        strides[a] = strides[a + 1] * shape[a + 1]
    widths, reach = _cut_widths(indptr, indices, shape, strides)
    assigned = np.zeros(n, dtype=np.uint8)  # 0 free, 1 taken by a tree node, 2 marked as a separator candidate
    cap = _TREE_CAPACITY
    lo = np.zeros((cap, d), dtype=np.int64)
    hi = np.zeros((cap, d), dtype=np.int64)
    kids = np.full((cap, 2), -1, dtype=np.int64)
    ostart = np.zeros(cap, dtype=np.int64)
    olen = np.zeros(cap, dtype=np.int64)
    buf = np.empty(n, dtype=np.int64)  # own states, in processing order; the free tail holds candidates
    nb = 0
    for a in range(d):
        hi[0, a] = shape[a]
    nt = 1
    q = 0
    slo = np.empty(d, dtype=np.int64)
    shi = np.empty(d, dtype=np.int64)
    while q < nt:
        t = q
        q += 1
        vol = 1
        best = 0
        for a in range(d):
            vol *= hi[t, a] - lo[t, a]
            if hi[t, a] - lo[t, a] > hi[t, best] - lo[t, best]:
                best = a
        ext = hi[t, best] - lo[t, best]
        ostart[t] = nb
        if vol <= leaf or ext < 2:
            nb = _collect_box(lo[t], hi[t], assigned, strides, buf, nb)
            olen[t] = nb - ostart[t]
            continue
        mid = _cut_at(widths, reach, best, lo[t, best], hi[t, best]) if thin_cuts else lo[t, best] + ext // 2
        # where the jumps are short for the box, the longest axis in units of the jumps across its cut (its
        # separator, the cross-section times the width, is then the least): the longest wherever the widths are equal
        thin = thin_cuts and reach[best, mid] <= ext // CUT_SLACK
        for a in range(d):
            e = hi[t, a] - lo[t, a]
            if thin and a != best and e >= 2:
                x = _cut_at(widths, reach, a, lo[t, a], hi[t, a])
                if reach[a, x] <= e // CUT_SLACK and e * max(widths[best, mid], 1) > ext * max(widths[a, x], 1):
                    best, mid, ext = a, x, e
        jw = max(reach[best, mid], 1)  # (the entries crossing the cut: both ends within jw of it)
        _mark_cut(lo[t], hi[t], best, mid, jw, assigned, shape, strides, indptr, indices)
        for a in range(d):
            slo[a] = lo[t, a]
            shi[a] = hi[t, a]
        slo[best] = mid
        shi[best] = min(mid + jw, hi[t, best])
        nr = _take_marked(slo, shi, assigned, strides, buf, 0, -1)
        slo[best] = max(mid - jw, lo[t, best])
        shi[best] = mid
        nl = _take_marked(slo, shi, assigned, strides, buf, 0, -1)
        keep_right = nr <= nl
        nb2 = _take_marked(slo, shi, assigned, strides, buf, nb, 0 if keep_right else 1)
        slo[best] = mid
        shi[best] = min(mid + jw, hi[t, best])
        nb2 = _take_marked(slo, shi, assigned, strides, buf, nb if keep_right else nb2, 1 if keep_right else 0)
        if not keep_right:
            nb2 = nb + nl
        olen[t] = nb2 - nb
        nb = nb2
        if nt + 2 > cap:
            cap *= 2
            lo2 = np.zeros((cap, d), dtype=np.int64)
            hi2 = np.zeros((cap, d), dtype=np.int64)
            kids2 = np.full((cap, 2), -1, dtype=np.int64)
            ostart2 = np.zeros(cap, dtype=np.int64)
            olen2 = np.zeros(cap, dtype=np.int64)
            lo2[:nt] = lo[:nt]
            hi2[:nt] = hi[:nt]
            kids2[:nt] = kids[:nt]
            ostart2[:nt] = ostart[:nt]
            olen2[:nt] = olen[:nt]
            lo, hi, kids, ostart, olen = lo2, hi2, kids2, ostart2, olen2
        lo[nt] = lo[t]
        hi[nt] = hi[t]
        hi[nt, best] = mid
        kids[t, 0] = nt
        nt += 1
        lo[nt] = lo[t]
        hi[nt] = hi[t]
        lo[nt, best] = mid
        kids[t, 1] = nt
        nt += 1
    # postorder
    post = np.empty(nt, dtype=np.int64)
    stack = np.empty(nt + 1, dtype=np.int64)
    state = np.zeros(nt, dtype=np.int64)
    stack[0] = 0
    top = 1
    npost = 0
    while top > 0:
        t = stack[top - 1]
        if state[t] < 2:
            c = kids[t, state[t]]
            state[t] += 1
            if c >= 0:
                stack[top] = c
                top += 1
        else:
            top -= 1
            post[npost] = t
            npost += 1
    newpos = np.empty(n, dtype=np.int64)
    own_start = np.empty(nt, dtype=np.int64)
    own_end = np.empty(nt, dtype=np.int64)
    nchild = np.empty(nt, dtype=np.int64)
    cnt = 0
    for r in range(nt):
        t = post[r]
        own_start[r] = cnt
        nchild[r] = (kids[t, 0] >= 0) + (kids[t, 1] >= 0)
        for e in range(ostart[t], ostart[t] + olen[t]):
            newpos[buf[e]] = cnt
            cnt += 1
        own_end[r] = cnt
    return newpos, own_start, own_end, nchild


# --------------------------------------------------------------------------------------------------------------
# generic graphs
# --------------------------------------------------------------------------------------------------------------
def graph_nested_dissection(S: sp.csr_matrix, leaf: int = GRAPH_LEAF):
    """Nested dissection of a symmetric pattern by BFS level sets (George's automatic nested dissection).

    A domain is split at the BFS level (from a pseudo-peripheral state) that is smallest among those leaving
    between :data:`_SPLIT_LO` and :data:`_SPLIT_HI` of its states before it; a disconnected domain's pieces become
    siblings. Returns ``(newpos, own_start, own_end, nchild)`` like :func:`lattice_nested_dissection`.

    Raises
    ------
    SrchainError
        The graph is disconnected (the chain is reducible).
    """
    n = S.shape[0]
    indptr = S.indptr.astype(np.int64)
    indices = S.indices.astype(np.int64)
    label = np.zeros(n, dtype=np.int64)
    level = np.full(n, -1, dtype=np.int64)
    order = np.empty(n, dtype=np.int64)
    owns: list[np.ndarray] = []
    nchild: list[int] = []
    next_label = [1]

    def bfs(nodes, lab, start):
        r = bfs_levels(indptr, indices, label, lab, start, level, order)
        reached = order[:r].copy()
        lev = level[reached].copy()
        level[reached] = -1
        return reached, lev

    def new_label(nodes):
        lab = next_label[0]
        next_label[0] += 1
        label[nodes] = lab
        return lab

    def rec(nodes: np.ndarray, lab: int) -> int:
        if nodes.size <= leaf:
            owns.append(nodes)
            nchild.append(0)
            return 1
        reached, lev = bfs(nodes, lab, int(nodes[0]))
        if reached.size < nodes.size:  # disconnected domain: its pieces become siblings
            rest = np.setdiff1d(nodes, reached, assume_unique=True)
            la, lb = new_label(reached), new_label(rest)
            return rec(reached, la) + rec(rest, lb)
        for _ in range(_PERIPHERAL_SWEEPS):  # pseudo-peripheral start
            start = int(reached[-1])
            reached, lev = bfs(nodes, lab, start)
        counts = np.bincount(lev)
        cum = np.cumsum(counts) - counts  # nodes before each level
        N = nodes.size
        ok = np.flatnonzero((cum >= _SPLIT_LO * N) & (cum + counts <= _SPLIT_HI * N + counts))
        if ok.size == 0:  # no balanced level: the first one past the middle (or the last)
            ok = np.flatnonzero(cum >= 0.5 * N)[:1] if np.any(cum >= 0.5 * N) else np.array([counts.size - 1])
        ell = int(ok[np.argmin(counts[ok])])
        sep = reached[lev == ell]
        a_nodes = reached[lev < ell]
        b_nodes = reached[lev > ell]
        label[sep] = -1
        kids = 0
        if a_nodes.size:
            kids += rec(a_nodes, new_label(a_nodes))
        if b_nodes.size:
            kids += rec(b_nodes, new_label(b_nodes))
        owns.append(np.sort(sep))
        nchild.append(kids)
        return 1

    roots = rec(np.arange(n, dtype=np.int64), 0)
    if roots != 1:
        raise SrchainError("the chain's graph is disconnected; the chain is reducible")
    perm = np.concatenate(owns)
    newpos = np.empty(n, dtype=np.int64)
    newpos[perm] = np.arange(n, dtype=np.int64)
    sizes = np.array([o.size for o in owns], dtype=np.int64)
    own_end = np.cumsum(sizes)
    own_start = own_end - sizes
    return newpos, own_start, own_end, np.array(nchild, dtype=np.int64)
