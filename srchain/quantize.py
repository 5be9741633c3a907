"""Quantizers on the grid ΔZ (paper Eq. 3 and Eq. 5), as Numba kernels with NumPy wrappers.

* ``qd``: deterministic rounding, Eq. 3: ``Qd(w) = sign(w) · Δ · floor(|w|/Δ + 1/2)`` (ties away from zero);
  the binary case ``{−Δ, +Δ}`` is ``Δ · sign(w)`` with ``sign(0) = +1``.
* ``qs``: stochastic rounding, Eq. 5: ``Qs(w) = Δ(⌊w/Δ⌋ + 1)`` if ``p ≤ w/Δ − ⌊w/Δ⌋`` else ``Δ⌊w/Δ⌋``, with
  ``p ~ U[0, 1)``; hence ``E[Qs(w)] = w`` and ``Var[Qs(w)] = Δ² q (1 − q)`` with ``q = w/Δ − ⌊w/Δ⌋``.

Both accept an optional box ``domain = (lo, hi)`` (grid points) and clip the result into it, as the paper's
analysis assumes for a bounded domain. The scalar kernels ``qd_scalar`` / ``qs_scalar`` are meant to be
called from other Numba kernels (the simulators); they take the uniform draw as an argument so that the
caller owns the random stream.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit, vectorize
from numpy.typing import ArrayLike

from srchain.errors import SrchainError

__all__ = ["qd", "qs", "qd_binary", "qd_scalar", "qs_scalar", "QUANTIZERS", "check_delta", "check_alpha"]


def check_delta(delta: float) -> float:
    """Return ``delta`` as a float, or raise :class:`SrchainError` unless it is finite and positive."""
    delta = float(delta)
    if not np.isfinite(delta) or delta <= 0:
        raise SrchainError(f"the quantization step delta must be a positive finite number, got {delta!r}")
    return delta


def check_alpha(alpha) -> float:
    """Return the learning rate ``alpha`` as a float, or raise :class:`SrchainError` unless it is finite and > 0."""
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        a = float("nan")
    if not np.isfinite(a) or a <= 0:
        raise SrchainError(f"the learning rate alpha must be a positive finite number, got {alpha!r}")
    return a


@njit(cache=True, nogil=True, inline="always")
def qd_scalar(w, delta):
    r"""Eq. 3 for one number: :math:`\operatorname{sign}(w)\,\Delta\,\lfloor |w|/\Delta + 1/2\rfloor`."""
    k = np.floor(abs(w) / delta + 0.5)
    return k * delta if w >= 0 else -k * delta


@njit(cache=True, nogil=True, inline="always")
def qs_scalar(w, delta, p):
    r"""Eq. 5 for one number, given the uniform draw ``p`` in :math:`[0, 1)`: round up iff
    :math:`p < q = w/\Delta - \lfloor w/\Delta\rfloor`.

    (Eq. 5 writes :math:`p \le q`; for a continuous :math:`p` the two agree with probability one, and
    :math:`p < q` keeps grid points fixed when :math:`q = 0` and :math:`p = 0`.)
    """
    x = w / delta
    f = np.floor(x)
    return (f + 1.0) * delta if p < x - f else f * delta


def _qd_elem(w, delta):
    return qd_scalar(w, delta)


def _qs_elem(w, delta, p):
    return qs_scalar(w, delta, p)


@functools.cache
def _ufuncs():
    """The NumPy ufuncs of Eq. 3 and Eq. 5, built on first use: building a ``vectorize`` with signatures costs
    ~0.6 s even from Numba's cache, which every ``import srchain.lattice`` would otherwise pay."""
    qd_u = vectorize(["float64(float64, float64)"], cache=True, nopython=True)(_qd_elem)
    qs_u = vectorize(["float64(float64, float64, float64)"], cache=True, nopython=True)(_qs_elem)
    return qd_u, qs_u


def _clip(out, domain):
    if domain is None:
        return out
    lo, hi = domain
    return np.clip(out, lo, hi)


def qd(w: ArrayLike, delta: float, domain: ArrayLike | None = None) -> float | np.ndarray:
    r"""Deterministic rounding :math:`Q_d` of Eq. 3 (round half away from zero onto :math:`\Delta\mathbb{Z}`),
    optionally clipped.

    .. math::

        Q_d(w) = \operatorname{sign}(w)\,\Delta\,\Big\lfloor \frac{|w|}{\Delta} + \frac12 \Big\rfloor .

    Parameters
    ----------
    w : array_like
        Real-valued weights.
    delta : float
        Grid spacing :math:`\Delta > 0`.
    domain : (lo, hi), optional
        Box to clip the rounded value into (use grid points).

    Returns
    -------
    ndarray (or float for scalar input)

    Examples
    --------
    >>> qd([0.25, 0.75, -0.25, -0.75, 1.3], 0.5).tolist()
    [0.5, 1.0, -0.5, -1.0, 1.5]
    """
    delta = check_delta(delta)
    out = _ufuncs()[0](np.asarray(w, dtype=np.float64), delta)
    return _clip(out, domain)


def qd_binary(w, delta: float = 1.0):
    r"""Binary deterministic rounding onto :math:`\{-\Delta, +\Delta\}`: :math:`\Delta\operatorname{sign}(w)` with
    :math:`\operatorname{sign}(0) = +1` (Section 2)."""
    delta = check_delta(delta)
    w = np.asarray(w, dtype=np.float64)
    return np.where(w >= 0, delta, -delta)


def qs(
    w: ArrayLike,
    delta: float,
    rng: np.random.Generator | int | None = None,
    domain: ArrayLike | None = None,
    p: ArrayLike | None = None,
) -> float | np.ndarray:
    r"""Stochastic rounding :math:`Q_s` of Eq. 5, optionally clipped to ``domain``.

    With :math:`q = w/\Delta - \lfloor w/\Delta\rfloor` and a uniform draw :math:`p \sim U[0, 1)`,

    .. math::

        Q_s(w) = \begin{cases} \Delta\,(\lfloor w/\Delta\rfloor + 1) & \text{if } p \le q, \\
                               \Delta\,\lfloor w/\Delta\rfloor & \text{otherwise,} \end{cases}

    hence :math:`\mathbb{E}[Q_s(w)] = w` and :math:`\operatorname{Var}[Q_s(w)] = \Delta^2 q(1 - q)`. (The kernel
    :func:`qs_scalar` rounds up iff :math:`p < q`, which agrees with Eq. 5 with probability one.)

    Parameters
    ----------
    w : array_like
        Real-valued weights.
    delta : float
        Grid spacing :math:`\Delta > 0`.
    rng : numpy.random.Generator or int, optional
        Source of the uniform draws (ignored when ``p`` is given).
    domain : (lo, hi), optional
        Box to clip into.
    p : array_like, optional
        The uniform draws themselves, broadcastable against ``w``.

    Returns
    -------
    ndarray
        Values on :math:`\Delta\mathbb{Z}` with :math:`\mathbb{E}[Q_s(w)] = w` (before clipping).
    """
    delta = check_delta(delta)
    w = np.asarray(w, dtype=np.float64)
    if p is None:
        rng = np.random.default_rng(rng)
        p = rng.random(w.shape)
    out = _ufuncs()[1](w, delta, np.asarray(p, dtype=np.float64))
    return _clip(out, domain)


#: Name -> quantizer, the vocabulary shared by the CLI and the code.
QUANTIZERS = {"qd": qd, "qs": qs, "binary": qd_binary}
