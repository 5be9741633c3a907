"""Right-hand sides of Lemma 1, Theorems 1–4 and Corollary 1 (Section 4 and Appendices A–E of the paper).

Every function is a pure function of a problem's constants; arguments broadcast like NumPy arrays.

Symbols: ``d`` dimension, ``delta`` the grid spacing Δ, ``G`` with ``E‖∇f̃(w)‖² ≤ G²`` on the domain, ``mu`` the
strong convexity μ, ``L`` the smoothness of F, ``L2`` the Lipschitz constant of the Hessians ∇²f_i, ``D`` the
domain's diameter, ``T`` the number of averaged iterates, ``c`` the constant of the schedule α_t = c/√t.

The ``*_stated`` functions are the theorems exactly as printed in the paper's Section 4; they are the default.
Checking the appendices found three places where the proofs do not give the printed constants; the
``*_proved`` functions give what the written argument actually establishes:

* Theorems 2, 3 use ``Σ_{t=1}^T α_t ≤ c√(T+1)``, but ``Σ_{t=1}^T 1/√t`` grows like ``2√T`` (it exceeds
  ``√(T+1)`` from T = 3 on); with ``Σ 1/√t ≤ 2√T − 1`` the middle term is ``c G² (2√T − 1)/(2T)``.
* Theorem 2 is printed with ``D²/(c√T)``; its proof (Appendix C) ends with ``D²/(2c√T)``.
* Theorem 4's proof bounds the Taylor remainder ``‖r̂_t‖ ≤ (L₂/2)‖r_t‖²`` and then uses ``(L₂/2)‖r_t‖``; with
  ``‖r_t‖ ≤ √d Δ`` the remainder gives the floor ``D L₂ d Δ² / 2`` (quadratic in Δ). The two agree in order
  only when ``√d Δ ≤ 1``, where the printed floor is the larger. The proof also needs ``E[r_t] = 0``, i.e.
  stochastic rounding inside BC.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from srchain.errors import SrchainError

#: what a bound returns: a float (``np.float64``) for scalar arguments, an array where they broadcast to one
Bound = float | np.ndarray

__all__ = [
    "lemma1",
    "sr_floor",
    "bc_floor",
    "bc_strong_floor",
    "theorem1",
    "theorem2",
    "theorem3",
    "theorem4",
    "corollary1",
    "theorem2_proved",
    "theorem3_proved",
    "theorem4_proved",
    "sqrt_schedule_sum",
]


def _pos(name: str, x: ArrayLike, allow_zero: bool = False) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    bad = (a < 0) if allow_zero else (a <= 0)
    if np.any(~np.isfinite(a)) or np.any(bad):
        raise SrchainError(f"{name} must be {'>= 0' if allow_zero else '> 0'} and finite, got {x!r}")
    return a


def _T(T: ArrayLike) -> np.ndarray:
    a = np.asarray(T, dtype=np.float64)
    if np.any(~np.isfinite(a)) or np.any(a < 1):
        raise SrchainError(f"the number of steps T must be >= 1, got {T!r}")
    return a


def lemma1(d: ArrayLike, delta: ArrayLike, alpha: ArrayLike, G: ArrayLike) -> Bound:
    r"""Lemma 1: :math:`\mathbb{E}\|r_t\|^2 \le \sqrt{d}\,\Delta\,\alpha_t\,G` for SR's rounding error.

    The rounding error of one SR step is

    .. math::

        r_t = Q_s\big(w_t - \alpha_t\nabla\tilde f(w_t)\big) - \big(w_t - \alpha_t\nabla\tilde f(w_t)\big).

    The proof (Appendix A) passes through :math:`\mathbb{E}_p\|r_t\|^2 \le \Delta\,\alpha_t\,\|\nabla\tilde f(w_t)\|_1`
    (Eq. 11), nearly tight for small :math:`\alpha_t`.
    """
    return np.sqrt(_pos("d", d)) * _pos("delta", delta, True) * _pos("alpha", alpha) * _pos("G", G, True)


def sr_floor(d: ArrayLike, delta: ArrayLike, G: ArrayLike) -> Bound:
    r"""SR's accuracy floor in Theorems 1 and 2: :math:`\sqrt{d}\,\Delta G/2`."""
    return np.sqrt(_pos("d", d)) * _pos("delta", delta, True) * _pos("G", G, True) / 2


