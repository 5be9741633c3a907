"""Numba kernels for GTH (Grassmann–Taksar–Heyman) elimination: dense, and sparse multifrontal.

GTH solves ``π P = π`` for an irreducible row-stochastic ``P`` by eliminating states one at a time. With the
states numbered in elimination order and ``a_ij`` the off-diagonal rates of the chain censored on the states not yet
eliminated, eliminating state ``p`` does

    s_p  = Σ_{j > p} a_pj                       (its total rate to the remaining states: a sum, never 1 − a_pp)
    c_ip = a_ip / s_p                 (i > p)
    a_ij += c_ip · a_pj               (i, j > p, i ≠ j)

and back-substitution gives ``π_p = Σ_{i > p} π_i c_ip`` (flow balance of ``p`` in the chain censored on
``{p, p+1, …}``), starting from the last state. Every operation adds, multiplies or divides non-negative numbers:
there is no subtraction, so each computed ``π_i`` has a small *relative* error (O(n·eps) per component in the dense
case), whatever the conditioning of ``I − P``: this is what makes the method safe on metastable chains, where
``π`` spans hundreds of orders of magnitude. Diagonal entries are never read.

The sparse version is a multifrontal elimination over a separator tree (nested dissection): each tree node owns a
set of states, eliminated inside a dense *front* that holds them and every remaining state they touch; the Schur
complement on the other front states (the *update matrix*) is passed to the parent. The bulk of the work is a
product of non-negative matrices (``F_SS += C_SK · R_KS``), done by BLAS: still subtraction-free.

Back-substitution stores ``π`` as mantissa/exponent pairs (``frexp``) and rescales each front locally, so values
far outside the float64 range neither overflow nor turn into NaN; only values below 2^-1074 times the largest one
are lost, and they are counted as underflow by the caller.
"""
from __future__ import annotations

import math

import llvmlite.binding as llvm
import numpy as np
from numba import njit, types
from numba.extending import get_cython_function_address

_BIG = 2.0 ** 600  # rescale a front's local values when one exceeds this (float64 max is ~2^1024)


# BLAS dgemm (SciPy's), callable from Numba with caching: the symbol is registered with LLVM by name.
llvm.add_symbol("srchain_gth_dgemm", get_cython_function_address("scipy.linalg.cython_blas", "dgemm"))
_vp = types.voidptr
_dgemm = types.ExternalFunction("srchain_gth_dgemm", types.void(_vp, _vp, _vp, _vp, _vp, _vp, _vp, _vp, _vp, _vp,
                                                                 _vp, _vp, _vp))
_PANEL = 48


@njit(cache=True, nogil=True)
def _trailing_update(F, p0, p1):
    """``F[p1:, p1:] += F[p1:, p0:p1] @ F[p0:p1, p1:]`` for row-major F (non-negative operands)."""
    m = F.shape[0]
    r = m - p1
    w = p1 - p0
    if r * r * w < 32768:
        for i in range(p1, m):
            for q in range(p0, p1):
                ci = F[i, q]
                if ci != 0.0:
                    for j in range(p1, m):
                        F[i, j] += ci * F[q, j]
        return
    flat = F.reshape(-1)
    ints = np.empty(6, dtype=np.int32)
    ints[0] = r
    ints[1] = r
    ints[2] = w
    ints[3] = m
    ints[4] = m
    ints[5] = m
    chars = np.array([78, 78], dtype=np.uint8)  # "N", "N"
    one = np.ones(2)
    # column-major view: C^T (r×r, ld m) += R^T (r×w, ld m) · C'^T (w×r, ld m)
    a = flat[p0 * m + p1:]
    b = flat[p1 * m + p0:]
    c = flat[p1 * m + p1:]
    _dgemm(chars[0:].ctypes, chars[1:].ctypes, ints[0:].ctypes, ints[1:].ctypes, ints[2:].ctypes, one[0:].ctypes,
           a.ctypes, ints[3:].ctypes, b.ctypes, ints[4:].ctypes, one[1:].ctypes, c.ctypes, ints[5:].ctypes)


