"""The exact jump-chain sampler of SR and R: geometric holding times, then a jump drawn from the row of P."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from srchain import pcg

__all__ = ["chain_jump", "jump_tables"]


@njit(cache=True, nogil=True)
def chain_jump(states, c, tables, start, steps, burn, counts):
    """Jump-chain sampler: at state i the chain stays a Geometric(q_i) − 1 further steps (q_i = 1 − P[i, i], the
    exact leaving probability) and then jumps to j ≠ i with probability P[i, j]/q_i. ``indptr, indices, cum`` is
    the off-diagonal part of P in CSR form with each row's cumulative sums normalised to end at 1. Counts the state
    after each step, as the step-by-step kernel.

    The holding time is ``H = ⌈E/λ_i⌉`` with ``E ~ Exp(1)`` and ``λ_i = −log(1 − q_i)`` (``mean_hold = 1/λ_i``,
    tabulated): ``P(H > n) = P(E > nλ_i) = (1 − q_i)^n``, the geometric law, for one ziggurat draw and no
    logarithm. The target is the number of cumulative sums at or below a uniform ``u`` (a branch-free count).

    ``tables = (indptr, indices, cum, leave, mean_hold)`` is the record :func:`jump_tables` returns."""
    indptr, indices, cum, leave, mean_hold = tables
    s = pcg.load(states, c)
    i = start
    t = 0  # the chain is at state i at time t
    total = burn + steps
    while t < total:
        q = leave[i]
        if q <= 0.0:
            h = total - t + 1  # absorbing: never leaves
        elif q >= 1.0:
            h = 1
        else:
            e, s = pcg.standard_exponential(s)
            hf = math.ceil(e * mean_hold[i])
            if hf < 1.0:
                hf = 1.0
            h = int(hf) if hf < 4e18 else total + 1
        # times t+1 .. min(t+h−1, total) are spent at i
        a = max(t + 1, burn + 1)
        b = min(t + h - 1, total)
        if b >= a:
            counts[i] += b - a + 1
        if t + h > total:
            break
        # jump at time t + h: the k-th off-diagonal entry, k = #{p < last : cum[p] <= u}
        u, s = pcg.next_double(s)
        lo = indptr[i]
        k = 0
        for p in range(lo, indptr[i + 1] - 1):
            k += u >= cum[p]
        t += h
        i = indices[lo + k]
        if t > burn:
            counts[i] += 1
    pcg.store(states, c, s)
    return i


def jump_tables(P):
    """The off-diagonal part of a transition matrix for :func:`chain_jump`: CSR ``indptr, indices`` of the
    positive off-diagonal entries, their cumulative sums per row normalised to 1, the leaving probabilities
    ``q_i`` and the mean holding scales ``1/λ_i = −1/log(1 − q_i)``."""
    import scipy.sparse as sp

    coo = sp.coo_matrix(P)
    n = coo.shape[0]
    keep = (coo.row != coo.col) & (coo.data > 0)
    off = sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=coo.shape)
    off.sort_indices()
    rows = np.repeat(np.arange(n), np.diff(off.indptr))
    leave = np.bincount(rows, weights=off.data, minlength=n)
    cs = np.cumsum(off.data)
    base = np.concatenate([[0.0], cs])[off.indptr[:-1]]
    cum = (cs - base[rows]) / leave[rows] if rows.size else cs
    with np.errstate(divide="ignore"):
        mean_hold = -1.0 / np.log1p(-np.clip(leave, 0.0, 1.0))  # 1/λ_i; q_i = 0 and q_i = 1 never read it
    return off.indptr.astype(np.int64), off.indices.astype(np.int64), cum, leave, mean_hold
