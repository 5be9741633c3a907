"""The convex problems of Section 4: finite sums ``F(w) = (1/m) Σ_i f_i(w)`` on a box, with their constants.

Three problems, each generated from a data seed (same seed, same data) and living on a box ``[lo, hi]^d``
that the algorithms enforce by clipping, as the paper assumes for a bounded domain:

``quadratic``
    Ridge least squares, ``f_i(w) = ½ (a_iᵀw − b_i)² + (λ/2)‖w‖²`` with ``a_i ~ N(0, I_d)``,
    ``b_i = a_iᵀw_true + 0.5·ε_i``. The Hessian ``H = AᵀA/m + λI`` is constant, so ``μ = λ_min(H)`` and
    ``L = λ_max(H)`` are exact and ``L₂ = 0`` (Corollary 1's setting).
``logistic``
    ℓ2-regularised logistic regression, ``f_i(w) = log(1 + exp(−y_i a_iᵀw)) + (λ/2)‖w‖²``, ``y_i ∈ {±1}``
    drawn from the logistic model. ``μ = λ`` and ``L = λ_max(AᵀA/m)/4 + λ`` are valid constants; the Hessian
    of each ``f_i`` is ``σ'(z) a_i a_iᵀ + λI`` and ``|σ''| ≤ 1/(6√3)``, so ``L₂ = max_i ‖a_i‖³ / (6√3)``.
``weakly-convex``
    Underdetermined least squares (``m < d``, no ridge), ``f_i(w) = ½ (a_iᵀw − b_i)²`` with
    ``b = A w_true``: convex but not strongly convex (``μ = 0``; the minimisers form an affine set containing
    ``w_true``), ``F* = 0``. Theorems 2 and 3 apply; Theorems 1 and 4 do not.

G² = sup over the box of E‖∇f̃(w)‖² (the bounded-gradient assumption of Section 4, for a mini-batch of B
samples drawn uniformly with replacement) is computed by :meth:`ConvexProblem.g_squared`:

* least squares: ``E‖∇f̃(w)‖²`` is a convex quadratic in ``w``, so its maximum over a box is attained at a
  vertex; for ``d ≤ 18`` all ``2^d`` vertices are evaluated (exact), above that the maximum is bounded by
  ``λ_max(M)·max‖w‖² + 2·max|cᵀw| + e`` (rigorous, not tight);
* logistic: ``‖∇f_i(w)‖ ≤ ‖a_i‖ + λ‖w‖`` (triangle inequality, ``σ ≤ 1``), maximised at the box's farthest
  corner (a rigorous upper bound).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
from numba import njit

from srchain.errors import SrchainError
from srchain.problems import Problem, as_domain, register

__all__ = [
    "ConvexProblem",
    "least_squares",
    "logistic",
    "weakly_convex",
    "get_convex_problem",
    "CONVEX_PROBLEMS",
    "register_all",
    "KIND_LSQ",
    "KIND_LOGISTIC",
    "EXACT_VERTEX_DIM",
    "estimate_problem",
]

KIND_LSQ = 0
KIND_LOGISTIC = 1
#: Up to this dimension G² of a least-squares problem is the exact maximum over the box's 2^d vertices.
EXACT_VERTEX_DIM = 18
#: max |σ''(z)| for the logistic sigmoid σ: attained where σ = ½ ± 1/(2√3).
SIGMA2_MAX = 1.0 / (6.0 * math.sqrt(3.0))


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


@dataclass(frozen=True)
class ConvexProblem:
    """A finite-sum convex problem ``F(w) = (1/m) Σ_i f_i(w)`` on the box ``[lo, hi]``.

    Attributes
    ----------
    name : str
    kind : int
        ``KIND_LSQ`` (``f_i = ½(a_iᵀw − b_i)² + (λ/2)‖w‖²``) or ``KIND_LOGISTIC``
        (``f_i = log(1 + exp(−b_i a_iᵀw)) + (λ/2)‖w‖²``, labels ``b_i ∈ {±1}``).
    A : ndarray, shape (m, d)
    b : ndarray, shape (m,)
    lam : float
        Ridge weight λ ≥ 0.
    domain : ndarray, shape (d, 2)
        The box; every iterate is clipped into it.
    minimizer : ndarray, shape (d,)
        A minimiser w* of F over the box (for ``weakly-convex`` one of many).
    f_star : float
        ``F(w*)``.
    mu, L, L2 : float
        Strong convexity, smoothness of F, Lipschitz constant of each ``∇²f_i`` (Section 4.2).
    data_seed : int
    description : str
    """

    name: str
    kind: int
    A: np.ndarray
    b: np.ndarray
    lam: float
    domain: np.ndarray
    minimizer: np.ndarray
    f_star: float
    mu: float
    L: float
    L2: float
    data_seed: int = 0
    description: str = ""
    notes: dict = field(default_factory=dict)

    # -- sizes and geometry -------------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return int(self.A.shape[1])

    @property
    def m(self) -> int:
        return int(self.A.shape[0])

    @property
    def diameter(self) -> float:
        """D = ‖hi − lo‖₂, the box's diameter (Theorems 2–4)."""
        return float(np.linalg.norm(self.domain[:, 1] - self.domain[:, 0]))

    @property
    def strongly_convex(self) -> bool:
        return self.mu > 0

    def grid_box(self, delta: float) -> np.ndarray:
        """The largest box with corners on ΔZ^d inside the domain, shape (d, 2).

        Quantized iterates are clipped into it, so that clipping keeps them on the grid (and
        ``clip ∘ Qs = Qs ∘ clip``, which the proofs of Theorems 1, 2 need with a bounded domain).
        """
        lo = delta * np.ceil(self.domain[:, 0] / delta - 1e-12)
        hi = delta * np.floor(self.domain[:, 1] / delta + 1e-12)
        if np.any(hi < lo):
            raise SrchainError(
                f"the domain holds no grid point of spacing delta={delta:g} in some coordinate; "
                f"use a smaller --delta or a wider --domain"
            )
        if np.any(self.minimizer < lo - 1e-12) or np.any(self.minimizer > hi + 1e-12):
            raise SrchainError(
                f"the minimiser w* is outside the grid box of delta={delta:g}; use a smaller "
                f"--delta or a wider --domain"
            )
        return np.stack([lo, hi], axis=1)

    # -- the objective ------------------------------------------------------------------------------------------
    def value(self, w) -> np.ndarray:
        """F(w) for w of shape (..., d)."""
        w = np.asarray(w, dtype=np.float64)
        z = w @ self.A.T  # (..., m)
        reg = 0.5 * self.lam * np.sum(w * w, axis=-1)
        if self.kind == KIND_LSQ:
            return 0.5 * np.mean((z - self.b) ** 2, axis=-1) + reg
        return np.mean(np.logaddexp(0.0, -self.b * z), axis=-1) + reg

    def gradient(self, w) -> np.ndarray:
        """∇F(w) for w of shape (..., d)."""
        w = np.asarray(w, dtype=np.float64)
        z = w @ self.A.T
        if self.kind == KIND_LSQ:
            s = (z - self.b) / self.m
        else:
            s = -self.b * _sigmoid(-self.b * z) / self.m
        return s @ self.A + self.lam * w

    def excess(self, w) -> np.ndarray:
        """F(w) − F(w*), clipped at 0 from below (rounding of F at w* can make it −1e-16)."""
        return np.maximum(self.value(w) - self.f_star, 0.0)

    # -- the bounded-gradient constant --------------------------------------------------------------------------
    def g_squared(self, batch: int = 1, domain=None) -> tuple[float, str]:
        """G² ≥ sup over the box of E‖∇f̃(w)‖² for a batch of ``batch`` samples (with replacement).

        Returns
        -------
        (G², how) : (float, str)
            ``how`` says whether the value is the exact maximum or an upper bound, and why.
        """
        box = self.domain if domain is None else np.asarray(domain, dtype=np.float64)
        B = int(batch)
        if B < 1:
            raise SrchainError("the batch size must be >= 1")
        A, b, lam, m, d = self.A, self.b, self.lam, self.m, self.dim
        if self.kind == KIND_LSQ:
            # g_i(w) = (a_i a_iᵀ + λI) w − b_i a_i = B_i w − b_i a_i;  E_i‖g_i‖² = wᵀMw − 2cᵀw + e,
            # ‖∇F(w)‖² = wᵀHᵀHw − 2 hᵀHw + ‖h‖²; for a batch of B: (1 − 1/B)‖∇F‖² + (1/B) E_i‖g_i‖².
            Bi = A[:, :, None] * A[:, None, :] + lam * np.eye(d)[None]
            M1 = np.einsum("ijk,ikl->jl", Bi, Bi) / m
            c1 = np.einsum("ijk,ik->j", Bi, b[:, None] * A) / m
            e1 = float(np.mean(b * b * np.sum(A * A, axis=1)))
            H = A.T @ A / m + lam * np.eye(d)
            h = A.T @ b / m
            M = (1 - 1 / B) * H.T @ H + M1 / B
            c = (1 - 1 / B) * H.T @ h + c1 / B
            e = (1 - 1 / B) * float(h @ h) + e1 / B
            if d <= EXACT_VERTEX_DIM:
                best = -np.inf
                for start in range(0, 2**d, 4096):
                    idx = np.arange(start, min(2**d, start + 4096))
                    bits = (idx[:, None] >> np.arange(d)[None, :]) & 1
                    V = np.where(bits == 1, box[:, 1], box[:, 0])
                    vals = np.einsum("ij,jk,ik->i", V, M, V) - 2 * V @ c + e
                    best = max(best, float(vals.max()))
                return best, (
                    f"exact: E‖∇f̃(w)‖² (batch {B}) is a convex quadratic in w, maximised over the box's {2**d} vertices"
                )
            lmax = float(np.linalg.eigvalsh(M)[-1])
            r2 = float(np.sum(np.max(box**2, axis=1)))
            lin = float(np.sum(np.max(np.abs(c[:, None] * box), axis=1)))
            return lmax * r2 + 2 * lin + e, (
                "upper bound: λ_max(M)·max‖w‖² + 2·max|cᵀw| + e for the convex "
                f"quadratic E‖∇f̃(w)‖² (batch {B}; d > {EXACT_VERTEX_DIM}, too many "
                "vertices to enumerate)"
            )
        # logistic: ‖g_i(w)‖ ≤ ‖a_i‖ + λ‖w‖ and ‖∇F(w)‖ ≤ mean_i ‖a_i‖ + λ‖w‖ (σ ≤ 1).
        rmax = float(np.sqrt(np.sum(np.max(box**2, axis=1))))
        na = np.linalg.norm(A, axis=1)
        one = float(np.mean((na + lam * rmax) ** 2))
        full = float((na.mean() + lam * rmax) ** 2)
        return (1 - 1 / B) * full + one / B, (
            f"upper bound: ‖∇f_i(w)‖ ≤ ‖a_i‖ + λ‖w‖ (σ ≤ 1) at the box's farthest corner, batch {B}"
        )

    # -- views --------------------------------------------------------------------------------------------------
    def with_domain(self, domain) -> ConvexProblem:
        """The same data on another box (which must contain the minimiser)."""
        box = as_domain(domain, self.dim)
        w = self.minimizer
        if np.any(w < box[:, 0]) or np.any(w > box[:, 1]):
            raise SrchainError(
                f"the box must contain the minimiser w* of {self.name!r} "
                f"(range {w.min():.3g} .. {w.max():.3g}); widen --domain"
            )
        return replace(self, domain=box)

    @cached_property
    def params(self) -> np.ndarray:
        """Flat parameters for :func:`full_grad_kernel`: ``[kind, m, d, λ, A.ravel(), b]``."""
        return np.concatenate([[float(self.kind), float(self.m), float(self.dim), self.lam], self.A.ravel(), self.b])

    def constants(self) -> dict:
        """μ, L, L₂, D, d, m, λ and F(w*) as plain numbers (for JSON and tables)."""
        return {
            "mu": self.mu,
            "L": self.L,
            "L2": self.L2,
            "D": self.diameter,
            "dim": self.dim,
            "m": self.m,
            "lam": self.lam,
            "f_star": self.f_star,
            "data_seed": self.data_seed,
        }

    def as_problem(self) -> Problem:
        """The :class:`srchain.problems.Problem` view (registry vocabulary); ``extra['convex']`` is ``self``."""
        return Problem(
            name=self.name,
            dim=self.dim,
            domain=self.domain.copy(),
            value=self.value,
            gradient=self.gradient,
            grad_kernel=full_grad_kernel,
            params=self.params,
            minimizer=self.minimizer.copy(),
            description=self.description,
            extra={"convex": self, **{k: v for k, v in self.constants().items()}},
        )