def bc_floor(d: ArrayLike, delta: ArrayLike, L: ArrayLike, D: ArrayLike) -> Bound:
    r"""BC's accuracy floor in Theorem 3: :math:`\sqrt{d}\,\Delta L D`."""
    return np.sqrt(_pos("d", d)) * _pos("delta", delta, True) * _pos("L", L, True) * _pos("D", D)


def bc_strong_floor(d: ArrayLike, delta: ArrayLike, D: ArrayLike, L2: ArrayLike) -> Bound:
    r"""BC's floor in Theorem 4 as printed: :math:`D L_2\sqrt{d}\,\Delta/2` (zero for quadratics, Corollary 1)."""
    return _pos("D", D) * _pos("L2", L2, True) * np.sqrt(_pos("d", d)) * _pos("delta", delta, True) / 2


def _strong_term(T, G, mu):
    T = _T(T)
    return (1 + np.log(T + 1)) * _pos("G", G, True) ** 2 / (2 * _pos("mu", mu) * T)


def theorem1(T: ArrayLike, d: ArrayLike, delta: ArrayLike, G: ArrayLike, mu: ArrayLike) -> Bound:
    r"""Theorem 1 (SR, :math:`\mu`-strongly convex, :math:`\alpha_t = 1/(\mu(t+1))`):

    .. math::

        \mathbb{E}[F(\bar w_T) - F(w^*)] \le \frac{(1 + \log(T+1))\,G^2}{2\mu T} + \frac{\sqrt{d}\,\Delta G}{2}.

    With :math:`\Delta = 0` it is the classical bound for (projected) SGD.
    """
    return _strong_term(T, G, mu) + sr_floor(d, delta, G)


def theorem2(T: ArrayLike, d: ArrayLike, delta: ArrayLike, G: ArrayLike, D: ArrayLike, c: ArrayLike) -> Bound:
    r"""Theorem 2 as printed (SR, convex, domain of diameter :math:`D`, :math:`\alpha_t = c/\sqrt{t}`):

    .. math::

        \mathbb{E}[F(\bar w_T) - F(w^*)] \le \frac{D^2}{c\sqrt{T}} + \frac{\sqrt{T+1}}{2T}\,c\,G^2
        + \frac{\sqrt{d}\,\Delta G}{2}.
    """
    T = _T(T)
    c = _pos("c", c)
    return (
        _pos("D", D) ** 2 / (c * np.sqrt(T))
        + np.sqrt(T + 1) / (2 * T) * c * _pos("G", G, True) ** 2
        + sr_floor(d, delta, G)
    )


def theorem3(
    T: ArrayLike, d: ArrayLike, delta: ArrayLike, G: ArrayLike, D: ArrayLike, c: ArrayLike, L: ArrayLike
) -> Bound:
    r"""Theorem 3 as printed (BC, :math:`L`-smooth :math:`F`, domain of diameter :math:`D`,
    :math:`\alpha_t = c/\sqrt{t}`):

    .. math::

        \mathbb{E}[F(\bar w_T) - F(w^*)] \le \frac{D^2}{2c\sqrt{T}} + \frac{\sqrt{T+1}}{2T}\,c\,G^2
        + \sqrt{d}\,\Delta L D.
    """
    T = _T(T)
    c = _pos("c", c)
    return (
        _pos("D", D) ** 2 / (2 * c * np.sqrt(T))
        + np.sqrt(T + 1) / (2 * T) * c * _pos("G", G, True) ** 2
        + bc_floor(d, delta, L, D)
    )


