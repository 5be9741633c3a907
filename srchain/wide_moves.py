r"""Move laws without differences: wide noise (by quadrature of its density) and discrete noise (by exact sums).

In lattice units SR's step is ``u = m − τξ̄`` (``τ = α/Δ``), and with ``h = 1/τ = Δ/α`` and
``a_c = (m − c)/τ`` the move laws of :func:`srchain.operators.move_laws` are differences of the noise's partial
expectation ``Λ(a) = E[(a − ξ̄)⁺]``:

    Pr(move j) = τ[Λ(a_j + h) − 2Λ(a_j) + Λ(a_j − h)],   Pr(Qs ≥ j) = τ[Λ(a_j + h) − Λ(a_j)],
    Pr(Qs ≤ j) = τ[Υ(a_j − h) − Υ(a_j)]                  (Υ(a) = E[(ξ̄ − a)⁺], the faces of the box).

:mod:`srchain.operators` evaluates them through the excess ``E(a) = Λ(a) − a⁺``, which is small in the noise's
tails. Near the centre of a noise of scale σ, though, ``E`` is of order σ, and each difference loses
``eps·τ·σ`` absolutely: a relative error ``eps·(ασ/Δ)²`` on a move of probability ``≈ Δ/(ασ)``. Once ασ/Δ passes
about 1e8 the differences are rounding noise (``srchain stationary --sigma 1e16`` gave a law with 38% of its mass
inside the box, where all of it belongs on the two faces). Since ``Λ'' = f`` (the density) and ``Λ' = F`` (the CDF),
the same laws are integrals with no cancellation at all:

    Pr(move j)  = h ∫₀¹ (1 − t) [f(a_j + h t) + f(a_j − h t)] dt,
    Pr(Qs ≥ j)  = ∫₀¹ F(a_j + h t) dt,        Pr(Qs ≤ j) = ∫₀¹ SF(a_j − h t) dt,

and R's (Eq. 4) ``Pr(j − ½ ≤ u < j + ½) = h ∫₀¹ f(b + h t) dt`` with ``b = (m − j − ½)/τ``. When the noise is
wide (``h ≤`` :data:`WIDE` × its standard deviation) the integrands barely vary over ``[0, 1]``, and an
:data:`NODES`-point Gauss–Legendre rule on each side of ``ξ̄ = 0`` (the Laplace density's kink) gives every
probability to a few ulps *relative*, however small. Below the threshold the excess form loses about
``eps·(σ/h)²·max(3, t²)`` relative at ``t = |a|/σ`` (the excess's own error grows as ``t²``: its two terms
cancel), up to a few 1e-12 near the centre and about 1e-10 at a window's edge. Against 60-digit arithmetic on
Gaussian noise, with ``h = σ/60``: 3.1e-12 at ``t < 1`` and 7.2e-11 at ``t ≈ 7`` (probabilities ~1e-15); with
``h = σ/41``: 1.1e-12 and 1.9e-11 (within a factor 2 of the formula). This is the same on ΔZ and on a format's
grid (the same kernels). Discrete noises (minibatch) never take differences:
``E[hat(u − j)]`` and the faces' ``E[clip(·, 0, 1)]`` are summed over the support exactly.
"""

from __future__ import annotations

import math

import numpy as np

from srchain.errors import SrchainError
from srchain.noise import NoiseModel

__all__ = ["WIDE", "NODES", "is_wide", "wide_sr_laws", "wide_r_law", "discrete_sr_laws"]

#: The quadrature is used when a step's noise is wide: ``h = Δ/α`` at most this times the noise's standard
#: deviation. There the excess form's relative error ``eps/WIDE²`` would exceed 1e-12 near the noise's centre (and
#: ``t²`` times that ``t`` standard deviations out, module docstring), while the density varies over
#: one integration interval by a factor ``exp(h·|a|/σ²) ≤ exp(|a/σ|/64)``, which the rule integrates exactly to
#: float64 for every ``|a/σ|`` up to far beyond the move window (8-point Gauss–Legendre's error is
#: ``(h/σ · |a|/σ)^16/16!``-sized).
WIDE = 1.0 / 64.0
#: Gauss–Legendre points per piece (each integral is split at ``ξ̄ = 0``).
NODES = 8
_X, _W = np.polynomial.legendre.leggauss(NODES)
_T = 0.5 * (_X + 1.0)  # nodes on [0, 1]
_WT = 0.5 * _W  # weights on [0, 1]
_TINY = float(np.finfo(np.float64).tiny)


def is_wide(noise: NoiseModel, h: float) -> bool:
    """Whether the move laws of ``noise`` for a step ``h = Δ/α`` take the quadrature of this module."""
    if noise.is_discrete:
        return False
    sd = noise.std
    return math.isfinite(h) and h > 0 and (not math.isfinite(sd) or h <= WIDE * sd)


#: Elements per block of :func:`_integral`: its temporaries stay in cache (on the whole array, one 1207-wide
#: window of 3073 states, the same arithmetic took 12x longer, all of it memory traffic).
_BLOCK = 1 << 14