@njit(cache=True, nogil=True)
def full_grad_kernel(w, params, out):
    """∇F(w) for one point; ``params = [kind, m, d, λ, A.ravel(), b]`` (see :attr:`ConvexProblem.params`)."""
    kind = int(params[0])
    m = int(params[1])
    d = int(params[2])
    lam = params[3]
    for k in range(d):
        out[k] = lam * w[k]
    for i in range(m):
        z = 0.0
        for k in range(d):
            z += params[4 + i * d + k] * w[k]
        bi = params[4 + m * d + i]
        if kind == KIND_LSQ:
            s = (z - bi) / m
        else:
            s = -bi / (1.0 + math.exp(bi * z)) / m
        for k in range(d):
            out[k] += s * params[4 + i * d + k]


def _box(radius, d):
    return np.tile([-float(radius), float(radius)], (d, 1))


def _check_inside(name, w, box):
    if np.any(w < box[:, 0]) or np.any(w > box[:, 1]):
        raise SrchainError(f"the minimiser of {name!r} left the box; use a larger radius")


def least_squares(
    dim: int = 10, m: int = 100, lam: float = 0.1, radius: float = 4.0, noise: float = 0.5, data_seed: int = 0
) -> ConvexProblem:
    """Ridge least squares (``quadratic``): μ = λ_min(H), L = λ_max(H) exact, L₂ = 0."""
    d = int(dim)
    rng = np.random.default_rng([data_seed, 1])
    A = rng.standard_normal((m, d))
    w_true = rng.uniform(-1.5, 1.5, d)
    b = A @ w_true + noise * rng.standard_normal(m)
    H = A.T @ A / m + lam * np.eye(d)
    w_star = np.linalg.solve(H, A.T @ b / m)
    box = _box(radius, d)
    _check_inside("quadratic", w_star, box)
    ev = np.linalg.eigvalsh(H)
    p = ConvexProblem(
        name="quadratic",
        kind=KIND_LSQ,
        A=A,
        b=b,
        lam=float(lam),
        domain=box,
        minimizer=w_star,
        f_star=0.0,
        mu=float(ev[0]),
        L=float(ev[-1]),
        L2=0.0,
        data_seed=data_seed,
        description=f"ridge least squares, m={m}, d={d}, λ={lam:g}, box [-{radius:g}, {radius:g}]^d",
    )
    return replace(p, f_star=float(p.value(w_star)))


