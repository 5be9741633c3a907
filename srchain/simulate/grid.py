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
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from srchain import pcg
from srchain.errors import SrchainError
from srchain.grids import axis_parity, axis_values
from srchain.rounding import check_sr_bits, qd_grid_scalar
from srchain.rules import NoiseKind
from srchain.simulate.draws import draw_noise

__all__ = ["simulate_grid", "GRID_RULES", "GridRun"]

#: rule codes of the kernel
R, SR, BC, SGD = 0, 1, 2, 3
GRID_RULES = {"r": R, "sr": SR, "bc": BC, "sgd": SGD}


@intrinsic
def _f64_bits(typingctx, x):
    """The IEEE-754 bits of a float64 as an int64 (a register move)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


#: Largest cell-location table per axis (entries, int32): beyond it the buckets hold several values and the
#: location walks the rest.
LOCATOR_MAX = 2**22
LINEAR, BITS = 0, 1


@njit(cache=True, nogil=True, inline="always")
def _bucket(y, mode, lo, invh, klo, k0, shift, nbm1):
    """The bucket of ``y`` on one axis: LINEAR ``⌊(y − lo)/h⌋``; BITS the float64's bits made monotone (negative
    values' magnitude bits flipped), halved so that differences fit an int64, minus those of ``lo``, shifted right
    by ``shift``. Both are monotone in ``y``; the result is clipped to ``[0, nbm1]``."""
    if mode == LINEAR:
        t = min(max((y - lo) * invh, 0.0), float(nbm1))
        return int(t)
    b = _f64_bits(y)
    hk = (b ^ ((b >> 63) & 0x7FFFFFFFFFFFFFFF)) >> 1
    hk -= min(max(hk, -k0), k0)  # the magnitudes below the grid's least nonzero one collapse onto 0
    return min(max((hk - klo) >> shift, 0), nbm1)


@njit(cache=True, nogil=True)
def _buckets(v, mode, lo, invh, klo, k0, shift, nbm1):
    out = np.empty(v.size, dtype=np.int64)
    for i in range(v.size):
        out[i] = _bucket(v[i], mode, lo, invh, klo, k0, shift, nbm1)
    return out


@njit(cache=True, nogil=True, inline="always")
def _cell(y, vals, o, n, tab, to, mode, lo, invh, klo, k0, shift, nbm1):
    """The cell ``c`` (``v_c ≤ y < v_{c+1}``, clipped to ``[0, n − 2]``) of ``y`` on the axis ``v = vals[o:o+n]``:
    the bucket's first cell from the table, then one branch-free step (a bucket holds at most one value when the
    table is fine enough) and a walk for coarser tables."""
    c = np.int64(tab[to + _bucket(y, mode, lo, invh, klo, k0, shift, nbm1)])
    c += np.int64(vals[o + c + 1] <= y)
    c = min(c, n - 2)
    while c < n - 2 and vals[o + c + 1] <= y:
        c += 1
    return c


@njit(cache=True, nogil=True)
def _cells(y, v, tab, lp, lf):
    """:func:`_cell` of every ``y`` on the one axis ``v`` (for tests)."""
    out = np.empty(y.shape[0], dtype=np.int64)
    for i in range(y.shape[0]):
        out[i] = _cell(
            y[i], v, 0, v.shape[0], tab, 0, lp[0, 0], lf[0, 0], lf[0, 1], lp[0, 1], lp[0, 2], lp[0, 3], lp[0, 4]
        )
    return out


def _locator(v: np.ndarray):
    """The cell-location table of one axis (sorted values ``v``): ``(table, params)`` with ``params = (mode, lo,
    invh, klo, k0, shift, nbm1)`` for :func:`_bucket`, and ``table[b]`` the last cell whose left value lies in a lower
    bucket than ``b`` (so the cell of a ``y`` in bucket ``b`` is ``table[b]`` or after it). Of the two bucketings
    (LINEAR, fine enough for the narrowest cell; BITS, of the float's bits, which follow a float format's binades)
    the one with fewer buckets such that no bucket holds two values; both capped at :data:`LOCATOR_MAX`."""
    n = v.size
    if n < 2:
        return np.zeros(1, dtype=np.int32), (LINEAR, float(v[0]), 0.0, 0, 0, 0, 0)
    cands = []
    bits = v.view(np.int64)
    hk = (bits ^ ((bits >> 63) & 0x7FFFFFFFFFFFFFFF)) >> 1
    gaps = np.diff(hk)
    inner = gaps[(hk[:-1] != 0) & (hk[1:] != 0) & ((hk[:-1] > 0) == (hk[1:] > 0))]  # not next to 0 or across it
    shift = max(0, int(inner.min() if inner.size else gaps.min()).bit_length() - 1)  # 2^shift ≤ the least key gap
    nz = np.abs(hk[hk != 0])
    k0 = max(0, int(nz.min()) - (1 << shift)) if nz.size else 0
    hk = hk - np.clip(hk, -k0, k0)
    span = int(hk[-1] - hk[0])
    while (span >> shift) + 1 > LOCATOR_MAX:
        shift += 1
    cands.append((BITS, float(v[0]), 0.0, int(hk[0]), k0, shift, span >> shift))
    width = float(v[-1] - v[0])
    invh = 1.0 / float(np.diff(v).min())
    if width * invh + 1 > LOCATOR_MAX:
        invh = (LOCATOR_MAX - 1) / width
    cands.append((LINEAR, float(v[0]), invh, 0, 0, 0, int(width * invh)))
    scored = []
    for p in cands:
        bv = _buckets(v, *p)
        most = int(np.max(np.bincount(bv)))  # values sharing a bucket (≤ 1: no walk)
        scored.append(((most > 1, p[6]), p, bv))
    _, p, bv = min(scored, key=lambda e: e[0])
    table = np.clip(np.searchsorted(bv, np.arange(p[6] + 1), side="left") - 1, 0, n - 2).astype(np.int32)
    return table, p


def _runs(axes, M):
    """The fast path's tables (:func:`_chains`): per state and axis, the run of equal gaps (a float format's binade,
    or its subnormals) holding the cell of the mean step's point ``M``: its first index ``B`` and ``S = ((M −
    v_B)/h, 1/h, cells in the run)``, so that in the run a point ``y = M − αξ̄`` has the index ``B + (M − v_B)/h −
    αξ̄/h`` (exactly: ``1/h`` is a power of two on a format's grid, and ``M − v_B`` is exact within a binade)."""
    n, d = M.shape
    S = np.zeros((n, d, 3))
    B = np.zeros((n, d), dtype=np.int64)
    for j, v in enumerate(axes):  # axes, vectorised over states
        if v.size < 2:
            S[:, j, 2] = -1.0  # never in a run (the kernel's one-value branch comes first anyway)
            continue
        h = np.diff(v)
        new = np.concatenate([[True], h[1:] != h[:-1]])
        run = np.cumsum(new) - 1
        first = np.flatnonzero(new)
        last = np.concatenate([first[1:] - 1, [h.size - 1]])
        m = M[:, j]
        c = np.clip(np.searchsorted(v, m, side="right") - 1, 0, v.size - 2)
        lo, hi = first[run[c]], last[run[c]]
        inv = 1.0 / h[c]
        S[:, j, 0] = (m - v[lo]) * inv
        S[:, j, 1] = inv
        S[:, j, 2] = hi + 1 - lo
        B[:, j] = lo
    return np.ascontiguousarray(S), B


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
    states,
    grad,
    gparams,
    alpha,
    start,
    vals,
    off,
    shape,
    strides,
    even,
    tab,
    toff,
    lp,
    lf,
    code,
    params,
    steps,
    burn,
    counts,
    final,
):
    """SGD chains: the real iterate with the problem's Numba gradient ``grad(w, gparams, out)`` (not cacheable: a
    kernel that takes a function), clipped to the box; states counted at the iterate's nearest grid value (a binary
    search: off the iterate's dependency chain, and faster here than the location table's loads)."""
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
def _qd_axis(y, vals, o, n, even, tab, to, lp, lf, j):
    """Index of Qd(y) (round to nearest, ties to even, clipped to the ends) on axis ``j``."""
    if n == 1:
        return 0
    cc = _cell(y, vals, o, n, tab, to, lp[j, 0], lf[j, 0], lf[j, 1], lp[j, 1], lp[j, 2], lp[j, 3], lp[j, 4])
    mid = 0.5 * (vals[o + cc] + vals[o + cc + 1])
    return cc + np.int64(y > mid or (y == mid and even[o + cc + 1]))


