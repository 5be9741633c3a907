"""The 1-D lattice kernels: fixed-point fast paths for SR and R, BC's float loop, two chains in lockstep."""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from srchain import pcg
from srchain.rules import NoiseKind, Rule
from srchain.simulate.draws import count_latent, draw_noise

__all__ = [
    "pair_1d",
    "single_1d",
    "pair_1d_sr_gauss",
    "pair_1d_bc_gauss",
    "single_1d_sr_gauss",
    "single_1d_bc_gauss",
    "fast_path",
]


# ---------------------------------------------------------------------------------------------------------------
# 1-D lattice kernels. One step of every rule is x = v + T[q] + r with the table T[q] = −(α/Δ)∇f(q) (plus q
# itself for R and SR, whose state is q) and r = −(α/Δ)ξ̄ (+ U for SR, + ½ for R):
#   SR, R: q ← clip(⌊T[q] + r⌋)                                          (the state is the lattice point)
#   BC:    v ← clip(v + T[q] + r), q = rint(v) (Qd) or trunc(v + U) (Qs)  (v: the latent weight, lattice units)
# clip is to [0, n−1]; ⌊y + U⌋ is Qs (it rounds up with probability y − ⌊y⌋) and ⌊y + ½⌋ is Qd.
# SR and R step in fixed point (see _fixed_table): T[q] and r as int64 multiples of 2^-F, so that the floor is an
# arithmetic shift. The chain's dependency per step is then an integer load, add, shift and clamp, about half
# the latency of the float64 version (load, add, clip, convert), and the result is at least as exact: 2^-F is
# below the float64 spacing at the table's magnitude. Two independent chains stepped in lockstep fill each
# other's gaps (the random draws do not depend on the state, so they run ahead).
# ---------------------------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _table1(method, ad, G):
    """``T[q] = −(α/Δ)∇f(q)``, plus ``q`` for the lattice chains (R, SR)."""
    # a plain loop: the same numbers as ``-ad * G`` (plus ``np.arange``), and a fraction of the array
    # expressions' compile time
    T = np.empty(G.shape[0])
    lattice = method == Rule.R or method == Rule.SR
    for i in range(G.shape[0]):
        T[i] = -ad * G[i]
        if lattice:
            T[i] += i
    return T


#: Gaussian draws of srchain.pcg are bounded: the ziggurat's tail gives at most r + 36.74/r < 13.71 (r = 3.654).
_ZIGGURAT_MAX = 13.72
#: Bound on |r| up to which the fixed-point range is widened so that r needs no clamping.
_UNCLAMPED_MAX = 2.0**50


@njit(cache=True, nogil=True)
def _max_abs(T):
    """``np.max(np.abs(T))`` (NaN if any entry is) as a plain loop: the same number, a fraction of the compile
    time of the array expression and NumPy's reduction."""
    m = 0.0
    for i in range(T.shape[0]):
        x = abs(T[i])
        if x != x:
            return x
        if x > m:
            m = x
    return m


@njit(cache=True, nogil=True)
def _fixed_table(T, nmax, rmax):
    """The fixed-point form of a lattice chain's table: ``(Tf, F, S, K)`` with ``S = 2^F`` and
    ``Tf[q] = trunc(T[q]·S)``.

    ``K ≥ max|T| + n + 1``: clamping ``r`` to ``[−K, K]`` cannot change ``clip(⌊T[q] + r⌋)`` (beyond that the sum
    is below 0 or above n for every q). ``K`` is widened to ``rmax`` (a bound on |r|, e.g. for Gaussian noise)
    when that is at most ``_UNCLAMPED_MAX``: then r never needs clamping. With ``F = 61 − ⌈log2 K⌉`` every
    ``Tf + trunc(r·2^F)`` fits in an int64. Each truncation errs by less than ``2^-F ≤ K·2^-60``, far below the
    float64 spacing at magnitude K (``≥ K·2^-53``): the floor is at least as exact as in float64 arithmetic.
    """
    K = _max_abs(T) + nmax + 2.0
    if rmax <= _UNCLAMPED_MAX:
        K = max(K, rmax)
    F = 61 - int(math.ceil(math.log2(K)))
    scale = 2.0**F
    Tf = np.empty(T.shape[0], dtype=np.int64)
    for i in range(T.shape[0]):
        Tf[i] = np.int64(T[i] * scale)
    return Tf, F, scale, K