def _integral(fn, a, h, sign, linear):
    """``∫₀¹ w(t) fn(a + sign·h·t) dt`` with ``w(t) = 1 − t`` (``linear``) or 1, split where ``a + sign·h·t = 0``
    (``a`` and ``h`` broadcast together). Evaluated in blocks of :data:`_BLOCK` elements, element by element the
    same operations: the bits do not depend on the blocking."""
    a, h = np.asarray(a, dtype=np.float64), np.asarray(h, dtype=np.float64)
    if h.ndim:  # a step per element (a format's grid); a scalar step stays one number
        a, h = np.broadcast_arrays(a, h)
        h = np.ascontiguousarray(h).reshape(-1)
    shape = a.shape
    a = np.ascontiguousarray(a).reshape(-1)
    out = np.empty(a.size)
    for b0 in range(0, a.size, _BLOCK):
        hb = h[b0 : b0 + _BLOCK] if h.ndim else h
        out[b0 : b0 + _BLOCK] = _integral_block(fn, a[b0 : b0 + _BLOCK], hb, sign, linear)
    return out.reshape(shape)


def _integral_block(fn, a, h, sign, linear):
    with np.errstate(divide="ignore", invalid="ignore"):
        cut = np.clip(np.where(h > 0, -sign * a / h, 0.0), 0.0, 1.0)
    out = np.zeros(a.shape)
    for lo, width in ((0.0, cut), (cut, 1.0 - cut)):
        for t, w in zip(_T, _WT, strict=True):
            s = lo + width * t
            wt = width * w * ((1.0 - s) if linear else 1.0)
            out += wt * fn(a + sign * h * s)
    return out


def wide_sr_laws(noise: NoiseModel, a: np.ndarray, h: float, upper=None, lower=None):
    """SR's move laws for wide noise: ``(exact, ge, le)`` at the offsets ``a = a_j`` (any shape): Pr(move j),
    Pr(Qs ≥ j) and Pr(Qs ≤ j), by quadrature of the density, CDF and SF (module docstring).

    ``upper`` / ``lower`` (boolean, ``a``'s shape), when given, say where ``ge`` / ``le`` are wanted (the box's faces,
    one entry of a row at most): elsewhere they are 0, and the entries computed are the same bits as without.

    Raises
    ------
    SrchainError
        The noise is so wide that a move's probability ``≈ h·f`` is below the float64 range while its density is
        positive (a neighbour move would vanish and the chain would look reducible).
    """
    a = np.asarray(a, dtype=np.float64)
    exact = h * (_integral(noise.pdf, a, h, 1.0, True) + _integral(noise.pdf, a, h, -1.0, True))

    def at(mask, fn, sign):
        if mask is None:
            return _integral(fn, a, h, sign, False)
        out = np.zeros(a.shape)
        out[mask] = _integral(fn, a[mask], h, sign, False)
        return out

    ge = at(upper, noise.cdf, 1.0)
    le = at(lower, noise.sf, -1.0)
    _check_resolved(noise, exact, h)
    return exact, ge, le


def wide_r_law(noise: NoiseModel, b_hi: np.ndarray, h: float) -> np.ndarray:
    """R's (Eq. 4) move law for wide noise: ``Pr(j − ½ ≤ u < j + ½) = h ∫₀¹ f(b_hi + h t) dt``."""
    exact = h * _integral(noise.pdf, np.asarray(b_hi, dtype=np.float64), h, 1.0, False)
    _check_resolved(noise, exact, h)
    return exact


def _check_resolved(noise: NoiseModel, exact: np.ndarray, h: float) -> None:
    if not np.any(exact < _TINY):
        return
    peak = h * float(np.asarray(noise.pdf(0.0)))
    if peak < _TINY:
        raise SrchainError(
            f"the noise ({noise.describe()}) is so wide that a move between neighbouring states has probability about "
            f"{peak:.3g}, below float64's smallest normal number {_TINY:.3g}: float64 cannot resolve this chain; use a "
            f"smaller sigma, or a larger alpha/delta ratio"
        )


def discrete_sr_laws(noise: NoiseModel, grads: np.ndarray, tau: float, offs: np.ndarray):
    """SR's move laws for a discrete noise, ``(exact, ge, le)``: ``E[hat(m_v − j)]``, ``E[clip(m_v − j + 1, 0, 1)]``
    and ``E[clip(j + 1 − m_v, 0, 1)]`` summed exactly over the support (``m_v = −τ(∇f + v)``, ``grads`` with a
    trailing axis). ``hat`` is evaluated as ``min((1 + j) − m, (1 − j) + m)⁺``: ``1 ± j`` is exact and a small
    result comes from an exact subtraction, so moves of probability ~τ keep their relative accuracy for every α."""
    vals, w = noise.support()  # type: ignore[misc]  # a discrete law has a support
    shape = grads.shape[:-1] + (offs.size,)
    exact, ge, le = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for v, p in zip(vals, w, strict=True):  # the support is small (C(m, B) merged values)
        mv = -tau * (grads + v)
        up = (1.0 + offs) - mv
        dn = (1.0 - offs) + mv
        exact += p * np.maximum(0.0, np.minimum(up, dn))
        ge += p * np.clip(dn, 0.0, 1.0)
        le += p * np.clip(up, 0.0, 1.0)
    return exact, ge, le