@njit(cache=True, nogil=True, inline="always")
def _walk(vals, o, n, c, y):
    """The cell ``[v_c, v_{c+1}]`` of the axis ``v = vals[o:o+n]`` holding ``y``, walked to from the cell ``c``
    (BC's steps are a few cells)."""
    while c < n - 2 and vals[o + c + 1] <= y:
        c += 1
    while c > 0 and vals[o + c] > y:
        c -= 1
    return c


@njit(cache=True, nogil=True)
def _chains(
    states,
    rule,
    alpha,
    bits,
    start,
    vals,
    inv,
    off,
    shape,
    strides,
    even,
    tab,
    toff,
    lp,
    lf,
    G,
    M,
    S,
    B,
    fast,
    code,
    params,
    steps,
    burn,
    counts,
    final,
):
    """Run every chain of R, SR (``bits`` > 0: SR with that many random bits) or BC; ``final[c]`` receives chain
    c's end state (flat index), ``counts`` the occupation after ``burn`` steps. ``start`` holds the start point per
    axis (real numbers).

    R and SR keep each coordinate's index ``k``; the step's point is ``y = M[idx, j] − α ξ̄`` with the table
    ``M = x − α g(x)``, its cell comes from the axis's location table (:func:`_cell`: a look-up and one compare),
    and the rounding is branch-free: SR goes up iff ``u < (y − v_c)/h_c`` (``1/h_c`` tabulated in ``inv``; exact
    for a float format, whose gaps are powers of two), R iff ``y`` is past the midpoint (ties to even). ``y``
    outside the box needs no clipping: its cell is the end cell and the comparisons give the end value. BC keeps
    its real-valued latent weight (clipped to the box) and the index of its rounding.

    With ``fast`` (exact SR; R under continuous noise) a step whose point stays in the run of equal gaps around the
    mean step (:func:`_runs`) skips the look-up: there the index is affine in ``y``, ``X = S[idx, j, 0] − αξ̄ ·
    S[idx, j, 1]`` counted from ``B[idx, j]``, and SR's rounding is ``⌊X + 1 − u⌋`` (up iff the fraction is
    ≥ u, the same draw as above; it differs from ``u <`` only at equality, probability 2^-53), R's ``⌊X + ½⌋``
    (a tie has probability 0 under continuous noise). The step's dependency chain is then a load, a multiply-add
    and a conversion, as in the fixed lattice's kernels; other steps take the look-up."""
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
        idx = 0
        for j in range(d):
            o = off[j]
            w[j] = min(max(start[j], vals[o]), vals[o + shape[j] - 1]) if rule == BC else start[j]
            k[j] = _qd_axis(w[j], vals, o, shape[j], even, tab, toff[j], lp, lf, j)
            idx += k[j] * strides[j]
        for t in range(burn + steps):
            if t >= burn:
                counts[idx] += 1
            nidx = 0
            for j in range(d):
                o = off[j]
                n = shape[j]
                xi, s = draw_noise(s, code, params, perm)
                if rule == BC:  # the latent weight in the box; the state is its rounding Qd
                    y = min(max(w[j] - alpha * (G[idx, j] + xi), vals[o]), vals[o + n - 1])
                    w[j] = y
                    if n == 1:
                        kn = 0
                    else:  # a walk from the current cell: BC's latent weight moves a few cells per step
                        cc = _walk(vals, o, n, min(k[j], n - 2), y)
                        mid = 0.5 * (vals[o + cc] + vals[o + cc + 1])
                        kn = cc + np.int64(y > mid or (y == mid and even[o + cc + 1]))
                    k[j] = kn
                elif n == 1:
                    if rule == SR:
                        u, s = pcg.next_double(s)
                    kn = 0
                else:
                    if rule == SR:
                        u, s = pcg.next_double(s)
                    # the fast path: y inside the run of equal gaps around the mean step, in index units
                    X = S[idx, j, 0] - (alpha * xi) * S[idx, j, 1]
                    if fast and 0.0 <= X <= S[idx, j, 2]:
                        kn = B[idx, j] + np.int64(X + (0.5 if rule == R else 1.0 - u))
                        nidx += kn * strides[j]
                        continue
                    y = M[idx, j] - alpha * xi
                    if rule == R:
                        kn = _qd_axis(y, vals, o, n, even, tab, toff[j], lp, lf, j)
                    else:
                        cc = _cell(
                            y,
                            vals,
                            o,
                            n,
                            tab,
                            toff[j],
                            lp[j, 0],
                            lf[j, 0],
                            lf[j, 1],
                            lp[j, 1],
                            lp[j, 2],
                            lp[j, 3],
                            lp[j, 4],
                        )
                        a = vals[o + cc]
                        if bits > 0:
                            r = np.floor(u * scale)
                            if vals[o + cc + 1] <= 0.0:  # a negative cell: away from zero is down
                                kn = cc + np.int64(r >= np.floor((vals[o + cc + 1] - y) * inv[o + cc] * scale))
                            else:
                                kn = cc + np.int64(r < np.floor((y - a) * inv[o + cc] * scale))
                        else:
                            kn = cc + np.int64(u < (y - a) * inv[o + cc])
                nidx += kn * strides[j]
            idx = nidx
        final[c] = idx
        pcg.store(states, c, s)


