"""ε-mixing times (Eq. 10, Theorem 6): exact for small chains, spectral bounds for large ones.

Eq. 10 defines ``M_ε(α) = min{t : max_{x0} TV(P^t(x0, ·), π) ≤ ε}``, the worst start state's time to come within ε
of the stationary law. With ``d(t) = max_x ½‖P^t(x, ·) − π‖₁``:

* ``d`` is non-increasing, and so is each row's distance ``d_x(t)`` (``P^{t+1}(x, ·) − π = (P^t(x, ·) − π) P`` and
  P contracts the L1 norm). Hence bisection on t is valid, and a row with ``d_x(t) ≤ ε`` can be dropped from every
  later time.
* Exact method (``exact=True``): the powers ``Q_k = P^{2^k}`` by repeated squaring (sparse while they stay sparse,
  then dense BLAS), keeping only the starts still above ε, until none is left at ``2^{K+1}``; then a greedy binary
  search from the top bit: ``t = 2^K``, and for ``k = K−1 … 0`` the surviving rows of ``P^t`` times ``Q_k`` decide
  whether ``t += 2^k``; ``t_mix = t + 1``. Every start distribution is evolved (in float64); nothing is sampled.
* Compression (chains of ≥ 1500 states): the powers of lattice chains are smoothing kernels, numerically of low
  rank (a few hundred, falling to the number of metastable basins). At the first level where a randomized range
  finder finds rank ≤ n/8, ``Q_k`` is replaced by ``U V`` and its row-L1 residual ``‖Q_k(x,·) − U(x)V‖₁`` is
  computed exactly for every row; later squarings are done in factored form, O(nρ²), with the error bound
  propagated rigorously (``err' = err + (1 + err)·max err + dropped``). A decision is taken only when the TV of
  every row involved is farther from ε than half its error bound plus a float64 allowance; otherwise the whole
  computation is redone without compression. The bound is reported in ``MixingResult.note``. Past compression a
  level needs only one start certified above ε: the starts farthest from π at the last full pass are tried first
  (their rows cost O(nρ) each, where all n rows cost O(n²ρ)), and the starts are pruned once, at ``2^K``.
* Certified decisions (:mod:`srchain.mixing_cert`): every product carries a rigorous bound on its float64
  rounding, and a start whose computed distance lies within that bound of ε is decided without BLAS (fixed-order
  Numba evolution, exact rationals on tiny chains), so the integer is the same under any BLAS, thread count or
  device.
* Bounds (``exact=False``, ``mixing_time=None``) for larger chains, with ``λ*`` the largest modulus of an eigenvalue
  other than 1 and ``t_rel = 1/(1 − λ*)`` (Levin, Peres, Wilmer, *Markov Chains and Mixing Times*, Thm 12.4, 12.5):
  ``(t_rel − 1)·log(1/(2ε)) ≤ t_mix(ε)`` holds for every chain (|λ|^t ≤ 2d(t) for any eigenvalue λ ≠ 1);
  ``t_mix(ε) ≤ t_rel·log(1/(ε·π_min))`` needs reversibility; for a non-reversible chain the upper bound is
  reported as ``inf``, and it is ``inf`` too when ``π_min`` underflows to 0.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from srchain.budget import check_memory
from srchain.errors import NotMixed, SrchainError
from srchain.mixing_cert import (
    classify,
    d0_above,
    decide_starts,
    product_bound,
    row_sum_bound,
    tie_note,
    tv_margin,
)
from srchain.mixing_powers import (
    _compress,
    _Pow,
    _pow_bytes,
    _square,
    _square_dense,
    _tv_of,
    sparse_pays,
    tv_rows,
    worth_compressing,
)
from srchain.mixing_symmetry import Orbits, SymPow, flush_bound, split_by

if TYPE_CHECKING:
    from srchain.stationary import Chain

__all__ = ["MixingResult", "mixing_time", "tv_rows", "spectral_bounds", "is_reversible"]


@dataclass(frozen=True)
class MixingResult:
    r"""The :math:`\varepsilon`-mixing time of Eq. 10, or bounds on it.

    Attributes
    ----------
    mixing_time : int or None
        Exact :math:`M_\varepsilon` when ``exact``; ``None`` when only bounds are known.
    exact : bool
    relaxation_time : float or None
        :math:`t_{\mathrm{rel}} = 1/(1 - \lambda_*)` (inf when the spectral gap is below float64 resolution; None
        when not computed).
    lower_bound, upper_bound : float or None
        Bounds on :math:`M_\varepsilon` (for an exact result both equal ``mixing_time``).
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

        return {
            "mixing_time": self.mixing_time,
            "exact": self.exact,
            "relaxation_time": num(self.relaxation_time),
            "lower_bound": num(self.lower_bound),
            "upper_bound": num(self.upper_bound),
            "eps": self.eps,
            "method": self.method,
            "seconds": self.seconds,
            "note": self.note,
        }