@njit(cache=True, nogil=True)
def _fixed_step(Tf, q, r, F, S, K, nq):
    """``clip(⌊T[q] + r⌋)`` in fixed point (see :func:`_fixed_table`); ``nq`` = n − 1."""
    x = Tf[q] + np.int64(min(max(r, -K), K) * S)
    return min(max(x >> F, 0), nq)


@njit(cache=True, nogil=True)
def _fixed_step_unclamped(Tf, q, r, F, S, nq):
    """:func:`_fixed_step` for ``|r| ≤ K`` known in advance (Gaussian noise; see :func:`_fixed_table`)."""
    return min(max((Tf[q] + np.int64(r * S)) >> F, 0), nq)


@njit(cache=True, nogil=True)
def _tables1(method, ad, G, code, params, nmax):
    """One chain's tables: ``(T, Tf, F, S, K, c, rmax)``: :func:`_table1`, its fixed-point form
    (:func:`_fixed_table`), ``c = (α/Δ)·s`` (Gaussian noise of scale s) and the bound ``rmax ≥ |U − c·Z|`` (inf for
    other noise, whose draws are unbounded)."""
    T = _table1(method, ad, G)
    c = ad * params[0]
    rmax = 1.0 + _ZIGGURAT_MAX * c if code == NoiseKind.GAUSSIAN else np.inf
    Tf, F, S, K = _fixed_table(T, nmax, rmax)
    return T, Tf, F, S, K, c, rmax


@intrinsic
def _f64_bits(typingctx, x):
    """The IEEE-754 bits of a float64 as an int64 (a register move)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


_RINT_MAGIC = 6755399441055744.0  # 1.5 · 2^52: in [2^52, 2^53) the spacing of doubles is exactly 1


@njit(cache=True, nogil=True)
def _rint(y):
    """``y`` in [0, 2^31) rounded to the nearest integer (ties to even), as an int: adding 1.5·2^52 leaves the
    rounded value in the low mantissa bits. Shorter latency than a float-to-int conversion, and in BC's step this
    conversion is on the critical path (``q = Qd(v)`` indexes the next look-up). A tie needs ``v`` to be exactly
    a half-integer, an event of probability about 1e-16 per step."""
    return _f64_bits(y + _RINT_MAGIC) & 0xFFFFFFFF


@njit(cache=True, nogil=True)
def _init1(s, method, start, nmax):
    """Initial ``(v, q, s)``: R/SR round the start (v unused), BC keeps it and quantizes it."""
    v = min(max(start, 0.0), nmax)
    if method == Rule.R or method == Rule.SR:
        q = min(int(v + 0.5), int(nmax))
    elif method == Rule.BC_QS:
        u, s = pcg.next_double(s)
        q = min(int(v + u), int(nmax))
    else:
        q = min(int(v + 0.5), int(nmax))
    return v, q, s


@njit(cache=True, nogil=True)
def _sr_gauss_pair_1d(sa, sb, qa, qb, Ta, Tb, Fa, Fb, Sa, Sb, ca0, cb0, nq, steps, burn, ca, cb):
    """Two SR chains under Gaussian noise in lockstep (see :func:`_sr_gauss_1d`); returns ``(qa, qb, sa, sb)``.
    A function of its own: inside :func:`_pair_1d`'s general loop this loop ran about 10% slower."""
    for t in range(burn + steps):
        za, sa = pcg.standard_normal(sa)
        zb, sb = pcg.standard_normal(sb)
        u, sa = pcg.next_double(sa)
        qa = _fixed_step_unclamped(Ta, qa, u - ca0 * za, Fa, Sa, nq)
        u, sb = pcg.next_double(sb)
        qb = _fixed_step_unclamped(Tb, qb, u - cb0 * zb, Fb, Sb, nq)
        if t >= burn:
            ca[qa] += 1
            cb[qb] += 1
    return qa, qb, sa, sb


