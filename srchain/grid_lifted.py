r"""The stationary law of a 1-D chain on a format's grid through its interpolation points, lifted as states of their
own: GTH with no dense core.

On a grid holding 0 the rows near 0 keep ~10,000 entries each (:mod:`srchain.grid_dense`), but nearly all of them
are interpolated (:mod:`srchain.grid_interp`): the rows whose mean steps share a binade are, entry by entry, one
polynomial of degree :math:`m - 1` in the mean step's position :math:`\tau \in [-1, 1]` within the binade, through
the binade's :math:`m` reference rows. Written in Bernstein form,

.. math::

    p_i(t) = \sum_{j=0}^{m-1} B_j(\tau_i)\,\beta_j(t),\qquad
    B_j(\tau) = \binom{m-1}{j} u^j (1 - u)^{m-1-j},\quad u = \frac{1 + \tau}{2},

with :math:`B_j \ge 0` on the binade, and where every coefficient :math:`\beta_j(t)` is non-negative (on bf16
[−4, 10] every one of the 1.15 million on the cells that every row keeps is), a row is a mixture of :math:`m`
non-negative rows. Then T_α is
the chain censored on the grid's states of a larger chain with one more state per Bernstein coefficient row (a
*node*): from the grid state :math:`i` to the node :math:`(b, j)` with rate :math:`B_j(\tau_i) S_{bj}/k_i`, from
the node to each cell :math:`t` with :math:`\beta_j(t)/S_{bj}` (:math:`S_{bj} = \sum_t \beta_j(t)` over the cells
every row of the binade keeps, :math:`k_i` the row's kept mass), and from :math:`i` straight to the few cells that
only some rows keep (their own value's neighbours, a tail cell near ``tol``: *extras*, at most 3 a row on bf16
[−4, 10]) with their own probability. All rates are non-negative, so GTH keeps its entrywise accuracy, and the
stationary law of the lifted chain, restricted to the grid and renormalised, is π_α.

The grid's interpolated states are eliminated first, in the grid's order: each has a few successors (its nodes,
its extras and what their elimination added), and its predecessors among the nodes and the directly computed rows
(the set ``D``, a few thousand states) are a column of one dense array, so each elimination costs
:math:`|D|` times its successors. ``D`` is then eliminated as one dense front (:func:`srchain.gth.dense_gth_rates`),
and the law back-substituted. On bf16 [−4, 10] at α = 0.01: 538 nodes and 2,725 direct rows, against the dense
route's core of 12,194 values.

The cells that every row of a binade keeps are decided from the coefficients' range (a Bernstein polynomial lies
between its least and its largest coefficient): at least ``tol`` (with a margin of :data:`MARGIN`) within every row's
window and not far. Every other cell in some row's window that could be kept is decided row by row from the row's
own interpolated value, computed as T_α computes it (:func:`srchain.grid_interp._value`), by T_α's rule. The law
is that of the rows in Bernstein form, which equal T_α's entries to the coefficients' solve (checked to
:data:`BERNSTEIN_RESIDUAL` at the nodes); the residual :math:`\|\pi P - \pi\|_1` is computed against T_α's rows
themselves. A cell whose coefficients are not all at least ``tol`` is never a node's target, so the rates stay
non-negative whatever the coefficients' signs elsewhere (such cells only add extras). The route does not apply
(None) where the coefficients miss the reference rows, a successor list would overflow, or the lifted chain needs
more memory than it is given.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy.special import comb

from srchain.assemble import build_rows
from srchain.grid_chains import _pad, _reach, _rule_law, _windows, grid_move_tables
from srchain.grid_interp import _binning, _chebyshev, _references, _value, _weights_at
from srchain.grid_sr import DROP
from srchain.grids import axis_values
from srchain.gth.dense import dense_gth_rates
from srchain.operator_checks import check_move_tables, check_sums

__all__ = ["lifted_law", "lifted_bytes", "LIFTED", "MARGIN", "BERNSTEIN_RESIDUAL", "HUB_PREDECESSORS"]

#: Whether :func:`srchain.grid_dense.grid_law_dense` takes this route where it applies.
LIFTED = True
#: A cell is kept by every row of a binade where its least Bernstein coefficient is at least ``tol·(1 + MARGIN)``
#: (the rows' values are within a few ulps of the polynomial's, which lies above that coefficient).
MARGIN = 1e-9
#: An interpolated state that more rows' extras reach than this joins ``D`` (module docstring).
HUB_PREDECESSORS = 8
#: Room for this many extras a row to start with (more is made as needed; bf16 [−4, 10] has at most 3).
EXTRAS_PER_ROW = 4
#: The Bernstein coefficients reproduce the reference rows at the nodes to this, relative to each entry, or the
#: route does not apply.
BERNSTEIN_RESIDUAL = 1e-12


def _bernstein(tau: np.ndarray, m: int) -> np.ndarray:
    """``B_j(τ)`` for ``j < m`` at each ``τ`` in [−1, 1], shape ``(len(τ), m)``."""
    u = (np.asarray(tau, dtype=np.float64) + 1.0) / 2.0
    j = np.arange(m)
    return comb(m - 1, j)[None, :] * u[:, None] ** j[None, :] * (1.0 - u[:, None]) ** (m - 1 - j)[None, :]


def _setup(problem, noise, grid, alpha, method, tol, grads):
    """``(found, lo, hi, own, vp)`` for a 1-D grid whose rows are interpolated (:func:`_binning`), else None."""
    if grid.dim != 1 or method not in ("sr", "r") or not tol > 0 or noise.is_discrete:
        return None
    vp = _pad(axis_values(grid, 0))
    x = grid.points[:, 0]
    found = _binning(noise, x, np.ascontiguousarray(grads[:, 0]), alpha, vp, tol)
    if found is None:
        return None
    lo, hi, own = _windows(grid, slice(None), grads, alpha, _reach(noise, grads, alpha, tol))
    return found, lo[:, 0], hi[:, 0], own[:, 0], vp


def lifted_bytes(n: int, nodes: int, direct: int, cap: int) -> float:
    """Memory of :func:`lifted_law` (bytes): the rates into every state from ``D`` (the ``nodes`` and the ``direct``
    rows), ``D``'s dense front, and the interpolated rows' successor lists of ``cap`` entries."""
    d = nodes + direct
    return 8.0 * (n + nodes) * d + 8.0 * d * d + 16.0 * n * cap + 64.0 * (n + nodes)


def lifted_law(problem, noise, grid, alpha, method, tol, grads, chunks, max_bytes, max_front, threads=None, say=None,
               bits=None):  # fmt: skip
    """``(pi, nnz, dropped, loops)`` of T_α (SR, SR with ``bits`` random bits or R, Eq. 6/4 on ``grid``) by the
    lifted chain (module docstring),
    or None where the route does not apply, its dense front (the nodes and the rows computed directly) would exceed
    ``max_front`` states, or it would take more than ``max_bytes``. ``chunks``: the row ranges of
    :func:`srchain.grid_chains.prepare_rows`, whose direct rows are built one range at a time; ``say``: called with a
    short text once the route is taken."""
    setup = _setup(problem, noise, grid, alpha, method, tol, grads)
    if setup is None:
        return None
    (keys, params, binned, c), lo, hi, own, vp = setup
    binades = [int(k) for k in np.unique(keys[binned])]
    n_nodes = sum(params[k][2] for k in binades)
    direct = np.flatnonzero(~binned)
    if n_nodes + direct.size > max_front:
        return None
    if say is not None:
        say(f"the lifted chain: {n_nodes} interpolation nodes and {direct.size} rows computed directly (GTH)")
    n = grid.size
    law, far_cells = _rule_law(method, bits)
    what = f"T_alpha at alpha = {alpha:g}"
    allowed = tol + noise.table_error + int(np.max(hi - lo) + 1) * DROP * tol
    parts = []
    for k in binades:
        rows = np.flatnonzero(binned & (keys == k))
        part = _binade(law, far_cells, noise, alpha, vp, tol, params[k], rows, c, own, lo, hi, what, allowed)
        if part is None:
            return None
        parts.append((rows, params[k], part))
    # the interpolated states that many rows' extras reach (a window's end cell, which carries its tail) join D:
    # the others' interpolated predecessors are a few neighbours
    reached = np.zeros(n, dtype=np.int64)
    longest = 0
    for rows, param, part in parts:
        ex_row, ex_cell = part[4], part[5]
        np.add.at(reached, ex_cell[ex_cell != rows[ex_row]], 1)
        longest = max(longest, param[2] + int(np.bincount(ex_row, minlength=rows.size).max()))
    hub = binned & (reached > HUB_PREDECESSORS)
    dlist = np.concatenate([direct, np.flatnonzero(hub)])
    real = np.flatnonzero(binned & ~hub)
    n_d = dlist.size + n_nodes
    cap = n_nodes + longest + 16
    if lifted_bytes(n, n_nodes, dlist.size, cap) > max_bytes:
        return None
    # D: the direct rows, the hubs, then the nodes (positions); W[j, p]: the rate from D's p into state j (the
    # grid's states 0 … n − 1, the nodes n …)
    W = np.zeros((n + n_nodes, n_d))
    dpos = np.full(n, -1, dtype=np.int64)
    dpos[dlist] = np.arange(dlist.size)
    rows_len = np.zeros(n, dtype=np.int64)
    succ_c = np.full((n, cap), -1, dtype=np.int64)
    succ_v = np.zeros((n, cap))
    kept_of = np.ones(n)
    nnz, loops = 0, 0
    node0 = 0
    for rows, param, part in parts:
        certain, beta, S, B, ex_row, ex_cell, ex_p = part
        m, blo = param[2], param[3]
        cells = blo + np.flatnonzero(certain)
        col = dlist.size + node0 + np.arange(m)
        W[cells[:, None], col[None, :]] = beta / S[None, :]
        kept = _times(B, S[:, None])[:, 0] + np.bincount(ex_row, weights=ex_p, minlength=rows.size)
        kept_of[rows] = kept
        _fill_rows(rows, n + node0, B * S[None, :] / kept[:, None], ex_row, ex_cell, ex_p / kept[ex_row], dpos, W,
                   succ_c, succ_v, rows_len)  # fmt: skip
        nnz += rows.size * cells.size + ex_row.size
        own_kept = certain[own[rows] - blo]  # (within the binade's cells, as every window: _binade)
        own_kept[ex_row[ex_cell == own[rows][ex_row]]] = True
        loops += int(np.count_nonzero(own_kept))
        node0 += m
    del parts
    dropped = float(np.max(np.abs(1.0 - kept_of[binned]))) if binned.any() else 0.0
    # the direct rows, a chunk of the grid's rows at a time
    for a, b in chunks:
        sel = direct[(direct >= a) & (direct < b)]
        if sel.size == 0:
            continue
        tables = grid_move_tables(problem, noise, grid, alpha, method, tol, grads[sel], sel, bits)
        targets, probs, row_of, own_d = tables
        check_move_tables(probs, row_of, tol + noise.table_error + probs.shape[1] * DROP * tol, what, sel)
        ln, ci, va, dr = build_rows(targets, probs, grid, tol, own_d, np.int64, row_of=row_of)
        W[ci, np.repeat(dpos[sel], ln)] = va
        nnz += int(va.size)
        loops += int(np.count_nonzero(W[sel, dpos[sel]] > 0))
        dropped = max(dropped, dr)
    pcap = int(reached[real].max(initial=0)) + 16
    status, s_of, rp, ra, rpl = _eliminate(real, W, succ_c, succ_v, rows_len, n, pcap)
    if status != 0:
        return None
    dstates = np.concatenate([dlist, n + np.arange(n_nodes)])
    F = _front(W, dstates)
    pi_d = dense_gth_rates(F, threads)
    del F
    pi = np.zeros(n + n_nodes)
    pi[dstates] = pi_d
    _back(real, W, pi_d, s_of, rp, ra, rpl, pi)
    out = pi[:n]
    total = out.sum()
    if not (np.isfinite(total) and total > 0 and np.all(out >= 0)):
        return None
    return out / total, nnz, dropped, loops


def _binade(law, far_cells, noise, alpha, vp, tol, param, rows, c, own, lo, hi, what, allowed):
    """One interpolated binade's part of the lifted chain: ``(certain, beta, S, B, ex_row, ex_cell, ex_p)``, the
    cells every row keeps (a mask over the binade's cells), their Bernstein coefficients and sums over those cells,
    the rows' Bernstein weights, and the extras (row's position, cell, probability); None where the coefficients miss
    the reference rows or a node would move nowhere (no cell that every row keeps)."""
    c0, eta_w, m, blo, bhi = param
    if lo[rows].min() < blo or hi[rows].max() > bhi:  # (the binade's cells hold every window: _binade)
        return None
    ref_t, far = _references(law, far_cells, noise, alpha, vp, tol, param, int(own[rows].min()), int(own[rows].max()),
                             np.int64)  # fmt: skip
    check_sums(ref_t.sum(axis=0), allowed, what, lambda q: f"a reference row of the binade at {c0:g}")
    nodes = c0 + eta_w * _chebyshev(m)
    tau_nodes = (nodes - c0) / eta_w  # (as srchain.grid_interp._weights_at rounds them)
    if m > 1:
        at_nodes = _bernstein(tau_nodes, m)
        beta = _times(ref_t, np.ascontiguousarray(np.linalg.inv(at_nodes).T))  # (m × m: LAPACK on one thread)
        if np.any(np.abs(_times(beta, np.ascontiguousarray(at_nodes.T)) - ref_t) > BERNSTEIN_RESIDUAL * np.abs(ref_t)):
            return None
    else:
        beta = ref_t.copy()
    span = bhi - blo + 1
    cells = blo + np.arange(span)
    inall = (cells >= lo[rows].max()) & (cells <= hi[rows].min())
    certain = inall & ~far & (beta.min(axis=1) >= tol * (1.0 + MARGIN))
    S = beta[certain].sum(axis=0)
    if not np.all(S > 0):
        return None
    maybe = ~certain & ~far & (beta.max(axis=1) >= tol * (1.0 - MARGIN))
    L = _weights_at(param, c[rows])
    maybe_cells = np.flatnonzero(maybe) + blo
    ex_row, ex_cell, ex_p = _extras(rows, L, ref_t, blo, far, certain, maybe_cells, own, lo, hi, tol, EXTRAS_PER_ROW)
    B = _bernstein((c[rows] - c0) / eta_w, m)
    return certain, beta[certain], S, B, ex_row, ex_cell, ex_p


@njit(cache=True, nogil=True)
def _front(W, dstates):
    """``D``'s dense front: ``F[p, q]`` the rate from ``D``'s ``p`` to its ``q`` (``W[dstates[q], p]``), its diagonal 0;
    transposed in blocks, with no copy of ``W``'s rows first."""
    nd = dstates.size
    F = np.empty((nd, nd))
    b = 64
    for q0 in range(0, nd, b):
        for p0 in range(0, nd, b):
            for q in range(q0, min(q0 + b, nd)):
                row = dstates[q]
                for p in range(p0, min(p0 + b, nd)):
                    F[p, q] = W[row, p]
    for p in range(nd):
        F[p, p] = 0.0
    return F


