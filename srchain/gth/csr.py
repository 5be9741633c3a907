"""CSR plumbing of the sparse GTH: the chain's transition graph without self-loops, and its relabelled copies."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["offdiag_csr", "relabel_pair"]


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
