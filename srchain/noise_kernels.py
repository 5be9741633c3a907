"""Special functions of the noise laws (:mod:`srchain.noise`), compiled where they are hot.

* ``ψ(z) = E[(z − Z)⁺] = zΦ(z) + φ(z)`` for standard normal Z, the Gaussian partial expectation from which the
  Gaussian model's ``lower_partial``/``upper_partial`` follow, evaluated without cancellation in both tails
  (:func:`_psi_neg`, :func:`_psi_gauss`), threaded for large inputs;
* the Gaussian excess ``E[(a − ξ̄)⁺] − a⁺ = s·ψ(−|a|/s)`` (:func:`_gauss_excess_one`), which the T_α kernels
  (:mod:`srchain.move_kernels`) evaluate where they use it;
* the Student-t density (:func:`_t_pdf`), from ``scipy.special`` only.

Each element is computed alone, so the threaded and serial kernels give the same bits.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange
from scipy import special

__all__: list[str] = []


@njit(cache=True, nogil=True)
def _psi_neg(t):
    """``ψ(−t) = φ(t) − t·Q(t)`` for t ≥ 0 (Q the normal tail), with relative accuracy ~1e-13.

    For t ≤ 30 the direct form loses at most ~t²·eps to cancellation; beyond, the asymptotic series
    ``φ(t)·(t⁻² − 3t⁻⁴ + 15t⁻⁶ − 105t⁻⁸ + 945t⁻¹⁰ − 10395t⁻¹²)`` is accurate to ~135135·t⁻¹² < 3e-13.
    """
    phi = math.exp(-0.5 * t * t) * 0.3989422804014327
    if t <= 30.0:
        v = phi - t * 0.5 * math.erfc(t * 0.7071067811865476)
        return v if v > 0.0 else 0.0
    r = 1.0 / (t * t)
    return phi * r * (1.0 - r * (3.0 - r * (15.0 - r * (105.0 - r * (945.0 - r * 10395.0)))))


@njit(cache=True, nogil=True, parallel=True)
def _psi_gauss_flat(z, out):
    for i in prange(z.size):
        x = z[i]
        if x >= 0.0:
            out[i] = x + _psi_neg(x)
        else:
            out[i] = _psi_neg(-x)


@njit(cache=True, nogil=True)
def _psi_gauss_flat_serial(z, out):
    """:func:`_psi_gauss_flat` on one thread: the same numbers (each element is computed alone). A threaded
    (``parallel=True``) kernel costs about 0.3 s more to compile, and small inputs (Figure 2's operators) do not
    need it. (Two functions, not one body under two decorators: Numba's cache keys a kernel by its function, not
    by its flags.)"""
    for i in range(z.size):
        x = z[i]
        if x >= 0.0:
            out[i] = x + _psi_neg(x)
        else:
            out[i] = _psi_neg(-x)


#: Inputs from this many elements on take the threaded kernel. Below it one thread is as fast or faster (65536
#: elements: 1.8 ms serial, 7 ms threaded on 2 cores; BC's transfer operators in Figure 2 reach about 460,000), and
#: the serial kernel compiles in a third of the time.
_PSI_PARALLEL_MIN = 1 << 20


@njit(cache=True, nogil=True, inline="always")
def _gauss_excess_one(a, s):
    r"""``s·ψ(−|a|/s)``, the Gaussian excess :math:`\mathbb{E}[(a - \bar\xi)^+] - a^+` (``s`` the std of ξ̄)."""
    x = -(abs(a) / s)
    v = x + _psi_neg(x) if x >= 0.0 else _psi_neg(-x)
    return s * v


@njit(cache=True, nogil=True, parallel=True)
def _gauss_excess_flat(a, s, out):
    for i in prange(a.size):
        out[i] = _gauss_excess_one(a[i], s)


@njit(cache=True, nogil=True)
def _gauss_excess_flat_serial(a, s, out):
    """:func:`_gauss_excess_flat` on one thread (the same numbers: each element is computed alone)."""
    for i in range(a.size):
        out[i] = _gauss_excess_one(a[i], s)


def _psi_gauss_into(flat, out):
    """``out[i] = ψ(flat[i])`` (1-D contiguous float64 arrays), threaded for large inputs."""
    (_psi_gauss_flat if flat.size >= _PSI_PARALLEL_MIN else _psi_gauss_flat_serial)(flat, out)


def _psi_gauss(z):
    """``ψ(z) = E[(z − Z)⁺] = zΦ(z) + φ(z)`` for standard normal Z, without cancellation: ψ(z) = ψ(−|z|) + max(z, 0)
    and ψ(−t) = φ(t) − tQ(t) (see :func:`_psi_neg`)."""
    z = np.asarray(z, dtype=np.float64)
    flat = np.ascontiguousarray(z).ravel()
    out = np.empty_like(flat)
    _psi_gauss_into(flat, out)
    return out.reshape(z.shape) if z.ndim else float(out[0])


def _t_pdf(a, nu):
    """Density of the standard Student-t law with ν degrees of freedom (scipy.special only: importing
    scipy.stats costs about a second at start-up)."""
    a = np.asarray(a, dtype=np.float64)
    logc = special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2) - 0.5 * math.log(nu * math.pi)
    return np.exp(logc - (nu + 1) / 2 * np.log1p(a * a / nu))