@njit(cache=True, nogil=True)
def _times(A, B):
    """``A @ B`` with each entry's terms summed in order (a BLAS product's order may depend on its threads)."""
    out = np.zeros((A.shape[0], B.shape[1]))
    for i in range(A.shape[0]):
        for k in range(A.shape[1]):
            a = A[i, k]
            for j in range(B.shape[1]):
                out[i, j] += a * B[k, j]
    return out


@njit(cache=True, nogil=True)
def _extras(rows, L, ref_t, blo, far, certain, maybe, own, lo, hi, tol, per_row):
    """Per row, the cells of its window outside the binade's ``certain`` ones that it keeps by T_α's rule (its own
    value's neighbours, and the ``maybe`` cells: not far, some coefficient near or above ``tol``), each with the
    row's interpolated probability as T_α computes it."""
    cap = per_row * rows.size + 16  # (doubled as needed: a binade's maybe cells may be many, its extras few)
    out_r = np.empty(cap, dtype=np.int64)
    out_c = np.empty(cap, dtype=np.int64)
    out_p = np.empty(cap)
    q = 0
    for k in range(rows.size):
        i = rows[k]
        a = np.searchsorted(maybe, lo[i])
        b = np.searchsorted(maybe, hi[i], side="right")
        near0, near1 = max(own[i] - 1, lo[i]), min(own[i] + 1, hi[i])
        e = a
        t = near0
        while e < b or t <= near1:  # the maybe cells and the neighbours, merged in increasing order
            if e < b and (t > near1 or maybe[e] < t):
                cell = maybe[e]
                e += 1
            elif e < b and maybe[e] == t:
                cell = t
                e += 1
                t += 1
            else:
                cell = t
                t += 1
            j = cell - blo
            if certain[j]:
                continue
            near = abs(cell - own[i]) <= 1
            if far[j] and not near:
                continue
            p = _value(L, k, ref_t, j)
            if p == 0.0 or not (p >= tol or near):
                continue
            if q == out_r.size:
                out_r = np.concatenate((out_r, np.empty_like(out_r)))
                out_c = np.concatenate((out_c, np.empty_like(out_c)))
                out_p = np.concatenate((out_p, np.empty_like(out_p)))
            out_r[q] = k
            out_c[q] = cell
            out_p[q] = p
            q += 1
    return out_r[:q], out_c[:q], out_p[:q]


