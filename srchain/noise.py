"""Gradient-noise models: the law of ``ξ̄`` in the stochastic gradient ``∇f̃(w) = ∇f(w) + ξ̄``.

``ξ̄`` is the mean of ``B`` independent per-sample draws (``B = batch``). Each model knows the expectations that
the exact operators need, in closed form where one exists:

* ``lower_partial(a) = E[(a − ξ̄)⁺]`` and ``upper_partial(a) = E[(ξ̄ − a)⁺]`` (partial expectations, the
  "ramp" integrals from which every SR transition probability follows, see :mod:`srchain.operators`);
* ``cdf(a) = P(ξ̄ ≤ a)`` and ``sf(a) = P(ξ̄ > a)`` (for deterministic rounding, Eq. 4);
* ``sample(rng, size)`` for simulation, and a Numba-friendly description (``numba_code``, ``numba_params``);
* :meth:`NoiseModel.theorem5_assumptions`: whether Theorem 5's hypotheses hold (tail ``∫_ν^∞ p ≤ C₁/ν²`` and
  mass on both sides of 0 for the gradient's law at every state).

Models: ``gaussian`` (σ = std of one sample; batch mean N(0, σ²/B)), ``laplace`` (b = scipy scale), ``student-t``
(scale and ν > 2), and ``minibatch`` (m fixed centred per-sample perturbations; a batch of B is drawn without
replacement, and ξ̄ is its mean: a discrete law enumerated exactly, which is what makes the big-batch effect of
Section 6.1 computable exactly). For laplace and student-t with B > 1 the law of the mean has no closed form; it is
tabulated by numerical convolution (FFT) of the one-sample density on a fine grid, and the partial expectations
are computed from that table (relative error about 1e-5, checked against Monte Carlo; see :class:`TabulatedNoise`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from srchain.errors import SrchainError
from srchain.noise_kernels import (
    _PSI_PARALLEL_MIN,
    _gauss_excess_flat,
    _gauss_excess_flat_serial,
    _psi_gauss,
    _t_pdf,
)
from srchain.noise_model import NoiseModel, Values
from srchain.rules import NoiseKind

__all__ = [
    "NoiseModel",
    "GaussianNoise",
    "LaplaceNoise",
    "StudentTNoise",
    "MinibatchNoise",
    "TabulatedNoise",
    "make_noise",
    "NOISES",
    "gaussian",
    "laplace",
    "student_t",
    "minibatch",
]

_SQRT_HALF_PI = math.sqrt(math.pi / 2)
_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

# Numba switch codes for the simulators: the members of srchain.rules.NoiseKind (kept as names for old imports).
CODE_GAUSSIAN, CODE_LAPLACE, CODE_STUDENT_T, CODE_MINIBATCH = (
    NoiseKind.GAUSSIAN,
    NoiseKind.LAPLACE,
    NoiseKind.STUDENT_T,
    NoiseKind.MINIBATCH,
)


@dataclass(frozen=True)
class GaussianNoise(NoiseModel):
    r""":math:`\bar\xi \sim N(0, \sigma^2/B)`: :math:`\sigma` is the standard deviation of one sample's noise."""

    sigma: float = 1.0
    name: str = "gaussian"

    @property
    def s(self) -> float:
        return self.sigma / math.sqrt(self.batch)

    @property
    def std(self) -> float:
        return self.s

    def lower_partial(self, a: ArrayLike) -> Values:
        s = self.s
        return s * _psi_gauss(np.asarray(a, dtype=np.float64) / s)

    def upper_partial(self, a: ArrayLike) -> Values:
        s = self.s
        return s * _psi_gauss(-np.asarray(a, dtype=np.float64) / s)

    def excess(self, a: ArrayLike) -> Values:
        # s·ψ(−|a|/s) in one compiled pass (threaded for large inputs): the same operations, in the same order, as
        # z = |a|/s, ψ(−z) by _psi_gauss_flat, times s
        a = np.ascontiguousarray(a, dtype=np.float64)
        flat = a.ravel()
        out = np.empty_like(flat)
        (_gauss_excess_flat if flat.size >= _PSI_PARALLEL_MIN else _gauss_excess_flat_serial)(flat, self.s, out)
        return out.reshape(a.shape) if a.ndim else out[0]

    def cdf(self, a: ArrayLike) -> Values:
        return special.ndtr(np.asarray(a, dtype=np.float64) / self.s)

    def sf(self, a: ArrayLike) -> Values:
        return special.ndtr(-np.asarray(a, dtype=np.float64) / self.s)

    def pdf(self, a: ArrayLike) -> Values:
        z = np.asarray(a, dtype=np.float64) / self.s
        return np.exp(-0.5 * z * z) * (_INV_SQRT_2PI / self.s)

    def quantile_width(self, tol: float) -> float:
        return float(self.s * -special.ndtri(tol / 2))

    def sample(self, rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
        return rng.normal(0.0, self.s, size)

    @property
    def numba_code(self) -> int:
        return CODE_GAUSSIAN

    @property
    def numba_params(self) -> np.ndarray:
        return np.array([self.s], dtype=np.float64)

    def to_dict(self) -> dict:
        return {"name": self.name, "sigma": self.sigma, "batch": self.batch}


@dataclass(frozen=True)
class LaplaceNoise(NoiseModel):
    r"""One sample's noise :math:`\sim \mathrm{Laplace}(0, b)` (density :math:`e^{-|x|/b}/(2b)`); :math:`\bar\xi` is
    the mean of :math:`B` of them."""

    b: float = 1.0
    name: str = "laplace"

    @property
    def std(self) -> float:
        return self.b * math.sqrt(2.0 / self.batch)

    def lower_partial(self, a: ArrayLike) -> Values:
        a = np.asarray(a, dtype=np.float64)
        b = self.b
        e = 0.5 * b * np.exp(-np.abs(a) / b)
        return np.where(a < 0, e, a + e)

    def upper_partial(self, a: ArrayLike) -> Values:
        return self.lower_partial(-np.asarray(a, dtype=np.float64))

    def cdf(self, a: ArrayLike) -> Values:
        a = np.asarray(a, dtype=np.float64)
        e = 0.5 * np.exp(-np.abs(a) / self.b)
        return np.where(a < 0, e, 1.0 - e)

    def sf(self, a: ArrayLike) -> Values:
        return self.cdf(-np.asarray(a, dtype=np.float64))

    def pdf(self, a: ArrayLike) -> Values:
        return np.exp(-np.abs(np.asarray(a, dtype=np.float64)) / self.b) / (2.0 * self.b)

    def quantile_width(self, tol: float) -> float:
        return float(-self.b * math.log(tol))

    def sample(self, rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
        return rng.laplace(0.0, self.b, size)

    @property
    def numba_code(self) -> int:
        return CODE_LAPLACE

    @property
    def numba_params(self) -> np.ndarray:
        return np.array([self.b, float(self.batch)], dtype=np.float64)

    def to_dict(self) -> dict:
        return {"name": self.name, "sigma": self.b, "batch": self.batch}


@dataclass(frozen=True)
class StudentTNoise(NoiseModel):
    r"""One sample's noise :math:`\sim \mathrm{scale}\cdot t_\nu` (scipy's ``t(df=ν, scale=scale)``); needs
    :math:`\nu > 1` for a mean, :math:`\nu > 2` here."""

    scale: float = 1.0
    nu: float = 3.0
    name: str = "student-t"

    @property
    def std(self) -> float:
        return self.scale * math.sqrt(self.nu / (self.nu - 2) / self.batch) if self.nu > 2 else math.inf

    def _lp_std(self, a):
        # E[(a − T)⁺] = a F(a) + (ν + a²)/(ν − 1) f(a) for the standard t; for a < 0 the same quantity written
        # as (ν + a²)/(ν − 1) f(a) − |a| SF(|a|), both terms positive and of the same order (no catastrophe).
        nu = self.nu
        a = np.asarray(a, dtype=np.float64)
        f = _t_pdf(a, nu)
        t = np.abs(a)
        neg = (nu + a * a) / (nu - 1) * f - t * special.stdtr(nu, -t)
        neg = np.maximum(neg, 0.0)
        return np.where(a >= 0, a + neg, neg)

    def lower_partial(self, a: ArrayLike) -> Values:
        return self.scale * self._lp_std(np.asarray(a, dtype=np.float64) / self.scale)

    def upper_partial(self, a: ArrayLike) -> Values:
        return self.lower_partial(-np.asarray(a, dtype=np.float64))

    def cdf(self, a: ArrayLike) -> Values:
        return special.stdtr(self.nu, np.asarray(a, dtype=np.float64) / self.scale)

    def sf(self, a: ArrayLike) -> Values:
        return special.stdtr(self.nu, -np.asarray(a, dtype=np.float64) / self.scale)

    def pdf(self, a: ArrayLike) -> Values:
        return _t_pdf(np.asarray(a, dtype=np.float64) / self.scale, self.nu) / self.scale

    def quantile_width(self, tol: float) -> float:
        return float(-special.stdtrit(self.nu, tol / 2) * self.scale)

    def sample(self, rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
        return self.scale * rng.standard_t(self.nu, size)

    @property
    def numba_code(self) -> int:
        return CODE_STUDENT_T

    @property
    def numba_params(self) -> np.ndarray:
        return np.array([self.scale, float(self.batch), self.nu], dtype=np.float64)

    def _tail_ok(self):
        return self.nu >= 2

    def to_dict(self) -> dict:
        return {"name": self.name, "sigma": self.scale, "nu": self.nu, "batch": self.batch}


@dataclass(frozen=True)
class DiscreteNoise(NoiseModel):
    r"""A discrete law of :math:`\bar\xi`: ``values`` with probabilities ``weights`` (all expectations are exact
    sums)."""

    values: np.ndarray = field(default_factory=lambda: np.zeros(1))
    weights: np.ndarray = field(default_factory=lambda: np.ones(1))
    name: str = "discrete"

    @property
    def is_discrete(self) -> bool:
        return True

    def support(self) -> tuple[np.ndarray, np.ndarray] | None:
        return self.values, self.weights

    @property
    def std(self) -> float:
        m = float(self.weights @ self.values)
        return math.sqrt(float(self.weights @ (self.values - m) ** 2))

    def _expect(self, fn, a):
        a = np.asarray(a, dtype=np.float64)
        out = np.zeros(a.shape)
        for v, w in zip(self.values, self.weights, strict=True):  # support is small (≤ 10⁶ values, usually ≤ 10⁴)
            out += w * fn(a, v)
        return out

    def lower_partial(self, a: ArrayLike) -> Values:
        return self._expect(lambda a, v: np.maximum(a - v, 0.0), a)

    def upper_partial(self, a: ArrayLike) -> Values:
        return self._expect(lambda a, v: np.maximum(v - a, 0.0), a)

    def cdf(self, a: ArrayLike) -> Values:
        return self._expect(lambda a, v: (v <= a).astype(np.float64), a)

    def sf(self, a: ArrayLike) -> Values:
        return self._expect(lambda a, v: (v > a).astype(np.float64), a)

    def quantile_width(self, tol: float) -> float:
        return float(np.max(np.abs(self.values)))

    def sample(self, rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
        return rng.choice(self.values, size=size, p=self.weights)


@dataclass(frozen=True)
class MinibatchNoise(DiscreteNoise):
    r"""Finite-sum noise: :math:`m` fixed centred per-sample perturbations :math:`e_i`; a batch of :math:`B` of them
    is drawn without replacement and :math:`\bar\xi` is its mean (Section 6.1's big batches, computed exactly).

    The law of :math:`\bar\xi` is enumerated over all :math:`\binom{m}{B}` subsets (refused above
    ``max_subsets``), then merged on equal values. :math:`B = m` gives :math:`\bar\xi = 0` (full gradient).
    """

    perturbations: np.ndarray = field(default_factory=lambda: np.array([-1.0, 1.0]))
    name: str = "minibatch"
    sigma: float = 1.0
    seed: int = 0

    @classmethod
    def from_seed(
        cls, sigma: float, samples: int = 16, batch: int = 1, seed: int = 0, max_subsets: int = 2_000_000
    ) -> MinibatchNoise:
        r"""Draw ``samples`` perturbations :math:`N(0, \sigma^2)` from ``seed``, centre them, and enumerate the batch
        mean."""
        if samples < 2:
            raise SrchainError(f"the minibatch noise needs samples >= 2, got {samples}")
        if batch > samples:
            raise SrchainError(f"batch = {batch} is larger than the number of samples ({samples})")
        if math.comb(int(samples), int(batch)) > max_subsets:  # before drawing anything of size `samples`
            raise SrchainError(
                f"the minibatch law has C({samples}, {batch}) subsets, more than {max_subsets}; "
                f"use fewer samples or a batch nearer 1 or samples"
            )
        e = np.random.default_rng(np.random.SeedSequence(seed)).normal(0.0, sigma, samples)
        e -= e.mean()
        return cls.from_perturbations(e, batch=batch, sigma=sigma, seed=seed, max_subsets=max_subsets)

    @classmethod
    def from_perturbations(
        cls, e: ArrayLike, batch: int = 1, sigma: float = float("nan"), seed: int = -1, max_subsets: int = 2_000_000
    ) -> MinibatchNoise:
        e = np.asarray(e, dtype=np.float64)
        m = e.size
        if batch < 1 or batch > m:
            raise SrchainError(f"batch must be between 1 and the number of samples {m}, got {batch}")
        n_sub = math.comb(m, batch)
        if n_sub > max_subsets:
            raise SrchainError(
                f"the minibatch law has C({m}, {batch}) = {n_sub} subsets, more than {max_subsets}; "
                f"use fewer samples or a batch nearer 1 or samples"
            )
        idx = np.array(list(itertools.combinations(range(m), batch)), dtype=np.int64)
        means = e[idx].mean(axis=1)
        vals, inv = np.unique(np.round(means, 14), return_inverse=True)
        weights = np.bincount(inv, minlength=vals.size) / n_sub
        return cls(values=vals, weights=weights, perturbations=e, batch=batch, sigma=sigma, seed=seed)

    @property
    def numba_code(self) -> int:
        return CODE_MINIBATCH

    @property
    def numba_params(self) -> np.ndarray:
        return np.concatenate([[float(self.batch)], self.perturbations]).astype(np.float64)

    def sample(self, rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
        size = (size,) if np.isscalar(size) else tuple(size)  # type: ignore[assignment, arg-type]
        n = int(np.prod(size))
        m = self.perturbations.size
        # Without replacement per draw: argsort of uniforms picks a uniform random B-subset.
        keys = rng.random((n, m))
        idx = np.argpartition(keys, self.batch - 1, axis=1)[:, : self.batch]
        return self.perturbations[idx].mean(axis=1).reshape(size)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "sigma": self.sigma,
            "samples": int(self.perturbations.size),
            "batch": self.batch,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class TabulatedNoise(NoiseModel):
    r"""A continuous law of :math:`\bar\xi` given by its density on a uniform grid (used for the mean of
    :math:`B > 1` laplace or student-t samples, computed by FFT convolution). Partial expectations come from
    cumulative trapezoid sums of the CDF, :math:`\mathbb{E}[(a - \bar\xi)^+] = \int_{-\infty}^a F(t)\,dt`; beyond
    the grid they are extended linearly (negligible tails)."""

    grid: np.ndarray = field(default_factory=lambda: np.zeros(2))
    density: np.ndarray = field(default_factory=lambda: np.zeros(2))
    base: NoiseModel | None = None
    name: str = "tabulated"

    @classmethod
    def mean_of(cls, base: NoiseModel, batch: int, points: int = 2**19 + 1) -> TabulatedNoise:
        # An odd number of points puts 0 on the grid, so the FFT's origin is the law's centre. The sum of B
        # samples lives on B times the one-sample range; 1e-10 of tail mass beyond it is neglected.
        half = batch * base.quantile_width(1e-10)
        x = np.linspace(-half, half, points | 1)
        h = x[1] - x[0]
        if isinstance(base, LaplaceNoise):
            p = np.exp(-np.abs(x) / base.b) / (2 * base.b)
        else:
            p = _t_pdf(x / base.scale, base.nu) / base.scale  # type: ignore[attr-defined]
        p /= p.sum() * h
        ft = np.fft.rfft(np.fft.ifftshift(p) * h)
        conv = np.fft.fftshift(np.fft.irfft(ft**batch, n=points)) / h  # density of the sum on the same grid
        conv = np.maximum(conv, 0.0)
        grid = x / batch  # the mean = sum / B
        dens = conv * batch
        dens /= np.trapezoid(dens, grid)
        return cls(grid=grid, density=dens, base=base, batch=batch, name=base.name)

    @property
    def _cdf_table(self):
        c = np.concatenate([[0.0], np.cumsum(0.5 * (self.density[1:] + self.density[:-1]) * np.diff(self.grid))])
        return c / c[-1]

    @property
    def std(self) -> float:
        return math.sqrt(np.trapezoid(self.grid**2 * self.density, self.grid))

    def cdf(self, a: ArrayLike) -> Values:
        return np.interp(a, self.grid, self._cdf_table, left=0.0, right=1.0)  # type: ignore[arg-type]

    def sf(self, a: ArrayLike) -> Values:
        return 1.0 - self.cdf(a)

    def pdf(self, a: ArrayLike) -> Values:
        return np.interp(a, self.grid, self.density, left=0.0, right=0.0)  # type: ignore[arg-type]

    @property
    def table_error(self) -> float:
        return 1e-5

    def lower_partial(self, a: ArrayLike) -> Values:
        a = np.asarray(a, dtype=np.float64)
        F = self._cdf_table
        I = np.concatenate([[0.0], np.cumsum(0.5 * (F[1:] + F[:-1]) * np.diff(self.grid))])
        inside = np.interp(a, self.grid, I, left=0.0)
        return np.where(a > self.grid[-1], I[-1] + (a - self.grid[-1]), inside)

    def upper_partial(self, a: ArrayLike) -> Values:
        # E[(ξ̄ − a)⁺] = E[(a − ξ̄)⁺] − a (the mean is 0)
        return np.maximum(self.lower_partial(a) - np.asarray(a, dtype=np.float64), 0.0)

    def quantile_width(self, tol: float) -> float:
        return float(np.interp(1 - tol / 2, self._cdf_table, self.grid))

    def sample(self, rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
        return self.base.sample(rng, tuple(np.atleast_1d(size)) + (self.batch,)).mean(axis=-1)  # type: ignore[union-attr]

    @property
    def numba_code(self) -> int:
        return self.base.numba_code  # type: ignore[union-attr]

    @property
    def numba_params(self) -> np.ndarray:
        p = self.base.numba_params.copy()  # type: ignore[union-attr]
        p[1] = float(self.batch)
        return p

    def _tail_ok(self):
        return self.base._tail_ok()

    def to_dict(self) -> dict:
        d = self.base.to_dict()  # type: ignore[union-attr]
        d["batch"] = self.batch
        return d


NOISES = ("gaussian", "laplace", "student-t", "minibatch")


def make_noise(
    name: str, sigma: float = 1.0, nu: float = 3.0, batch: int = 1, samples: int = 16, seed: int = 0
) -> NoiseModel:
    r"""Build a noise model by name (the CLI's ``--noise --sigma --nu --batch --samples``).

    Raises
    ------
    SrchainError
        Unknown name, :math:`\sigma \le 0`, :math:`\nu \le 2` for student-t, batch :math:`< 1`.
    """
    if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
        raise SrchainError(f"the noise scale sigma must be a positive finite number, got {sigma!r}")
    if int(batch) != batch or batch < 1:
        raise SrchainError(f"the batch size must be an integer >= 1, got {batch!r}")
    batch = int(batch)
    if name == "gaussian":
        return GaussianNoise(sigma=float(sigma), batch=batch)
    if name == "laplace":
        base: NoiseModel = LaplaceNoise(b=float(sigma))
        return base if batch == 1 else TabulatedNoise.mean_of(base, batch)
    if name == "student-t":
        if not (math.isfinite(nu) and nu > 2):
            raise SrchainError(f"student-t noise needs nu > 2 (finite variance), got {nu!r}")
        base = StudentTNoise(scale=float(sigma), nu=float(nu))
        return base if batch == 1 else TabulatedNoise.mean_of(base, batch)
    if name == "minibatch":
        return MinibatchNoise.from_seed(float(sigma), samples=int(samples), batch=batch, seed=seed)
    raise SrchainError(f"unknown noise {name!r}; choose one of {', '.join(NOISES)}")


def gaussian(sigma: float, batch: int = 1) -> NoiseModel:
    r"""Gaussian gradient noise: one sample :math:`\sim N(0, \sigma^2)`, the batch mean
    :math:`\bar\xi \sim N(0, \sigma^2/B)`.

    >>> gaussian(2.0, batch=4).std
    1.0
    """
    return make_noise("gaussian", sigma=sigma, batch=batch)


def laplace(b: float, batch: int = 1) -> NoiseModel:
    r"""Laplace gradient noise with scale :math:`b` per sample, density :math:`e^{-|x|/b}/(2b)` (the batch mean's
    law tabulated by FFT for :math:`B > 1`)."""
    return make_noise("laplace", sigma=b, batch=batch)


def student_t(nu: float, sigma: float = 1.0, batch: int = 1) -> NoiseModel:
    r"""Student-t gradient noise with :math:`\nu > 2` degrees of freedom and scale :math:`\sigma` per sample
    (Theorem 5's tails need :math:`\nu \ge 2`; the rate of :math:`\pi_\alpha \to \tilde\pi` is
    :math:`\alpha^{\nu-1}`)."""
    return make_noise("student-t", sigma=sigma, nu=nu, batch=batch)


def minibatch(sigma: float, samples: int = 16, batch: int = 1, seed: int = 0) -> NoiseModel:
    r"""Minibatch noise: ``samples`` fixed centred perturbations :math:`N(0, \sigma^2)` drawn from ``seed``; the noise
    :math:`\bar\xi` is the mean of a batch of ``batch`` drawn without replacement, its law enumerated exactly
    (Section 6.1)."""
    return make_noise("minibatch", sigma=sigma, samples=samples, batch=batch, seed=seed)
