"""The sparse GTH as it was before its memory was cut (a reference for ``tests/test_gth_memory.py``): the rates
relabelled as a matrix and its full transpose, every block of the factor kept, update stacks that double when full,
one thread. The kernels are copied from the previous release; only :func:`srchain.gth.front.front_eliminate`, the
per-front back-substitutions and the orderings, which the memory work did not touch, are imported.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from srchain.gth.dissection import (
    GRAPH_LEAF,
    LATTICE_LEAF,
    graph_nested_dissection,
    lattice_nested_dissection,
)
from srchain.gth.front import front_eliminate
from srchain.gth.multifrontal import Fronts, Rates, Tree, Updates, _front_solve, _front_solve_terms, symbolic_fronts
from srchain.gth.scaling import law_from_mant_expo
from srchain.gth.sparse import offdiag

_STACK_CAPACITY = 1024


@njit(cache=True)
def relabel_pair(indptr, indices, data, newpos):
    """CSR of ``B[newpos[i], newpos[j]] = A[i, j]`` and of ``Bᵀ``, with int32 column indices (the transpose's
    sorted within rows): the fields of :class:`srchain.gth.multifrontal.Rates`. Needs fewer than 2^31 states."""
    n = indptr.shape[0] - 1
    nnz = indptr[n]
    inv = np.empty(n, dtype=np.int64)
    for i in range(n):
        inv[newpos[i]] = i
    optr = np.zeros(n + 1, dtype=np.int64)
    tptr = np.zeros(n + 1, dtype=np.int64)
    for r in range(n):
        i = inv[r]
        optr[r + 1] = optr[r] + indptr[i + 1] - indptr[i]
        for e in range(indptr[i], indptr[i + 1]):
            tptr[newpos[indices[e]] + 1] += 1
    for r in range(n):
        tptr[r + 1] += tptr[r]
    oind = np.empty(nnz, dtype=np.int32)
    odat = np.empty(nnz, dtype=np.float64)
    tind = np.empty(nnz, dtype=np.int32)
    tdat = np.empty(nnz, dtype=np.float64)
    nxt = tptr[:n].copy()
    for r in range(n):
        i = inv[r]
        o = optr[r]
        for e in range(indptr[i], indptr[i + 1]):
            c = newpos[indices[e]]
            oind[o] = c
            odat[o] = data[e]
            o += 1
            tind[nxt[c]] = r
            tdat[nxt[c]] = data[e]
            nxt[c] += 1
    return optr, oind, odat, tptr, tind, tdat


@njit(cache=True, nogil=True)
def multifrontal_factor(t0, t1, tree, rates, fronts, incoming, space):
    """Numeric multifrontal GTH over the postordered tree nodes ``t0 ≤ t < t1`` (records: see the module).

    The children of node ``t`` whose update matrices are not produced in the range (a subtree run elsewhere) come
    on the ``incoming`` :class:`Updates` stack, in postorder: each node pops its ``nchild[t]`` children's update
    matrices from the top of the stack and pushes its own. Writes the range's blocks of ``fronts.factor``.
    ``space`` is the calling thread's :class:`Workspace` (used by one call at a time; ``pos`` is left at −1).

    Returns ``(status, bad_state, outgoing)``: status 0 on success, 1 on a zero pivot at ``bad_state`` (an
    elimination position); ``outgoing`` is the final :class:`Updates` stack (the update matrices of the roots of
    the range's subtrees).
    """
    own_start, own_end, nchild = tree
    indptr, indices, data, tptr, tind, tdat = rates
    front_ptr, front_idx, factor_ptr, factor = fronts
    in_idx, in_val, in_size = incoming
    pos, work, cpos = space
    stack_idx = np.empty(max(_STACK_CAPACITY, 2 * in_idx.shape[0]), dtype=np.int64)
    stack_val = np.empty(max(_STACK_CAPACITY, 2 * in_val.shape[0]), dtype=np.float64)
    sp_idx = in_idx.shape[0]
    sp_val = in_val.shape[0]
    stack_idx[:sp_idx] = in_idx
    stack_val[:sp_val] = in_val
    st_size = np.empty(t1 - t0 + in_size.shape[0] + 1, dtype=np.int64)
    st_top = in_size.shape[0]
    st_size[:st_top] = in_size
    for t in range(t0, t1):
        a = own_start[t]
        b = own_end[t]
        k = b - a
        f0 = front_ptr[t]
        m = front_ptr[t + 1] - f0
        idx = front_idx[f0 : f0 + m]
        for q in range(m):
            pos[idx[q]] = q
        F = work[: m * m].reshape((m, m))
        F[:, :] = 0.0
        # original entries: rows of own states (to remaining states), columns of own states (from boundary states)
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
        # extend-add the children's update matrices (top of the stack)
        for _c in range(nchild[t]):
            st_top -= 1
            u = st_size[st_top]
            sp_idx -= u
            sp_val -= u * u
            for r in range(u):
                cpos[r] = pos[stack_idx[sp_idx + r]]
            for r in range(u):
                row = F[cpos[r]]
                base = sp_val + r * u
                for s in range(u):
                    row[cpos[s]] += stack_val[base + s]
        status = front_eliminate(F, k)
        if status != 0:
            return 1, idx[status - 1], Updates(stack_idx[:0].copy(), stack_val[:0].copy(), st_size[:0].copy())
        g0 = factor_ptr[t]
        for r in range(m):
            for q in range(k):
                factor[g0 + r * k + q] = F[r, q]
        u = m - k  # always push (possibly empty) so that parents pop exactly nchild entries
        need_i = sp_idx + u
        if need_i > stack_idx.shape[0]:
            new = np.empty(max(2 * stack_idx.shape[0], need_i), dtype=np.int64)
            new[:sp_idx] = stack_idx[:sp_idx]
            stack_idx = new
        need_v = sp_val + u * u
        if need_v > stack_val.shape[0]:
            newv = np.empty(max(2 * stack_val.shape[0], need_v), dtype=np.float64)
            newv[:sp_val] = stack_val[:sp_val]
            stack_val = newv
        for r in range(u):
            stack_idx[sp_idx + r] = idx[k + r]
            for s in range(u):
                stack_val[sp_val + r * u + s] = F[k + r, k + s]
        sp_idx += u
        sp_val += u * u
        st_size[st_top] = u
        st_top += 1
        for q in range(m):
            pos[idx[q]] = -1
    return 0, -1, Updates(stack_idx[:sp_idx].copy(), stack_val[:sp_val].copy(), st_size[:st_top].copy())


@njit(cache=True, nogil=True)
def multifrontal_solve(tree, fronts):
    """Back-substitution: returns ``(mant, expo)`` with ``π ∝ mant · 2^expo`` (unnormalised, by elimination
    position; :func:`srchain.gth.scaling.law_from_mant_expo` normalises it).

    Per front, ``π_p = Σ_{r > p} π_r c_rp`` for its own states p (last first), with the boundary values rescaled
    to the front's largest (:func:`_front_solve`). Row-oriented so that the factor (m×k, row-major) is read
    contiguously: the boundary rows are accumulated first, then each own state, once final, adds its row to the
    states before it. A state with a tiny exit rate has large ``c`` values; a product above :data:`PRODUCT_MAX`
    rescales the whole front by a power of two (added to its exponent) before it is added, so no sum overflows to
    inf. A front across which the law falls by more than float64's range (a barrier deeper than ~2^-1022: its far
    side would underflow to 0 in the common frame) is solved again with an exponent per state
    (:func:`_front_solve_terms`), so no state behind the barrier is lost; where nothing underflows, the fast path's
    bits stand.
    """
    own_start, own_end, _ = tree
    front_ptr, front_idx, factor_ptr, factor = fronts
    ntree = own_start.shape[0]
    n = own_end[ntree - 1]
    mant = np.zeros(n)
    expo = np.zeros(n, dtype=np.int64)
    mmax = 1
    for t in range(ntree):
        mmax = max(mmax, front_ptr[t + 1] - front_ptr[t])
    w = np.zeros(mmax)
    top = np.zeros(mmax, dtype=np.int64)
    for t in range(ntree - 1, -1, -1):
        k = own_end[t] - own_start[t]
        f0 = front_ptr[t]
        m = front_ptr[t + 1] - f0
        idx = front_idx[f0 : f0 + m]
        g0 = factor_ptr[t]
        if not _front_solve(mant, expo, w, idx, factor, g0, k, m):
            _front_solve_terms(mant, expo, w, top, idx, factor, g0, k, m)
    return mant, expo


def sparse_gth_reference(A, shape=None) -> np.ndarray:
    """The stationary law of ``A`` by the previous sparse GTH (serial, whole factor kept)."""
    n = A.shape[0]
    G = offdiag(A)
    if shape is not None:
        shp = np.asarray(shape, dtype=np.int64)
        nd = lattice_nested_dissection(shp, G.indptr, G.indices, LATTICE_LEAF)
    else:
        S = (G + G.T).tocsr()
        S.sort_indices()
        nd = graph_nested_dissection(S, GRAPH_LEAF)
    newpos, own_start, own_end, nchild = nd
    tree = Tree(own_start, own_end, nchild)
    rates = Rates(*relabel_pair(G.indptr, G.indices, G.data, newpos))
    front_ptr, front_idx = symbolic_fronts(tree, rates)
    front_idx = front_idx.astype(np.int64)
    m = np.diff(front_ptr)
    k = own_end - own_start
    factor_ptr = np.concatenate([[0], np.cumsum(m * k)]).astype(np.int64)
    fronts = Fronts(front_ptr, front_idx, factor_ptr, np.empty(int(factor_ptr[-1])))
    mmax = max(1, int(m.max()))
    space = (np.full(n, -1, dtype=np.int64), np.empty(mmax * mmax), np.empty(mmax, dtype=np.int64))
    empty = Updates(np.empty(0, dtype=np.int64), np.empty(0), np.empty(0, dtype=np.int64))
    status, _, _ = multifrontal_factor(0, nchild.size, tree, rates, fronts, empty, space)
    assert status == 0
    mant, expo = multifrontal_solve(tree, fronts)
    return law_from_mant_expo(mant, expo)[newpos]