@njit(cache=True, nogil=True)
def _fill_rows(rows, node0, to_nodes, ex_row, ex_cell, ex_rate, dpos, W, succ_c, succ_v, rows_len):
    """The interpolated rows' rates: to their nodes ``node0 …`` (``to_nodes``), then to their extras; a row in ``D``
    (``dpos`` ≥ 0) into its column of ``W``, the others into their successor lists."""
    m = to_nodes.shape[1]
    for k in range(rows.size):
        i = rows[k]
        p = dpos[i]
        for j in range(m):
            r = to_nodes[k, j]
            if r > 0.0:
                if p >= 0:
                    W[node0 + j, p] += r
                else:
                    q = rows_len[i]
                    succ_c[i, q] = node0 + j
                    succ_v[i, q] = r
                    rows_len[i] = q + 1
    for e in range(ex_row.size):
        i = rows[ex_row[e]]
        p = dpos[i]
        if p >= 0:
            W[ex_cell[e], p] += ex_rate[e]
        elif ex_cell[e] != i:  # (GTH never reads the diagonal)
            q = rows_len[i]
            succ_c[i, q] = ex_cell[e]
            succ_v[i, q] = ex_rate[e]
            rows_len[i] = q + 1


@njit(cache=True, nogil=True)
def _eliminate(real, W, succ_c, succ_v, rows_len, n, pcap):
    """GTH-eliminate the interpolated states ``real`` (increasing), each into its successors: the states of ``D``
    that move to it (nonzero ``W[i, :]``) and the interpolated ones (``pred`` lists) receive its successors. Returns
    ``(status, s, rp, ra, rpl)``: 0, or 1 (a zero exit rate) or 2 (a successor list full); each state's exit rate;
    its interpolated predecessors at its elimination and their rates."""
    N, nd = W.shape
    cap = succ_c.shape[1]
    done = np.zeros(N, dtype=np.bool_)
    is_real = np.zeros(N, dtype=np.bool_)
    for i in real:
        is_real[i] = True
    # interpolated predecessors of each interpolated state (rows whose extras point to it, at most pcap − 16),
    # grown with the fill
    pred = np.full((n, pcap), -1, dtype=np.int64)
    npred = np.zeros(n, dtype=np.int64)
    for i in real:
        for q in range(rows_len[i]):
            j = succ_c[i, q]
            if j < n and is_real[j]:
                if npred[j] == pcap:
                    return 2, np.zeros(0), pred, np.zeros((0, 0)), npred
                pred[j, npred[j]] = i
                npred[j] += 1
    s_of = np.zeros(N)
    rp = np.full((n, pcap), -1, dtype=np.int64)
    ra = np.zeros((n, pcap))
    rpl = np.zeros(n, dtype=np.int64)
    nzp = np.empty(nd, dtype=np.int64)
    for i in real:
        s = 0.0
        for q in range(rows_len[i]):
            j = succ_c[i, q]
            if j != i and not done[j]:
                s += succ_v[i, q]
        if not (s > 0.0) or not np.isfinite(s):
            return 1, s_of, rp, ra, rpl
        s_of[i] = s
        cnt = 0
        for p in range(nd):
            if W[i, p] != 0.0:
                nzp[cnt] = p
                cnt += 1
        for q in range(rows_len[i]):
            j = succ_c[i, q]
            if j == i or done[j]:
                continue
            cj = succ_v[i, q] / s
            for t in range(cnt):
                p = nzp[t]
                W[j, p] += W[i, p] * cj
        for t in range(npred[i]):
            j2 = pred[i, t]
            if done[j2]:
                continue
            a = 0.0
            for q in range(rows_len[j2]):
                if succ_c[j2, q] == i:
                    a += succ_v[j2, q]
                    succ_v[j2, q] = 0.0
            if a == 0.0:
                continue
            if rpl[i] == pcap:
                return 2, s_of, rp, ra, rpl
            rp[i, rpl[i]] = j2
            ra[i, rpl[i]] = a
            rpl[i] += 1
            for q in range(rows_len[i]):
                j = succ_c[i, q]
                if j == i or j == j2 or done[j]:
                    continue
                add = a * (succ_v[i, q] / s)
                found = False
                for q2 in range(rows_len[j2]):
                    if succ_c[j2, q2] == j:
                        succ_v[j2, q2] += add
                        found = True
                        break
                if not found:
                    if rows_len[j2] == cap:
                        return 2, s_of, rp, ra, rpl
                    succ_c[j2, rows_len[j2]] = j
                    succ_v[j2, rows_len[j2]] = add
                    rows_len[j2] += 1
                    if j < n and is_real[j]:
                        if npred[j] == pcap:
                            return 2, s_of, rp, ra, rpl
                        pred[j, npred[j]] = j2
                        npred[j] += 1
        done[i] = True
    return 0, s_of, rp, ra, rpl


@njit(cache=True, nogil=True)
def _back(real, W, pi_d, s_of, rp, ra, rpl, pi):
    """Back-substitution, the interpolated states last eliminated first: ``π_i s_i = Σ_p π_p W[i, p] + Σ π_j a_ji``
    over ``D`` and the interpolated predecessors at ``i``'s elimination."""
    nd = W.shape[1]
    for k in range(real.size - 1, -1, -1):
        i = real[k]
        acc = 0.0
        for p in range(nd):
            acc += pi_d[p] * W[i, p]
        for t in range(rpl[i]):
            acc += pi[rp[i, t]] * ra[i, t]
        pi[i] = acc / s_of[i]