@njit(cache=True, nogil=True)
def _bc_gauss_1d(s, v, q, T, c, nmax, steps, burn, counts, lat, bpc):
    """BC (Qd) under Gaussian noise from latent ``v`` (lattice units): ``v ← clip(v + T[q] − c·Z)``,
    ``q = rint(v)``; counts ``q`` and the latent bin of ``v``. Returns ``(v, q, s)``."""
    nbins = lat.shape[0]
    for t in range(burn + steps):
        z, s = pcg.standard_normal(s)
        v = min(max(v + (T[q] - c * z), 0.0), nmax)
        q = _rint(v)
        if t >= burn:
            counts[q] += 1
            count_latent(lat, v, bpc, nbins)
    return v, q, s


@njit(cache=True, nogil=True)
def _bc_gauss_pair_1d(sa, sb, va, vb, qa, qb, Ta, Tb, ca0, cb0, nmax, steps, burn, ca, cb, la, lb, bpc):
    """Two BC (Qd) chains under Gaussian noise in lockstep (see :func:`_bc_gauss_1d`)."""
    nbins = la.shape[0]
    for t in range(burn + steps):
        za, sa = pcg.standard_normal(sa)
        zb, sb = pcg.standard_normal(sb)
        va = min(max(va + (Ta[qa] - ca0 * za), 0.0), nmax)
        vb = min(max(vb + (Tb[qb] - cb0 * zb), 0.0), nmax)
        qa = _rint(va)
        qb = _rint(vb)
        if t >= burn:
            ca[qa] += 1
            cb[qb] += 1
            count_latent(la, va, bpc, nbins)
            count_latent(lb, vb, bpc, nbins)
    return va, vb, qa, qb, sa, sb


@njit(cache=True, nogil=True)
def _sr_gauss_1d(s, q, Tf, F, S, c, nq, steps, burn, counts):
    """SR under Gaussian noise from lattice point ``q``: ``q ← clip(⌊T[q] + U − c·Z⌋)`` in fixed point
    (:func:`_fixed_table`); returns ``(q, s)``."""
    for t in range(burn + steps):
        z, s = pcg.standard_normal(s)
        u, s = pcg.next_double(s)
        q = _fixed_step_unclamped(Tf, q, u - c * z, F, S, nq)
        if t >= burn:
            counts[q] += 1
    return q, s