@njit(cache=True, nogil=True)
def front_eliminate(F, k):
    """GTH-eliminate the first ``k`` states of the dense front ``F`` (m×m, off-diagonal rates; a root front with
    ``k == m`` keeps its last state). Returns 0, or ``p + 1`` if state p has no positive rate to the states after it.

    Right-looking and blocked: each panel of ``_PANEL`` pivots is eliminated by rank-1 updates of its rows and
    columns, then the trailing matrix receives ``C · R`` (BLAS dgemm) with ``C`` the scaled columns ``c_ip`` and
    ``R`` the pivot rows: products and sums of non-negative numbers only. Afterwards ``F[i, p]`` (i > p) holds
    ``c_ip`` and ``F[k:, k:]`` the off-diagonal rates of the chain censored on the remaining states.
    """
    m = F.shape[0]
    kk = min(k, m - 1)
    p0 = 0
    while p0 < kk:
        p1 = min(p0 + _PANEL, kk)
        for p in range(p0, p1):
            s = 0.0
            for j in range(p + 1, m):
                s += F[p, j]
            if not (s > 0.0) or not math.isfinite(s):
                return p + 1
            inv = 1.0 / s
            for i in range(p + 1, m):
                F[i, p] *= inv
            for i in range(p + 1, p1):  # the panel's rows, every remaining column
                ci = F[i, p]
                if ci != 0.0:
                    for j in range(p + 1, m):
                        F[i, j] += ci * F[p, j]
            for i in range(p1, m):  # other rows, the panel's columns
                ci = F[i, p]
                if ci != 0.0:
                    for j in range(p + 1, p1):
                        F[i, j] += ci * F[p, j]
        if p1 < m:
            _trailing_update(F, p0, p1)
        p0 = p1
    return 0


@njit(cache=True, nogil=True)
def multifrontal_factor(n, t0, t1, own_start, own_end, nchild, indptr, indices, data, tptr, tind, tdat,
                        front_ptr, front_idx, factor_ptr, factor, in_idx, in_val, in_size):
    """Numeric multifrontal GTH over the postordered separator-tree nodes ``t0 ≤ t < t1``.

    States are labelled by elimination position. Tree node ``t`` owns the states ``own_start[t] ≤ v <
    own_end[t]`` and has ``nchild[t]`` children, whose update matrices are the top ``nchild[t]`` entries of the
    update stack when ``t`` is processed (the stack starts with ``in_*``: index lists, matrices and sizes, flat).
    ``(indptr, indices, data)`` is the off-diagonal part of P (CSR) and ``(tptr, tind, tdat)`` its transpose,
    both relabelled. ``front_idx[front_ptr[t]:front_ptr[t+1]]`` are the front's states (own first);
    ``factor[factor_ptr[t]:…]`` receives the m×k block of ``c`` values (row-major).

    Returns ``(status, bad_state, out_idx, out_val, out_size)``: status 0 on success, 1 on a zero pivot at
    ``bad_state``; ``out_*`` is the final update stack (the subtree roots' update matrices).
    """
    pos = np.full(n, -1, dtype=np.int64)
    stack_idx = np.empty(max(1024, 2 * in_idx.shape[0]), dtype=np.int64)
    stack_val = np.empty(max(1024, 2 * in_val.shape[0]), dtype=np.float64)
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
        idx = front_idx[f0:f0 + m]
        for q in range(m):
            pos[idx[q]] = q
        F = np.zeros((m, m))
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
        for c in range(nchild[t]):
            st_top -= 1
            u = st_size[st_top]
            sp_idx -= u
            sp_val -= u * u
            for r in range(u):
                pr = pos[stack_idx[sp_idx + r]]
                base = sp_val + r * u
                for s in range(u):
                    F[pr, pos[stack_idx[sp_idx + s]]] += stack_val[base + s]
        status = front_eliminate(F, k)
        if status != 0:
            return 1, idx[status - 1], stack_idx[:0], stack_val[:0], st_size[:0]
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
    return 0, -1, stack_idx[:sp_idx].copy(), stack_val[:sp_val].copy(), st_size[:st_top].copy()


@njit(cache=True)
def subtree_sizes(nchild):
    """Number of nodes in each node's subtree, for a postordered tree given by child counts."""
    nt = nchild.shape[0]
    size = np.ones(nt, dtype=np.int64)
    stack = np.empty(nt, dtype=np.int64)
    top = 0
    for t in range(nt):
        for c in range(nchild[t]):
            top -= 1
            size[t] += size[stack[top]]
        stack[top] = t
        top += 1
    return size