def theorem4(
    T: ArrayLike, d: ArrayLike, delta: ArrayLike, G: ArrayLike, D: ArrayLike, mu: ArrayLike, L2: ArrayLike
) -> Bound:
    r"""Theorem 4 as printed (BC, :math:`\mu`-strongly convex, :math:`\nabla^2 f_i` :math:`L_2`-Lipschitz,
    :math:`\alpha_t = 1/(\mu(t+1))`):

    .. math::

        \mathbb{E}[F(\bar w_T) - F(w^*)] \le \frac{(1 + \log(T+1))\,G^2}{2\mu T} + \frac{D L_2\sqrt{d}\,\Delta}{2}.
    """
    return _strong_term(T, G, mu) + bc_strong_floor(d, delta, D, L2)


def corollary1(T: ArrayLike, G: ArrayLike, mu: ArrayLike) -> Bound:
    r"""Corollary 1 (BC on a quadratic, :math:`L_2 = 0`, :math:`\alpha_t = 1/(\mu(t+1))`):

    .. math::

        \mathbb{E}[F(\bar w_T) - F(w^*)] \le \frac{(1 + \log(T+1))\,G^2}{2\mu T}.

    No floor: BC's real-valued weights converge to the true minimiser.
    """
    return _strong_term(T, G, mu)


def sqrt_schedule_sum(T: ArrayLike) -> Bound:
    r"""An upper bound of :math:`\sum_{t=1}^T 1/\sqrt{t}`: :math:`2\sqrt{T} - 1` (the paper's proofs use
    :math:`\sqrt{T+1}`, too small for :math:`T \ge 3`)."""
    return 2 * np.sqrt(_T(T)) - 1


def theorem2_proved(T: ArrayLike, d: ArrayLike, delta: ArrayLike, G: ArrayLike, D: ArrayLike, c: ArrayLike) -> Bound:
    r"""Theorem 2 as Appendix C's argument proves it, with the sum of step sizes bounded correctly:

    .. math::

        \mathbb{E}[F(\bar w_T) - F(w^*)] \le \frac{D^2}{2c\sqrt{T}} + \frac{c\,G^2\,(2\sqrt{T} - 1)}{2T}
        + \frac{\sqrt{d}\,\Delta G}{2}.
    """
    T = _T(T)
    c = _pos("c", c)
    return (
        _pos("D", D) ** 2 / (2 * c * np.sqrt(T))
        + c * _pos("G", G, True) ** 2 * sqrt_schedule_sum(T) / (2 * T)
        + sr_floor(d, delta, G)
    )


def theorem3_proved(
    T: ArrayLike, d: ArrayLike, delta: ArrayLike, G: ArrayLike, D: ArrayLike, c: ArrayLike, L: ArrayLike
) -> Bound:
    r"""Theorem 3 with the sum of step sizes bounded correctly:

    .. math::

        \mathbb{E}[F(\bar w_T) - F(w^*)] \le \frac{D^2}{2c\sqrt{T}} + \frac{c\,G^2\,(2\sqrt{T} - 1)}{2T}
        + \sqrt{d}\,\Delta L D.
    """
    T = _T(T)
    c = _pos("c", c)
    return (
        _pos("D", D) ** 2 / (2 * c * np.sqrt(T))
        + c * _pos("G", G, True) ** 2 * sqrt_schedule_sum(T) / (2 * T)
        + bc_floor(d, delta, L, D)
    )


def theorem4_proved(
    T: ArrayLike, d: ArrayLike, delta: ArrayLike, G: ArrayLike, D: ArrayLike, mu: ArrayLike, L2: ArrayLike
) -> Bound:
    r"""Theorem 4 with the Taylor remainder :math:`\|\hat r\| \le (L_2/2)\|r\|^2 \le (L_2/2)\,d\,\Delta^2` used as
    written in Appendix E:

    .. math::

        \mathbb{E}[F(\bar w_T) - F(w^*)] \le \frac{(1 + \log(T+1))\,G^2}{2\mu T} + \frac{D L_2\,d\,\Delta^2}{2}

    (needs :math:`\mathbb{E}[r_t] = 0`, i.e. stochastic rounding in BC).
    """
    return (
        _strong_term(T, G, mu)
        + _pos("D", D) * _pos("L2", L2, True) * _pos("d", d) * _pos("delta", delta, True) ** 2 / 2
    )