def _csr(P) -> sp.csr_matrix:
    if hasattr(P, "P") and not isinstance(P, np.ndarray):
        P = P.P
    A = sp.csr_matrix(P, dtype=np.float64)
    if A.shape[0] != A.shape[1]:
        raise SrchainError(f"a transition matrix must be square, got shape {A.shape}")
    return A


# ---------------------------------------------------------------------------------------------------------------
# Exact path: the powers P^(2^k) (sparse, dense or certified low rank) are srchain.mixing_powers'.
# ---------------------------------------------------------------------------------------------------------------
_SLACK = 1e-11  # margin for float64 rounding in decisions made with an approximate (err > 0) power
_RANK_DIV = 8  # compress only when the numerical rank is at most n / _RANK_DIV
_WITNESSES = 16  # starts tried first at each low-rank level: one of them certified above ε decides the level


class _Ambiguous(Exception):
    """A TV value of a compressed power lies within its error bound of ε: redo the decision exactly."""


def _exact(
    A: sp.csr_matrix,
    pi: np.ndarray,
    eps: float,
    max_steps: int,
    compress: bool = True,
    min_compress_states: int = 1500,
    max_bytes: float | None = None,
    stages: list | None = None,
    orbits: Orbits | None = None,
):
    """Worst-start t_mix(ε) (Eq. 10) by doubling and a greedy binary search from the top bit.

    Phase 1: Q_k ≈ P^(2^k) by squaring; ``alive`` holds the starts with d_x(2^k) > ε (a start found ≤ ε is
    dropped for good, d_x being non-increasing), until no start is alive at 2^(K+1): t_mix ∈ (2^K, 2^(K+1)]. A
    low-rank level where one of the ``_WITNESSES`` starts farthest at the last full pass is certified above ε keeps
    ``alive`` as it is (a superset), and ``alive`` is pruned at 2^K before phase 2.
    Phase 2: t = 2^K, M = rows of P^t of the alive starts; for k = K−1 … 0 try C = M·Q_k and accept t += 2^k when
    some start is still above ε, keeping only those starts. Then t_mix = t + 1.

    Every decision is certified against the exact powers of the given float64 P (:mod:`srchain.mixing_cert`):
    ``rb[k]`` bounds the row-L1 rounding error of Q_k, ``sb[k] ≥ ρ^(2^k)`` the exact rows' L1 norms; a start
    within the bound of ε is decided by :func:`srchain.mixing_cert.decide_starts` (no BLAS) on the exact forms,
    and raises ``_Ambiguous`` (redo uncompressed) on a compressed one. Returns (t_mix, info dict).

    ``orbits`` (of a symmetry σ of P, :mod:`srchain.mixing_symmetry`): the powers are held as their two blocks,
    a quarter of the multiply-adds; P's distance to the symmetric surrogate is the first power's error bound, and
    the inner dimension of every rounding bound is taken as n + 16 (two block products of inner dimensions p + f
    and p, n = 2p + f, plus the sums, differences and halvings around them: fewer than 16 roundings a term).

    ``stages``, when a list, receives one ``(stage, form, rows, seconds, system_seconds)`` tuple per step (each
    squaring, each compression attempt, each product of the binary search), for profiling; it changes nothing else.
    """
    n = A.shape[0]
    psum = float(pi.sum())
    info: dict[str, Any] = {
        "compressed_at": None,
        "rank": None,
        "err": 0.0,
        "dense_products": 0,
        "ties": {},
        "margin": 0.0,
    }
    rho = row_sum_bound(A)
    sym = orbits is not None
    nb = n + 16 if sym else n  # inner dimension of the rounding bounds (docstring)
    r_flush = flush_bound(n) if sym else 0.0  # what the split path's flushes of tiny entries move, per product
    clock = [time.perf_counter(), os.times().system]

    def stage(name: str, form: str, rows: int) -> None:
        if stages is not None:
            now, system = time.perf_counter(), os.times().system
            stages.append((name, form, int(rows), round(now - clock[0], 4), round(system - clock[1], 3)))
            clock[0], clock[1] = now, system

    def decide(tv, margin, starts, t, lowrank):
        """Every start decided: certified, else by the fixed-order fallback (exact forms only)."""
        above, below = classify(tv, margin, eps)
        if not lowrank:
            info["margin"] = max(info["margin"], float(np.max(margin)))
        und = ~above & ~below
        if und.any():
            if lowrank:
                raise _Ambiguous
            above = above.copy()
            above[und] = decide_starts(A, pi, starts[und], t, eps, info["ties"], tv[und])
        return above

    def lowrank_margin(Qx, idx, r, s):
        """Half-width around the computed TVs of rows ``idx`` of the low-rank power Qx (rounding bound r, row norms
        ≤ s): its residuals, the rounding, and the float64 allowance of a low-rank decision."""
        return tv_margin(r + Qx.err[idx], s, psum, nb) + _SLACK

    def tv_of(Qx, idx):
        return Qx.tv(idx, pi) if sym else _tv_of(Qx, idx, pi, psum)[0]

    r0 = 0.0
    Q: Any  # a _Pow, or a SymPow of the two blocks (the same interface where the loop below uses either)
    if orbits is not None:
        Q, r0 = SymPow.of(A, orbits)
        info["symmetry"] = (int(orbits.pairs + orbits.fixed.size), int(orbits.pairs))
        info["asymmetry"] = r0
    else:
        Q = _Pow("sparse", S=A) if sparse_pays(A) else _Pow("dense", D=A.toarray())
    # d_x(1) from P's own rows (sparse: one pass over its nonzeros), whichever form the powers take
    tv, _ = _tv_of(_Pow("sparse", S=A), np.arange(n), pi, psum)
    above = decide(tv, tv_margin(0.0, rho, 3.0 * psum, n), np.arange(n), 1, False)
    r0 += r_flush
    if not above.any():
        return (1 if d0_above(pi, eps) else 0), info
    rng = np.random.default_rng(0)
    r_max = max(8, n // _RANK_DIV)
    try_compress = compress and n >= min_compress_states  # below that, dense BLAS is faster than compressing
    powers: list[Any] = [Q]
    rb, sb = [r0], [rho]
    alive = np.flatnonzero(above)
    witness = None  # positions in ``alive`` of the largest distances found by the last full pass over them
    stale = False  # ``alive`` may still hold starts already ≤ ε (levels decided by a witness): pruned at the end
    while True:
        if 2 ** len(powers) > max_steps:  # (the last power kept was certified above ε for a start)
            raise NotMixed(eps, max_steps, 2 ** (len(powers) - 1))
        Q = powers[-1]
        r2 = product_bound(rb[-1], sb[-1], rb[-1], sb[-1], nb) + r_flush
        s2 = sb[-1] * sb[-1] * (1.0 + 1e-15)
        t2 = 2 ** len(powers)
        if not sym and Q.kind == "dense":
            info["dense_products"] += 1
            # few starts alive: their rows first (if they are all mixed, the rest of the square is never needed);
            # most alive: the whole square at once (rows first would copy them, their product and the rest: three
            # n × n arrays of fresh memory where one suffices)
            if 2 * alive.size > n:
                D, C = _square_dense(Q.D), None
                tvc = tv_rows(D, pi, alive)
            else:
                D, C = None, Q.D[alive] @ Q.D
                tvc = tv_rows(C, pi)
            above = decide(tvc, tv_margin(r2, s2, psum, n), alive, t2, False)
            if not above.any():
                stage(f"square P^{t2}", "dense", alive.size)
                break
            if D is None:
                D = np.empty_like(Q.D)
                D[alive] = C
                rest = np.setdiff1d(np.arange(n), alive, assume_unique=True)
                if rest.size:
                    D[rest] = Q.D[rest] @ Q.D
            Q2: Any = _Pow("dense", D=D)
        else:
            Q2 = Q.square() if sym else _square(Q)
            if Q2.kind in ("dense", "mixed"):
                info["dense_products"] += 1
            if Q2.kind == "lowrank" and witness is not None:
                # d(t2) > ε as soon as one start is certified above ε: the rows with the largest distances last
                # time are tried first, and the full pass (n explicit rows of the low-rank power) is skipped when
                # one of them is (``alive`` then keeps starts that may be ≤ ε: harmless, pruned before the search)
                tvw = tv_of(Q2, alive[witness])
                hit, _ = classify(tvw, lowrank_margin(Q2, alive[witness], r2, s2), eps)
                if hit.any():
                    info["err"] = max(info["err"], float(Q2.err[alive].max()))
                    stage(f"square P^{t2} (witness)", Q2.kind, witness.size)
                    stale = True
                    powers.append(Q2)
                    rb.append(r2)
                    sb.append(s2)
                    continue
            tvc = tv_of(Q2, alive)
            if Q2.kind == "lowrank":
                margin = lowrank_margin(Q2, alive, r2, s2)
            else:
                margin = tv_margin(r2, s2, 3.0 * psum if Q2.kind == "sparse" and not sym else psum, nb)
            above = decide(tvc, margin, alive, t2, Q2.kind == "lowrank")
            if not above.any():
                stage(f"square P^{t2}", Q2.kind, alive.size)
                break
        witness = np.argsort(-tvc[above], kind="stable")[:_WITNESSES]
        stale = False
        if Q2.kind == "lowrank":
            info["err"] = max(info["err"], float(Q2.err[alive].max()))
        stage(f"square P^{t2}", Q2.kind, alive.size)
        alive = alive[above]
        if try_compress and (Q2.compressible() if sym else worth_compressing(Q2)):
            L: Any = Q2.compress(_RANK_DIV, rng) if sym else _compress(Q2, r_max, rng)
            stage(f"compress P^{t2}", "lowrank" if L is not None else "refused", n)
            if L is not None:
                Q2 = L
                info["compressed_at"] = len(powers)
                info["rank"] = L.rank if sym else int(L.U.shape[1])
                try_compress = False
        powers.append(Q2)
        rb.append(r2)
        sb.append(s2)
        # the powers kept for the binary search, plus room for one more dense square and its product
        check_memory(
            sum(q.nbytes() if sym else _pow_bytes(q) for q in powers) + 2 * 8.0 * n * n,
            max_bytes,
            f"the exact mixing time of {n} states (P^(2^k) for k <= {len(powers)} kept)",
            "use fewer states (max_exact_states) for spectral bounds, or a larger alpha",
        )
    K = len(powers) - 1
    t = 2**K
    QK = powers[K]
    if stale:  # drop the starts certified ≤ ε at 2^K (one that is not certified either way stays: a superset is safe)
        tvk = tv_of(QK, alive)
        _, below = classify(tvk, lowrank_margin(QK, alive, rb[K], sb[K]), eps)
        alive = alive[~below]
        stage(f"prune at P^{t}", QK.kind, below.size)
    M = QK.rows(alive)
    starts = alive
    f = QK.err[alive] if QK.err is not None else np.zeros(len(alive))  # compression residuals (row-L1)
    fr, st = rb[K], sb[K]  # rounding bound of M, and ρ^t
    for k in range(K - 1, -1, -1):
        B = powers[k]
        C = B.rmul(M)
        if B.kind in ("dense", "mixed"):
            info["dense_products"] += 1
        fc = f + (B.abs_err(M) if sym else (np.abs(M) @ B.err if B.err is not None else 0.0))
        frc = product_bound(fr, st, rb[k], sb[k], nb) + r_flush
        stc = st * sb[k] * (1.0 + 1e-15)
        lowrank = bool(fc.max() > 0.0)
        margin = tv_margin(frc + fc, stc, psum, nb) + (_SLACK if lowrank else 0.0)
        if lowrank:
            info["err"] = max(info["err"], float(fc.max()))
        above = decide(C.tv(pi) if sym else tv_rows(C, pi), margin, starts, t + 2**k, lowrank)
        stage(f"search x P^{2**k}", B.kind, len(starts))
        if above.any():  # d(t + 2^k) > ε: keep only the starts still above ε
            M, f, starts, t = C[above], fc[above], starts[above], t + 2**k
            fr, st = frc, stc
    return t + 1, info


def is_reversible(P, pi, rtol: float = 1e-9) -> bool:
    r"""Detailed balance :math:`\pi_x P(x, y) = \pi_y P(y, x)` on every edge, to relative tolerance ``rtol``."""
    A = _csr(P)
    F = sp.diags(np.asarray(pi, dtype=np.float64)) @ A
    D = abs(F - F.T)
    S = F + F.T
    D = D.tocsr()
    if D.nnz == 0:
        return True
    S = S.tocsr()
    return bool(np.all(np.asarray(D[D.nonzero()]).ravel() <= rtol * np.asarray(S[D.nonzero()]).ravel()))


#: Up to this many states all eigenvalues come from dense LAPACK (faster than ARPACK there, and never fails).
_DENSE_EIG_MAX = 600


def spectral_bounds(P, pi, eps: float = 0.25) -> tuple[float, float, float, str]:
    r"""``(t_rel, lower, upper, note)``: relaxation time and the bounds of LPW Thm 12.4/12.5 (see module).

    With :math:`\lambda_*` the largest modulus of an eigenvalue other than 1 and
    :math:`t_{\mathrm{rel}} = 1/(1 - \lambda_*)`,

    .. math::

        (t_{\mathrm{rel}} - 1)\log\frac{1}{2\varepsilon} \;\le\; t_{\mathrm{mix}}(\varepsilon)
        \;\le\; t_{\mathrm{rel}}\log\frac{1}{\varepsilon\,\pi_{\min}} .

    The lower bound holds for every chain; the upper one needs reversibility, and is ``inf`` for a
    non-reversible chain or when :math:`\pi_{\min}` underflows to 0.
    """
    from scipy.sparse.linalg import eigs

    A = _csr(P)
    n = A.shape[0]
    if n <= _DENSE_EIG_MAX:
        vals = np.linalg.eigvals(A.toarray())
    else:
        try:
            # a fixed start vector: ARPACK's own random one changes from call to call within a process
            v0 = np.random.default_rng(0).random(n)
            vals = eigs(
                A.T.tocsc(), k=min(6, n - 2), which="LM", return_eigenvectors=False, tol=1e-12, maxiter=20 * n, v0=v0
            )
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


def mixing_time(
    P: Chain,
    eps: float = 0.25,
    pi: ArrayLike | None = None,
    max_exact_states: int = 10_000,
    max_steps: int = 10**9,
    max_bytes: float | None = None,
    device: str | None = None,
    symmetry: bool | ArrayLike = True,
    shape: tuple | None = None,
) -> MixingResult:
    r"""The :math:`\varepsilon`-mixing time of Eq. 10 (exact up to ``max_exact_states`` states) or spectral bounds
    on it.

    .. math::

        M_\varepsilon(\alpha) = \min\Big\{t : \max_{x_0} \mathrm{TV}\big(P^t(x_0, \cdot), \pi\big) \le \varepsilon\Big\}

    is the worst start state's time to come within :math:`\varepsilon` of the stationary law :math:`\pi`
    (Theorem 6: it grows like :math:`1/\alpha` for SR).

    Parameters
    ----------
    P : sparse matrix, array or Operator
        Row-stochastic, irreducible and aperiodic.
    eps : float
        :math:`0 < \varepsilon < 1`.
    pi : array, optional
        The stationary law (computed with :func:`srchain.stationary.stationary` if omitted).
    max_exact_states : int
        Chains up to this size get the exact value; larger ones get bounds (``exact=False``,
        ``mixing_time=None``).
    max_steps : int
        Give up (:class:`srchain.errors.NotMixed`, a SrchainError that carries the last step certified unmixed)
        if the chain has not mixed within this many steps.
    max_bytes : float, optional
        Refuse (SrchainError) when the exact method's powers would exceed this many bytes: three dense
        ``n × n`` arrays up front, then the powers kept so far at every doubling.
    device : str, optional
        "cuda", "cuda:1" or "cpu": run the exact path as dense float64 doubling with torch on that device
        (:mod:`srchain.mixing_gpu`; ``method="exact-doubling-torch"``). None (the default) keeps the NumPy path
        and does not import torch.
    symmetry : bool or array of int
        True (the default): from 800 states on, look for the reversal of the lattice's axes (w₁ ↔ w₂ on a square
        2-D lattice) among P's symmetries, using ``shape`` or the Operator's lattice, and if P commutes with it up
        to float64 rounding, split its powers into two blocks (:mod:`srchain.mixing_symmetry`; the same certified
        integer, a quarter of the multiply-adds). An involution of the states (a permutation σ with σ∘σ = id) is
        checked and used instead, at any size; False never splits.
    shape : tuple, optional
        States per axis, when P is a bare matrix on a lattice.

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
    orbits = split_by(A, P, symmetry, shape) if n <= max_exact_states and device is None else None
    if n <= max_exact_states and device is not None:
        from srchain.mixing_gpu import exact_mixing_torch

        t, info = exact_mixing_torch(A, pi, float(eps), int(max_steps), device=device, max_bytes=max_bytes)
        note = (
            f"dense float64 doubling with torch on {info['device']}: {info['dense_products']} products; every "
            f"decision certified against float64 rounding to +-{info['margin']:.1e} in TV"
        )
        note += tie_note(info["ties"])
        if info["dropped"] or info["moved"]:
            note += f"; {info['moved']} power moves to host memory, powers {info['dropped']} dropped and recomputed"
        return MixingResult(
            mixing_time=int(t),
            exact=True,
            relaxation_time=None,
            lower_bound=float(t),
            upper_bound=float(t),
            eps=float(eps),
            method="exact-doubling-torch",
            seconds=time.perf_counter() - t0,
            note=note,
        )
    if n <= max_exact_states:
        check_memory(
            3 * 8.0 * n * n,
            max_bytes,
            f"the exact mixing time of {n} states (dense n × n powers)",
            "use fewer states (max_exact_states) for spectral bounds",
        )
        try:
            t, info = _exact(A, pi, float(eps), int(max_steps), max_bytes=max_bytes, orbits=orbits)
            note = (
                f"path: dense doubling ({info['dense_products']} dense products; "
                + ("below 1500 states compression does not pay" if n < 1500 else "no power had low enough rank")
                + f"; every decision certified against float64 rounding to +-{info['margin']:.1e} in TV)"
            )
            if info["compressed_at"] is not None:
                note = (
                    f"path: certified compressed doubling; powers from P^{2 ** info['compressed_at']} on held in "
                    f"certified low rank "
                    f"(rank {info['rank']} there); every decision certified with row-L1 error <= "
                    f"{info['err']:.1e} (TV error <= half that) plus {_SLACK:g} for float64 rounding"
                )
        except _Ambiguous:
            t, info = _exact(A, pi, float(eps), int(max_steps), compress=False, max_bytes=max_bytes, orbits=orbits)
            note = (
                "path: dense doubling (a compressed decision was within its error bound of eps: recomputed "
                f"without compression; every decision certified against float64 rounding to +-{info['margin']:.1e} "
                "in TV)"
            )
        if "symmetry" in info:
            note += (
                f"; P commutes with a symmetry of the lattice (up to {info['asymmetry']:.1e} in row L1, carried in the "
                f"bounds): its powers split into blocks of {info['symmetry'][0]} and {info['symmetry'][1]} states"
            )
        note += tie_note(info["ties"])
        return MixingResult(
            mixing_time=int(t),
            exact=True,
            relaxation_time=None,
            lower_bound=float(t),
            upper_bound=float(t),
            eps=float(eps),
            method="exact-doubling",
            seconds=time.perf_counter() - t0,
            note=note,
        )
    t_rel, lo, hi, note = spectral_bounds(A, pi, eps)
    return MixingResult(
        mixing_time=None,
        exact=False,
        relaxation_time=t_rel,
        lower_bound=lo,
        upper_bound=hi,
        eps=float(eps),
        method="spectral-bounds",
        seconds=time.perf_counter() - t0,
        note=note,
    )
