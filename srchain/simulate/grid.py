r"""Simulators on a format's grid (:class:`srchain.grids.Grid`, or any lattice): SGD, R, SR, SR with k random bits
and BC, as Numba kernels over independent chains.

Per step and coordinate :math:`k`, with the batch-mean noise :math:`\bar\xi_k` drawn as in
:mod:`srchain.simulate.draws` (the same PCG64 streams: chain ``c`` uses ``SeedSequence(seed).spawn(chains)[c]``):

* R (Eq. 4): :math:`w_k \leftarrow Q_d(w_k - \alpha(g_k(w) + \bar\xi_k))`, round-to-nearest-even on the grid;
* SR (Eq. 6): the same with :math:`Q_s`, or with SR of ``sr_bits`` random bits (:mod:`srchain.rounding`);
* BC: the latent :math:`w^r` takes the step with the gradient at :math:`Q_d(w^r)` and is clipped to the box; the
  state is :math:`Q_d(w^r)`;
* SGD: the real-valued iterate with the gradient at the iterate (the problem's Numba gradient kernel), clipped to
  the box; the state counted is its nearest grid value (Qd).

The gradient on the grid is tabulated once (``G[state, k]``). Returned: the end state of every chain and, after
``burn`` steps, the occupation counts of every state (summed over chains).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from srchain import pcg
from srchain.errors import SrchainError
from srchain.grids import axis_parity, axis_values
from srchain.rounding import check_sr_bits, qd_grid_scalar
from srchain.simulate.draws import draw_noise

__all__ = ["simulate_grid", "GRID_RULES", "GridRun"]

#: rule codes of the kernel
R, SR, BC, SGD = 0, 1, 2, 3
GRID_RULES = {"r": R, "sr": SR, "bc": BC, "sgd": SGD}


@njit(cache=True, nogil=True, inline="always")
def _flat_index(w, vals, off, shape, strides, even):
    """Flat state of the point whose coordinates are Qd(w_j) on each axis."""
    idx = 0
    for j in range(shape.shape[0]):
        v = vals[off[j] : off[j] + shape[j]]
        q = qd_grid_scalar(w[j], v, even[off[j] : off[j] + shape[j]])
        lo = 0
        hi = shape[j] - 1
        while hi - lo > 1:  # the index of the grid value q
            mid = (lo + hi) >> 1
            if v[mid] <= q:
                lo = mid
            else:
                hi = mid
        idx += (hi if v[hi] == q else lo) * strides[j]
    return idx


@njit(nogil=True)
def _sgd_chains(
    states, grad, gparams, alpha, start, vals, off, shape, strides, even, code, params, steps, burn, counts, final
):
    """SGD chains: the real iterate with the problem's Numba gradient ``grad(w, gparams, out)`` (not cacheable: a
    kernel that takes a function), clipped to the box; states counted at the iterate's nearest grid value."""
    nch = final.shape[0]
    d = shape.shape[0]
    m = params.shape[0] - 1 if code == 3 else 1
    perm = np.arange(m)
    w = np.empty(d)
    g = np.empty(d)
    for c in range(nch):
        s = pcg.load(states, c)
        for j in range(m):
            perm[j] = j
        for j in range(d):
            w[j] = min(max(start[j], vals[off[j]]), vals[off[j] + shape[j] - 1])
        for t in range(burn + steps):
            if t >= burn:
                counts[_flat_index(w, vals, off, shape, strides, even)] += 1
            grad(w, gparams, g)
            for j in range(d):
                xi, s = draw_noise(s, code, params, perm)
                y = w[j] - alpha * (g[j] + xi)
                w[j] = min(max(y, vals[off[j]]), vals[off[j] + shape[j] - 1])
        final[c] = _flat_index(w, vals, off, shape, strides, even)
        pcg.store(states, c, s)


