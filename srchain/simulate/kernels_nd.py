"""The d-dimensional lattice kernel: R, SR and BC (Qd or Qs) with the gradient tabulated on the lattice."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from srchain import pcg
from srchain.rules import NoiseKind, Rule
from srchain.simulate.draws import count_latent, draw_noise

__all__ = ["chain_lattice"]


@njit(cache=True, nogil=True)
def chain_lattice(states, chain, grid, noise, run):
    """One chain of R, SR or BC on a d-dimensional lattice, with the records

    * ``chain = (c, rule, alpha, start, counts, lat_counts, final)``: the stream ``states[c]``, the :class:`Rule`,
      α, the start in lattice units ``(w − lo)/Δ``, this chain's histogram rows, and ``final`` that receives the
      final state (same units);
    * ``grid = (shape, strides, delta, G)``: the lattice and the gradient table ``G[index, j]``;
    * ``noise = (code, params)``: :class:`NoiseKind` and :attr:`NoiseModel.numba_params`;
    * ``run = (steps, burn, bpc)``: counted steps, uncounted burn-in steps, latent bins per cell.
    """
    c, method, alpha, start, counts, lat_counts, final = chain
    shape, strides, delta, G = grid
    code, params = noise
    steps, burn, bpc = run
    s = pcg.load(states, c)
    d = shape.shape[0]
    ad = alpha / delta
    m = params.shape[0] - 1 if code == NoiseKind.MINIBATCH else 1
    perm = np.arange(m)
    total = burn + steps
    nbins = lat_counts.shape[1]
    if method == Rule.R or method == Rule.SR:
        k = np.empty(d, dtype=np.int64)
        idx = 0
        for j in range(d):
            kj = int(math.floor(start[j] + 0.5))
            kj = min(max(kj, 0), shape[j] - 1)
            k[j] = kj
            idx += kj * strides[j]
        for t in range(total):
            nidx = 0
            for j in range(d):
                xi, s = draw_noise(s, code, params, perm)
                x = k[j] - ad * (G[idx, j] + xi)
                if method == Rule.SR:  # Qs(x) = floor(x + U), U ~ U[0, 1)
                    u, s = pcg.next_double(s)
                    f = math.floor(x + u)
                else:
                    f = math.floor(x + 0.5)
                if f < 0.0:
                    kj = 0
                elif f > shape[j] - 1:
                    kj = shape[j] - 1
                else:
                    kj = int(f)
                k[j] = kj
                nidx += kj * strides[j]
            idx = nidx
            if t >= burn:
                counts[idx] += 1
        for j in range(d):
            final[j] = k[j]
    else:
        w = np.empty(d)
        idx = 0
        for j in range(d):
            w[j] = min(max(start[j], 0.0), shape[j] - 1.0)
        # quantized point of the start
        for j in range(d):
            if method == Rule.BC_QS:
                u, s = pcg.next_double(s)
                f = math.floor(w[j] + u)
            else:
                f = math.floor(w[j] + 0.5)
            kj = min(max(int(f), 0), shape[j] - 1)
            idx += kj * strides[j]
        for t in range(total):
            nidx = 0
            for j in range(d):
                xi, s = draw_noise(s, code, params, perm)
                x = w[j] - ad * (G[idx, j] + xi)
                hi = shape[j] - 1.0
                if x < 0.0:
                    x = 0.0
                elif x > hi:
                    x = hi
                w[j] = x
                if method == Rule.BC_QS:
                    u, s = pcg.next_double(s)
                    f = math.floor(x + u)
                else:
                    f = math.floor(x + 0.5)
                kj = int(f)
                if kj > shape[j] - 1:
                    kj = shape[j] - 1
                nidx += kj * strides[j]
                if t >= burn:
                    count_latent(lat_counts[j], x, bpc, nbins)
            idx = nidx
            if t >= burn:
                counts[idx] += 1
        for j in range(d):
            final[j] = w[j]
    pcg.store(states, c, s)
