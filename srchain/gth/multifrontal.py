"""Multifrontal GTH: the symbolic phase, the numeric factorisation over a separator tree, the back-substitution.

States are labelled by elimination position (:mod:`srchain.gth.dissection` finds the order). Each node of the
separator tree owns a contiguous range of states, eliminated inside a dense *front* (:mod:`srchain.gth.front`,
in a fixed order of operations: the factor's bits depend on neither threads nor machine) that holds them and every
later state they touch; the Schur complement on the front's other states (its *update matrix*: the off-diagonal
rates of the chain censored on them, minus what the original matrix already holds) is passed to the parent, which
adds it into its own front ("extend-add"). The kernels take four records, module-level
:func:`collections.namedtuple` classes (Numba compiles them as tuples with named fields, and ``cache=True`` keeps
working), which :func:`srchain.gth.sparse.sparse_gth` builds:

``Tree(own_start, own_end, nchild)``
    The separator tree in postorder (children before parents, the root last): node ``t`` owns the positions
    ``own_start[t] ≤ v < own_end[t]`` and has ``nchild[t]`` children. The root owns the last positions, so
    ``own_end[-1]`` is the number of states.
``Rates(indptr, indices, data, tptr, tind, tdat)``
    The positive off-diagonal entries of ``P`` relabelled by elimination position, each once, as two CSR
    matrices: in row ``v`` of the first the rates out of ``v`` that ``v``'s front reads (to states of its own node
    or later), in row ``v`` of the second the rates into ``v`` from states beyond its node
    (:func:`srchain.gth.csr.relabel_split`). A full matrix and its full transpose also work (the kernels skip the
    entries they do not read).
``Fronts(front_ptr, front_idx, factor_ptr, factor)``
    The layout of the fronts and of the factor: ``front_idx[front_ptr[t]:front_ptr[t + 1]]`` are node ``t``'s
    front states (its own first; :func:`symbolic_fronts`), and ``factor[factor_ptr[t]:…]`` holds its ``m × k``
    block of ``c`` values (row-major; ``m`` front states, ``k`` own states), written by
    :func:`multifrontal_factor` and read by :func:`solve_nodes`. ``factor_ptr[t] = −1`` means that node ``t``'s
    block is not kept: the factorisation computes the front (its update matrix is needed) but does not store it,
    and back-substitution skips the node (:func:`srchain.gth.sparse.sparse_gth` factors such subtrees again, one
    at a time, when their turn comes).
``Updates(idx, val, size)``
    A stack of update matrices, flat: their index lists one after the other (``idx``), their row-major entries
    (``val``) and their orders (``size``), the last pushed on top.
``Workspace(pos, front, cpos)``
    One factorising thread's scratch (:func:`workspace`): the front position of each state (int32; −1 outside the
    current front, and again after each front), room for the largest front, and the positions of a child's update
    matrix in its parent's front followed by the starts of their runs of consecutive positions. Allocated once
    per thread by NumPy, so that the pages are touched once per solve (and come as transparent huge pages where
    the system offers them) instead of once per subtree.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

from srchain.gth.front import front_eliminate
from srchain.gth.scaling import EXP_FLOOR, MIN_NORMAL, SCALE, SCALE_EXP, underflow_flags

__all__ = [
    "Tree",
    "Rates",
    "Fronts",
    "Updates",
    "Workspace",
    "workspace",
    "symbolic_fronts",
    "multifrontal_factor",
    "assemble_node",
    "retire_node",
    "multifrontal_solve",
    "solve_nodes",
    "subtree_sizes",
]

Tree = namedtuple("Tree", ["own_start", "own_end", "nchild"])
Rates = namedtuple("Rates", ["indptr", "indices", "data", "tptr", "tind", "tdat"])
Fronts = namedtuple("Fronts", ["front_ptr", "front_idx", "factor_ptr", "factor"])
Updates = namedtuple("Updates", ["idx", "val", "size"])
Workspace = namedtuple("Workspace", ["pos", "front", "cpos"])


def workspace(n: int, front_ptr: np.ndarray, pos: np.ndarray | None = None) -> Workspace:
    """A :class:`Workspace` for ``n`` states and fronts laid out by ``front_ptr`` (``pos``: reuse another
    workspace's front positions, all −1 between factorisations)."""
    mmax = max(1, int(np.diff(front_ptr).max(initial=1)))
    if pos is None:
        pos = np.full(n, -1, dtype=np.int32)
    return Workspace(pos, np.empty(mmax * mmax), np.empty(2 * mmax + 2, dtype=np.int64))


#: Initial capacity (entries) of the symbolic phase's growable stack of update index lists; it doubles when full.
_STACK_CAPACITY = 1024
#: Initial capacity of the symbolic phase's front index list, in entries per state (and at least
#: _FRONT_IDX_MIN); it doubles when full. On lattices the fronts hold a few times as many entries as there are
#: states.
_FRONT_IDX_PER_STATE = 4
_FRONT_IDX_MIN = 16


@njit(cache=True, nogil=True)
def symbolic_fronts(tree, rates):
    """Front sizes and index sets (own states first, the rest sorted) of every tree node.

    A node's front holds its own states, the later states they have an edge to or from, and the index sets of
    its children's update matrices. Returns ``(front_ptr, front_idx)``, ``front_idx`` as int32 (the sparse solver
    takes fewer than 2^31 states).
    """
    own_start, own_end, nchild = tree
    indptr, indices, _, tptr, tind, _ = rates
    n = indptr.shape[0] - 1
    ntree = own_start.shape[0]
    mark = np.full(n, -1, dtype=np.int64)
    front_ptr = np.zeros(ntree + 1, dtype=np.int64)
    out = np.empty(max(_FRONT_IDX_MIN, _FRONT_IDX_PER_STATE * n), dtype=np.int32)
    # stack of update index sets
    stack = np.empty(_STACK_CAPACITY, dtype=np.int64)
    sp = 0
    st_size = np.empty(ntree + 1, dtype=np.int64)
    st_top = 0
    tmp = np.empty(n, dtype=np.int64)
    for t in range(ntree):
        a = own_start[t]
        b = own_end[t]
        cnt = 0
        for v in range(a, b):
            mark[v] = t
            tmp[cnt] = v
            cnt += 1
        for v in range(a, b):
            for e in range(indptr[v], indptr[v + 1]):
                j = indices[e]
                if j >= b and mark[j] != t:
                    mark[j] = t
                    tmp[cnt] = j
                    cnt += 1
            for e in range(tptr[v], tptr[v + 1]):
                j = tind[e]
                if j >= b and mark[j] != t:
                    mark[j] = t
                    tmp[cnt] = j
                    cnt += 1
        for _c in range(nchild[t]):
            st_top -= 1
            u = st_size[st_top]
            sp -= u
            for r in range(u):
                j = stack[sp + r]
                if mark[j] != t:
                    mark[j] = t
                    tmp[cnt] = j
                    cnt += 1
        # sort the boundary part for locality
        bnd = np.sort(tmp[b - a : cnt])
        tmp[b - a : cnt] = bnd
        f0 = front_ptr[t]
        if f0 + cnt > out.shape[0]:
            new = np.empty(max(2 * out.shape[0], f0 + cnt), dtype=np.int32)
            new[:f0] = out[:f0]
            out = new
        out[f0 : f0 + cnt] = tmp[:cnt]
        front_ptr[t + 1] = f0 + cnt
        u = cnt - (b - a)
        # push this front's update rows (possibly none) for its parent
        if sp + u > stack.shape[0]:
            new = np.empty(max(2 * stack.shape[0], sp + u), dtype=np.int64)
            new[:sp] = stack[:sp]
            stack = new
        stack[sp : sp + u] = tmp[b - a : cnt]
        sp += u
        st_size[st_top] = u
        st_top += 1
    return front_ptr, out[: front_ptr[ntree]].copy()


@njit(cache=True, nogil=True)
def multifrontal_factor(t0, t1, tree, rates, fronts, incoming, space):
    """Numeric multifrontal GTH over the postordered tree nodes ``t0 ≤ t < t1`` (records: see the module).

    The children of node ``t`` whose update matrices are not produced in the range (a subtree run elsewhere) come
    on the ``incoming`` :class:`Updates` stack (whose arrays may be overwritten), in postorder: each node pops its
    ``nchild[t]`` children's update matrices from the top of the stack and pushes its own. Writes the range's
    blocks of ``fronts.factor``.
    ``space`` is the calling thread's :class:`Workspace` (used by one call at a time; ``pos`` is left at −1).

    Returns ``(status, bad_state, outgoing)``: status 1 on a zero pivot at ``bad_state`` (an elimination
    position), else the :func:`~srchain.gth.scaling.underflow_flags` of the range's fronts or-ed together (0:
    nothing underflowed; :data:`~srchain.gth.scaling.UNDERFLOW` | :data:`~srchain.gth.scaling.TINY_EXIT` over the
    whole tree: the caller factors the chain again by
    :func:`srchain.gth.extended.factor_extended`); ``outgoing`` is the final
    :class:`Updates` stack (the update matrices of the roots of the range's subtrees). A node whose ``factor_ptr``
    is −1 is factored all the same, its block not stored.
    """
    own_start, own_end, nchild = tree
    front_ptr, front_idx, factor_ptr, factor = fronts
    in_idx, in_val, in_size = incoming
    pos, work, cpos = space
    cap_idx, cap_val = _stack_depth(t0, t1, tree, front_ptr, in_idx.shape[0], in_val.shape[0], in_size)
    sp_idx = in_idx.shape[0]
    sp_val = in_val.shape[0]
    # the incoming stack becomes the stack where it is deep enough (a node fed its children's update matrices
    # by the caller, which drops them): no second copy of the largest update matrices
    if cap_idx <= sp_idx:
        stack_idx = in_idx
    else:
        stack_idx = np.empty(cap_idx, dtype=np.int64)
        stack_idx[:sp_idx] = in_idx
    if cap_val <= sp_val:
        stack_val = in_val
    else:
        stack_val = np.empty(cap_val, dtype=np.float64)
        stack_val[:sp_val] = in_val
    st_size = np.empty(t1 - t0 + in_size.shape[0] + 1, dtype=np.int64)
    st_top = in_size.shape[0]
    st_size[:st_top] = in_size
    flags = 0
    for t in range(t0, t1):
        a = own_start[t]
        k = own_end[t] - a
        f0 = front_ptr[t]
        m = front_ptr[t + 1] - f0
        idx = front_idx[f0 : f0 + m]
        F = work[: m * m].reshape((m, m))
        st_top, sp_idx, sp_val = _assemble(
            F, idx, a, k, nchild[t], rates, pos, cpos, stack_idx, stack_val, st_size, st_top, sp_idx, sp_val
        )
        status = front_eliminate(F, k)
        if status != 0:
            return 1, idx[status - 1], Updates(stack_idx[:0].copy(), stack_val[:0].copy(), st_size[:0].copy())
        flags |= underflow_flags(F, k)
        _store_block(F, k, factor_ptr[t], factor)
        u = m - k  # always push (possibly empty) so that parents pop exactly nchild entries (room: _stack_depth)
        _write_update(F, k, idx, stack_idx, stack_val, sp_idx, sp_val)
        sp_idx += u
        sp_val += u * u
        st_size[st_top] = u
        st_top += 1
        for q in range(m):
            pos[idx[q]] = -1
    # the stacks were allocated at their deepest: returned as they are when full (a single node's update), else copied
    out_idx = stack_idx if sp_idx == stack_idx.shape[0] else stack_idx[:sp_idx].copy()
    out_val = stack_val if sp_val == stack_val.shape[0] else stack_val[:sp_val].copy()
    return flags, -1, Updates(out_idx, out_val, st_size[:st_top].copy())


@njit(cache=True, nogil=True, inline="always")
def _assemble(F, idx, a, k, nch, rates, pos, cpos, stack_idx, stack_val, st_size, st_top, sp_idx, sp_val):
    """Node's front ``F`` (its states ``idx``, the ``k`` own ones starting at position ``a``): zeroed, then the
    original entries (rows of own states to remaining states, columns of own states from boundary states), then its
    ``nch`` children's update matrices extend-added from the top of the stack (the last pushed first). Sets
    ``pos`` on the front's states. Returns the stack's new ``(st_top, sp_idx, sp_val)``."""
    indptr, indices, data, tptr, tind, tdat = rates
    m = idx.shape[0]
    b = a + k
    for q in range(m):
        pos[idx[q]] = q
    F[:, :] = 0.0
    for q in range(k):
        v = a + q
        for e in range(indptr[v], indptr[v + 1]):
            j = indices[e]
            if j >= a and j != v:
                F[q, pos[j]] += data[e]
        for e in range(tptr[v], tptr[v + 1]):
            i = tind[e]
            if i >= b:
                F[pos[i], q] += tdat[e]
    for _c in range(nch):
        st_top -= 1
        u = st_size[st_top]
        sp_idx -= u
        sp_val -= u * u
        for r in range(u):
            cpos[r] = pos[stack_idx[sp_idx + r]]
        # runs of consecutive front positions (on a lattice ~40 entries long): each added as a contiguous
        # stretch, which vectorises; every entry still receives one addition per child, in the same order
        runs = cpos[u + 1 :]
        nr = 0
        s = 0
        while s < u:
            runs[nr] = s
            nr += 1
            s += 1
            while s < u and cpos[s] == cpos[s - 1] + 1:
                s += 1
        runs[nr] = u
        for r in range(u):
            row = F[cpos[r]]
            base = sp_val + r * u
            for q in range(nr):
                s0, s1 = runs[q], runs[q + 1]
                shift = cpos[s0] - s0
                for s in range(s0, s1):  # unsigned indices (each ≥ 0): no wrap-around test, so the loop vectorises
                    row[np.uint64(shift + s)] += stack_val[np.uint64(base + s)]
    return st_top, sp_idx, sp_val


@njit(cache=True, nogil=True, inline="always")
def _write_update(F, k, idx, out_idx, out_val, i0, v0):
    """The eliminated front's update matrix (its states ``idx[k:]`` and the censored rates ``F[k:, k:]``, row-major)
    into ``out_idx[i0:]`` and ``out_val[v0:]``."""
    u = F.shape[0] - k
    for r in range(u):
        out_idx[i0 + r] = idx[k + r]
        for s in range(u):
            out_val[v0 + r * u + s] = F[k + r, k + s]


@njit(cache=True, nogil=True, inline="always")
def _store_block(F, k, g0, factor):
    """The eliminated front's ``m × k`` block of ``c`` values into ``factor[g0:]`` (row-major); nothing if
    ``g0 < 0`` (a block not kept)."""
    if g0 >= 0:
        m = F.shape[0]
        for r in range(m):
            for q in range(k):
                factor[g0 + r * k + q] = F[r, q]


@njit(cache=True, nogil=True)
def assemble_node(t, tree, rates, fronts, incoming, space):
    """:func:`multifrontal_factor`'s assembly of one node ``t`` whose children's update matrices are all of
    ``incoming`` (as :func:`srchain.gth.sparse.factor_tree` feeds a node above its subtrees): returns its front
    (a view of ``space.front``) and its number of own states, for an elimination outside (a front split over
    threads, :func:`srchain.gth.front.front_eliminate_split`) that :func:`retire_node` completes."""
    own_start, own_end, nchild = tree
    front_ptr, front_idx, _, _ = fronts
    in_idx, in_val, in_size = incoming
    pos, work, cpos = space
    a = own_start[t]
    k = own_end[t] - a
    f0 = front_ptr[t]
    m = front_ptr[t + 1] - f0
    F = work[: m * m].reshape((m, m))
    _assemble(
        F, front_idx[f0 : f0 + m], a, k, nchild[t], rates, pos, cpos, in_idx, in_val, in_size, in_size.shape[0],
        in_idx.shape[0], in_val.shape[0],
    )  # fmt: skip
    return F, k


@njit(cache=True, nogil=True)
def retire_node(t, F, k, fronts, space):
    """After :func:`assemble_node` and the elimination of ``F``'s first ``k`` states: the node's underflow flags
    (as :func:`multifrontal_factor` returns them), its block stored, and its update matrix as an
    :class:`Updates` stack of one; ``pos`` reset on the front's states."""
    front_ptr, front_idx, factor_ptr, factor = fronts
    pos = space.pos
    f0 = front_ptr[t]
    m = front_ptr[t + 1] - f0
    idx = front_idx[f0 : f0 + m]
    flags = underflow_flags(F, k)
    _store_block(F, k, factor_ptr[t], factor)
    u = m - k
    out_idx = np.empty(u, dtype=np.int64)
    out_val = np.empty(u * u)
    _write_update(F, k, idx, out_idx, out_val, 0, 0)
    size = np.empty(1, dtype=np.int64)
    size[0] = u
    for q in range(m):
        pos[idx[q]] = -1
    return flags, Updates(out_idx, out_val, size)


@njit(cache=True, nogil=True)
def _stack_depth(t0, t1, tree, front_ptr, in_idx, in_val, in_size):
    """The deepest the update stack of :func:`multifrontal_factor` gets over the nodes ``t0 ≤ t < t1`` (index
    entries, values), starting from ``in_idx`` / ``in_val`` entries of incoming update matrices of orders
    ``in_size``: its pops and pushes replayed on the orders alone, so that the stacks are allocated once, at the
    size they need (no doubling, no copies of a half-empty stack)."""
    own_start, own_end, nchild = tree
    st = np.empty(t1 - t0 + in_size.shape[0] + 1, dtype=np.int64)
    top = in_size.shape[0]
    st[:top] = in_size
    si, sv = in_idx, in_val
    cap_i, cap_v = si, sv
    for t in range(t0, t1):
        for _c in range(nchild[t]):
            top -= 1
            si -= st[top]
            sv -= st[top] * st[top]
        u = front_ptr[t + 1] - front_ptr[t] - (own_end[t] - own_start[t])
        st[top] = u
        top += 1
        si += u
        sv += u * u
        cap_i = max(cap_i, si)
        cap_v = max(cap_v, sv)
    return cap_i, cap_v


@njit(cache=True)
def subtree_sizes(nchild):
    """Number of nodes in each node's subtree, for a postordered tree given by child counts."""
    nt = nchild.shape[0]
    size = np.ones(nt, dtype=np.int64)
    stack = np.empty(nt, dtype=np.int64)
    top = 0
    for t in range(nt):
        for _c in range(nchild[t]):
            top -= 1
            size[t] += size[stack[top]]
        stack[top] = t
        top += 1
    return size


#: A product ``w_r · c_rq`` above 2^PRODUCT_EXP makes back-substitution rescale its front (sums of fewer than 2^60
#: such terms stay below float64's 2^1024).
PRODUCT_EXP = 960
PRODUCT_MAX = 2.0**PRODUCT_EXP


@njit(cache=True, nogil=True)
def _rescaled(w, m, wr, c):
    """Divide ``w[:m]`` by the power of two that brings ``wr · c`` to about 2^SCALE_EXP (exact unless a value
    becomes subnormal: those are below 2^-1022 of an entry that is at least 2^SCALE_EXP). Returns ``(shift, wr)``."""
    shift = math.frexp(wr)[1] + math.frexp(c)[1] - SCALE_EXP
    for r in range(m):
        w[r] = math.ldexp(w[r], -shift)
    return shift, math.ldexp(wr, -shift)


@njit(cache=True, nogil=True)
def _front_solve(mant, expo, w, idx, factor, g0, k, m):
    """One front's back-substitution in a common frame ``2^E`` (the boundary's largest exponent, moved up where a
    sum or product would overflow): writes its own states' ``(mant, expo)`` and returns True, or returns False
    (writing nothing) if a boundary value, a product ``π_r c_rp`` or an own value fell below float64's normal range
    in that frame, i.e. the law falls by more than ~2^-1022 inside the front and underflow lost bits."""
    E = 0
    first = True
    for r in range(k, m):
        if mant[idx[r]] > 0.0:
            if first or expo[idx[r]] > E:
                E = expo[idx[r]]
                first = False
    for q in range(k):
        w[q] = 0.0
    for r in range(k, m):
        w[r] = 0.0
        if mant[idx[r]] > 0.0:
            w[r] = math.ldexp(mant[idx[r]], expo[idx[r]] - E)
            if w[r] < MIN_NORMAL:
                return False
        wr = w[r]
        if wr != 0.0:
            base = g0 + r * k
            for q in range(k):
                c = factor[base + q]
                term = wr * c
                if term > PRODUCT_MAX:  # a tiny exit rate makes c large: rescale the front, then go on
                    shift, wr = _rescaled(w, m, wr, c)
                    E += shift
                    term = wr * c
                elif term < MIN_NORMAL and c > 0.0:
                    return False
                w[q] += term
    for p in range(k - 1, -1, -1):
        if p == m - 1:
            w[p] = 1.0
        if w[p] > SCALE:
            for r in range(m):
                w[r] = w[r] / SCALE
            E += SCALE_EXP
        wp = w[p]
        if wp < MIN_NORMAL:  # π_p > 0 on an ergodic chain: 0 or subnormal here is underflow
            return False
        base = g0 + p * k
        for q in range(p):
            c = factor[base + q]
            term = wp * c
            if term > PRODUCT_MAX:
                shift, wp = _rescaled(w, m, wp, c)
                E += shift
                term = wp * c
            elif term < MIN_NORMAL and c > 0.0:
                return False
            w[q] += term
    for p in range(k):
        mm, ee = math.frexp(w[p])
        mant[idx[p]] = mm
        expo[idx[p]] = ee + E
    return True


#: In the per-state fallback, ``c`` inside [2^-C_EXP, 2^C_EXP] is multiplied directly (the product of a mantissa
#: in [½, 1) and such a ``c`` is normal and finite); outside it, ``c`` is split by ``frexp`` first.
C_EXP = 900
C_LO = 2.0**-C_EXP
C_HI = 2.0**C_EXP


@njit(cache=True, nogil=True)
def _front_solve_terms(mant, expo, w, top, idx, factor, g0, k, m):
    """One front's back-substitution with an exponent per state: ``π_p = Σ_{r > p} π_r c_rp``, row by row as in
    :func:`_front_solve` (the same terms in the same order, so that a state whose terms all stay in float64's
    normal range gets the same bits), but each unfinished ``π_q`` is summed relative to its own largest term so
    far (``w[q] · 2^top[q]``) and each term is ``(mant_r · c) · 2^expo_r``, one rounding with no flush to 0. No
    frame is shared, so a law that falls by any amount inside the front keeps every state. Slower than
    :func:`_front_solve` (an ``ldexp`` per term), so it runs only where that met underflow."""
    lo = -(2**62)
    for q in range(k):
        w[q] = 0.0
        top[q] = lo
    for t in range(m - k + k):
        # rows in _front_solve's order: the boundary rows up, then the own states down
        r = k + t if t < m - k else m - 1 - t
        if r < k:
            if r == m - 1:
                mant[idx[r]], expo[idx[r]] = 0.5, 1
            else:
                mm, ee = math.frexp(w[r])
                mant[idx[r]] = mm
                expo[idx[r]] = ee + top[r] if w[r] > 0.0 else 0
        mr = mant[idx[r]]
        if mr <= 0.0:
            continue
        er = expo[idx[r]]
        base = g0 + r * k
        for q in range(min(r, k)):
            c = factor[base + q]
            if c <= 0.0:
                continue
            if C_LO <= c <= C_HI:
                x = mr * c
                e = er
            else:
                cm, ce = math.frexp(c)
                x = mr * cm
                e = er + ce
            if e > top[q]:
                if w[q] > 0.0:
                    w[q] = math.ldexp(w[q], max(top[q] - e, EXP_FLOOR))
                top[q] = e
            if e == top[q]:
                w[q] += x
            elif e - top[q] >= EXP_FLOOR:
                w[q] += math.ldexp(x, e - top[q])


@njit(cache=True, nogil=True)
def multifrontal_solve(tree, fronts):
    """Back-substitution: returns ``(mant, expo)`` with ``π ∝ mant · 2^expo`` (unnormalised, by elimination
    position; :func:`srchain.gth.scaling.law_from_mant_expo` normalises it): :func:`solve_nodes` over the whole
    tree, every block of the factor kept."""
    n = tree.own_end[tree.own_start.shape[0] - 1]
    mant = np.zeros(n)
    expo = np.zeros(n, dtype=np.int64)
    solve_nodes(0, tree.own_start.shape[0], tree, fronts, mant, expo)
    return mant, expo


@njit(cache=True, nogil=True)
def solve_nodes(t0, t1, tree, fronts, mant, expo):
    """Back-substitution over the nodes ``t0 ≤ t < t1`` (last first) whose block of the factor is kept
    (``factor_ptr[t] ≥ 0``), writing their own states' ``π ∝ mant · 2^expo``; the states of their fronts' other
    rows (later nodes) must be solved already.

    Per front, ``π_p = Σ_{r > p} π_r c_rp`` for its own states p (last first), with the boundary values rescaled
    to the front's largest (:func:`_front_solve`). Row-oriented so that the factor (m×k, row-major) is read
    contiguously: the boundary rows are accumulated first, then each own state, once final, adds its row to the
    states before it. A state with a tiny exit rate has large ``c`` values; a product above :data:`PRODUCT_MAX`
    rescales the whole front by a power of two (added to its exponent) before it is added, so no sum overflows to
    inf. A front across which the law falls by more than float64's range (a barrier deeper than ~2^-1022: its far
    side would underflow to 0 in the common frame) is solved again with an exponent per state
    (:func:`_front_solve_terms`), so no state behind the barrier is lost; where nothing underflows, the fast path's
    bits stand. A front reads only its own rows of ``mant``/``expo`` and writes only its own states', so disjoint
    subtrees below solved nodes can be solved in parallel threads.
    """
    own_start, own_end, _ = tree
    front_ptr, front_idx, factor_ptr, factor = fronts
    mmax = 1
    for t in range(t0, t1):
        mmax = max(mmax, front_ptr[t + 1] - front_ptr[t])
    w = np.zeros(mmax)
    top = np.zeros(mmax, dtype=np.int64)
    for t in range(t1 - 1, t0 - 1, -1):
        g0 = factor_ptr[t]
        if g0 < 0:
            continue
        k = own_end[t] - own_start[t]
        f0 = front_ptr[t]
        m = front_ptr[t + 1] - f0
        idx = front_idx[f0 : f0 + m]
        if not _front_solve(mant, expo, w, idx, factor, g0, k, m):
            _front_solve_terms(mant, expo, w, top, idx, factor, g0, k, m)