def logistic(dim: int = 10, m: int = 100, lam: float = 0.1, radius: float = 4.0, data_seed: int = 0) -> ConvexProblem:
    """ℓ2-regularised logistic regression (``logistic``): μ = λ, L = λ_max(AᵀA/m)/4 + λ, L₂ = max‖a_i‖³/(6√3)."""
    d = int(dim)
    rng = np.random.default_rng([data_seed, 2])
    A = rng.standard_normal((m, d))
    w_true = rng.uniform(-1.5, 1.5, d)
    y = np.where(rng.random(m) < _sigmoid(A @ w_true), 1.0, -1.0)
    p = ConvexProblem(
        name="logistic",
        kind=KIND_LOGISTIC,
        A=A,
        b=y,
        lam=float(lam),
        domain=_box(radius, d),
        minimizer=np.zeros(d),
        f_star=0.0,
        mu=float(lam),
        L=float(np.linalg.eigvalsh(A.T @ A / m)[-1] / 4 + lam),
        L2=float(SIGMA2_MAX * np.max(np.linalg.norm(A, axis=1)) ** 3),
        data_seed=data_seed,
        description=f"ℓ2-regularised logistic regression, m={m}, d={d}, λ={lam:g}, box [-{radius:g}, {radius:g}]^d",
    )
    w = np.zeros(d)
    for _ in range(100):  # Newton's method; F is λ-strongly convex and smooth, so it converges quadratically
        z = y * (A @ w)
        s = _sigmoid(-z)
        g = -(A.T @ (y * s)) / m + lam * w
        Hm = (A.T * (s * (1 - s))) @ A / m + lam * np.eye(d)
        step = np.linalg.solve(Hm, g)
        w = w - step
        if np.linalg.norm(step) < 1e-15 * (1 + np.linalg.norm(w)):
            break
    _check_inside("logistic", w, p.domain)
    return replace(p, minimizer=w, f_star=float(p.value(w)))


