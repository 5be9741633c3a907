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

The gradient on the grid is tabulated once (``α·G[state, k]``). Returned: the end state of every chain and, after
``burn`` steps, the occupation counts of every state (summed over chains).

Speed. On one axis the chains run two at a time in lockstep (:func:`_chains_1d`), so that one chain's dependency chain
(table load, rounding, index) overlaps the other's, as the fixed lattice's kernels do. Under Gaussian noise SR (exact or
with k bits) and R step in a loop of their own (:func:`_pair_in_runs`), in fixed point while the step stays in its run
of equal gaps (:mod:`srchain.simulate.grid_runs`; R's step that leaves it rounds as BC's does), and so does BC
(:func:`_pair_bc`), rounding by one product and one addition inside a run of equal gaps, else by tabulated thresholds
from its current index (:func:`_bc_step`). Each chain keeps its own stream and its own arithmetic, so a chain's path
does not depend on the chain beside it: the same results for the same seed. The kernels are compiled without Numba's
reference counting (``_nrt=False``, their work arrays passed in): the step helpers they inline take arrays, and inlined
with reference counting each call cost an atomic increment and decrement per array per step (4-8x slower).
"""

from __future__ import annotations

import numpy as np
from numba import literally, njit

from srchain import pcg
from srchain.errors import SrchainError
from srchain.grids import axis_parity, axis_values
from srchain.rounding import check_sr_bits
from srchain.rules import NoiseKind
from srchain.simulate.draws import draw_noise
from srchain.simulate.grid_locate import _cell, _cells, _locator  # noqa: F401 (_cells: for the tests)
from srchain.simulate.grid_runs import A_MAX, KBIT_MARGIN, bc_runs, fixed_runs, kbit_index
from srchain.simulate.grid_runs import runs as _runs
from srchain.simulate.kernels_1d import _f64_bits

__all__ = ["simulate_grid", "GRID_RULES", "GridRun"]

#: rule codes of the kernel
R, SR, BC, SGD = 0, 1, 2, 3
_TWO53 = np.int64(1 << 53)
_INV53 = 1.0 / 9007199254740992.0  # 2^-53: pcg.next_double's scale
GRID_RULES = {"r": R, "sr": SR, "bc": BC, "sgd": SGD}


#: One axis of two or more values runs in :func:`_chains_1d` (chains in pairs); False: in :func:`_chains`, one chain
#: after the other (the tests compare the two).
LOCKSTEP = True
#: R under continuous noise: a state whose mean step's point lies within this many standard deviations of the step
#: (in cells) from its run's ends, with a step's deviation under :data:`R_SMALL_STEP` cells, gets no run (R stalls
#: there, and half its steps would leave the run: a mispredicted branch each), and rounds by :func:`_bc_step`'s
#: thresholds from its index instead.
R_EDGE_SDS = 1.5
#: See :data:`R_EDGE_SDS`.
R_SMALL_STEP = 0.25


@njit(cache=True, nogil=True, inline="always")
def _qd_in_cell(y, vals, o, c, even):
    """Index of Qd(y) for ``y`` in the cell ``c`` of the axis at ``vals[o:]``: up iff past the midpoint, a tie to the
    even neighbour."""
    mid = 0.5 * (vals[o + c] + vals[o + c + 1])
    return c + (np.int64(y > mid) | (np.int64(y == mid) & np.int64(even[o + c + 1])))  # no branch: ~50% taken


@njit(cache=True, nogil=True, inline="always")
def _qd_axis(y, vals, o, n, even, tab, to, lp, lf, j):
    """Index of Qd(y) (round to nearest, ties to even, clipped to the ends) on axis ``j``."""
    k = 0
    if n > 1:
        cc = _cell(y, vals, o, n, tab, to, lp[j, 0], lf[j, 0], lf[j, 1], lp[j, 1], lp[j, 2], lp[j, 3], lp[j, 4])
        k = _qd_in_cell(y, vals, o, cc, even)
    return k


@njit(cache=True, nogil=True, inline="always")
def _draw(s, gauss, code, params, perm):
    """The batch-mean noise ξ̄ (:func:`draw_noise`; the Gaussian draw inlined: the same number)."""
    if gauss:
        z, s = pcg.standard_normal(s)
        xi = params[0] * z
    else:
        xi, s = draw_noise(s, code, params, perm)
    return xi, s


@njit(cache=True, nogil=True, inline="always")
def _round_step(rule, bits, y, u, vals, o, n, inv, even, tab, to, lp, lf, j):
    """R's or SR's next index on axis ``j`` (of two or more values) for the step's point ``y`` (``u``: SR's
    uniform), from the location table (:func:`_cell`)."""
    cc = _cell(y, vals, o, n, tab, to, lp[j, 0], lf[j, 0], lf[j, 1], lp[j, 1], lp[j, 2], lp[j, 3], lp[j, 4])
    if rule == R:
        return _qd_in_cell(y, vals, o, cc, even)
    a = vals[o + cc]
    b = vals[o + cc + 1]
    if bits > 0:  # the probability away from zero, truncated to ``bits`` bits
        scale = 2.0**bits
        r = np.floor(u * scale)
        if b <= 0.0:  # a negative cell: away from zero is down
            up = r >= np.floor((b - y) * inv[o + cc] * scale)
        else:
            up = r < np.floor((y - a) * inv[o + cc] * scale)
    else:
        up = u < (y - a) * inv[o + cc]
    return cc + np.int64(up)


@njit(cache=True, nogil=True, inline="always")
def _bc_step(w, k, ag, xi, alpha, vals, o, n, even, tab, to, lp, lf, j, bt, mo):
    """BC's latent weight after one step, ``(w − αξ̄) − αg`` with ``ag = αg(Qd(w))`` tabulated (Eq. 7; clipped to the
    box), and the index of its rounding Qd on axis ``j``.

    ``bt = (th, RF, RI)``. Qd(y) is found three ways, the cheapest first, each from values loaded from ``k`` alone
    (while the step is computed; the fixed lattice's BC loop tabulates its step the same way):

    * inside the run of equal gaps holding ``v_k``, from the bits of ``y·(1/h) + c``
      (:func:`~srchain.simulate.grid_runs.bc_runs`: ``RF``, ``RI``), where that index is interior to the run;
    * else, counting the midpoints ``y`` passes (a tie passes when the value above it is even: ``y ≥ th_c``, the
      thresholds of :func:`_thresholds` from ``mo``), ``k − 1 + pass(k − 1) + pass(k)`` whenever
      ``th_{k−2} ≤ y < th_{k+1}``, which never holds outside the box;
    * else ``y`` is clipped to the box, and its cell is the current one or a neighbour (one step without a branch),
      else from the location table (:func:`_cell`).

    All three give Qd(y)."""
    th, RF, RI = bt
    y = (w - alpha * xi) - ag
    e = np.uint64(o + k)
    kr = _f64_bits(y * RF[2 * e] + RF[2 * e + 1]) - RI[3 * e]
    if np.uint64(kr - RI[3 * e + 1]) < np.uint64(RI[3 * e + 2]):  # inside v_k's run of equal gaps (bc_runs)
        return y, kr
    q = mo + k
    if th[q - 2] <= y < th[q + 1]:  # (never where the box clips y: see _thresholds)
        return y, k - 1 + np.int64(y >= th[q - 1]) + np.int64(y >= th[q])
    y = min(max(y, vals[o]), vals[o + n - 1])
    if n == 1:
        return y, 0
    c = min(k, n - 2)
    c += (np.int64(c < n - 2) & np.int64(vals[o + c + 1] <= y)) - (np.int64(c > 0) & np.int64(vals[o + c] > y))
    if (c < n - 2 and vals[o + c + 1] <= y) or (c > 0 and vals[o + c] > y):
        c = _cell(y, vals, o, n, tab, to, lp[j, 0], lf[j, 0], lf[j, 1], lp[j, 1], lp[j, 2], lp[j, 3], lp[j, 4])
    return y, _qd_in_cell(y, vals, o, c, even)


def _thresholds(axes, parity):
    """Per axis, the thresholds of Qd's midpoints: ``y`` rounds past the midpoint ``m_c = 0.5·(v_c + v_{c+1})`` (as
    :func:`_qd_in_cell` computes it) iff ``y ≥ th_c``, with ``th_c = m_c`` where ``v_{c+1}`` is even (a tie goes
    up) and the next float above ``m_c`` otherwise. Returns ``(th, mo)``: threshold c of axis j at ``th[mo[j] + c]``,
    for c from −2 to n + 1, with ``th_{−2} = th_{−1} = v_0`` and ``th_{n−1} = th_n = th_{n+1}`` the next float
    above ``v_{n−1}``: every ``y`` in the box passes the (virtual) midpoints below ``v_0`` and none above
    ``v_{n−1}``, and :func:`_bc_step`'s window ``th_{k−2} ≤ y < th_{k+1}`` holds only inside the box."""
    blocks = []
    for a, even in zip(axes, parity, strict=True):
        m = 0.5 * (a[:-1] + a[1:])
        m = np.where(np.asarray(even[1:], dtype=bool), m, np.nextafter(m, np.inf))
        blocks.append(np.concatenate([[a[0]] * 2, m, [np.nextafter(a[-1], np.inf)] * 3]))
    mo = np.concatenate([[0], np.cumsum([b.size for b in blocks])[:-1]]).astype(np.int64) + 2
    return np.ascontiguousarray(np.concatenate(blocks)), mo


