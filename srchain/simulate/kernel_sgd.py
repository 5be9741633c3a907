"""The SGD kernel: the gradient off the lattice, from the problem's own Numba gradient."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from srchain import pcg
from srchain.rules import NoiseKind
from srchain.simulate.draws import count_latent, draw_noise

__all__ = ["chain_sgd"]


@njit(nogil=True)
def chain_sgd(states, grad, gparams, chain, grid, noise, run):
    """One SGD chain: ``w ← Π(w − α(∇f(w) + ξ̄))`` in real units, ``grad(w, gparams, out)`` the problem's Numba
    gradient (not cacheable: Numba cannot cache a kernel that takes a function). Records as
    :func:`srchain.simulate.kernels_nd.chain_lattice`, except that ``start`` and ``final`` are in real units and
    ``grid = (lo, shape, strides, delta)``.
    """
    c, alpha, start, counts, lat_counts, final = chain
    lo, shape, strides, delta = grid
    code, params = noise
    steps, burn, bpc = run
    s = pcg.load(states, c)
    d = shape.shape[0]
    m = params.shape[0] - 1 if code == NoiseKind.MINIBATCH else 1
    perm = np.arange(m)
    w = start.copy()  # real units
    g = np.empty(d)
    nbins = lat_counts.shape[1]
    for t in range(burn + steps):
        grad(w, gparams, g)
        idx = 0
        for j in range(d):
            xi, s = draw_noise(s, code, params, perm)
            x = w[j] - alpha * (g[j] + xi)
            hi = lo[j] + delta * (shape[j] - 1)
            if x < lo[j]:
                x = lo[j]
            elif x > hi:
                x = hi
            w[j] = x
            u = (x - lo[j]) / delta
            kj = min(int(math.floor(u + 0.5)), shape[j] - 1)
            idx += kj * strides[j]
            if t >= burn:
                count_latent(lat_counts[j], u, bpc, nbins)
        if t >= burn:
            counts[idx] += 1
    for j in range(d):
        final[j] = w[j]
    pcg.store(states, c, s)
