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

The sparse version is a multifrontal elimination over a separator tree (nested dissection; on lattices, cuts whose
separators follow the local jump length, :func:`lattice_nested_dissection`): each tree node owns a set of states,
eliminated inside a dense *front* that holds them and every remaining state they touch; the Schur complement
on the other front states (the *update matrix*) is passed to the parent. The bulk of the work is a
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

#: Back-substitution rescales a front's values by 2^-_SCALE_EXP when one exceeds 2^_SCALE_EXP, counting the
#: rescalings in an exponent (float64's largest value is ~2^1024, so sums of a few such values cannot overflow).
_SCALE_EXP = 600
_BIG = 2.0 ** _SCALE_EXP
#: Below this many multiply-adds (r·r·w or r·w·w) a plain loop beats the call into BLAS dgemm (measured).
_BLAS_MIN_WORK = 32768


# BLAS dgemm (SciPy's), callable from Numba with caching: the symbol is registered with LLVM by name.
llvm.add_symbol("srchain_gth_dgemm", get_cython_function_address("scipy.linalg.cython_blas", "dgemm"))
_vp = types.voidptr
_dgemm = types.ExternalFunction("srchain_gth_dgemm", types.void(_vp, _vp, _vp, _vp, _vp, _vp, _vp, _vp, _vp, _vp,
                                                                 _vp, _vp, _vp))
_PANEL = 32


@njit(cache=True, nogil=True)
def _trailing_update(F, p0, p1):
    """``F[p1:, p1:] += F[p1:, p0:p1] @ F[p0:p1, p1:]`` for row-major F (non-negative operands)."""
    m = F.shape[0]
    r = m - p1
    w = p1 - p0
    if r * r * w < _BLAS_MIN_WORK:
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
def _panel_columns(F, p0, p1, inv, M, X):
    """The panel's columns of the rows below it, ``C = X · M`` by one dgemm, for the row-by-row recurrence
    ``c_ip = (x_ip + Σ_{q<p} c_iq u_qp) / s_p`` over the panel's pivots p (``x`` the rows' entries before the
    panel, ``u_qp = F[q, p]`` the pivot rows). In matrix form ``c = x D (I − U D)⁻¹ = x (I − V)⁻¹ D`` with
    ``D = diag(1/s_p)`` and ``V = D U`` strictly upper triangular, non-negative and row-substochastic (u_qp is a
    term of s_q), so ``M = (I + V + V² + …) D`` is non-negative, with ``(I − V)⁻¹``'s entries at most 1 (no
    overflow), and is built by the forward recurrence ``W = I + W V``, without a subtraction: every ``c_ip`` is
    still a sum of products of non-negative numbers."""
    m = F.shape[0]
    w = p1 - p0
    r = m - p1
    for a in range(w):  # row a of W = (I − V)⁻¹, V = D U (row-substochastic: W's entries are at most 1)
        base = a * w
        for p in range(w):
            M[base + p] = 0.0
        M[base + a] = 1.0
        for p in range(a + 1, w):
            s = 0.0
            for q in range(a, p):
                s += M[base + q] * (inv[q] * F[p0 + q, p0 + p])
            M[base + p] = s
    for a in range(w):  # M = W D
        base = a * w
        for p in range(a, w):
            M[base + p] *= inv[p]
    for i in range(r):
        for p in range(w):
            X[i * w + p] = F[p1 + i, p0 + p]
    flat = F.reshape(-1)
    ints = np.empty(4, dtype=np.int32)
    ints[0] = w
    ints[1] = r
    ints[2] = m
    ints[3] = w
    chars = np.array([78, 78], dtype=np.uint8)  # "N", "N"
    ab = np.array([1.0, 0.0])
    # column-major view: Cᵀ (w×r, ld m) = Mᵀ (w×w, ld w) · Xᵀ (w×r, ld w)
    c = flat[p1 * m + p0:]
    _dgemm(chars[0:].ctypes, chars[1:].ctypes, ints[0:].ctypes, ints[1:].ctypes, ints[0:].ctypes, ab[0:].ctypes,
           M.ctypes, ints[3:].ctypes, X.ctypes, ints[3:].ctypes, ab[1:].ctypes, c.ctypes, ints[2:].ctypes)


