"""Certified decisions ``d_x(t) ≤ ε`` for the exact mixing time (Eq. 10), independent of BLAS, threads and machine.

The doubling of :mod:`srchain.mixing` and :mod:`srchain.mixing_gpu` forms ``P^t`` by BLAS (or cuBLAS) products,
whose sums run in an order of the library's own: the distances ``d_x(t) = ½‖P^t(x, ·) − π‖₁`` may differ in their
last bits between thread counts, kernels and devices. The integer ``t_mix`` is made independent of that:

* every computed product carries a rigorous bound on its row-L1 distance to the exact power of the given float64
  matrix ``P``. For ``Ĉ = fl(Â B̂)`` with any summation order (Higham, *Accuracy and Stability of Numerical
  Algorithms*, Eq. 3.13), ``|Ĉ − ÂB̂| ≤ γ_n |Â||B̂|`` with ``γ_n = nu/(1 − nu)``; with ``‖Â(x,·) − P^a(x,·)‖₁ ≤ f``,
  ``‖B̂(x,·) − P^b(x,·)‖₁ ≤ e`` and ``‖P^m(x, ·)‖₁ ≤ ρ^m`` (ρ the largest row sum of P, rounded up), the product's
  error is at most ``f·ρ^b + ρ^a·e + f·e + γ_n (ρ^a + f)(ρ^b + e)`` (:func:`product_bound`);
* a computed ``tv`` differs from the TV of the computed row by at most ``γ_{n+1}·½(‖row‖₁ + Σπ)``, and from the TV of
  the exact row by half the row's error more (:func:`tv_margin`);
* a start is decided "above ε" or "≤ ε" only when ``tv`` is farther from ε than that margin: then the decision is the
  one exact arithmetic takes, whatever the BLAS did. The starts left undecided (a near-tie) are decided by
  :func:`decide_starts`: ``e_x P^t`` evolved one step at a time in a fixed order in Numba (no BLAS, same bits on
  every machine) with its own rigorous bound; if even that leaves the tie open and the chain is tiny, in exact
  rational arithmetic; otherwise by the fixed-order value (deterministic, said in the result's note). An evolution
  longer than :data:`_EVOLVE_WORK` multiply-adds (a metastable chain's near-tie at t ~ 10⁸ took hours) is not run:
  the caller's float64 value decides, and the note says that the integer is then exact only up to the steps where
  ``d(t)`` lies within the rounding bound of ε (such a decision can differ between BLAS libraries).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import scipy.sparse as sp
from numba import njit

__all__ = [
    "gamma",
    "row_sum_bound",
    "product_bound",
    "tv_margin",
    "classify",
    "decide_starts",
    "d0_above",
    "tie_note",
]

_U = 2.0**-53  # unit roundoff of float64
_SAFE = 1.0 + 1e-12  # inflation of every bound, for the rounding in computing the bounds themselves
#: exact rational arithmetic for a near-tie only when the chain has at most this many nonzeros × steps
_EXACT_WORK = 200_000
#: the fixed-order evolution of near-ties runs only up to this many multiply-adds (starts × t × (nonzeros + n)):
#: a few seconds
_EVOLVE_WORK = 2e9


def gamma(n: int) -> float:
    """``γ_n = nu/(1 − nu)``: the relative error bound of an n-term float64 sum or dot product, in any order."""
    nu = n * _U
    return _SAFE * nu / (1.0 - nu)


def row_sum_bound(A: sp.csr_matrix) -> float:
    """ρ ≥ the largest exact row sum of the non-negative matrix A (its rows sum to 1 only up to rounding)."""
    deg = int(np.diff(A.indptr).max()) if A.nnz else 0
    if A.nnz == 0:
        return 0.0
    s = np.add.reduceat(np.abs(A.data), A.indptr[:-1][np.diff(A.indptr) > 0])
    return float(s.max()) * (1.0 + gamma(deg + 1))


def product_bound(f: float, sa: float, e: float, sb: float, n: int) -> float:
    """Row-L1 error bound of ``fl(Â B̂)`` (inner dimension n) against ``P^a P^b`` (see the module docstring):
    ``f``, ``e`` the bounds of Â and B̂, ``sa ≥ ρ^a`` and ``sb ≥ ρ^b``."""
    return _SAFE * (f * sb + sa * e + f * e + gamma(n) * (sa + f) * (sb + e))


def tv_margin(err, s: float, psum: float, n: int):
    """Half-width of the interval around a computed ``tv`` that holds the exact ``d_x(t)``: ``err/2`` (the row's
    error) plus the rounding of ``½Σ|m − π|`` (``γ_{n+1}·½(‖m‖₁ + Σπ)`` with ``‖m‖₁ ≤ s + err``)."""
    return _SAFE * (0.5 * err + gamma(n + 1) * 0.5 * (s + err + psum)) + 1e-300


def classify(tv: np.ndarray, margin, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """(above, below): starts certified to have ``d_x(t) > ε`` and ``d_x(t) ≤ ε``; the rest are undecided."""
    return tv - margin > eps, tv + margin <= eps


@njit(cache=True)
def _evolve(indptr, indices, data, starts, t, pi, rho, gam_c, gam_n):  # pragma: no cover - compiled
    """``e_x P^t`` for each start, one sparse step at a time in a fixed order; ``(tv, margin)`` per start, the TV of
    the computed row and a rigorous bound on its distance to the exact ``d_x(t)``."""
    n = pi.shape[0]
    psum = 0.0
    for y in range(n):
        psum += pi[y]
    tv = np.empty(starts.shape[0])
    mg = np.empty(starts.shape[0])
    for a in range(starts.shape[0]):
        v = np.zeros(n)
        v[starts[a]] = 1.0
        e = 0.0  # row-L1 distance of v to the exact row
        s = 1.0  # bound on the exact row's L1 norm
        for _ in range(t):
            w = np.zeros(n)
            for y in range(n):
                vy = v[y]
                if vy != 0.0:
                    for p in range(indptr[y], indptr[y + 1]):
                        w[indices[p]] += vy * data[p]
            e = (e * rho + gam_c * (s + e) * rho) * (1.0 + 1e-12)
            s *= rho * (1.0 + 1e-15)
            v = w
        acc = 0.0
        for y in range(n):
            acc += abs(v[y] - pi[y])
        tv[a] = 0.5 * acc
        mg[a] = (0.5 * e + gam_n * 0.5 * (s + e + psum)) * (1.0 + 1e-12) + 1e-300
    return tv, mg


def _exact_tv(A: sp.csr_matrix, x: int, t: int, pi: np.ndarray) -> Fraction:
    """``½‖e_x P^t − π‖₁`` in exact rational arithmetic (the float64 entries are exact dyadic rationals)."""
    n = A.shape[0]
    rows = [
        [(int(A.indices[p]), Fraction(float(A.data[p]))) for p in range(A.indptr[y], A.indptr[y + 1])] for y in range(n)
    ]
    v = {x: Fraction(1)}
    for _ in range(t):
        w: dict[int, Fraction] = {}
        for y, vy in v.items():
            for j, pj in rows[y]:
                w[j] = w.get(j, Fraction(0)) + vy * pj
        v = w
    return sum((abs(v.get(y, Fraction(0)) - Fraction(float(pi[y]))) for y in range(n)), Fraction(0)) / 2


def decide_starts(
    A: sp.csr_matrix, pi: np.ndarray, starts: np.ndarray, t: int, eps: float, stats: dict, tv_computed=None
) -> np.ndarray:
    """``d_x(t) > ε`` for each start x of a near-tie, decided without BLAS (see the module docstring).

    ``stats`` counts the decisions: ``"fixed_order"`` (certified by the fixed-order evolution), ``"rational"``
    (exact), ``"fixed_order_value"`` (the fixed-order value, deterministic but within its own bound of ε) and
    ``"float64_value"`` (``tv_computed``, the caller's values for the starts, where the evolution would take more
    than :data:`_EVOLVE_WORK` multiply-adds).
    """
    starts = np.asarray(starts, dtype=np.int64)
    if starts.size == 0:
        return np.zeros(0, dtype=bool)
    if tv_computed is not None and float(starts.size) * float(t) * float(A.nnz + A.shape[0]) > _EVOLVE_WORK:
        stats["float64_value"] = stats.get("float64_value", 0) + int(starts.size)
        return np.asarray(tv_computed, dtype=np.float64) > eps
    A = sp.csr_matrix(A, dtype=np.float64)
    A.sort_indices()
    n = A.shape[0]
    cdeg = int(np.bincount(A.indices, minlength=n).max()) if A.nnz else 0
    tv, mg = _evolve(
        A.indptr.astype(np.int64),
        A.indices.astype(np.int64),
        A.data,
        starts,
        int(t),
        np.ascontiguousarray(pi, dtype=np.float64),
        row_sum_bound(A),
        gamma(max(cdeg, 1)),
        gamma(n + 1),
    )
    above, below = classify(tv, mg, eps)
    out = above.copy()
    stats["fixed_order"] = stats.get("fixed_order", 0) + int(above.sum() + below.sum())
    for i in np.flatnonzero(~above & ~below):
        if A.nnz * int(t) <= _EXACT_WORK:
            out[i] = _exact_tv(A, int(starts[i]), int(t), pi) > Fraction(eps)
            stats["rational"] = stats.get("rational", 0) + 1
        else:
            out[i] = tv[i] > eps
            stats["fixed_order_value"] = stats.get("fixed_order_value", 0) + 1
    return out


def d0_above(pi: np.ndarray, eps: float) -> bool:
    """``d(0) = max_x ½‖δ_x − π‖₁ = ½(1 + Σπ) − π_min > ε``, in exact rational arithmetic."""
    total = sum((Fraction(float(p)) for p in pi), Fraction(0))
    return (1 + total) / 2 - Fraction(float(np.min(pi))) > Fraction(eps)


def tie_note(ties: dict) -> str:
    """The note's sentence on the near-ties :func:`decide_starts` decided ('' when there were none)."""
    if not ties:
        return ""
    note = ""
    if set(ties) - {"float64_value"}:
        note += (
            f"; near-ties of eps decided without BLAS: {ties.get('fixed_order', 0)} by certified fixed-order "
            f"evolution, {ties.get('rational', 0)} in exact rational arithmetic, {ties.get('fixed_order_value', 0)} "
            f"by the fixed-order value"
        )
    if ties.get("float64_value"):
        note += (
            f"; but {ties['float64_value']} near-tie decision(s) were taken by the float64 value (evolving those "
            f"starts one step at a time would take too long): the mixing time is exact up to the steps where d(t) "
            f"is within that rounding bound of eps, and such a decision may differ between BLAS libraries"
        )
    return note