def weakly_convex(dim: int = 10, m: int = 5, radius: float = 4.0, data_seed: int = 0) -> ConvexProblem:
    """Underdetermined least squares (``weakly-convex``): μ = 0, L = λ_max(AᵀA/m), L₂ = 0, F* = 0."""
    d = int(dim)
    if m >= d:
        m = max(1, d // 2)
    rng = np.random.default_rng([data_seed, 3])
    A = rng.standard_normal((m, d))
    w_true = rng.uniform(-1.5, 1.5, d)
    b = A @ w_true
    box = _box(radius, d)
    return ConvexProblem(
        name="weakly-convex",
        kind=KIND_LSQ,
        A=A,
        b=b,
        lam=0.0,
        domain=box,
        minimizer=w_true,
        f_star=0.0,
        mu=0.0,
        L=float(np.linalg.eigvalsh(A.T @ A / m)[-1]),
        L2=0.0,
        data_seed=data_seed,
        description=f"underdetermined least squares (m={m} < d={d}, no ridge): convex, μ = 0, "
        f"F* = 0, box [-{radius:g}, {radius:g}]^d",
    )


#: name -> (builder, one-line help)
CONVEX_PROBLEMS = {
    "quadratic": (least_squares, "ridge least squares (Section 4): μ, L exact, L₂ = 0; --dim D (default 10)"),
    "logistic": (logistic, "ℓ2-regularised logistic regression: μ = λ, L₂ > 0; --dim D (default 10)"),
    "weakly-convex": (weakly_convex, "underdetermined least squares: convex, μ = 0, F* = 0; --dim D (default 10)"),
}


def estimate_problem(name: str, dim: int | None = None):
    """``(bytes, seconds)`` of building a convex problem and its G² (:meth:`ConvexProblem.g_squared`), from its
    size alone: the data ``m × d``, the ``m × d × d`` per-sample Hessians of G² (least squares), ``d × d``
    matrices and their eigenvalues (``d³``) and the ``m·d³`` contraction of G² (conservative constants)."""
    d = float(10 if dim is None else dim)
    m = 100.0 if name != "weakly-convex" else (5.0 if d > 5 else max(1.0, d // 2))
    nbytes = m * d * 8 * 4 + d * d * 8 * 8 + (m * d * d * 8 * 3 if name != "logistic" else 0.0)
    seconds = 1e-8 * d**3 * (20 if name == "logistic" else 2) + (2e-9 * m * d**3 if name != "logistic" else 0.0)
    return nbytes, seconds


def get_convex_problem(
    name: str, dim: int | None = None, data_seed: int = 0, domain=None, max_memory: float | None = None
) -> ConvexProblem:
    """Build one of :data:`CONVEX_PROBLEMS` (``dim`` defaults to 10; ``domain`` replaces the box).

    ``max_memory`` (bytes; default :func:`srchain.budget.default_max_memory`) bounds :func:`estimate_problem`,
    checked before any array is allocated."""
    from srchain.budget import check_memory, default_max_memory

    if name not in CONVEX_PROBLEMS:
        raise SrchainError(f"unknown convex problem {name!r}; choose one of {', '.join(CONVEX_PROBLEMS)}")
    d = 10 if dim is None else int(dim)
    if d < 1:
        raise SrchainError(f"dim must be >= 1, got {d}")
    if d < 2 and name == "weakly-convex":
        raise SrchainError("the weakly-convex problem needs --dim >= 2 (it has m = d/2 < d samples)")
    check_memory(
        estimate_problem(name, d)[0],
        default_max_memory() if max_memory is None else max_memory,
        f"the {name} problem in dim={d}",
        "use a smaller dim",
    )
    p = CONVEX_PROBLEMS[name][0](dim=d, data_seed=data_seed)
    return p if domain is None else p.with_domain(domain)


def _factory(name):
    def factory(dim=None, coupling=None) -> Problem:
        if coupling is not None:
            raise SrchainError(f"--coupling does not apply to the convex problem {name!r}")
        return get_convex_problem(name, dim=dim).as_problem()

    factory.__name__ = name.replace("-", "_")
    factory.__doc__ = CONVEX_PROBLEMS[name][1]
    return factory


def register_all() -> None:
    """Register ``quadratic``, ``logistic`` and ``weakly-convex`` in :mod:`srchain.problems`."""
    for name, (_, text) in CONVEX_PROBLEMS.items():
        register(name, _factory(name), text)