@njit(cache=True, nogil=True)
def pair_1d(states, chain_a, chain_b, line, noise, run):
    """Two chains in lockstep on a 1-D lattice; returns their final states (lattice units).

    Records: ``chain = (c, rule, alpha, start, counts, latent_counts)`` (the stream ``states[c]``, the
    :class:`Rule`, α, the start in lattice units, the chain's histogram rows), ``line = (nmax, delta, G)`` (the
    lattice's last index and spacing, the gradient table), ``noise = (code, params)``, ``run = (steps, burn,
    bpc)``. Two SR or two BC-Qd chains under Gaussian noise take the dedicated loops, anything else the general
    loop below, written out flat for both chains: a shared ``@njit(inline="always")`` step helper (tried for
    issue 12) made this loop about 2x slower for R (``benchmarks/bench_simulate.py``, ``step_general_1core``:
    about 50 against 110-170 M steps/s on one core), so the step body is written out in both kernels.
    """
    a, ma, aa, va0, ca, la = chain_a
    b, mb, ab, vb0, cb, lb = chain_b
    nmax, delta, G = line
    code, params = noise
    steps, burn, bpc = run
    sa = pcg.load(states, a)
    sb = pcg.load(states, b)
    m = params.shape[0] - 1 if code == NoiseKind.MINIBATCH else 1
    pa = np.arange(m)
    pb = np.arange(m)
    ada = aa / delta
    adb = ab / delta
    gauss = code == NoiseKind.GAUSSIAN
    Ta, Tfa, Fa, Sa, Ka, ca0, rma = _tables1(ma, ada, G, code, params, nmax)
    Tb, Tfb, Fb, Sb, Kb, cb0, rmb = _tables1(mb, adb, G, code, params, nmax)
    nq = int(nmax)
    va, qa, sa = _init1(sa, ma, va0, nmax)
    vb, qb, sb = _init1(sb, mb, vb0, nmax)
    ra = ma == Rule.R or ma == Rule.SR
    rb = mb == Rule.R or mb == Rule.SR
    nbins = la.shape[0]
    if ma == Rule.SR and mb == Rule.SR and rma <= _UNCLAMPED_MAX and rmb <= _UNCLAMPED_MAX:
        # the common cases (SR or BC with Qd, Gaussian noise) without the per-step rule switches
        qa, qb, sa, sb = _sr_gauss_pair_1d(sa, sb, qa, qb, Tfa, Tfb, Fa, Fb, Sa, Sb, ca0, cb0, nq, steps, burn, ca, cb)
        steps = burn = 0
    elif ma == Rule.BC and mb == Rule.BC and gauss:
        va, vb, qa, qb, sa, sb = _bc_gauss_pair_1d(
            sa, sb, va, vb, qa, qb, Ta, Tb, ca0, cb0, nmax, steps, burn, ca, cb, la, lb, bpc
        )
        steps = burn = 0
    for t in range(burn + steps):
        if gauss:
            za, sa = pcg.standard_normal(sa)
            zb, sb = pcg.standard_normal(sb)
            ea = ca0 * za
            eb = cb0 * zb
        else:
            xa, sa = draw_noise(sa, code, params, pa)
            xb, sb = draw_noise(sb, code, params, pb)
            ea = ada * xa
            eb = adb * xb
        # chain a
        if ma == Rule.SR:
            u, sa = pcg.next_double(sa)
            qa = _fixed_step(Tfa, qa, u - ea, Fa, Sa, Ka, nq)
        elif ma == Rule.R:
            qa = _fixed_step(Tfa, qa, 0.5 - ea, Fa, Sa, Ka, nq)
        else:
            va = min(max(va + (Ta[qa] - ea), 0.0), nmax)
            if ma == Rule.BC_QS:
                u, sa = pcg.next_double(sa)
                qa = min(int(va + u), int(nmax))
            else:
                qa = _rint(va)
        # chain b
        if mb == Rule.SR:
            u, sb = pcg.next_double(sb)
            qb = _fixed_step(Tfb, qb, u - eb, Fb, Sb, Kb, nq)
        elif mb == Rule.R:
            qb = _fixed_step(Tfb, qb, 0.5 - eb, Fb, Sb, Kb, nq)
        else:
            vb = min(max(vb + (Tb[qb] - eb), 0.0), nmax)
            if mb == Rule.BC_QS:
                u, sb = pcg.next_double(sb)
                qb = min(int(vb + u), int(nmax))
            else:
                qb = _rint(vb)
        if t >= burn:
            ca[qa] += 1
            cb[qb] += 1
            if not ra:
                count_latent(la, va, bpc, nbins)
            if not rb:
                count_latent(lb, vb, bpc, nbins)
    pcg.store(states, a, sa)
    pcg.store(states, b, sb)
    return (float(qa) if ra else va), (float(qb) if rb else vb)


