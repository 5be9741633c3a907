"""The paper's 1-D non-convex objective (8) and its d-dimensional forms.

Objective (8) (Section 5.1)::

    f(w) = w² + 2               for w < 1,
           (w − 2.5)² + 0.75    for 1 ≤ w < 3.5,
           (w − 4.75)² + 0.19   for w ≥ 3.5.

Local minimisers at 0 (f = 2), 2.5 (f = 0.75) and the global one at 4.75 (f = 0.19).

* ``separable``: ``F(w) = Σ_k f(w_k)``; its SR chain is the product of d independent 1-D chains (the noise is
  independent across coordinates and Qs rounds each coordinate independently), so its stationary law is the
  product of the 1-D laws: an exact answer at any size.
* ``coupled``: ``F(w) = Σ_k f(w_k) + (c/2) Σ_k (w_k − w_{k+1})²``; same global minimiser (4.75, …, 4.75), no
  product structure: a scale test.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "f8",
    "f8_grad",
    "f8_value_scalar",
    "f8_grad_scalar",
    "TOY_DOMAIN",
    "TOY_MINIMIZER",
    "separable_value",
    "separable_gradient",
    "coupled_value",
    "coupled_gradient",
    "toy_grad_kernel",
    "separable_grad_kernel",
    "coupled_grad_kernel",
]

#: Default box: wide enough that the laws of Figure 2's settings put no visible mass on its edges.
TOY_DOMAIN = (-4.0, 10.0)
TOY_MINIMIZER = 4.75
TOY_LOCAL_MINIMIZERS = (0.0, 2.5, 4.75)


@njit(cache=True, nogil=True, inline="always")
def f8_value_scalar(w):
    """Objective (8) at one point."""
    if w < 1.0:
        return w * w + 2.0
    if w < 3.5:
        return (w - 2.5) ** 2 + 0.75
    return (w - 4.75) ** 2 + 0.19


@njit(cache=True, nogil=True, inline="always")
def f8_grad_scalar(w):
    """Derivative of objective (8) at one point (right-continuous at the breaks 1 and 3.5)."""
    if w < 1.0:
        return 2.0 * w
    if w < 3.5:
        return 2.0 * (w - 2.5)
    return 2.0 * (w - 4.75)


def f8(w):
    """Objective (8), vectorised."""
    w = np.asarray(w, dtype=np.float64)
    return np.where(w < 1.0, w * w + 2.0, np.where(w < 3.5, (w - 2.5) ** 2 + 0.75, (w - 4.75) ** 2 + 0.19))


def f8_grad(w):
    """Derivative of objective (8), vectorised."""
    w = np.asarray(w, dtype=np.float64)
    return np.where(w < 1.0, 2.0 * w, np.where(w < 3.5, 2.0 * (w - 2.5), 2.0 * (w - 4.75)))


def separable_value(w):
    return f8(w).sum(axis=-1)


def separable_gradient(w):
    return f8_grad(w)


def coupled_value(w, c):
    w = np.asarray(w, dtype=np.float64)
    return f8(w).sum(axis=-1) + 0.5 * c * (np.diff(w, axis=-1) ** 2).sum(axis=-1)


def coupled_gradient(w, c):
    w = np.asarray(w, dtype=np.float64)
    g = f8_grad(w)
    dw = np.diff(w, axis=-1)  # w_{k+1} − w_k
    g[..., :-1] -= c * dw
    g[..., 1:] += c * dw
    return g


@njit(cache=True, nogil=True)
def toy_grad_kernel(w, params, out):
    """Numba gradient of objective (8) (and of ``separable``: coordinate-wise)."""
    for k in range(w.shape[0]):
        out[k] = f8_grad_scalar(w[k])


separable_grad_kernel = toy_grad_kernel


@njit(cache=True, nogil=True)
def coupled_grad_kernel(w, params, out):
    """Numba gradient of the ``coupled`` problem; ``params[0]`` is the coupling c."""
    c = params[0]
    d = w.shape[0]
    for k in range(d):
        out[k] = f8_grad_scalar(w[k])
    for k in range(d - 1):
        t = c * (w[k + 1] - w[k])
        out[k] -= t
        out[k + 1] += t