@njit(cache=True, nogil=True)
def front_eliminate(F, k):
    """GTH-eliminate the first ``k`` states of the dense front ``F`` (m×m, off-diagonal rates; a root front with
    ``k == m`` keeps its last state). Returns 0, or ``p + 1`` if state p has no positive rate to the states after it.

    Right-looking and blocked: each panel of ``_PANEL`` pivots is eliminated by rank-1 updates of its rows (over
    every column), then of the rows below it (over the panel's columns only, one row at a time so that the row's
    panel segment stays in cache), then the trailing matrix receives ``C · R`` (BLAS dgemm) with ``C`` the scaled
    columns ``c_ip`` and ``R`` the pivot rows: products and sums of non-negative numbers only. Afterwards
    ``F[i, p]`` (i > p) holds ``c_ip`` and ``F[k:, k:]`` the off-diagonal rates of the chain censored on the
    remaining states. Every entry receives the same operations in the same order as the unblocked algorithm's.
    """
    m = F.shape[0]
    kk = min(k, m - 1)
    inv = np.empty(_PANEL)
    M = np.empty(_PANEL * _PANEL)
    X = np.empty(max(m, 1) * _PANEL)
    p0 = 0
    while p0 < kk:
        p1 = min(p0 + _PANEL, kk)
        for p in range(p0, p1):  # the panel's rows, every remaining column
            s = 0.0
            for j in range(p + 1, m):
                s += F[p, j]
            if not (s > 0.0) or not math.isfinite(s):
                return p + 1
            iv = 1.0 / s
            inv[p - p0] = iv
            for i in range(p + 1, p1):
                ci = F[i, p] * iv
                F[i, p] = ci
                if ci != 0.0:
                    for j in range(p + 1, m):
                        F[i, j] += ci * F[p, j]
        w = p1 - p0
        r = m - p1
        if r * w * w < _BLAS_MIN_WORK:
            for i in range(p1, m):  # the rows below, the panel's columns, row by row
                for p in range(p0, p1):
                    ci = F[i, p] * inv[p - p0]
                    F[i, p] = ci
                    if ci != 0.0:
                        for j in range(p + 1, p1):
                            F[i, j] += ci * F[p, j]
        else:
            _panel_columns(F, p0, p1, inv, M, X)
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
    mmax = 1
    for t in range(t0, t1):
        mmax = max(mmax, front_ptr[t + 1] - front_ptr[t])
    work = np.empty(mmax * mmax)  # one workspace for every front (no allocation, no fresh pages per front)
    cpos = np.empty(mmax, dtype=np.int64)
    for t in range(t0, t1):
        a = own_start[t]
        b = own_end[t]
        k = b - a
        f0 = front_ptr[t]
        m = front_ptr[t + 1] - f0
        idx = front_idx[f0:f0 + m]
        for q in range(m):
            pos[idx[q]] = q
        F = work[:m * m].reshape((m, m))
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
        for c in range(nchild[t]):
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
    """Back-substitution: returns ``(mant, expo)`` with ``π ∝ mant · 2^expo`` (unnormalised).

    Per front, ``π_p = Σ_{r > p} π_r c_rp`` for its own states p (last first), with the boundary values rescaled
    to the front's largest. Row-oriented so that the factor (m×k, row-major) is read contiguously: the boundary
    rows are accumulated first, then each own state, once final, adds its row to the states before it.
    """
    ntree = own_start.shape[0]
    mant = np.zeros(n)
    expo = np.zeros(n, dtype=np.int64)
    mmax = 1
    for t in range(ntree):
        mmax = max(mmax, front_ptr[t + 1] - front_ptr[t])
    w = np.zeros(mmax)
    for t in range(ntree - 1, -1, -1):
        k = own_end[t] - own_start[t]
        f0 = front_ptr[t]
        m = front_ptr[t + 1] - f0
        idx = front_idx[f0:f0 + m]
        g0 = factor_ptr[t]
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
            wr = w[r]
            if wr != 0.0:
                base = g0 + r * k
                for q in range(k):
                    w[q] += wr * factor[base + q]
        for p in range(k - 1, -1, -1):
            if p == m - 1:
                w[p] = 1.0
            if w[p] > _BIG:
                for r in range(m):
                    w[r] = w[r] / _BIG
                E += _SCALE_EXP
            wp = w[p]
            if wp != 0.0:
                base = g0 + p * k
                for q in range(p):
                    w[q] += wp * factor[base + q]
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
        # push this front's update rows (possibly none) for its parent
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