@njit(cache=True, nogil=True, inline="always")
def _flat_qd(w, vals, off, shape, strides, even, tab, toff, lp, lf):
    """Flat state of the point whose coordinates are Qd(w_j) on each axis."""
    idx = 0
    for j in range(shape.shape[0]):
        idx += _qd_axis(w[j], vals, off[j], shape[j], even, tab, toff[j], lp, lf, j) * strides[j]
    return idx


@njit(nogil=True, _nrt=False)
def _sgd_chains(
    states, grad, gparams, alpha, start, vals, off, shape, strides, even, tab, toff, lp, lf, work, code, params, steps,
    burn, counts, final,
):  # fmt: skip
    """SGD chains: the real iterate with the problem's Numba gradient ``grad(w, gparams, out)`` (not cacheable: a
    kernel that takes a function), clipped to the box; states counted at the iterate's nearest grid value."""
    nch = final.shape[0]
    d = shape.shape[0]
    gauss = code == NoiseKind.GAUSSIAN
    w, g, perm = work  # the iterate, its gradient and the minibatch permutation (compiled without NRT)
    for c in range(nch):
        s = pcg.load(states, c)
        for j in range(perm.size):
            perm[j] = j
        for j in range(d):
            w[j] = min(max(start[j], vals[off[j]]), vals[off[j] + shape[j] - 1])
        for t in range(burn + steps):
            if t >= burn:
                counts[_flat_qd(w, vals, off, shape, strides, even, tab, toff, lp, lf)] += 1
            grad(w, gparams, g)
            for j in range(d):
                xi, s = _draw(s, gauss, code, params, perm)
                w[j] = min(max(w[j] - alpha * (g[j] + xi), vals[off[j]]), vals[off[j] + shape[j] - 1])
        final[c] = _flat_qd(w, vals, off, shape, strides, even, tab, toff, lp, lf)
        pcg.store(states, c, s)