@njit(cache=True, nogil=True)
def _chains_1d(
    states,
    rule,
    alpha,
    bits,
    start,
    vals,
    inv,
    even,
    tab,
    lp,
    lf,
    M,
    S,
    B,
    fast,
    code,
    params,
    steps,
    burn,
    counts,
    final,
):
    """:func:`_chains` for R and SR on one axis, written flat (no loop over axes, Gaussian draws inlined): the same
    draws, in the same order, and the same rounding, so the same results for the same seed."""
    nch = final.shape[0]
    n = vals.shape[0]
    m = params.shape[0] - 1 if code == 3 else 1
    perm = np.arange(m)
    gauss = code == NoiseKind.GAUSSIAN
    sc = params[0]
    scale = 2.0**bits
    mode, klo, k0, shift, nbm1 = lp[0, 0], lp[0, 1], lp[0, 2], lp[0, 3], lp[0, 4]
    lo, invh = lf[0, 0], lf[0, 1]
    half = rule == R
    u = 0.0
    for c in range(nch):
        s = pcg.load(states, c)
        for j in range(m):
            perm[j] = j
        k = _qd_axis(start[0], vals, 0, n, even, tab, 0, lp, lf, 0)
        for t in range(burn + steps):
            if t >= burn:
                counts[k] += 1
            if gauss:
                z, s = pcg.standard_normal(s)
                xi = sc * z
            else:
                xi, s = draw_noise(s, code, params, perm)
            if not half:
                u, s = pcg.next_double(s)
            ax = alpha * xi
            if fast:
                X = S[k, 0] - ax * S[k, 1]
                if 0.0 <= X <= S[k, 2]:
                    k = B[k] + np.int64(X + (0.5 if half else 1.0 - u))
                    continue
            y = M[k] - ax
            cc = _cell(y, vals, 0, n, tab, 0, mode, lo, invh, klo, k0, shift, nbm1)
            a = vals[cc]
            if half:
                mid = 0.5 * (a + vals[cc + 1])
                k = cc + np.int64(y > mid or (y == mid and even[cc + 1]))
            elif bits > 0:
                r = np.floor(u * scale)
                if vals[cc + 1] <= 0.0:  # a negative cell: away from zero is down
                    k = cc + np.int64(r >= np.floor((vals[cc + 1] - y) * inv[cc] * scale))
                else:
                    k = cc + np.int64(r < np.floor((y - a) * inv[cc] * scale))
            else:
                k = cc + np.int64(u < (y - a) * inv[cc])
        final[c] = k
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
    inv = np.concatenate([np.append(1.0 / np.diff(a), 0.0) if a.size > 1 else np.zeros(1) for a in axes])
    even = np.ascontiguousarray(np.concatenate([axis_parity(grid, k) for k in range(d)]))
    shape = np.asarray(grid.shape, dtype=np.int64)
    off = np.concatenate([[0], np.cumsum(shape)[:-1]]).astype(np.int64)
    strides = np.asarray(grid.strides, dtype=np.int64)
    locs = [_locator(a) for a in axes]
    tab = np.ascontiguousarray(np.concatenate([t for t, _ in locs]))
    toff = np.concatenate([[0], np.cumsum([t.size for t, _ in locs])[:-1]]).astype(np.int64)
    lp = np.array([[p[0], *p[3:]] for _, p in locs], dtype=np.int64).reshape(d, 5)  # mode klo k0 shift nbm1
    lf = np.array([[p[1], p[2]] for _, p in locs], dtype=np.float64).reshape(d, 2)  # lo invh
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
    loc = (tab, toff, lp, lf)
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
            *loc,
            code,
            params,
            int(steps),
            int(burn),
            counts,
            final,
        )
    else:
        G = np.ascontiguousarray(np.asarray(problem.gradient(grid.points), dtype=np.float64).reshape(grid.size, d))
        M = np.ascontiguousarray(grid.points - alpha * G)  # the mean step's point x − α g(x)
        rule = GRID_RULES[method]
        fast = (rule == SR and bits is None) or (rule == R and not noise.is_discrete)
        S, B = _runs(axes, M) if fast else (np.zeros((1, d, 3)), np.zeros((1, d), dtype=np.int64))
        if d == 1 and rule != BC and grid.shape[0] > 1:
            _chains_1d(
                states,
                rule,
                alpha,
                0 if bits is None else bits,
                start,
                vals,
                inv,
                even,
                tab,
                lp,
                lf,
                np.ascontiguousarray(M[:, 0]),
                np.ascontiguousarray(S[:, 0, :]),
                np.ascontiguousarray(B[:, 0]),
                fast,
                code,
                params,
                int(steps),
                int(burn),
                counts,
                final,
            )
        else:
            _chains(
                states,
                GRID_RULES[method],
                alpha,
                0 if bits is None else bits,
                start,
                vals,
                inv,
                off,
                shape,
                strides,
                even,
                *loc,
                G,
                M,
                S,
                B,
                fast,
                code,
                params,
                int(steps),
                int(burn),
                counts,
                final,
            )
    return GridRun(grid, method, alpha, final, counts, int(steps), int(burn), bits)
