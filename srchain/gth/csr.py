"""CSR plumbing of the sparse GTH: the chain's transition graph without self-loops, and its rates relabelled in
elimination order."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["offdiag_csr", "relabel_split"]


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
def relabel_split(indptr, indices, data, newpos, own_start, own_end):
    """The off-diagonal rates relabelled by elimination position, each entry once, in the list of the state whose
    front reads it: the fields of :class:`srchain.gth.multifrontal.Rates`, with int32 indices.

    With ``B[newpos[i], newpos[j]] = A[i, j]`` and ``a(r)`` the first position owned by the separator-tree node
    (``own_start``/``own_end``) that owns position ``r``, an entry ``B[r, c]`` is read by the front of ``r``'s node
    when ``c ≥ a(r)`` (a rate out of an own state), and by the front of ``c``'s node otherwise (``c`` is then
    eliminated in an earlier node, and ``r`` lies beyond it: a rate into an own state). So the entries with
    ``c ≥ a(r)`` are stored in row ``r`` of the first CSR (``indptr``, ``indices``, ``data``), the others in row
    ``c`` of the second (``tptr``, ``tind``, ``tdat``, the transposed entries, sorted within rows): one copy of
    each rate instead of a matrix and its full transpose. Needs fewer than 2^31 states.
    """
    n = indptr.shape[0] - 1
    inv = np.empty(n, dtype=np.int32)
    for i in range(n):
        inv[newpos[i]] = i
    first = np.empty(n, dtype=np.int32)  # a(r): the first position of r's node
    for t in range(own_start.shape[0]):
        for r in range(own_start[t], own_end[t]):
            first[r] = own_start[t]
    optr = np.zeros(n + 1, dtype=np.int64)
    tptr = np.zeros(n + 1, dtype=np.int64)
    for r in range(n):
        i = inv[r]
        for e in range(indptr[i], indptr[i + 1]):
            c = newpos[indices[e]]
            if c >= first[r]:
                optr[r + 1] += 1
            else:
                tptr[c + 1] += 1
    for r in range(n):
        optr[r + 1] += optr[r]
        tptr[r + 1] += tptr[r]
    oind = np.empty(optr[n], dtype=np.int32)
    odat = np.empty(optr[n], dtype=np.float64)
    tind = np.empty(tptr[n], dtype=np.int32)
    tdat = np.empty(tptr[n], dtype=np.float64)
    nxt = tptr[:n].copy()
    for r in range(n):
        i = inv[r]
        o = optr[r]
        for e in range(indptr[i], indptr[i + 1]):
            c = newpos[indices[e]]
            if c >= first[r]:
                oind[o] = c
                odat[o] = data[e]
                o += 1
            else:
                tind[nxt[c]] = r
                tdat[nxt[c]] = data[e]
                nxt[c] += 1
    return optr, oind, odat, tptr, tind, tdat