@njit(cache=True, nogil=True, _nrt=False)
def _chains(
    states, rule, alpha, bits, start, vals, inv, off, shape, strides, even, tab, toff, lp, lf, AG, M, Q, C, F, Z,
    bt, mo, work, code, params, steps, burn, counts, final,
):  # fmt: skip
    """Run every chain of R, SR (``bits`` > 0: SR with that many random bits) or BC; ``final[c]`` receives chain
    c's end state (flat index), ``counts`` the occupation after ``burn`` steps. ``start`` holds the start point per
    axis (real numbers).

    R and SR keep each coordinate's index ``k``; the step's point is ``y = M[idx, j] − α ξ̄`` with the table
    ``M = x − α g(x)``, its cell comes from the axis's location table (:func:`_cell`: a look-up and one compare),
    and the rounding is branch-free: SR goes up iff ``u < (y − v_c)/h_c`` (``1/h_c`` tabulated in ``inv``; exact
    for a float format, whose gaps are powers of two), R iff ``y`` is past the midpoint (ties to even). ``y``
    outside the box needs no clipping: its cell is the end cell and the comparisons give the end value. BC keeps
    its real-valued latent weight (clipped to the box) and the index of its rounding.

    For SR and R under continuous noise a step whose point stays in the run of equal gaps around the mean step
    (:mod:`srchain.simulate.grid_runs`; BC, and R under discrete noise, get runs of no length) skips the look-up
    (:func:`_step`): there the index is affine in ``y``, ``X = (M − v_B)/h − αξ̄/h`` counted from the run's first
    index ``B``, and SR's rounding is ``⌊X + 1 − u⌋`` (up iff the fraction is ≥ u, the same draw as above; with k
    bits, :func:`~srchain.simulate.grid_runs.kbit_index`), R's ``⌊X + ½⌋`` (a tie has probability 0 under continuous
    noise), taken in fixed point from the tables ``Q`` (flattened state-major, ``e = idx·d + j``) and the per-axis
    ``C``, ``F``, ``Z``. The step's dependency chain is then a load, a shift and integer additions, as in the fixed
    lattice's kernels; other steps take the look-up. ``work = (w, k, perm)``: the kernel's work arrays."""
    nch = final.shape[0]
    d = shape.shape[0]
    gauss = code == NoiseKind.GAUSSIAN
    w, k, perm = work  # the point, its indices and the minibatch permutation (no allocation: compiled without NRT)
    u = 0.0
    for c in range(nch):
        s = pcg.load(states, c)
        for j in range(perm.size):
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
                xi, s = _draw(s, gauss, code, params, perm)
                if rule == BC:  # the latent weight in the box; the state is its rounding Qd
                    w[j], k[j] = _bc_step(
                        w[j],
                        k[j],
                        AG[idx, j],
                        xi,
                        alpha,
                        vals,
                        off[j],
                        shape[j],
                        even,
                        tab,
                        toff[j],
                        lp,
                        lf,
                        j,
                        bt,
                        mo[j],
                    )
                    nidx += k[j] * strides[j]
                    continue
                if rule == SR:
                    u, s = pcg.next_double(s)
                if shape[j] > 1:
                    kn = _step(idx * d + j, alpha * xi, u, rule, bits, Q, C, F, Z, M, vals, off[j], shape[j], inv, even,
                               tab, toff[j], lp, lf, j)  # fmt: skip
                    nidx += kn * strides[j]
            idx = nidx
        final[c] = idx
        pcg.store(states, c, s)


