"""The kernels' shared draws and counts: one batch-mean noise draw (the switch on :class:`srchain.rules.NoiseKind`)
and the latent-weight histogram.

Random numbers come from :mod:`srchain.pcg`: NumPy's PCG64 stream inlined, passed along as the state tuple ``s``.
"""

from __future__ import annotations

import math

from numba import njit

from srchain import pcg
from srchain.rules import NoiseKind

__all__ = ["draw_noise", "count_latent"]


@njit(cache=True, nogil=True)
def draw_noise(s, code, params, perm):
    """One draw of the batch-mean noise ξ̄; returns ``(ξ̄, s)``.

    ``code`` is a :class:`NoiseKind`: GAUSSIAN ``params = [s]`` (s = σ/√B, already folded in); LAPLACE ``[b, B]``
    (mean of B Laplace(0, b) by inversion); STUDENT_T ``[scale, B, ν]`` (mean of B ``scale · Z/√(χ²_ν/ν)``); MINIBATCH
    ``[B, e_1..e_m]`` (mean of a uniformly random B-subset, drawn without replacement by a partial Fisher–Yates
    shuffle of the persistent permutation ``perm``).
    """
    if code == NoiseKind.GAUSSIAN:
        z, s = pcg.standard_normal(s)
        return params[0] * z, s
    if code == NoiseKind.LAPLACE:
        b = params[0]
        nb = int(params[1])
        acc = 0.0
        for _ in range(nb):
            u, s = pcg.next_double(s)
            while u == 0.0:
                u, s = pcg.next_double(s)
            # inverse CDF of Laplace(0, b): u in (0, 1)
            if u < 0.5:
                acc += b * math.log(2.0 * u)
            else:
                acc -= b * math.log(2.0 * (1.0 - u))
        return acc / nb, s
    if code == NoiseKind.STUDENT_T:
        sc = params[0]
        nb = int(params[1])
        nu = params[2]
        acc = 0.0
        for _ in range(nb):
            z, s = pcg.standard_normal(s)
            g, s = pcg.standard_gamma(s, 0.5 * nu)
            acc += z / math.sqrt(2.0 * g / nu)
        return sc * acc / nb, s
    # NoiseKind.MINIBATCH
    nb = int(params[0])
    m = params.shape[0] - 1
    acc = 0.0
    for i in range(nb):
        u, s = pcg.next_double(s)
        j = i + int(u * (m - i))
        if j >= m:
            j = m - 1
        t = perm[i]
        perm[i] = perm[j]
        perm[j] = t
        acc += params[1 + perm[i]]
    return acc / nb, s


@njit(cache=True, nogil=True)
def count_latent(lat, x, bpc, nbins):
    """Count the latent weight ``x`` (lattice units, ``x ≥ 0``) in its bin of width ``1/bpc``; the top edge goes
    to the last bin."""
    b = int(x * bpc)
    if b >= nbins:
        b = nbins - 1
    lat[b] += 1