@njit(cache=True, nogil=True)
def single_1d(states, chain_a, line, noise, run):
    """One chain (as :func:`pair_1d`, same records); returns its final state (lattice units)."""
    a, ma, aa, va0, ca, la = chain_a
    nmax, delta, G = line
    code, params = noise
    steps, burn, bpc = run
    sa = pcg.load(states, a)
    m = params.shape[0] - 1 if code == NoiseKind.MINIBATCH else 1
    pa = np.arange(m)
    ada = aa / delta
    gauss = code == NoiseKind.GAUSSIAN
    Ta, Tfa, Fa, Sa, Ka, ca0, rma = _tables1(ma, ada, G, code, params, nmax)
    nq = int(nmax)
    va, qa, sa = _init1(sa, ma, va0, nmax)
    ra = ma == Rule.R or ma == Rule.SR
    nbins = la.shape[0]
    if ma == Rule.SR and rma <= _UNCLAMPED_MAX:
        # the common cases (SR or BC with Qd, Gaussian noise) without the per-step switches, as in pair_1d
        qa, sa = _sr_gauss_1d(sa, qa, Tfa, Fa, Sa, ca0, nq, steps, burn, ca)
        steps = burn = 0
    elif ma == Rule.BC and gauss:
        va, qa, sa = _bc_gauss_1d(sa, va, qa, Ta, ca0, nmax, steps, burn, ca, la, bpc)
        steps = burn = 0
    for t in range(burn + steps):
        if gauss:
            za, sa = pcg.standard_normal(sa)
            ea = ca0 * za
        else:
            xa, sa = draw_noise(sa, code, params, pa)
            ea = ada * xa
        if ma == Rule.SR:
            u, sa = pcg.next_double(sa)
            qa = _fixed_step(Tfa, qa, u - ea, Fa, Sa, Ka, nq)
        elif ma == Rule.R:
            qa = _fixed_step(Tfa, qa, 0.5 - ea, Fa, Sa, Ka, nq)
        else:
            va = min(max(va + (Ta[qa] - ea), 0.0), nmax)
            if ma == Rule.BC_QS:
                u, sa = pcg.next_double(sa)
                qa = min(int(va + u), int(nmax))
            else:
                qa = _rint(va)
        if t >= burn:
            ca[qa] += 1
            if not ra:
                count_latent(la, va, bpc, nbins)
    pcg.store(states, a, sa)
    return float(qa) if ra else va


# ---------------------------------------------------------------------------------------------------------------
# The dedicated loops as kernels of their own. pair_1d and single_1d compile their general loop (every rule, every
# noise: draw_noise, the gamma and exponential draws, the clamped step) even when a run only ever takes a dedicated
# loop. With an empty Numba cache `srchain figure2`'s simulators compiled in about 5 s through pair_1d, 3 s through
# these entries. The simulators pick them from Python (fast_path) for exactly the chains pair_1d/single_1d would
# send to the same loops, so the numbers are the same; the general kernels compile only when a run needs them.
# ---------------------------------------------------------------------------------------------------------------
def fast_path(rule, alpha, delta, code, params):
    """The dedicated loop :func:`pair_1d`/:func:`single_1d` take for a chain: ``"sr"`` (SR under Gaussian noise
    whose draws need no clamping, the test ``rmax <= _UNCLAMPED_MAX`` of :func:`_tables1` in the same float64
    arithmetic), ``"bc"`` (BC with Qd under Gaussian noise) or ``None`` (the general loop)."""
    if int(code) != NoiseKind.GAUSSIAN:
        return None
    if int(rule) == Rule.SR:
        c = (float(alpha) / float(delta)) * float(params[0])
        return "sr" if 1.0 + _ZIGGURAT_MAX * c <= _UNCLAMPED_MAX else None
    return "bc" if int(rule) == Rule.BC else None


@njit(cache=True, nogil=True)
def _start_cell(start, nmax):
    """The lattice point a chain starts from (as :func:`_init1` for R, SR and BC with Qd): ``start`` clipped to
    ``[0, nmax]`` and rounded half up."""
    return min(int(min(max(start, 0.0), nmax) + 0.5), int(nmax))


@njit(cache=True, nogil=True)
def _sr_gauss_table(method, ad, G, params, nmax):
    """``(Tf, F, S, c)`` of :func:`_tables1` for SR (``method``) under Gaussian noise of scale ``params[0]``."""
    c = ad * params[0]
    Tf, F, S, K = _fixed_table(_table1(method, ad, G), nmax, 1.0 + _ZIGGURAT_MAX * c)
    return Tf, F, S, c