@njit(cache=True, nogil=True, _nrt=False)
def _pair_in_runs(sa, sb, ka, kb, two, sr, c, Q, steps, burn, counts, look):
    """``steps`` steps of two chains of SR (``sr``; with ``bits`` random bits, or exact for 0) or R under Gaussian
    noise (``c = (α, s, C, f, bits, Z)``: ξ̄ = s·Z and the axis's fixed-point tables,
    :func:`~srchain.simulate.grid_runs.fixed_runs`) in lockstep: the fast path of :func:`_chains_1d`, a loop of its
    own that keeps its few values in registers. A step inside its run is taken in fixed point (a load, a shift and
    integer additions), a step that leaves it with ``look``'s tables (:func:`_run_step`: SR by the look-up, R by BC's
    thresholds; the branch is rarely taken, so well predicted). SR's uniform is kept as ``next_double``'s 53 bits
    ``m`` (``u = m·2^-53``), so that ``(1 − u)·2^f`` needs no conversion. Returns ``(ka, kb, sa, sb)``."""
    literally(two)  # compiled for one chain and for two: no test of ``two`` left in the loop
    alpha, sc, C, f, bits, Z = c
    rule = SR if sr else R
    ma = mb = np.int64(0)
    axb = 0.0
    Ua = Ub = np.int64(1) << (f - 1)  # R: ⌊X + ½⌋
    down = 53 - f
    for t in range(steps):
        _count_pair(counts, ka, kb, two, t >= burn)
        za, sa = pcg.standard_normal(sa)
        if two:
            zb, sb = pcg.standard_normal(sb)
            axb = alpha * (sc * zb)
        if sr:
            xa, sa = pcg.next_uint64(sa)
            ma = np.int64(xa >> np.uint64(11))
            Ua = (_TWO53 - ma) >> down
            if two:
                xb, sb = pcg.next_uint64(sb)
                mb = np.int64(xb >> np.uint64(11))
                Ub = (_TWO53 - mb) >> down
        ka = _run_step(Q, ka, alpha * (sc * za), C, Ua, f, ma, bits, Z, rule, look)
        if two:
            kb = _run_step(Q, kb, axb, C, Ub, f, mb, bits, Z, rule, look)
    return ka, kb, sa, sb