# --------------------------------------------------------------------------------------------------------------
# lattice ordering with separators that follow the local jump length, and the CSR plumbing around it
# --------------------------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def offdiag_csr(indptr, indices, data):
    """The positive off-diagonal entries of a CSR matrix, as CSR (the transition graph without self-loops)."""
    n = indptr.shape[0] - 1
    optr = np.empty(n + 1, dtype=indptr.dtype)
    optr[0] = 0
    cnt = 0
    for i in range(n):
        for e in range(indptr[i], indptr[i + 1]):
            if indices[e] != i and data[e] > 0.0:
                cnt += 1
        optr[i + 1] = cnt
    oind = np.empty(cnt, dtype=indices.dtype)
    odat = np.empty(cnt, dtype=np.float64)
    o = 0
    for i in range(n):
        for e in range(indptr[i], indptr[i + 1]):
            if indices[e] != i and data[e] > 0.0:
                oind[o] = indices[e]
                odat[o] = data[e]
                o += 1
    return optr, oind, odat


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
def lattice_nested_dissection(shape, jmax, indptr, indices, leaf):
    """Nested dissection of a chain on a C-ordered box lattice with separators that follow the *local* jumps.

    A domain is a box minus the cells already taken by its ancestors' separators. It is cut at the middle of its
    longest axis into a left part ``x < mid`` and a right part ``x ≥ mid``; the separator is the set of the right
    part's cells that have a neighbour (an edge of ``P`` in either direction) in the left part, or the left part's
    cells with a neighbour in the right part, whichever is smaller. Removing it disconnects the two parts exactly,
    whatever the jumps, and it is one cell thick wherever the chain only jumps by ±1 across the cut: a chain whose
    longer jumps live in a corner pays for them only there (a global slab width would double every separator).
    Only cells within ``jmax[axis]`` (the largest jump along the axis) of the cut are examined. Domains of at most
    ``leaf`` cells, or one cell thick along their longest axis, are leaves.

    ``(indptr, indices)`` is the off-diagonal pattern of P (edges are followed in both directions).
    Returns ``(newpos, own_start, own_end, nchild)``: ``newpos[old] = elimination position`` and the postordered
    separator tree (children before parents; each node owns a contiguous range of positions).
    """
    d = shape.shape[0]
    n = 1
    for a in range(d):
        n *= shape[a]
    strides = np.ones(d, dtype=np.int64)
    for a in range(d - 2, -1, -1):
        strides[a] = strides[a + 1] * shape[a + 1]
    assigned = np.zeros(n, dtype=np.uint8)  # 0 free, 1 taken by a tree node, 2 marked as a separator candidate
    cap = 64
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
        mid = lo[t, best] + ext // 2
        jw = max(jmax[best], 1)
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


@njit(cache=True, nogil=True)
def relabel_pair(indptr, indices, data, newpos):
    """CSR of ``B[newpos[i], newpos[j]] = A[i, j]`` and of ``Bᵀ``, with int32 column indices (the transpose's
    sorted within rows). Needs fewer than 2^31 states."""
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
