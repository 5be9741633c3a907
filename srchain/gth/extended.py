"""Multifrontal GTH with an exponent per entry: the factorisation of a chain whose censored rates leave float64.

Behind a barrier deeper than float64's range (the law falling by more than ~2^-1022 across it) the censored rates
of :func:`srchain.gth.multifrontal.multifrontal_factor` underflow: a basin state whose only exits lead over the
barrier gets a rate of ~1e-600 to the states after it (0 in float64: a zero pivot), and a state with a tiny exit
rate ``s_p`` (large ``c_ip``) multiplies rates that have already been flushed to 0 (a wrong law with a small
residual). No exponent per row (a time change) helps: one row of a front holds 0.5 beside 1e-602.

Here every entry of a front, of an update matrix and of the factor is a float ``mant`` times ``2^expo``
(``mant`` in [½, 1) or 0), and each operation of :func:`srchain.gth.front.front_eliminate` (the sum ``s_p``,
``1/s_p``, ``c_ip = a_ip · (1/s_p)``, ``a_ij ← fma(c_ip, a_pj, a_ij)``, in the same order) is done on the
mantissas with the exponents apart: one rounding each, as in float64, so where no value leaves float64's normal
range the bits are those of the float64 factorisation, and no value is ever flushed to 0. Slower (a ``frexp`` per
operation), so :func:`srchain.gth.sparse.sparse_gth` runs it only when the float64 factorisation met a zero pivot,
or a product below the normal range beside an exit rate below 2^-450
(:func:`srchain.gth.scaling.underflow_flags`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from srchain.gth.front import fma
from srchain.gth.multifrontal import _front_solve, _front_solve_terms, _stack_depth
from srchain.gth.scaling import EXP_FLOOR

__all__ = ["factor_extended", "solve_extended"]

#: A mantissa shift beyond this makes the smaller operand of a sum (or fma) less than half an ulp of the larger
#: however the mantissas lie: it cannot change the rounded result, and the shift is stopped here (no overflow).
_SHIFT_MAX = 1000
#: The exponents (of ``mant`` in [½, 1)) of float64's normal range: such a value is exactly a float64.
_E_MIN = -1021
_E_MAX = 1024


@njit(cache=True, nogil=True, inline="always")
def _norm(x, e):
    """``x · 2^e`` as ``(mant, expo)``, mant in [½, 1) (or 0, exponent 0)."""
    if x == 0.0:
        return 0.0, 0
    m, f = math.frexp(x)
    return m, e + f


@njit(cache=True, nogil=True, inline="always")
def _add(xm, xe, ym, ye):
    """``x + y`` rounded once (both non-negative)."""
    if xm == 0.0:
        return ym, ye
    if ym == 0.0:
        return xm, xe
    top = max(xe, ye)
    return _norm(math.ldexp(xm, max(xe - top, EXP_FLOOR)) + math.ldexp(ym, max(ye - top, EXP_FLOOR)), top)


@njit(cache=True, nogil=True, inline="always")
def _fma(cm, ce, am, ae, ym, ye):
    """``c · a + y`` rounded once (all non-negative), as float64's fused multiply-add."""
    if cm == 0.0 or am == 0.0:
        return ym, ye
    pe = ce + ae
    if ym == 0.0:
        return _norm(cm * am, pe)
    d = ye - pe
    if d > _SHIFT_MAX:  # the product is below half an ulp of y
        return ym, ye
    return _norm(fma(cm, am, math.ldexp(ym, max(d, EXP_FLOOR))), pe)


@njit(cache=True, nogil=True)
def front_eliminate_ext(Fm, Fe, k):
    """:func:`srchain.gth.front.front_eliminate` on the front ``Fm · 2^Fe``: the unblocked algorithm, whose
    operations per entry (and their order) the blocked kernel keeps. Returns 0, or ``p + 1`` on a zero pivot."""
    m = Fm.shape[0]
    kk = min(k, m - 1)
    for p in range(kk):
        sm, se = 0.0, 0
        for j in range(p + 1, m):
            sm, se = _add(sm, se, Fm[p, j], Fe[p, j])
        if not (sm > 0.0):
            return p + 1
        ivm, ive = _norm(1.0 / sm, -se)
        for i in range(p + 1, m):
            cm, ce = _norm(Fm[i, p] * ivm, Fe[i, p] + ive)
            Fm[i, p], Fe[i, p] = cm, ce
            if cm != 0.0:
                for j in range(p + 1, m):
                    if j != i:
                        Fm[i, j], Fe[i, j] = _fma(cm, ce, Fm[p, j], Fe[p, j], Fm[i, j], Fe[i, j])
    return 0


