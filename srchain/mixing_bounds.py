r"""A certified bracket on the ε-mixing time (Eq. 10) of stochastically monotone chains, from the two extreme starts.

Order the states of a 1-D lattice by index, and those of a d-dimensional lattice coordinatewise. A chain is
*stochastically monotone* when every upper tail :math:`G(x, j) = \sum_{y \ge j} P(x, y)` is non-decreasing in
:math:`x`. Then (Levin, Peres, Wilmer, *Markov Chains and Mixing Times*, Sec. 5.4 and 22.1):

* **Coupling upper bound.** A monotone chain on a totally ordered space has a monotone grand coupling
  (``X_{t+1} = F_{X_t}^{-1}(U_{t+1})`` with one uniform for every start), so the chains from every start stay
  between the ones from the bottom state 0 and the top state n−1, and all have met once those two have. Hence
  :math:`d(t) \le P(X^{top}_t \ne X^{bot}_t) \le E[X^{top}_t - X^{bot}_t]` (indices; the difference is a
  non-negative integer), which needs only the two extreme starts' laws. For a product chain
  :math:`P = P_1 \otimes \dots \otimes P_d` with monotone factors, coupling the coordinates independently gives
  :math:`d(t) \le 1 - \prod_k (1 - \min(1, g_k(t)))` with :math:`g_k` the factor's bound.
* **Extreme-start lower bound.** :math:`d(t) \ge \max(\mathrm{TV}(P^t(\mathrm{bot}, \cdot), \pi),
  \mathrm{TV}(P^t(\mathrm{top}, \cdot), \pi))`, and each start's TV is non-increasing in t.

So with ``L`` the first t where both extreme starts are within ε of π, and ``U`` a t where the coupling bound is
≤ ε, ``L ≤ M_ε ≤ U`` (decisions keep a margin ``SLACK`` from ε for the float64 error of the computed laws).
Monotonicity is checked on the operator itself (never assumed): every tail difference
:math:`G(x+1, j) - G(x, j)` of every factor is computed, and the chain is refused when one is below
``-MONO_TOL`` (float64 rounding of the tail sums is ~1e-16; tails equal in exact arithmetic may differ by that). A
d-dimensional chain is accepted only when it equals the Kronecker product of its coordinate marginals to
``KRON_TOL`` in every entry. The factors' powers are dense (doubling), so each factor may have up to
``MAX_FACTOR_STATES`` states: a 1000 × 1000 product chain (10⁶ states) costs two 1000-state factors.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from srchain.errors import SrchainError

__all__ = [
    "MixingBracket",
    "mixing_bracket",
    "lattice_bracket",
    "lattice_factors",
    "monotonicity_defect",
    "product_factors",
]

MONO_TOL = 1e-13
KRON_TOL = 1e-13
MAX_FACTOR_STATES = 5000
SLACK = 1e-9  # float64 error of the factors' doubled powers is ~1e-12; decisions keep this margin from eps


@dataclass(frozen=True)
class MixingBracket:
    """``lower ≤ M_ε ≤ upper`` (integers) for a stochastically monotone chain, and why it holds (``reason``)."""

    lower: int
    upper: int
    eps: float
    factors: tuple[int, ...]
    monotonicity_defect: float
    seconds: float
    reason: str

    def to_dict(self) -> dict:
        return {
            "bracket_lower": self.lower,
            "bracket_upper": self.upper,
            "bracket_factors": list(self.factors),
            "bracket_monotonicity_defect": self.monotonicity_defect,
            "bracket_seconds": self.seconds,
            "bracket_reason": self.reason,
        }


def monotonicity_defect(P) -> float:
    r"""``max(0, -min_{x, j} (G(x+1, j) - G(x, j)))`` over the upper tails of a 1-D chain (0: monotone).

    The row differences ``P(x+1, ·) − P(x, ·)`` are sparse; their suffix sums over columns change only at
    nonzeros, so the minimum over ``j`` is a minimum over the nonzeros of each difference row (and 0 beyond).
    """
    A = sp.csr_matrix(P, dtype=np.float64)
    n = A.shape[0]
    if n < 2:
        return 0.0
    D = (A[1:] - A[:-1]).tocsr()
    D.sort_indices()
    if D.nnz == 0:
        return 0.0
    rows = np.repeat(np.arange(n - 1), np.diff(D.indptr))
    # suffix sum at nonzero k of its row = (row total) − (prefix sum before k)
    cs = np.cumsum(D.data)
    start = D.indptr[:-1]
    before = np.concatenate(([0.0], cs))[start]  # cumulative sum before each row
    total = np.concatenate(([0.0], cs))[D.indptr[1:]] - before
    prefix_excl = np.concatenate(([0.0], cs))[np.arange(D.nnz)] - before[rows]
    suffix = total[rows] - prefix_excl
    return float(max(0.0, -suffix.min()))


def product_factors(P, shape) -> list[sp.csr_matrix]:
    """The coordinate marginals ``P_k`` of a chain on a lattice of ``shape`` (C order), checked to reproduce P.

    ``P_k(i, i')`` is the law of coordinate k's next value from the state whose other coordinates are 0. The chain
    is a product chain when ``P = P_1 ⊗ … ⊗ P_d``; SrchainError otherwise (max entry difference > KRON_TOL).
    """
    A = sp.csr_matrix(P, dtype=np.float64)
    shape = tuple(int(s) for s in shape)
    if int(np.prod(shape)) != A.shape[0]:
        raise SrchainError(f"the lattice shape {shape} does not match the chain's {A.shape[0]} states")
    if len(shape) == 1:
        return [A]
    strides = [int(np.prod(shape[k + 1 :])) for k in range(len(shape))]
    factors = []
    for k, nk in enumerate(shape):
        states = np.arange(nk) * strides[k]  # the other coordinates 0
        R = A[states].tocoo()
        coord = (R.col // strides[k]) % nk
        F = sp.csr_matrix((R.data, (R.row, coord)), shape=(nk, nk))
        F.sum_duplicates()
        factors.append(F)
    K = factors[0]
    for F in factors[1:]:
        K = sp.kron(K, F, format="csr")
    diff = abs(A - K)
    worst = float(diff.max()) if diff.nnz else 0.0
    if worst > KRON_TOL:
        raise SrchainError(
            f"the chain is not a product of its coordinate chains (entries differ by up to {worst:.2e}); the "
            f"monotone-coupling bracket applies to 1-D chains and product chains (e.g. `separable`, not `coupled`)"
        )
    return factors


class _Factor:
    """Dense doubling powers of one monotone 1-D factor and the laws of its two extreme starts at any t."""

    def __init__(self, F: sp.csr_matrix, pi: np.ndarray):
        self.n = F.shape[0]
        self.pi = pi
        self.powers = [F.toarray()]
        self.idx = np.arange(self.n, dtype=np.float64)

    def ensure(self, t: int) -> None:
        while 2 ** len(self.powers) <= t:
            Q = self.powers[-1]
            self.powers.append(Q @ Q)

    def laws(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """(law at t from state 0, law at t from state n−1), by the binary expansion of t."""
        self.ensure(t)
        v = np.zeros((2, self.n))
        v[0, 0] = 1.0
        v[1, self.n - 1] = 1.0
        k = 0
        while t:
            if t & 1:
                v = v @ self.powers[k]
            t >>= 1
            k += 1
        return v[0], v[1]


def _product_tv(laws: list[np.ndarray], pis: list[np.ndarray]) -> float:
    """½‖⊗ laws − ⊗ pis‖₁ over the product space, in slabs of the first coordinate."""
    if len(laws) == 1:
        return 0.5 * float(np.abs(laws[0] - pis[0]).sum())
    rest_mu = laws[1]
    rest_pi = pis[1]
    for a, b in zip(laws[2:], pis[2:], strict=True):
        rest_mu = np.outer(rest_mu, a).ravel()
        rest_pi = np.outer(rest_pi, b).ravel()
    total = 0.0
    for i in range(len(laws[0])):
        total += float(np.abs(laws[0][i] * rest_mu - pis[0][i] * rest_pi).sum())
    return 0.5 * total


def mixing_bracket(P, eps: float = 0.25, shape=None, max_steps: int = 10**9) -> MixingBracket:
    r"""A certified bracket ``lower ≤ M_ε ≤ upper`` (Eq. 10) for a stochastically monotone 1-D or product chain.

    Parameters
    ----------
    P : sparse matrix, array or Operator
        Row-stochastic transition matrix.
    eps : float
    shape : tuple of int, optional
        The lattice shape (C order) for a d-dimensional chain; None for a 1-D chain.
    max_steps : int
        Give up (SrchainError) when no ``t ≤ max_steps`` certifies the upper bound.

    Returns
    -------
    MixingBracket
        See the module docstring for why the bracket holds; ``reason`` says it in one paragraph.
    """
    t0 = time.perf_counter()
    if hasattr(P, "P") and not isinstance(P, np.ndarray):
        P = P.P
    if not 0.0 < eps < 1.0:
        raise SrchainError(f"eps must be in (0, 1), got {eps!r}")
    A = sp.csr_matrix(P, dtype=np.float64)
    factors = product_factors(A, shape if shape is not None else (A.shape[0],))
    return _bracket(factors, eps, max_steps, t0, "")


def _check_factors(factors) -> float:
    """The largest monotonicity defect of the factors; SrchainError when one is too large or too big."""
    defect = 0.0
    for k, F in enumerate(factors):
        if F.shape[0] > MAX_FACTOR_STATES:
            raise SrchainError(
                f"coordinate {k} has {F.shape[0]} states; the bracket's dense factor powers allow up to "
                f"{MAX_FACTOR_STATES}: use a coarser lattice"
            )
        dk = monotonicity_defect(F)
        defect = max(defect, dk)
        if dk > MONO_TOL:
            raise SrchainError(
                f"the chain is not stochastically monotone (coordinate {k}: an upper tail decreases by {dk:.2e} "
                f"from one state to the next), so the coupling bound does not apply; use the exact method or the "
                f"spectral bounds"
            )
    return defect


def _bracket(factors, eps: float, max_steps: int, t0: float, origin: str) -> MixingBracket:
    from srchain.stationary import stationary

    defect = _check_factors(factors)
    pis = [stationary(F).pi for F in factors]
    fs = [_Factor(F, pi) for F, pi in zip(factors, pis, strict=True)]

    def lower_at(t: int) -> float:
        lows, highs = zip(*(f.laws(t) for f in fs), strict=True)
        return max(_product_tv(list(lows), pis), _product_tv(list(highs), pis))

    def upper_at(t: int) -> float:
        keep = 1.0
        for f in fs:
            lo, hi = f.laws(t)
            g = float(f.idx @ hi - f.idx @ lo)
            keep *= 1.0 - min(1.0, max(0.0, g))
        return 1.0 - keep

    # upper: find some t with the coupling bound ≤ eps (doubling), then bisect keeping that invariant
    hi = 1
    while upper_at(hi) > eps - SLACK:
        hi *= 2
        if hi > max_steps:
            raise SrchainError(f"the coupling bound is still above eps={eps:g} after {max_steps} steps")
    lo_u = hi // 2
    while hi - lo_u > 1:
        mid = (lo_u + hi) // 2
        if upper_at(mid) <= eps - SLACK:
            hi = mid
        else:
            lo_u = mid
    upper = hi
    # lower: the first t where both extreme starts are within eps (non-increasing in t), t ≤ upper
    if lower_at(0) <= eps + SLACK:
        lower = 0
    else:
        a, b = 0, upper  # lower_at(a) > eps, lower_at(b) <= eps (upper >= M_eps >= that first t)
        if lower_at(b) > eps + SLACK:
            raise SrchainError("inconsistent bracket: an extreme start is above eps where the coupling bound is not")
        while b - a > 1:
            mid = (a + b) // 2
            if lower_at(mid) <= eps + SLACK:
                b = mid
            else:
                a = mid
        lower = b
    dims = " x ".join(str(f.n) for f in fs)
    reason = (
        f"the chain ({dims} states{', a product of its coordinate chains' if len(fs) > 1 else ''}{origin}) is "
        f"stochastically monotone (largest tail decrease {defect:.1e}, float64 rounding); under the monotone "
        f"coupling every start lies between the chains from the bottom and top states, so "
        f"d(t) <= P(they differ) <= E[index gap]{' combined over coordinates' if len(fs) > 1 else ''}, which is "
        f"<= eps at t = {upper}; and d(t) >= the extreme starts' TV to pi, above eps until t = {lower}"
    )
    return MixingBracket(
        lower=int(lower),
        upper=int(upper),
        eps=float(eps),
        factors=tuple(f.n for f in fs),
        monotonicity_defect=defect,
        seconds=time.perf_counter() - t0,
        reason=reason,
    )


def lattice_factors(problem, noise, lattice, alpha: float, method: str = "sr", tol: float | None = None):
    """The coordinate chains of the SR/R chain on ``lattice``, from the operator's own 1-D move laws.

    A row of T_α is the product over coordinates of 1-D move laws (:func:`srchain.operators.move_laws`), and the
    law along axis k at state x is computed elementwise from ``(g_k(x), x_k)`` alone. So the chain is the product of
    the 1-D chains read at the states whose other coordinates are 0 exactly when every state's ``g_k(x)`` equals,
    bit for bit, the one at that reference state; this is checked for every state and axis (SrchainError
    otherwise). Rows are renormalised as the operator does; no ``n × n`` operator is formed.
    """
    from srchain.grids import is_uniform
    from srchain.operators import DEFAULT_TOL, _window, move_laws

    if not is_uniform(lattice):
        raise SrchainError(
            "--bound (the monotone-coupling bracket) is built for the fixed grid ΔZ^d only; drop --format"
        )
    tol = DEFAULT_TOL if tol is None else tol
    shape = tuple(int(x) for x in lattice.shape)
    d = len(shape)
    strides = np.array([int(np.prod(shape[k + 1 :])) for k in range(d)], dtype=np.int64)
    coords = lattice.coords
    grads = np.asarray(problem.gradient(lattice.points), dtype=np.float64).reshape(-1, d)
    J = _window(problem, noise, lattice, grads, alpha, tol)
    refs, factors = [], []
    for k, nk in enumerate(shape):
        idx = np.arange(nk, dtype=np.int64) * strides[k]
        t, p, _ = move_laws(problem, noise, lattice, alpha, method, tol, grads=grads[idx], rows=idx, window=J)
        refs.append((t[:, k, :], p[:, k, :]))
        tk, pk = t[:, k, :], p[:, k, :]
        keep = tk >= 0
        rows = np.repeat(np.arange(nk), keep.sum(axis=1))
        F = sp.csr_matrix((pk[keep], (rows, tk[keep])), shape=(nk, nk))
        F.sum_duplicates()
        F = sp.diags(1.0 / np.asarray(F.sum(axis=1)).ravel()) @ F
        factors.append(sp.csr_matrix(F))
    if d > 1:
        # move_laws computes coordinate k's law at x from (g_k(x), x_k) alone, elementwise; so the laws along axis k
        # agree with the reference ones exactly when g_k(x) does, bit for bit, for every state
        for k in range(d):
            ref = grads[np.arange(shape[k], dtype=np.int64) * strides[k], k]
            if not np.array_equal(grads[:, k], ref[coords[:, k]]):
                raise SrchainError(
                    f"the chain is not a product of its coordinate chains (the gradient along axis {k}, hence its "
                    f"move law, depends on the other coordinates); the monotone-coupling bracket applies to 1-D "
                    f"chains and product chains (e.g. `separable`, not `coupled`)"
                )
    return factors


def lattice_bracket(
    problem, noise, lattice, alpha: float, eps: float = 0.25, method: str = "sr", tol=None, max_steps: int = 10**9
) -> MixingBracket:
    """:func:`mixing_bracket` for the SR/R chain on ``lattice``, built from its coordinate chains
    (:func:`lattice_factors`), without forming the ``n × n`` operator."""
    t0 = time.perf_counter()
    if not 0.0 < eps < 1.0:
        raise SrchainError(f"eps must be in (0, 1), got {eps!r}")
    factors = lattice_factors(problem, noise, lattice, alpha, method, tol)
    origin = ", checked on every state's gradient" if len(factors) > 1 else ""
    return _bracket(factors, eps, max_steps, t0, origin)