@njit(cache=True, nogil=True, inline="always")
def _count_pair(counts, ka, kb, two, after_burn):
    """One step's occupation: chain a's state, and chain b's when there are two."""
    if after_burn:
        counts[np.uint64(ka)] += 1
        if two:
            counts[np.uint64(kb)] += 1


@njit(cache=True, nogil=True, inline="always")
def _run_step(Q, k, ax, C, U, f, m, bits, Z, rule, look):
    """One chain's step of :func:`_pair_in_runs` from state ``k`` (``ax = αξ̄``; ``U``: SR's ``(1 − u)·2^f`` or R's
    half, ``m``: the uniform's 53 bits): in fixed point inside its run; else R by BC's thresholds from ``k``
    (:func:`_bc_step` with no gradient term: the same Qd) and SR by the look-up."""
    i = np.uint64(4 * k)  # unsigned: no wrap-around test on the dependency chain
    Y = Q[i] - (np.int64(min(max(ax * C, -A_MAX), A_MAX)) >> Q[i + 1])
    if np.uint64(Y - Q[i + 2]) < np.uint64(Q[i + 3]):
        return (Y + U) >> f if bits == 0 else kbit_index(Y, f, m, bits, Z)
    M, vals, n, inv, even, tab, lp, lf, bt = look
    if rule == R:
        return _bc_step(M[k], k, 0.0, ax, 1.0, vals, 0, n, even, tab, 0, lp, lf, 0, bt, 2)[1]
    return _round_step(rule, bits, M[k] - ax, np.float64(m) * _INV53, vals, 0, n, inv, even, tab, 0, lp, lf, 0)


@njit(cache=True, nogil=True, _nrt=False)
def _pair_bc(sa, sb, wa, wb, ka, kb, two, c, AG, steps, burn, counts, look):
    """``steps`` steps of two BC chains under Gaussian noise (``c = (α, s)``: ξ̄ = s·Z) in lockstep, as the general
    loop of :func:`_chains_1d` takes them (:func:`_bc_step`), in a loop of its own. Returns ``(wa, wb, ka, kb, sa,
    sb)``."""
    literally(two)  # compiled for one chain and for two
    alpha, sc = c
    vals, n, even, tab, lp, lf, bt = look
    for t in range(steps):
        _count_pair(counts, ka, kb, two, t >= burn)
        za, sa = pcg.standard_normal(sa)
        if two:
            zb, sb = pcg.standard_normal(sb)
            wb, kb = _bc_step(wb, kb, AG[np.uint64(kb)], sc * zb, alpha, vals, 0, n, even, tab, 0, lp, lf, 0, bt, 2)
        wa, ka = _bc_step(wa, ka, AG[np.uint64(ka)], sc * za, alpha, vals, 0, n, even, tab, 0, lp, lf, 0, bt, 2)
    return wa, wb, ka, kb, sa, sb