@njit(cache=True)
def factor_extended(tree, rates, front_ptr, front_idx):
    """Multifrontal GTH over the whole postordered tree with an exponent per entry (the operations of
    :func:`srchain.gth.multifrontal.multifrontal_factor`, one thread, every block kept). Returns ``(status,
    bad_state, factor_ptr, fm, fe)``: the blocks ``fm · 2^fe`` laid out in postorder, status 1 on a zero pivot at
    the elimination position ``bad_state``."""
    own_start, own_end, nchild = tree
    indptr, indices, data, tptr, tind, tdat = rates
    nt = nchild.shape[0]
    n = own_end[nt - 1]
    factor_ptr = np.zeros(nt, dtype=np.int64)
    total = 0
    mmax = 1
    for t in range(nt):
        factor_ptr[t] = total
        m = front_ptr[t + 1] - front_ptr[t]
        total += m * (own_end[t] - own_start[t])
        mmax = max(mmax, m)
    fm = np.zeros(total)
    fe = np.zeros(total, dtype=np.int64)
    cap_idx, cap_val = _stack_depth(0, nt, tree, front_ptr, 0, 0, np.empty(0, dtype=np.int64))
    stack_idx = np.empty(max(cap_idx, 1), dtype=np.int64)
    stack_m = np.empty(max(cap_val, 1))
    stack_e = np.empty(max(cap_val, 1), dtype=np.int64)
    st_size = np.empty(nt + 1, dtype=np.int64)
    st_top = 0
    sp_idx = 0
    sp_val = 0
    pos = np.full(n, -1, dtype=np.int64)
    cpos = np.empty(mmax, dtype=np.int64)
    for t in range(nt):
        a = own_start[t]
        b = own_end[t]
        k = b - a
        f0 = front_ptr[t]
        m = front_ptr[t + 1] - f0
        idx = front_idx[f0 : f0 + m]
        for q in range(m):
            pos[idx[q]] = q
        Fm = np.zeros((m, m))
        Fe = np.zeros((m, m), dtype=np.int64)
        for q in range(k):
            v = a + q
            for e in range(indptr[v], indptr[v + 1]):
                j = indices[e]
                if j >= a and j != v:
                    x, y = _norm(data[e], 0)
                    Fm[q, pos[j]], Fe[q, pos[j]] = _add(Fm[q, pos[j]], Fe[q, pos[j]], x, y)
            for e in range(tptr[v], tptr[v + 1]):
                i = tind[e]
                if i >= b:
                    x, y = _norm(tdat[e], 0)
                    Fm[pos[i], q], Fe[pos[i], q] = _add(Fm[pos[i], q], Fe[pos[i], q], x, y)
        for _c in range(nchild[t]):
            st_top -= 1
            u = st_size[st_top]
            sp_idx -= u
            sp_val -= u * u
            for r in range(u):
                cpos[r] = pos[stack_idx[sp_idx + r]]
            for r in range(u):
                base = sp_val + r * u
                for s in range(u):
                    i, j = cpos[r], cpos[s]
                    Fm[i, j], Fe[i, j] = _add(Fm[i, j], Fe[i, j], stack_m[base + s], stack_e[base + s])
        status = front_eliminate_ext(Fm, Fe, k)
        if status != 0:
            return 1, idx[status - 1], factor_ptr, fm, fe
        g0 = factor_ptr[t]
        for r in range(m):
            for q in range(k):
                fm[g0 + r * k + q] = Fm[r, q]
                fe[g0 + r * k + q] = Fe[r, q]
        u = m - k
        for r in range(u):
            stack_idx[sp_idx + r] = idx[k + r]
            for s in range(u):
                stack_m[sp_val + r * u + s] = Fm[k + r, k + s]
                stack_e[sp_val + r * u + s] = Fe[k + r, k + s]
        sp_idx += u
        sp_val += u * u
        st_size[st_top] = u
        st_top += 1
        for q in range(m):
            pos[idx[q]] = -1
    return 0, -1, factor_ptr, fm, fe


@njit(cache=True, nogil=True)
def _front_solve_ext(mant, expo, w, top, idx, fm, fe, g0, k, m):
    """:func:`srchain.gth.multifrontal._front_solve_terms` with ``c = fm · 2^fe``: each term ``(mant_r ·
    c's mantissa) · 2^(expo_r + c's exponent)``, summed relative to the largest so far, one rounding each."""
    lo = -(2**62)
    for q in range(k):
        w[q] = 0.0
        top[q] = lo
    for t in range(m):
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
            cm = fm[base + q]
            if cm <= 0.0:
                continue
            x = mr * cm
            e = er + fe[base + q]
            if e > top[q]:
                if w[q] > 0.0:
                    w[q] = math.ldexp(w[q], max(top[q] - e, EXP_FLOOR))
                top[q] = e
            if e == top[q]:
                w[q] += x
            elif e - top[q] >= EXP_FLOOR:
                w[q] += math.ldexp(x, e - top[q])


@njit(cache=True)
def solve_extended(tree, front_ptr, front_idx, factor_ptr, fm, fe):
    """Back-substitution of :func:`factor_extended`'s factor: ``(mant, expo)`` with ``π ∝ mant · 2^expo``. A
    front whose ``c`` values are all float64 normals is solved as :func:`srchain.gth.multifrontal.solve_nodes`
    solves it (the same bits); the others with an exponent per term (:func:`_front_solve_ext`)."""
    own_start, own_end, _ = tree
    nt = own_start.shape[0]
    n = own_end[nt - 1]
    mant = np.zeros(n)
    expo = np.zeros(n, dtype=np.int64)
    mmax = 1
    bmax = 1
    for t in range(nt):
        m = front_ptr[t + 1] - front_ptr[t]
        mmax = max(mmax, m)
        bmax = max(bmax, m * (own_end[t] - own_start[t]))
    w = np.zeros(mmax)
    top = np.zeros(mmax, dtype=np.int64)
    block = np.zeros(bmax)
    for t in range(nt - 1, -1, -1):
        g0 = factor_ptr[t]
        k = own_end[t] - own_start[t]
        f0 = front_ptr[t]
        m = front_ptr[t + 1] - f0
        idx = front_idx[f0 : f0 + m]
        normal = True
        for x in range(m * k):
            if fm[g0 + x] != 0.0:
                e = fe[g0 + x]
                if e < _E_MIN or e > _E_MAX:
                    normal = False
                    break
                block[x] = math.ldexp(fm[g0 + x], e)
            else:
                block[x] = 0.0
        if normal:
            if not _front_solve(mant, expo, w, idx, block, 0, k, m):
                _front_solve_terms(mant, expo, w, top, idx, block, 0, k, m)
        else:
            _front_solve_ext(mant, expo, w, top, idx, fm, fe, g0, k, m)
    return mant, expo