@njit(cache=True, nogil=True)
def pair_1d_sr_gauss(states, chain_a, chain_b, line, noise, run):
    """:func:`pair_1d` for two chains that both take the SR Gaussian loop (``fast_path == "sr"``); same records,
    same numbers."""
    a, ma, aa, va0, ca, la = chain_a
    b, mb, ab, vb0, cb, lb = chain_b
    nmax, delta, G = line
    code, params = noise
    steps, burn, bpc = run
    sa = pcg.load(states, a)
    sb = pcg.load(states, b)
    Tfa, Fa, Sa, ca0 = _sr_gauss_table(ma, aa / delta, G, params, nmax)
    Tfb, Fb, Sb, cb0 = _sr_gauss_table(mb, ab / delta, G, params, nmax)
    qa = _start_cell(va0, nmax)
    qb = _start_cell(vb0, nmax)
    qa, qb, sa, sb = _sr_gauss_pair_1d(
        sa, sb, qa, qb, Tfa, Tfb, Fa, Fb, Sa, Sb, ca0, cb0, int(nmax), steps, burn, ca, cb
    )
    pcg.store(states, a, sa)
    pcg.store(states, b, sb)
    return float(qa), float(qb)


@njit(cache=True, nogil=True)
def pair_1d_bc_gauss(states, chain_a, chain_b, line, noise, run):
    """:func:`pair_1d` for two chains that both take the BC (Qd) Gaussian loop (``fast_path == "bc"``); same
    records, same numbers."""
    a, ma, aa, va0, ca, la = chain_a
    b, mb, ab, vb0, cb, lb = chain_b
    nmax, delta, G = line
    code, params = noise
    steps, burn, bpc = run
    sa = pcg.load(states, a)
    sb = pcg.load(states, b)
    ada = aa / delta
    adb = ab / delta
    Ta = _table1(ma, ada, G)
    Tb = _table1(mb, adb, G)
    va = min(max(va0, 0.0), nmax)
    vb = min(max(vb0, 0.0), nmax)
    va, vb, qa, qb, sa, sb = _bc_gauss_pair_1d(
        sa,
        sb,
        va,
        vb,
        _start_cell(va, nmax),
        _start_cell(vb, nmax),
        Ta,
        Tb,
        ada * params[0],
        adb * params[0],
        nmax,
        steps,
        burn,
        ca,
        cb,
        la,
        lb,
        bpc,
    )
    pcg.store(states, a, sa)
    pcg.store(states, b, sb)
    return va, vb


@njit(cache=True, nogil=True)
def single_1d_sr_gauss(states, chain_a, line, noise, run):
    """:func:`single_1d` for a chain that takes the SR Gaussian loop (``fast_path == "sr"``)."""
    a, ma, aa, va0, ca, la = chain_a
    nmax, delta, G = line
    code, params = noise
    steps, burn, bpc = run
    sa = pcg.load(states, a)
    Tfa, Fa, Sa, ca0 = _sr_gauss_table(ma, aa / delta, G, params, nmax)
    qa, sa = _sr_gauss_1d(sa, _start_cell(va0, nmax), Tfa, Fa, Sa, ca0, int(nmax), steps, burn, ca)
    pcg.store(states, a, sa)
    return float(qa)


@njit(cache=True, nogil=True)
def single_1d_bc_gauss(states, chain_a, line, noise, run):
    """:func:`single_1d` for a chain that takes the BC (Qd) Gaussian loop (``fast_path == "bc"``)."""
    a, ma, aa, va0, ca, la = chain_a
    nmax, delta, G = line
    code, params = noise
    steps, burn, bpc = run
    sa = pcg.load(states, a)
    ada = aa / delta
    va = min(max(va0, 0.0), nmax)
    va, qa, sa = _bc_gauss_1d(
        sa, va, _start_cell(va, nmax), _table1(ma, ada, G), ada * params[0], nmax, steps, burn, ca, la, bpc
    )
    pcg.store(states, a, sa)
    return va