@njit(cache=True, nogil=True, inline="always")
def _step(e, ax, u, rule, bits, Q, C, F, Z, M, vals, o, n, inv, even, tab, to, lp, lf, j):
    """R's or SR's next index on axis ``j`` (of ``n`` ≥ 2 values at ``vals[o:]``) from the state whose entry of the
    (flattened, state-major) tables is ``e``: the step's point is ``y = M[e] − ax`` (``ax = αξ̄``; ``u``: SR's
    uniform, a multiple of 2^-53). In the run of equal gaps around the mean step the index is affine in y, taken in
    fixed point (:func:`~srchain.simulate.grid_runs.fixed_runs`), otherwise the look-up (:func:`_round_step`)."""
    f = F[j]
    i = np.uint64(4 * e)  # unsigned: no wrap-around test on the dependency chain
    Y = Q[i] - (np.int64(min(max(ax * C[j], -A_MAX), A_MAX)) >> Q[i + 1])
    if np.uint64(Y - Q[i + 2]) < np.uint64(Q[i + 3]):
        m = np.int64(u * 9007199254740992.0)  # u's 53 bits (exact: u is a multiple of 2^-53)
        if rule == R:
            k = (Y + (np.int64(1) << (f - 1))) >> f
        elif bits == 0:
            k = (Y + ((_TWO53 - m) >> (53 - f))) >> f
        else:
            k = kbit_index(Y, f, m, bits, Z[j])
    else:
        k = _round_step(rule, bits, M[e] - ax, u, vals, o, n, inv, even, tab, to, lp, lf, j)
    return k


