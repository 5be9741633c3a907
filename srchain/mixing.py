"""ε-mixing times (Eq. 10, Theorem 6): exact for small chains, spectral bounds for large ones.

Eq. 10 defines ``M_ε(α) = min{t : max_{x0} TV(P^t(x0, ·), π) ≤ ε}``, the worst start state's time to come within ε
of the stationary law. With ``d(t) = max_x ½‖P^t(x, ·) − π‖₁``:

* ``d`` is non-increasing, and so is each row's distance ``d_x(t)`` (``P^{t+1}(x, ·) − π = (P^t(x, ·) − π) P`` and
  P contracts the L1 norm). Hence bisection on t is valid, and a row with ``d_x(t) ≤ ε`` can be dropped from every
  later time.
* Exact method (``exact=True``): the powers ``P^{2^i}`` by repeated squaring (sparse while they stay sparse, then
  dense BLAS) until ``d(2^j) ≤ ε``, then bisection ``t = 2^{j−1} + …`` with the stored powers, evolving only the rows
  still above ε, and the last few steps by sparse one-step updates. Every start distribution is evolved exactly (in
  float64); nothing is sampled.
* Bounds (``exact=False``, ``mixing_time=None``) for larger chains, with ``λ*`` the largest modulus of an eigenvalue
  other than 1 and ``t_rel = 1/(1 − λ*)`` (Levin, Peres, Wilmer, *Markov Chains and Mixing Times*, Thm 12.4, 12.5):
  ``(t_rel − 1)·log(1/(2ε)) ≤ t_mix(ε)`` holds for every chain (|λ|^t ≤ 2d(t) for any eigenvalue λ ≠ 1);
  ``t_mix(ε) ≤ t_rel·log(1/(ε·π_min))`` needs reversibility; for a non-reversible chain the upper bound is
  reported as ``inf``, and it is ``inf`` too when ``π_min`` underflows to 0.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from srchain.errors import SrchainError

__all__ = ["MixingResult", "mixing_time", "tv_rows", "spectral_bounds", "is_reversible"]


@dataclass(frozen=True)
class MixingResult:
    """The ε-mixing time of Eq. 10, or bounds on it.

    Attributes
    ----------
    mixing_time : int or None
        Exact ``M_ε`` when ``exact``; ``None`` when only bounds are known.
    exact : bool
    relaxation_time : float or None
        ``1/(1 − λ*)`` (inf when the spectral gap is below float64 resolution; None when not computed).
    lower_bound, upper_bound : float or None
        Bounds on ``M_ε`` (for an exact result both equal ``mixing_time``).
    eps : float
    method : str
        "exact-doubling" or "spectral-bounds".
    seconds : float
    note : str
    """

    mixing_time: int | None
    exact: bool
    relaxation_time: float | None
    lower_bound: float | None
    upper_bound: float | None
    eps: float
    method: str
    seconds: float = 0.0
    note: str = ""

    def to_dict(self) -> dict:
        def num(v):
            return None if v is None else (v if isinstance(v, int) else (float(v) if math.isfinite(v) else str(v)))

        return {"mixing_time": self.mixing_time, "exact": self.exact, "relaxation_time": num(self.relaxation_time),
                "lower_bound": num(self.lower_bound), "upper_bound": num(self.upper_bound), "eps": self.eps,
                "method": self.method, "seconds": self.seconds, "note": self.note}


def tv_rows(M, pi) -> np.ndarray:
    """``½‖M[x, :] − π‖₁`` for every row x of the dense matrix ``M``."""
    M = np.asarray(M, dtype=np.float64)
    return 0.5 * np.abs(M - np.asarray(pi, dtype=np.float64)[None, :]).sum(axis=1)


def _csr(P) -> sp.csr_matrix:
    if hasattr(P, "P") and not isinstance(P, np.ndarray):
        P = P.P
    A = sp.csr_matrix(P, dtype=np.float64)
    if A.shape[0] != A.shape[1]:
        raise SrchainError(f"a transition matrix must be square, got shape {A.shape}")
    return A


def _mul(A, B):
    """Product of two powers, staying sparse while the result is sparse (< 15% filled)."""
    if sp.issparse(A) and sp.issparse(B):
        n = A.shape[0]
        # upper bound on the product's nonzeros: Σ_k (nonzeros in column k of A)·(nonzeros in row k of B)
        bound = float(np.dot(np.bincount(A.indices, minlength=n).astype(float), np.diff(B.indptr).astype(float)))
        if bound > 0.3 * n * n:
            return A.toarray() @ B.toarray()
        C = (A @ B).tocsr()
        if C.nnz < 0.15 * C.shape[0] * C.shape[1]:
            return C
        return C.toarray()
    A = A.toarray() if sp.issparse(A) else A
    return A @ B if not sp.issparse(B) else np.asarray((B.T @ A.T).T)


def _rows_tv(M, pi, rows=None) -> np.ndarray:
    if sp.issparse(M):
        sub = M if rows is None else M[rows]
        sub = sub.tocsr()
        # ½ Σ_y |M − π| = ½(Σ_{y in row} (|M − π| − π) + Σ_y π) = ½(1 + Σ_{y in row}(|M − π| − π_y))
        out = np.empty(sub.shape[0])
        for r in range(sub.shape[0]):
            s, e = sub.indptr[r], sub.indptr[r + 1]
            cols = sub.indices[s:e]
            out[r] = 0.5 * (pi.sum() + np.sum(np.abs(sub.data[s:e] - pi[cols]) - pi[cols]))
        return out
    sub = M if rows is None else M[rows]
    return tv_rows(sub, pi)


def _exact(A: sp.csr_matrix, pi: np.ndarray, eps: float, max_steps: int) -> int:
    n = A.shape[0]
    d1 = _rows_tv(A, pi)
    if d1.max() <= eps:
        # t = 0 has d(0) = max_x (1 − π(x)) > ε unless n is tiny; t_mix ≥ 1 by convention of Eq. 10 (t ≥ 0).
        return 0 if (1.0 - pi.min()) <= eps else 1
    powers = [A if A.nnz < 0.05 * n * n else A.toarray()]  # powers[i] = P^(2^i)
    dvals = [d1]
    while True:
        if 2 ** len(powers) > max_steps:
            raise SrchainError(f"the chain has not mixed to eps={eps:g} after {max_steps} steps; raise max_steps or "
                               f"use the spectral bounds")
        Q = _mul(powers[-1], powers[-1])
        d = _rows_tv(Q, pi)
        powers.append(Q)
        dvals.append(d)
        if d.max() <= eps:
            break
    j = len(powers) - 1  # d(2^j) ≤ ε < d(2^(j−1))
    t = 2 ** (j - 1)
    alive = np.flatnonzero(dvals[j - 1] > eps)  # rows above ε at time t (only they can stay above ε later)
    X = powers[j - 1]
    X = X[alive].toarray() if sp.issparse(X) else X[alive]
    for i in range(j - 2, -1, -1):  # try to add 2^i steps while staying above ε
        step = 2 ** i
        if step <= 16:
            # cheap now: finish by one-step sparse updates, evolving only the surviving rows
            At = A.T.tocsr()
            while True:
                Y = np.asarray((At @ X.T).T)
                dy = tv_rows(Y, pi)
                if dy.max() <= eps:
                    return t + 1
                keep = dy > eps
                X = Y[keep]
                t += 1
        B = powers[i]
        Y = np.asarray(B.T @ X.T).T if sp.issparse(B) else X @ B
        dy = tv_rows(Y, pi)
        if dy.max() > eps:
            keep = dy > eps
            X = Y[keep]
            t += step
    return t + 1


def is_reversible(P, pi, rtol: float = 1e-9) -> bool:
    """Detailed balance ``π_x P(x, y) = π_y P(y, x)`` on every edge, to relative tolerance ``rtol``."""
    A = _csr(P)
    F = sp.diags(np.asarray(pi, dtype=np.float64)) @ A
    D = abs(F - F.T)
    S = F + F.T
    D = D.tocsr()
    if D.nnz == 0:
        return True
    S = S.tocsr()
    return bool(np.all(np.asarray(D[D.nonzero()]).ravel() <= rtol * np.asarray(S[D.nonzero()]).ravel()))


def spectral_bounds(P, pi, eps: float = 0.25) -> tuple[float, float, float, str]:
    """``(t_rel, lower, upper, note)``: relaxation time and the bounds of LPW Thm 12.4/12.5 (see module)."""
    from scipy.sparse.linalg import eigs

    A = _csr(P)
    n = A.shape[0]
    if n <= 600:
        vals = np.linalg.eigvals(A.toarray())
    else:
        try:
            vals = eigs(A.T.tocsc(), k=min(6, n - 2), which="LM", return_eigenvectors=False, tol=1e-12,
                        maxiter=20 * n)
        except Exception:  # ARPACK failed to converge
            vals = np.array([1.0, 1.0])
    vals = np.asarray(vals)
    order = np.argsort(-np.abs(vals))
    vals = vals[order]
    one = int(np.argmin(np.abs(vals - 1.0)))
    rest = np.delete(vals, one)
    lam = float(np.abs(rest).max()) if rest.size else 0.0
    note = []
    if lam >= 1.0 - 1e-15:
        t_rel = math.inf
        note.append("the spectral gap is below float64 resolution (metastable chain): t_rel = inf")
    else:
        t_rel = 1.0 / (1.0 - lam)
    lower = max(0.0, (t_rel - 1.0) * math.log(1.0 / (2.0 * eps))) if math.isfinite(t_rel) else math.inf
    pmin = float(np.min(pi))
    if not is_reversible(A, pi):
        upper = math.inf
        note.append("not reversible: no spectral upper bound (LPW Thm 12.4 needs reversibility)")
    elif pmin <= 0.0:
        upper = math.inf
        note.append("π_min underflows to 0, so the upper bound t_rel·log(1/(ε π_min)) is infinite")
    else:
        upper = t_rel * math.log(1.0 / (eps * pmin))
    return t_rel, lower, upper, "; ".join(note)


def mixing_time(P, eps: float = 0.25, pi=None, max_exact_states: int = 10_000,
                max_steps: int = 10 ** 9) -> MixingResult:
    """The ε-mixing time of Eq. 10 (exact up to ``max_exact_states`` states) or spectral bounds on it.

    Parameters
    ----------
    P : sparse matrix, array or Operator
        Row-stochastic, irreducible and aperiodic.
    eps : float
        0 < ε < 1.
    pi : array, optional
        The stationary law (computed with :func:`srchain.stationary.stationary` if omitted).
    max_exact_states : int
        Chains up to this size get the exact value; larger ones get bounds (``exact=False``,
        ``mixing_time=None``).
    max_steps : int
        Give up (SrchainError) if the chain has not mixed within this many steps.

    Returns
    -------
    MixingResult

    Examples
    --------
    >>> import numpy as np
    >>> mixing_time(np.array([[0.5, 0.5], [0.5, 0.5]])).mixing_time
    1
    """
    t0 = time.perf_counter()
    if not (isinstance(eps, (int, float)) and 0.0 < eps < 1.0):
        raise SrchainError(f"eps must be in (0, 1), got {eps!r}")
    A = _csr(P)
    if pi is None:
        from srchain.stationary import stationary

        pi = stationary(A).pi
    pi = np.asarray(pi, dtype=np.float64)
    if pi.shape != (A.shape[0],):
        raise SrchainError(f"pi has {pi.size} entries but the chain has {A.shape[0]} states")
    n = A.shape[0]
    if n <= max_exact_states:
        t = _exact(A, pi, float(eps), int(max_steps))
        return MixingResult(mixing_time=int(t), exact=True, relaxation_time=None, lower_bound=float(t),
                            upper_bound=float(t), eps=float(eps), method="exact-doubling",
                            seconds=time.perf_counter() - t0)
    t_rel, lo, hi, note = spectral_bounds(A, pi, eps)
    return MixingResult(mixing_time=None, exact=False, relaxation_time=t_rel, lower_bound=lo, upper_bound=hi,
                        eps=float(eps), method="spectral-bounds", seconds=time.perf_counter() - t0, note=note)