@njit(cache=True, nogil=True)
def multifrontal_solve(n, own_start, own_end, front_ptr, front_idx, factor_ptr, factor):
    """Back-substitution: returns ``(mant, expo)`` with ``π ∝ mant · 2^expo`` (unnormalised)."""
    ntree = own_start.shape[0]
    mant = np.zeros(n)
    expo = np.zeros(n, dtype=np.int64)
    for t in range(ntree - 1, -1, -1):
        k = own_end[t] - own_start[t]
        f0 = front_ptr[t]
        m = front_ptr[t + 1] - f0
        idx = front_idx[f0:f0 + m]
        g0 = factor_ptr[t]
        w = np.zeros(m)
        E = 0
        first = True
        for r in range(k, m):
            if mant[idx[r]] > 0.0:
                if first or expo[idx[r]] > E:
                    E = expo[idx[r]]
                    first = False
        for r in range(k, m):
            if mant[idx[r]] > 0.0:
                w[r] = math.ldexp(mant[idx[r]], expo[idx[r]] - E)
        for p in range(k - 1, -1, -1):
            if p == m - 1:
                w[p] = 1.0
                continue
            s = 0.0
            for r in range(p + 1, m):
                s += w[r] * factor[g0 + r * k + p]
            w[p] = s
            if s > _BIG:
                for r in range(p, m):
                    w[r] = w[r] / _BIG
                E += 600
        for p in range(k):
            mm, ee = math.frexp(w[p])
            mant[idx[p]] = mm
            expo[idx[p]] = ee + E
    return mant, expo


@njit(cache=True, nogil=True)
def symbolic_fronts(n, own_start, own_end, nchild, indptr, indices, tptr, tind):
    """Front sizes and index sets (own states first) for :func:`multifrontal_factor`.

    Returns ``(front_ptr, front_idx)``.
    """
    ntree = own_start.shape[0]
    mark = np.full(n, -1, dtype=np.int64)
    front_ptr = np.zeros(ntree + 1, dtype=np.int64)
    out = np.empty(max(16, 4 * n), dtype=np.int64)
    # stack of update index sets
    stack = np.empty(1024, dtype=np.int64)
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
        for c in range(nchild[t]):
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
        bnd = np.sort(tmp[b - a:cnt])
        tmp[b - a:cnt] = bnd
        f0 = front_ptr[t]
        if f0 + cnt > out.shape[0]:
            new = np.empty(max(2 * out.shape[0], f0 + cnt), dtype=np.int64)
            new[:f0] = out[:f0]
            out = new
        out[f0:f0 + cnt] = tmp[:cnt]
        front_ptr[t + 1] = f0 + cnt
        u = cnt - (b - a)
        if True:  # always push (possibly empty)
            if sp + u > stack.shape[0]:
                new = np.empty(max(2 * stack.shape[0], sp + u), dtype=np.int64)
                new[:sp] = stack[:sp]
                stack = new
            stack[sp:sp + u] = tmp[b - a:cnt]
            sp += u
            st_size[st_top] = u
            st_top += 1
    return front_ptr, out[:front_ptr[ntree]].copy()


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