@njit(cache=True, nogil=True, _nrt=False)
def _chains_1d(
    states, rule, alpha, bits, start, vals, inv, even, tab, lp, lf, AG, M, Q, C, F, Z, bt, perm, code, params,
    steps, burn, counts, final,
):  # fmt: skip
    """:func:`_chains` on one axis (of two or more values), written flat, with two chains stepping in lockstep:
    chains ``c`` and ``c + 1`` take their steps in the same loop iteration, so the one's dependency chain (look-up,
    rounding, index) runs while the other's does, as the fixed lattice's kernels do. Each chain draws from its own
    stream in the same order as in :func:`_chains` and rounds the same way: the same results for the same seed."""
    nch = final.shape[0]
    n = vals.shape[0]
    gauss = code == NoiseKind.GAUSSIAN
    sc = params[0]
    m = perm.shape[1]
    pa = perm[0]
    pb = perm[1]
    w0 = min(max(start[0], vals[0]), vals[n - 1]) if rule == BC else start[0]
    k0 = _qd_axis(w0, vals, 0, n, even, tab, 0, lp, lf, 0)
    xa = xb = ua = ub = 0.0
    for c in range(0, nch, 2):
        two = c + 1 < nch
        sa = pcg.load(states, c)
        sb = pcg.load(states, c + 1 if two else c)
        for j in range(m):
            pa[j] = j
            pb[j] = j
        ka, kb, wa, wb = k0, k0, w0, w0
        todo = burn + steps
        if gauss and (rule == SR or rule == R):  # the fast loop
            look = (M, vals, n, inv, even, tab, lp, lf, bt)
            c_ = (alpha, sc, C[0], F[0], bits, Z[0])
            if two:  # (a literal: the loop compiled for two chains and for one)
                ka, kb, sa, sb = _pair_in_runs(sa, sb, ka, kb, True, rule == SR, c_, Q, todo, burn, counts, look)
            else:
                ka, kb, sa, sb = _pair_in_runs(sa, sb, ka, kb, False, rule == SR, c_, Q, todo, burn, counts, look)
            todo = 0
        elif gauss and rule == BC:
            look = (vals, n, even, tab, lp, lf, bt)
            c_ = (alpha, sc)
            if two:  # (a literal, as above)
                wa, wb, ka, kb, sa, sb = _pair_bc(sa, sb, wa, wb, ka, kb, True, c_, AG, todo, burn, counts, look)
            else:
                wa, wb, ka, kb, sa, sb = _pair_bc(sa, sb, wa, wb, ka, kb, False, c_, AG, todo, burn, counts, look)
            todo = 0
        for t in range(todo):
            if t >= burn:
                counts[ka] += 1
                if two:
                    counts[kb] += 1
            if gauss:
                z, sa = pcg.standard_normal(sa)
                xa = sc * z
                if two:
                    z, sb = pcg.standard_normal(sb)
                    xb = sc * z
            else:
                xa, sa = draw_noise(sa, code, params, pa)
                if two:
                    xb, sb = draw_noise(sb, code, params, pb)
            if rule == BC:
                wa, ka = _bc_step(wa, ka, AG[ka], xa, alpha, vals, 0, n, even, tab, 0, lp, lf, 0, bt, 2)
                if two:
                    wb, kb = _bc_step(wb, kb, AG[kb], xb, alpha, vals, 0, n, even, tab, 0, lp, lf, 0, bt, 2)
                continue
            if rule == SR:
                ua, sa = pcg.next_double(sa)
                if two:
                    ub, sb = pcg.next_double(sb)
            ka = _step(ka, alpha * xa, ua, rule, bits, Q, C, F, Z, M, vals, 0, n, inv, even, tab, 0, lp, lf, 0)
            if two:
                kb = _step(kb, alpha * xb, ub, rule, bits, Q, C, F, Z, M, vals, 0, n, inv, even, tab, 0, lp, lf, 0)
        final[c] = ka
        pcg.store(states, c, sa)
        if two:
            final[c + 1] = kb
            pcg.store(states, c + 1, sb)


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
        work = (np.zeros(d), np.zeros(d), np.zeros(params.size - 1 if code == NoiseKind.MINIBATCH else 1, np.int64))
        _sgd_chains(states, problem.grad_kernel, gp, alpha, start, vals, off, shape, strides, even, *loc, work, code,
                    params, int(steps), int(burn), counts, final)  # fmt: skip
    else:
        G = np.ascontiguousarray(np.asarray(problem.gradient(grid.points), dtype=np.float64).reshape(grid.size, d))
        AG = alpha * G  # BC's step α g(x) and the mean step's point x − α g(x)
        M = np.ascontiguousarray(grid.points - AG)
        rule = GRID_RULES[method]
        fast = rule == SR or (rule == R and not noise.is_discrete)
        S, B = _runs(axes, M)
        if not fast:  # R under discrete noise (ties): never in a run, every step takes the look-up
            S[:, :, 2] = -1.0
        elif rule == R:  # R's stalls at a run's end: see R_EDGE_SDS
            sd = alpha * float(noise.std) * S[:, :, 1]
            S[(np.minimum(S[:, :, 0], S[:, :, 2] - S[:, :, 0]) < R_EDGE_SDS * sd) & (sd < R_SMALL_STEP), 2] = -1.0
        Q, C, F, Z = fixed_runs(S, B, axes, min_f=0 if bits is None else bits + KBIT_MARGIN)
        parity = [axis_parity(grid, k) for k in range(d)]
        th, mo = _thresholds(axes, parity)
        bt = (th, *bc_runs(axes, parity))  # BC's rounding: thresholds, and inside runs of equal gaps
        perm = np.zeros((2, params.size - 1 if code == NoiseKind.MINIBATCH else 1), dtype=np.int64)
        run = (code, params, int(steps), int(burn), counts, final)
        if d == 1 and grid.shape[0] > 1 and LOCKSTEP:
            _chains_1d(states, rule, alpha, 0 if bits is None else bits, start, vals, inv, even, tab, lp, lf, AG[:, 0],
                       M[:, 0].copy(), Q, C, F, Z, bt, perm, *run)  # fmt: skip
        else:
            work = (np.zeros(d), np.zeros(d, dtype=np.int64), perm[0])
            _chains(states, rule, alpha, 0 if bits is None else bits, start, vals, inv, off, shape, strides, even, *loc,
                    AG, M.reshape(-1), Q, C, F, Z, bt, mo, work, *run)  # fmt: skip
    return GridRun(grid, method, alpha, final, counts, int(steps), int(burn), bits)