@njit(cache=True, nogil=True, inline="always")
def _walk(vals, o, n, c, y):
    """The cell ``[v_c, v_{c+1}]`` of the axis ``v = vals[o:o+n]`` holding ``y``, walked to from the cell ``c``
    (steps are a few cells)."""
    while c < n - 2 and vals[o + c + 1] <= y:
        c += 1
    while c > 0 and vals[o + c] > y:
        c -= 1
    return c


@njit(cache=True, nogil=True)
def _chains(
    states, rule, alpha, bits, start, vals, off, shape, strides, even, G, code, params, steps, burn, counts, final
):
    """Run every chain of R, SR (``bits`` > 0: SR with that many random bits) or BC; ``final[c]`` receives chain
    c's end state (flat index), ``counts`` the occupation after ``burn`` steps. ``start`` holds the start point per
    axis (real numbers). R and SR keep each coordinate's index and find the next cell by walking from it; BC keeps
    its real-valued latent weight and the index of its rounding."""
    nch = final.shape[0]
    d = shape.shape[0]
    m = params.shape[0] - 1 if code == 3 else 1
    perm = np.arange(m)
    w = np.empty(d)
    k = np.empty(d, dtype=np.int64)
    scale = 2.0**bits
    u = 0.0
    for c in range(nch):
        s = pcg.load(states, c)
        for j in range(m):
            perm[j] = j
        for j in range(d):
            v = vals[off[j] : off[j] + shape[j]]
            ev = even[off[j] : off[j] + shape[j]]
            w[j] = min(max(start[j], v[0]), v[shape[j] - 1]) if rule == BC else start[j]
            q = qd_grid_scalar(w[j], v, ev)
            kk = _walk(vals, off[j], shape[j], min(shape[j] - 2, shape[j] // 2), q)
            k[j] = kk + 1 if v[kk + 1] == q else kk
            if rule != BC:
                w[j] = v[k[j]]
        for t in range(burn + steps):
            idx = 0
            for j in range(d):
                idx += k[j] * strides[j]
            if t >= burn:
                counts[idx] += 1
            for j in range(d):
                o = off[j]
                n = shape[j]
                xi, s = draw_noise(s, code, params, perm)
                y = w[j] - alpha * (G[idx, j] + xi)
                lo_v = vals[o]
                hi_v = vals[o + n - 1]
                if rule == BC:  # the latent weight in the box; the state is its rounding Qd
                    y = min(max(y, lo_v), hi_v)
                    w[j] = y
                    cc = _walk(vals, o, n, min(k[j], n - 2), y)
                    mid = 0.5 * (vals[o + cc] + vals[o + cc + 1])
                    k[j] = cc + 1 if (y > mid or (y == mid and even[o + cc + 1])) else cc
                    continue
                if rule == SR:
                    u, s = pcg.next_double(s)
                if y <= lo_v:
                    kn = 0
                elif y >= hi_v:
                    kn = n - 1
                else:
                    cc = _walk(vals, o, n, min(k[j], n - 2), y)
                    a = vals[o + cc]
                    b = vals[o + cc + 1]
                    if rule == R:
                        mid = 0.5 * (a + b)
                        kn = cc + 1 if (y > mid or (y == mid and even[o + cc + 1])) else cc
                    elif bits > 0:
                        r = np.floor(u * scale)
                        if b <= 0.0:  # a negative cell: away from zero is down
                            kn = cc if r < np.floor((b - y) / (b - a) * scale) else cc + 1
                        else:
                            kn = cc + 1 if r < np.floor((y - a) / (b - a) * scale) else cc
                    else:
                        kn = cc + 1 if u < (y - a) / (b - a) else cc
                k[j] = kn
                w[j] = vals[o + kn]
        idx = 0
        for j in range(d):
            idx += k[j] * strides[j]
        final[c] = idx
        pcg.store(states, c, s)


class GridRun:
    """End states and occupation counts of one simulated rule on a grid."""

    def __init__(self, grid, method, alpha, final, counts, steps, burn, sr_bits):
        self.grid, self.method, self.alpha = grid, method, alpha
        self.final, self.counts, self.steps, self.burn, self.sr_bits = final, counts, steps, burn, sr_bits

    def end_law(self) -> np.ndarray:
        """Empirical law of the chains' end states over the grid's states."""
        return np.bincount(self.final, minlength=self.grid.size) / self.final.size

    def occupation(self) -> np.ndarray:
        """Empirical law of the states visited after the burn-in."""
        return self.counts / max(1, self.counts.sum())

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "alpha": self.alpha,
            "sr_bits": self.sr_bits,
            "steps": self.steps,
            "burn": self.burn,
            "chains": int(self.final.size),
        }


def simulate_grid(problem, noise, grid, method, alpha, steps, chains=1, start=None, seed=0, burn=0, sr_bits=None):
    r"""Simulate ``chains`` independent chains of ``method`` (``sgd``, ``r``, ``sr``, ``bc``; ``sr`` with
    ``sr_bits`` random bits) for ``burn + steps`` steps on ``grid``.

    The SGD iterate (and BC's latent weight) is real-valued; SGD's gradient is the problem's own Numba kernel at the
    iterate, and a problem without one (``grad_kernel`` None) cannot be simulated with SGD here.

    Returns
    -------
    GridRun
        ``final`` (flat end state per chain), ``counts`` (occupation after the burn-in, all chains).
    """
    from srchain.quantize import check_alpha

    method = str(method).lower()
    if method not in GRID_RULES:
        raise SrchainError(f"unknown method {method!r} on a grid; choose one of {', '.join(GRID_RULES)}")
    bits = check_sr_bits(sr_bits)
    if bits is not None and method != "sr":
        raise SrchainError("--sr-bits applies to SR only")
    alpha = check_alpha(alpha)
    if steps < 1 or chains < 1 or burn < 0:
        raise SrchainError("steps and chains must be >= 1 and burn >= 0")
    d = grid.dim
    axes = [axis_values(grid, k) for k in range(d)]
    vals = np.ascontiguousarray(np.concatenate(axes))
    even = np.ascontiguousarray(np.concatenate([axis_parity(grid, k) for k in range(d)]))
    shape = np.asarray(grid.shape, dtype=np.int64)
    off = np.concatenate([[0], np.cumsum(shape)[:-1]]).astype(np.int64)
    strides = np.asarray(grid.strides, dtype=np.int64)
    if method == "sgd" and problem.grad_kernel is None:
        raise SrchainError(f"problem {problem.name!r} has no Numba gradient kernel: SGD cannot be simulated on it")
    if start is None:
        start = problem.minimizer if problem.minimizer is not None else grid.points[grid.size // 2]
    start = np.asarray(start, dtype=np.float64).reshape(-1)
    if start.size == 1 and d > 1:
        start = np.full(d, float(start[0]))
    states = pcg.states_from_seed(int(seed), int(chains))
    counts = np.zeros(grid.size, dtype=np.int64)
    final = np.zeros(int(chains), dtype=np.int64)
    code, params = int(noise.numba_code), np.asarray(noise.numba_params, dtype=np.float64)
    if method == "sgd":
        gp = np.asarray(problem.params, dtype=np.float64)
        _sgd_chains(
            states,
            problem.grad_kernel,
            gp,
            alpha,
            start,
            vals,
            off,
            shape,
            strides,
            even,
            code,
            params,
            int(steps),
            int(burn),
            counts,
            final,
        )
    else:
        G = np.ascontiguousarray(np.asarray(problem.gradient(grid.points), dtype=np.float64).reshape(grid.size, d))
        _chains(
            states,
            GRID_RULES[method],
            alpha,
            0 if bits is None else bits,
            start,
            vals,
            off,
            shape,
            strides,
            even,
            G,
            code,
            params,
            int(steps),
            int(burn),
            counts,
            final,
        )
    return GridRun(grid, method, alpha, final, counts, int(steps), int(burn), bits)