@njit(cache=True)
def box_nested_dissection(shape, width, leaf):
    """Nested dissection of a C-ordered box lattice by slabs of thickness ``width[axis]`` (the largest jump of
    the chain along that axis, so that a slab separates its two sides).

    Returns ``(newpos, own_start, own_end, nchild)``: ``newpos[old] = elimination position`` and the postordered
    separator tree.
    """
    d = shape.shape[0]
    n = 1
    for a in range(d):
        n *= shape[a]
    cap = 16 + 4 * (n // max(leaf, 1) + 1)
    dlo = np.zeros((cap, d), dtype=np.int64)
    dhi = np.zeros((cap, d), dtype=np.int64)
    olo = np.zeros((cap, d), dtype=np.int64)
    ohi = np.zeros((cap, d), dtype=np.int64)
    kids = np.full((cap, 2), -1, dtype=np.int64)
    for a in range(d):
        dhi[0, a] = shape[a]
    nt = 1
    q = 0
    while q < nt:
        t = q
        q += 1
        size = 1
        best = 0
        for a in range(d):
            size *= dhi[t, a] - dlo[t, a]
            if dhi[t, a] - dlo[t, a] > dhi[t, best] - dlo[t, best]:
                best = a
        ext = dhi[t, best] - dlo[t, best]
        w = width[best]
        for a in range(d):
            olo[t, a] = dlo[t, a]
            ohi[t, a] = dhi[t, a]
        if size <= leaf or ext < 2 * w + 1:
            continue
        mid = dlo[t, best] + (ext - w) // 2
        olo[t, best] = mid
        ohi[t, best] = mid + w
        if nt + 2 > cap:
            raise ValueError("nested dissection: tree capacity exceeded")
        if mid > dlo[t, best]:
            dlo[nt] = dlo[t]; dhi[nt] = dhi[t]; dhi[nt, best] = mid
            kids[t, 0] = nt
            nt += 1
        if mid + w < dhi[t, best]:
            dlo[nt] = dlo[t]; dhi[nt] = dhi[t]; dlo[nt, best] = mid + w
            kids[t, 1] = nt
            nt += 1
    # postorder
    post = np.empty(nt, dtype=np.int64)
    stack = np.empty(nt + 1, dtype=np.int64)
    state = np.zeros(nt, dtype=np.int64)
    top = 0
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
    strides = np.ones(d, dtype=np.int64)
    for a in range(d - 2, -1, -1):
        strides[a] = strides[a + 1] * shape[a + 1]
    newpos = np.empty(n, dtype=np.int64)
    own_start = np.empty(nt, dtype=np.int64)
    own_end = np.empty(nt, dtype=np.int64)
    nchild = np.empty(nt, dtype=np.int64)
    cnt = 0
    cur = np.zeros(d, dtype=np.int64)
    for r in range(nt):
        t = post[r]
        own_start[r] = cnt
        nchild[r] = (kids[t, 0] >= 0) + (kids[t, 1] >= 0)
        empty = False
        for a in range(d):
            cur[a] = olo[t, a]
            if ohi[t, a] <= olo[t, a]:
                empty = True
        while not empty:
            off = 0
            for a in range(d):
                off += cur[a] * strides[a]
            newpos[off] = cnt
            cnt += 1
            a = d - 1
            while a >= 0:
                cur[a] += 1
                if cur[a] < ohi[t, a]:
                    break
                cur[a] = olo[t, a]
                a -= 1
            if a < 0:
                break
        own_end[r] = cnt
    return newpos, own_start, own_end, nchild


@njit(cache=True)
def max_jumps(indptr, indices, shape):
    """Largest |coordinate difference| per axis over the nonzeros of a C-ordered lattice matrix."""
    d = shape.shape[0]
    strides = np.ones(d, dtype=np.int64)
    for a in range(d - 2, -1, -1):
        strides[a] = strides[a + 1] * shape[a + 1]
    out = np.zeros(d, dtype=np.int64)
    n = indptr.shape[0] - 1
    for i in range(n):
        for e in range(indptr[i], indptr[i + 1]):
            j = indices[e]
            for a in range(d):
                di = (i // strides[a]) % shape[a]
                dj = (j // strides[a]) % shape[a]
                x = di - dj if di > dj else dj - di
                if x > out[a]:
                    out[a] = x
    return out


@njit(cache=True)
def relabel_csr(indptr, indices, data, newpos):
    """CSR of ``B[newpos[i], newpos[j]] = A[i, j]`` (indices unsorted within rows)."""
    n = indptr.shape[0] - 1
    inv = np.empty(n, dtype=np.int64)
    for i in range(n):
        inv[newpos[i]] = i
    optr = np.zeros(n + 1, dtype=np.int64)
    for r in range(n):
        i = inv[r]
        optr[r + 1] = optr[r] + indptr[i + 1] - indptr[i]
    oind = np.empty(indptr[n], dtype=np.int64)
    odat = np.empty(indptr[n], dtype=np.float64)
    for r in range(n):
        i = inv[r]
        o = optr[r]
        for e in range(indptr[i], indptr[i + 1]):
            oind[o] = newpos[indices[e]]
            odat[o] = data[e]
            o += 1
    return optr, oind, odat
