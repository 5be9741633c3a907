"""Numba simulators of SGD (Eq. 2), R (Eq. 4), SR (Eq. 6) and BC (Eq. 7) on any registered problem.

One step of each rule, with ``∇f̃(w) = ∇f(w) + ξ̄`` (ξ̄ the batch-mean noise of :mod:`srchain.noise`, drawn
independently per coordinate) and ``Π`` the projection onto the box (the paper's bounded domain):

* SGD: ``w ← Π(w − α∇f̃(w))``                               (Eq. 2, full precision)
* R:   ``w ← Π(Qd(w − α∇f̃(w)))``                           (Eq. 4, deterministic rounding)
* SR:  ``w ← Π(Qs(w − α∇f̃(w)))``                           (Eq. 6, stochastic rounding)
* BC:  ``w_r ← Π(w_r − α∇f̃(Q(w_r)))``, ``Q = Qd`` (or Qs)    (Eq. 7, latent real weights)

Rounding is onto the lattice ``lo + ΔZ^d`` of :class:`srchain.lattice.Lattice` (ties of Qd round up; they have
probability zero under continuous noise).

How it is fast
--------------
* SR, R and BC only ever evaluate the gradient at lattice points (BC at ``Q(w_r)``), so the gradient is tabulated
  once on the lattice (``problem.gradient(lattice.points)``) and the kernels are plain, cached Numba code with no
  call-back. In 1-D the table holds ``q − (α/Δ)∇f(q)`` in fixed point and a step of SR is one normal, one
  uniform, an integer look-up, add, shift and clamp (``Qs(x) = ⌊x + U⌋``; see the comment above
  :func:`_table1`). The state of SR/R is kept as integer lattice coordinates (no drift in floats).
* Random numbers come from :mod:`srchain.pcg`: NumPy's PCG64 and its ziggurat normal, inlined, with the state in
  registers (calling ``Generator`` methods from Numba costs an indirect call into NumPy per draw). The numbers are
  bit for bit those of ``Generator(PCG64(SeedSequence(seed).spawn(...)[c]))`` for chain ``c`` (see
  :func:`make_generators`); the spawn key does not depend on the number of chains or threads, so the same seed
  gives the same histogram whatever the thread count.
* Chains run in parallel (a thread pool of ``numba.get_num_threads()`` workers calling the ``nogil`` kernels;
  a ``prange`` driver was measured 2x slower per chain), and in 1-D two chains step in lockstep in one kernel, so
  the CPU fills one chain's dependency latency with the other's work.
* Histograms are accumulated inside the kernel (``counts[chain, state]``; for BC and SGD also a binned
  histogram of the latent ``w_r`` per coordinate), so memory does not grow with the number of steps.
* SGD needs the gradient off the lattice and calls ``problem.grad_kernel`` (compiled per process: Numba cannot
  cache a kernel that takes another function as an argument).
* :func:`jump_chain` samples SR and R exactly from the rows of ``P = T_αᵀ`` (:mod:`srchain.operators`): a
  geometric holding time, then a jump drawn from the off-diagonal part of the row. At small α the chain rarely
  moves and this is orders of magnitude faster than stepping; the law of the visited path is the same.

Counting convention: with ``burn_in = b`` the chain makes ``b + steps`` steps from ``start`` and the histogram
counts the quantized state after each of the last ``steps`` steps (for BC: ``Q(w_r)`` after the step, the value
the next gradient is taken at).
"""
from __future__ import annotations

import math
import threading
import warnings
from dataclasses import dataclass, field

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from srchain import pcg
from srchain.budget import check_memory, default_max_memory, format_bytes
from srchain.errors import SrchainError
from srchain.lattice import Lattice
from srchain.noise import NoiseModel
from srchain.problems import Problem

# (kept for kernels compiled by older versions of this module)
warnings.filterwarnings("ignore", message="unsafe cast from uint64 to int64")

__all__ = ["SimulationResult", "simulate", "simulate_many", "jump_chain", "METHODS", "SAMPLERS",
           "make_generators", "draw_noise", "WorkEstimate", "estimate_simulation", "operator_bytes_floor", "estimate_operator", "check_work", "format_duration",
           "MAX_TOTAL_STEPS", "SECONDS_PER_STEP", "SECONDS_PER_DRAW", "NOTE_SECONDS"]

METHODS = ("sgd", "r", "sr", "bc")
SAMPLERS = ("step", "jump")
_CODE = {"sgd": 0, "r": 1, "sr": 2, "bc": 3, "bc-qs": 4}
#: Latent-histogram bins per lattice cell (BC and SGD).
LATENT_BINS_PER_CELL = 20
#: Refuse per-chain histograms larger than this many entries in all (chains × states).
MAX_HIST_ENTRIES = 200_000_000


# ---------------------------------------------------------------------------------------------------------------
# Noise draws (the switch on NoiseModel.numba_code; see srchain.noise). Random numbers come from srchain.pcg:
# NumPy's PCG64 stream inlined, passed along as the state tuple ``s``.
# ---------------------------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def draw_noise(s, code, params, perm):
    """One draw of the batch-mean noise ξ̄; returns ``(ξ̄, s)``.

    code 0 gaussian ``params = [s]`` (s = σ/√B, already folded in); 1 laplace ``[b, B]`` (mean of B Laplace(0, b)
    by inversion); 2 student-t ``[scale, B, ν]`` (mean of B ``scale · Z/√(χ²_ν/ν)``); 3 minibatch
    ``[B, e_1..e_m]`` (mean of a uniformly random B-subset, drawn without replacement by a partial Fisher–Yates
    shuffle of the persistent permutation ``perm``).
    """
    if code == 0:
        z, s = pcg.standard_normal(s)
        return params[0] * z, s
    if code == 1:
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
    if code == 2:
        sc = params[0]
        nb = int(params[1])
        nu = params[2]
        acc = 0.0
        for _ in range(nb):
            z, s = pcg.standard_normal(s)
            g, s = pcg.standard_gamma(s, 0.5 * nu)
            acc += z / math.sqrt(2.0 * g / nu)
        return sc * acc / nb, s
    # minibatch
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


# ---------------------------------------------------------------------------------------------------------------
# Lattice kernel: R, SR, BC (Qd or Qs) with the gradient tabulated on the lattice
# ---------------------------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _chain_lattice(states, c, method, alpha, start, shape, strides, delta, G, code, params, steps, burn,
                   counts, lat_counts, bpc, final):
    """One chain (stream ``states[c]``). ``start`` in lattice units ``(w − lo)/Δ``; ``final`` receives the final
    state (same units)."""
    s = pcg.load(states, c)
    d = shape.shape[0]
    ad = alpha / delta
    m = params.shape[0] - 1 if code == 3 else 1
    perm = np.arange(m)
    total = burn + steps
    nbins = lat_counts.shape[1]
    if method == 1 or method == 2:
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
                if method == 2:  # Qs(x) = floor(x + U), U ~ U[0, 1)
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
            if method == 4:
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
                if method == 4:
                    u, s = pcg.next_double(s)
                    f = math.floor(x + u)
                else:
                    f = math.floor(x + 0.5)
                kj = int(f)
                if kj > shape[j] - 1:
                    kj = shape[j] - 1
                nidx += kj * strides[j]
                if t >= burn:
                    _latent(lat_counts[j], x, bpc, nbins)
            idx = nidx
            if t >= burn:
                counts[idx] += 1
        for j in range(d):
            final[j] = w[j]
    pcg.store(states, c, s)


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
    T = -ad * G
    if method == 1 or method == 2:
        T += np.arange(G.shape[0])
    return T


#: Gaussian draws of srchain.pcg are bounded: the ziggurat's tail gives at most r + 36.74/r < 13.71 (r = 3.654).
_ZIGGURAT_MAX = 13.72
#: Bound on |r| up to which the fixed-point range is widened so that r needs no clamping.
_UNCLAMPED_MAX = 2.0 ** 50


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
    K = np.max(np.abs(T)) + nmax + 2.0
    if rmax <= _UNCLAMPED_MAX:
        K = max(K, rmax)
    F = 61 - int(math.ceil(math.log2(K)))
    scale = 2.0 ** F
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
    rmax = 1.0 + _ZIGGURAT_MAX * c if code == 0 else np.inf
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
    if method == 1 or method == 2:
        q = min(int(v + 0.5), int(nmax))
    elif method == 4:
        u, s = pcg.next_double(s)
        q = min(int(v + u), int(nmax))
    else:
        q = min(int(v + 0.5), int(nmax))
    return v, q, s


@njit(cache=True, nogil=True)
def _latent(lat, x, bpc, nbins):
    """Count the latent weight ``x`` (lattice units, ``x ≥ 0``) in its bin of width ``1/bpc``; the top edge goes
    to the last bin."""
    b = int(x * bpc)
    if b >= nbins:
        b = nbins - 1
    lat[b] += 1


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
            _latent(lat, v, bpc, nbins)
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
            _latent(la, va, bpc, nbins)
            _latent(lb, vb, bpc, nbins)
    return va, vb, qa, qb, sa, sb


@njit(cache=True, nogil=True)
def _pair_1d(states, a, b, ma, mb, aa, ab, va0, vb0, nmax, delta, G, code, params, steps, burn, ca, cb, la, lb,
             bpc):
    """Chains ``a`` and ``b`` in lockstep; returns their final states (lattice units). Two SR or two BC-Qd chains
    under Gaussian noise take the dedicated loops, anything else the general loop below, written out flat for
    both chains (a shared step helper made this loop 1.8x slower for R)."""
    sa = pcg.load(states, a)
    sb = pcg.load(states, b)
    m = params.shape[0] - 1 if code == 3 else 1
    pa = np.arange(m)
    pb = np.arange(m)
    ada = aa / delta
    adb = ab / delta
    gauss = code == 0
    Ta, Tfa, Fa, Sa, Ka, ca0, rma = _tables1(ma, ada, G, code, params, nmax)
    Tb, Tfb, Fb, Sb, Kb, cb0, rmb = _tables1(mb, adb, G, code, params, nmax)
    nq = int(nmax)
    va, qa, sa = _init1(sa, ma, va0, nmax)
    vb, qb, sb = _init1(sb, mb, vb0, nmax)
    ra = ma == 1 or ma == 2
    rb = mb == 1 or mb == 2
    nbins = la.shape[0]
    if ma == 2 and mb == 2 and rma <= _UNCLAMPED_MAX and rmb <= _UNCLAMPED_MAX:
        # the common cases (SR or BC with Qd, Gaussian noise) without the per-step method switches
        qa, qb, sa, sb = _sr_gauss_pair_1d(sa, sb, qa, qb, Tfa, Tfb, Fa, Fb, Sa, Sb, ca0, cb0, nq, steps, burn,
                                           ca, cb)
        steps = burn = 0
    elif ma == 3 and mb == 3 and gauss:
        va, vb, qa, qb, sa, sb = _bc_gauss_pair_1d(sa, sb, va, vb, qa, qb, Ta, Tb, ca0, cb0, nmax, steps, burn,
                                                   ca, cb, la, lb, bpc)
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
        if ma == 2:
            u, sa = pcg.next_double(sa)
            qa = _fixed_step(Tfa, qa, u - ea, Fa, Sa, Ka, nq)
        elif ma == 1:
            qa = _fixed_step(Tfa, qa, 0.5 - ea, Fa, Sa, Ka, nq)
        else:
            va = min(max(va + (Ta[qa] - ea), 0.0), nmax)
            if ma == 4:
                u, sa = pcg.next_double(sa)
                qa = min(int(va + u), int(nmax))
            else:
                qa = _rint(va)
        # chain b
        if mb == 2:
            u, sb = pcg.next_double(sb)
            qb = _fixed_step(Tfb, qb, u - eb, Fb, Sb, Kb, nq)
        elif mb == 1:
            qb = _fixed_step(Tfb, qb, 0.5 - eb, Fb, Sb, Kb, nq)
        else:
            vb = min(max(vb + (Tb[qb] - eb), 0.0), nmax)
            if mb == 4:
                u, sb = pcg.next_double(sb)
                qb = min(int(vb + u), int(nmax))
            else:
                qb = _rint(vb)
        if t >= burn:
            ca[qa] += 1
            cb[qb] += 1
            if not ra:
                _latent(la, va, bpc, nbins)
            if not rb:
                _latent(lb, vb, bpc, nbins)
    pcg.store(states, a, sa)
    pcg.store(states, b, sb)
    return (float(qa) if ra else va), (float(qb) if rb else vb)


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
def _single_1d(states, a, ma, aa, va0, nmax, delta, G, code, params, steps, burn, ca, la, bpc):
    """One chain (as :func:`_pair_1d`); returns its final state (lattice units)."""
    sa = pcg.load(states, a)
    m = params.shape[0] - 1 if code == 3 else 1
    pa = np.arange(m)
    ada = aa / delta
    gauss = code == 0
    Ta, Tfa, Fa, Sa, Ka, ca0, rma = _tables1(ma, ada, G, code, params, nmax)
    nq = int(nmax)
    va, qa, sa = _init1(sa, ma, va0, nmax)
    ra = ma == 1 or ma == 2
    nbins = la.shape[0]
    if ma == 2 and rma <= _UNCLAMPED_MAX:
        # the common cases (SR or BC with Qd, Gaussian noise) without the per-step switches, as in _pair_1d
        qa, sa = _sr_gauss_1d(sa, qa, Tfa, Fa, Sa, ca0, nq, steps, burn, ca)
        steps = burn = 0
    elif ma == 3 and gauss:
        va, qa, sa = _bc_gauss_1d(sa, va, qa, Ta, ca0, nmax, steps, burn, ca, la, bpc)
        steps = burn = 0
    for t in range(burn + steps):
        if gauss:
            za, sa = pcg.standard_normal(sa)
            ea = ca0 * za
        else:
            xa, sa = draw_noise(sa, code, params, pa)
            ea = ada * xa
        if ma == 2:
            u, sa = pcg.next_double(sa)
            qa = _fixed_step(Tfa, qa, u - ea, Fa, Sa, Ka, nq)
        elif ma == 1:
            qa = _fixed_step(Tfa, qa, 0.5 - ea, Fa, Sa, Ka, nq)
        else:
            va = min(max(va + (Ta[qa] - ea), 0.0), nmax)
            if ma == 4:
                u, sa = pcg.next_double(sa)
                qa = min(int(va + u), int(nmax))
            else:
                qa = _rint(va)
        if t >= burn:
            ca[qa] += 1
            if not ra:
                _latent(la, va, bpc, nbins)
    pcg.store(states, a, sa)
    return float(qa) if ra else va


# ---------------------------------------------------------------------------------------------------------------
# SGD kernel (gradient off the lattice: calls the problem's Numba gradient)
# ---------------------------------------------------------------------------------------------------------------
@njit(nogil=True)
def _chain_sgd(states, c, grad, gparams, alpha, start, lo, shape, strides, delta, code, params, steps, burn,
               counts, lat_counts, bpc, final):
    s = pcg.load(states, c)
    d = shape.shape[0]
    m = params.shape[0] - 1 if code == 3 else 1
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
                _latent(lat_counts[j], u, bpc, nbins)
        if t >= burn:
            counts[idx] += 1
    for j in range(d):
        final[j] = w[j]
    pcg.store(states, c, s)

# ---------------------------------------------------------------------------------------------------------------
# Exact jump chain for SR and R
# ---------------------------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _chain_jump(states, c, indptr, indices, cum, leave, mean_hold, start, steps, burn, counts):
    """Jump-chain sampler: at state i the chain stays a Geometric(q_i) − 1 further steps (q_i = 1 − P[i, i], the
    exact leaving probability) and then jumps to j ≠ i with probability P[i, j]/q_i. ``indptr, indices, cum`` is
    the off-diagonal part of P in CSR form with each row's cumulative sums normalised to end at 1. Counts the state
    after each step, as the step-by-step kernel.

    The holding time is ``H = ⌈E/λ_i⌉`` with ``E ~ Exp(1)`` and ``λ_i = −log(1 − q_i)`` (``mean_hold = 1/λ_i``,
    tabulated): ``P(H > n) = P(E > nλ_i) = (1 − q_i)^n``, the geometric law, for one ziggurat draw and no
    logarithm. The target is the number of cumulative sums at or below a uniform ``u`` (a branch-free count)."""
    s = pcg.load(states, c)
    i = start
    t = 0  # the chain is at state i at time t
    total = burn + steps
    while t < total:
        q = leave[i]
        if q <= 0.0:
            h = total - t + 1  # absorbing: never leaves
        elif q >= 1.0:
            h = 1
        else:
            e, s = pcg.standard_exponential(s)
            hf = math.ceil(e * mean_hold[i])
            if hf < 1.0:
                hf = 1.0
            h = int(hf) if hf < 4e18 else total + 1
        # times t+1 .. min(t+h−1, total) are spent at i
        a = max(t + 1, burn + 1)
        b = min(t + h - 1, total)
        if b >= a:
            counts[i] += b - a + 1
        if t + h > total:
            break
        # jump at time t + h: the k-th off-diagonal entry, k = #{p < last : cum[p] <= u}
        u, s = pcg.next_double(s)
        lo = indptr[i]
        k = 0
        for p in range(lo, indptr[i + 1] - 1):
            k += u >= cum[p]
        t += h
        i = indices[lo + k]
        if t > burn:
            counts[i] += 1
    pcg.store(states, c, s)
    return i


def _jump_tables(P):
    """The off-diagonal part of a transition matrix for :func:`_chain_jump`: CSR ``indptr, indices`` of the
    positive off-diagonal entries, their cumulative sums per row normalised to 1, the leaving probabilities
    ``q_i`` and the mean holding scales ``1/λ_i = −1/log(1 − q_i)``."""
    import scipy.sparse as sp

    coo = sp.coo_matrix(P)
    n = coo.shape[0]
    keep = (coo.row != coo.col) & (coo.data > 0)
    off = sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=coo.shape)
    off.sort_indices()
    rows = np.repeat(np.arange(n), np.diff(off.indptr))
    leave = np.bincount(rows, weights=off.data, minlength=n)
    cs = np.cumsum(off.data)
    base = np.concatenate([[0.0], cs])[off.indptr[:-1]]
    cum = (cs - base[rows]) / leave[rows] if rows.size else cs
    with np.errstate(divide="ignore"):
        mean_hold = -1.0 / np.log1p(-np.clip(leave, 0.0, 1.0))  # 1/λ_i; q_i = 0 and q_i = 1 never read it
    return off.indptr.astype(np.int64), off.indices.astype(np.int64), cum, leave, mean_hold


# ---------------------------------------------------------------------------------------------------------------
# Python API
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SimulationResult:
    """Histograms of one (method, α) run over ``chains`` independent chains.

    Attributes
    ----------
    method : str
        ``"sgd"``, ``"r"``, ``"sr"`` or ``"bc"`` (``quantizer`` says whether BC used Qd or Qs).
    alpha : float
    steps, burn_in, chains, seed : int
    states : ndarray, shape (n, d)
        The lattice points, aligned with ``counts``.
    counts : ndarray of int64, shape (n,)
        Visits summed over chains (for BC/SGD: of the quantized weight Q(w_r) / Qd(w)).
    chain_counts : ndarray of int64, shape (chains, n)
    latent_edges : ndarray (nbins + 1,) or None
        Bin edges of the latent histogram (same along each coordinate, relative to each coordinate's ``lo``).
    latent_counts : ndarray (d, nbins) or None
        Histogram of ``w_r`` (BC) or ``w`` (SGD) per coordinate, summed over chains.
    final : ndarray, shape (chains, d)
        Final state of each chain (the latent ``w_r`` for BC).
    sampler : str
        ``"step"`` or ``"jump"``.
    """

    method: str
    alpha: float
    steps: int
    burn_in: int
    chains: int
    seed: int
    states: np.ndarray
    counts: np.ndarray
    chain_counts: np.ndarray
    latent_edges: np.ndarray | None = None
    latent_counts: np.ndarray | None = None
    final: np.ndarray | None = None
    sampler: str = "step"
    quantizer: str = "qd"
    extra: dict = field(default_factory=dict)

    @property
    def freq(self) -> np.ndarray:
        """Empirical law of the quantized state (counts / total)."""
        return self.counts / max(1, int(self.counts.sum()))

    def mass(self, indices) -> float:
        """Empirical mass on the given state indices."""
        return float(self.freq[np.asarray(indices, dtype=np.int64)].sum())

    def to_dict(self) -> dict:
        d = {"method": self.method, "alpha": self.alpha, "sampler": self.sampler,
             "states": self.states.tolist(), "counts": self.counts.tolist()}
        if self.method == "bc":
            d["quantizer"] = self.quantizer
        if self.latent_counts is not None:
            d["latent"] = {"edges": self.latent_edges.tolist(), "counts": self.latent_counts.tolist()}
        d.update(self.extra)
        return d


def make_generators(seed: int, chains: int) -> list:
    """Per-chain ``Generator(PCG64)``: chain ``c`` gets ``SeedSequence(seed).spawn(chains)[c]``.

    These are the streams the kernels draw from (inlined by :mod:`srchain.pcg`, same numbers in the same order),
    for reproducing a chain's draws in Python. ``SeedSequence.spawn`` gives child ``c`` the spawn key ``(c,)``
    whatever the total, so chain ``c``'s stream is the same for any number of chains (and any thread count).
    """
    children = np.random.SeedSequence(int(seed)).spawn(int(chains))
    return [np.random.Generator(np.random.PCG64(s)) for s in children]


def n_threads() -> int:
    """Worker threads for the chains: Numba's thread count (``NUMBA_NUM_THREADS``, ``numba.set_num_threads``)."""
    import numba

    return max(1, int(numba.get_num_threads()))


_POOL = None  # (workers, ThreadPoolExecutor)
_POOL_LOCK = threading.Lock()
_WORKER_PREFIX = "srchain-chains"


def _pool(workers: int):
    """The module's thread pool of ``workers`` threads, kept between calls (starting one costs ~0.3 ms, more than
    a short run takes); replaced when the thread count changes."""
    global _POOL
    from concurrent.futures import ThreadPoolExecutor

    with _POOL_LOCK:
        if _POOL is None or _POOL[0] != workers:
            if _POOL is not None:
                _POOL[1].shutdown(wait=False)
            _POOL = (workers, ThreadPoolExecutor(max_workers=workers, thread_name_prefix=_WORKER_PREFIX))
        return _POOL[1]


def _parallel(tasks):
    """Run the zero-argument callables ``tasks`` (nogil Numba kernels) on a thread pool; results in order.

    Each task owns its chains' streams and histogram rows, so the result does not depend on the number of
    threads or on the order in which tasks run. Called from inside a pool worker, the tasks run in that thread
    (no nested waiting on the same pool).
    """
    workers = min(n_threads(), len(tasks))
    if workers <= 1 or threading.current_thread().name.startswith(_WORKER_PREFIX):
        return [t() for t in tasks]
    return list(_pool(n_threads()).map(lambda t: t(), tasks))


def _check(steps, chains, burn_in, alpha):
    for name, v, least in (("steps", steps, 1), ("chains", chains, 1), ("burn_in", burn_in, 0)):
        try:
            ok = int(v) == v and v >= least
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok:
            raise SrchainError(f"{name} must be an integer >= {least}, got {v!r}")
    a = float(alpha)
    if not math.isfinite(a) or a <= 0:
        raise SrchainError(f"the learning rate alpha must be a positive finite number, got {alpha!r}")
    _check_counts(int(steps), int(chains), int(burn_in))
    return int(steps), int(chains), int(burn_in), a


def _start_units(start, lattice: Lattice) -> np.ndarray:
    """``start`` (scalar or d numbers, real units; ``None``: the domain's centre) -> lattice units, validated."""
    lo = np.asarray(lattice.lo)
    if start is None:
        w = 0.5 * (lo + lattice.hi)
    else:
        w = np.asarray(start, dtype=np.float64).ravel()
        if w.size == 1:
            w = np.full(lattice.dim, w[0])
        if w.size != lattice.dim:
            raise SrchainError(f"start needs 1 number{'' if lattice.dim == 1 else f' or {lattice.dim}'}, "
                               f"got {w.size}")
        if not np.all(np.isfinite(w)):
            raise SrchainError(f"start must be finite numbers, got {w.tolist()}")
        if not lattice.contains(w):
            raise SrchainError(f"the start {w.tolist()} is outside the domain {lattice.domain.tolist()}; "
                               f"pick a start inside it or widen the domain")
    return (w - lo) / lattice.delta


def _strides(shape) -> np.ndarray:
    d = len(shape)
    return np.array([int(np.prod(shape[k + 1:])) for k in range(d)], dtype=np.int64)


# ---------------------------------------------------------------------------------------------------------------
# Up-front estimates of time and memory (checked before any kernel runs; the kernels themselves are untouched)
# ---------------------------------------------------------------------------------------------------------------
#: Largest ``burn_in + steps`` (and ``chains × steps``) the kernels accept: their step counters and histogram
#: counts are int64, and the jump sampler adds holding times of up to 4e18 to its clock.
MAX_TOTAL_STEPS = 2**62

#: Conservative seconds per chain-step on one thread, by kernel. Measured on a 2-core x86-64 build machine
#: (benchmarks/ and ``tests/test_simulate_limits.py`` document the figures): SR/R/BC 1-D under Gaussian noise
#: 9–13 ns, 1-D with other noise about 35 ns plus the draws, d-dim lattice chains 29 ns per coordinate, SGD about
#: 45 ns per coordinate, the jump sampler about 30 ns per jump. The constants are 2–3 times those figures, so the
#: estimate errs on the long side on a slower or busier machine.
SECONDS_PER_STEP = {
    "lattice-1d-gaussian": 2.5e-8,  # SR, R, BC in 1-D, Gaussian noise (fixed-point loops)
    "lattice-1d": 5e-8,             # SR, R, BC in 1-D, other noise (plus SECONDS_PER_DRAW per draw)
    "lattice-coordinate": 8e-8,     # SR, R, BC in d dimensions, per coordinate (plus the draws)
    "sgd-coordinate": 1.5e-7,       # SGD (the problem's own Numba gradient), per coordinate (plus the draws)
    "jump": 1e-7,                   # one jump of the exact jump sampler
}
#: Conservative seconds per per-sample noise draw (batch B means B draws per coordinate-step); Gaussian noise is
#: one draw whatever the batch (its batch mean is drawn directly) and is included in SECONDS_PER_STEP.
SECONDS_PER_DRAW = {1: 4e-8, 2: 2e-7, 3: 3e-8}  # laplace, student-t, minibatch
#: Runs estimated to take longer than this many seconds announce their estimate (the command line prints it).
NOTE_SECONDS = 30.0


def format_duration(seconds: float) -> str:
    """``seconds`` as a short human duration: ``45 s``, ``12 minutes``, ``1.4 hours``, ``3.2 days``, ``2e+06 years``."""
    s = float(seconds)
    if not math.isfinite(s):
        return "forever"
    if s < 120:
        return f"{s:.2g} s"
    for unit, size, below in (("minutes", 60.0, 3600.0), ("hours", 3600.0, 48 * 3600.0),
                              ("days", 86400.0, 730 * 86400.0)):
        if s < below:
            return f"{s / size:.3g} {unit}" if unit == "days" else f"{s / size:.2g} {unit}"
    return f"{s / (365.25 * 86400):.2g} years"


@dataclass(frozen=True)
class WorkEstimate:
    """Up-front estimate of a computation: wall time (seconds), peak memory (bytes) and the work it does.

    ``work`` counts ``unit`` (chain-steps, seed-steps, …); ``rate = work / seconds`` is the throughput the
    estimate assumes, quoted in messages ("about 1.4 hours at 2e+08 steps/s"). Estimates add with ``+``.
    """

    seconds: float = 0.0
    bytes: float = 0.0
    work: float = 0.0
    unit: str = "steps"

    def __add__(self, other: "WorkEstimate") -> "WorkEstimate":
        return WorkEstimate(self.seconds + other.seconds, self.bytes + other.bytes, self.work + other.work,
                            self.unit if self.work >= other.work else other.unit)

    @property
    def rate(self) -> float:
        return self.work / self.seconds if self.seconds > 0 else math.inf

    def describe(self) -> str:
        """``about 1.4 hours at 2e+08 steps/s, 3.1 GiB``."""
        at = f" at {self.rate:.2g} {self.unit}/s" if self.work > 0 and self.seconds > 0 else ""
        return f"about {format_duration(self.seconds)}{at}, {format_bytes(self.bytes)}"


def check_work(est: WorkEstimate, max_memory: float | None = None, max_hours: float | None = None,
               what: str = "the simulation", hint: str = "use fewer steps or chains") -> None:
    """Refuse (:class:`SrchainError`, one line naming the parameters) an estimate over either limit.

    ``max_memory`` in bytes (``None``: :func:`srchain.budget.default_max_memory`, ``math.inf``: no limit);
    ``max_hours`` in hours (``None``: no limit).
    """
    limit = default_max_memory() if max_memory is None else float(max_memory)
    if math.isfinite(limit):
        check_memory(est.bytes, limit, what, hint + " or raise max_memory")
    if max_hours is not None and not est.seconds <= float(max_hours) * 3600.0:
        at = f" at {est.rate:.2g} {est.unit}/s" if est.work > 0 else ""
        raise SrchainError(f"{what} would take about {format_duration(est.seconds)}{at}, max_hours is "
                           f"{float(max_hours):g}; {hint} or raise max_hours")


def _noise_draws(noise: NoiseModel) -> tuple[int, float]:
    """``(code, draws)``: the Numba noise code and the per-sample draws one coordinate-step makes (Gaussian: 1)."""
    code = int(noise.numba_code)
    return code, (1.0 if code == 0 else float(getattr(noise, "batch", 1)))


def _chain_step_seconds(method: str, d: int, code: int, draws: float, sampler: str) -> float:
    """Seconds one chain-step takes on one thread (see :data:`SECONDS_PER_STEP`)."""
    extra = 0.0 if code == 0 else d * draws * SECONDS_PER_DRAW.get(code, 2e-7)
    if method == "sgd":
        return d * SECONDS_PER_STEP["sgd-coordinate"] + extra
    if d == 1:
        return (SECONDS_PER_STEP["lattice-1d-gaussian"] if code == 0 else SECONDS_PER_STEP["lattice-1d"]) + extra
    return d * SECONDS_PER_STEP["lattice-coordinate"] + extra


def _check_counts(steps: int, chains: int, burn_in: int) -> None:
    """Refuse step counts the kernels' int64 counters cannot hold (before Numba sees them)."""
    if not steps + burn_in <= MAX_TOTAL_STEPS:
        raise SrchainError(f"steps + burn_in = {float(steps + burn_in):.3g} is more than the simulators' int64 "
                           f"step counters hold (at most 2^62 = {float(MAX_TOTAL_STEPS):.3g})")
    if not chains * steps <= MAX_TOTAL_STEPS:
        raise SrchainError(f"chains × steps = {float(chains * steps):.3g} visits would overflow the int64 "
                           f"histogram counts (at most 2^62 = {float(MAX_TOTAL_STEPS):.3g}); use fewer steps or "
                           f"chains")


def operator_bytes_floor(noise: NoiseModel, lattice: Lattice, alpha: float) -> float:
    """A lower bound on the bytes of SR's (or R's) transition matrix at ``alpha``, from sizes alone.

    One step moves each coordinate by the noise's ``s = α·std(ξ̄)/Δ`` lattice cells: every target within ``s``
    cells has probability at least about ``0.24/s``, far above the matrix's drop tolerance, so a row keeps at least
    ``min(n_k, 2s + 1)`` entries per coordinate (12 bytes each in CSR). Cheap: it refuses a hopeless matrix
    before :func:`srchain.operators.transition_matrix` samples rows to estimate it precisely.
    """
    std = float(noise.std)
    s = float(alpha) * std / lattice.delta if math.isfinite(std) else math.inf
    per_row = 1.0
    for nk in lattice.shape:
        per_row *= min(float(nk), 2.0 * s + 1.0)
    return float(lattice.size) * per_row * 12.0


#: Conservative seconds per move-table entry (state × coordinate × window offset) and per kept entry while
#: :func:`srchain.operators.transition_matrix` builds a matrix (measured about 1e-7 and 3e-8 on the build machine).
OPERATOR_SECONDS_PER_ENTRY = 3e-7
OPERATOR_SECONDS_PER_KEPT = 1e-7


def estimate_operator(problem: Problem, noise: NoiseModel, lattice: Lattice, alpha: float,
                      tol: float = 1e-14) -> WorkEstimate:
    """Time and (a lower bound on the) memory of building SR's transition matrix at ``alpha``, from sizes alone.

    The move tables span ``J = min(⌈α(max|∇f| + q)/Δ⌉ + 1, n_k − 1)`` cells on each side (``q`` the noise's
    ``tol`` quantile width), costed at :data:`OPERATOR_SECONDS_PER_ENTRY`; the kept entries are at least
    :func:`operator_bytes_floor`'s count, costed at :data:`OPERATOR_SECONDS_PER_KEPT`.
    """
    n, d = float(lattice.size), lattice.dim
    g = np.asarray(problem.gradient(lattice.points), dtype=np.float64)
    gmax = float(np.max(np.abs(g))) if g.size else 0.0
    with np.errstate(over="ignore"):
        reach = float(alpha) * (gmax + float(noise.quantile_width(tol))) / lattice.delta
    far = float(max(lattice.shape) - 1)
    J = min(math.ceil(reach) + 1.0, far) if math.isfinite(reach) else far
    floor = operator_bytes_floor(noise, lattice, alpha)
    kept = floor / 12.0
    return WorkEstimate(seconds=n * d * (2 * J + 1) * OPERATOR_SECONDS_PER_ENTRY + kept * OPERATOR_SECONDS_PER_KEPT,
                        bytes=floor)


def estimate_simulation(problem: Problem, noise: NoiseModel, lattice: Lattice, runs, steps: int, chains: int = 1,
                        burn_in: int = 0, sampler: str = "step", latent_bins_per_cell: int = LATENT_BINS_PER_CELL,
                        leave=None, threads: int | None = None) -> WorkEstimate:
    """Time and peak memory of :func:`simulate_many` with these arguments, before anything is allocated.

    Time: every chain-step costs :data:`SECONDS_PER_STEP` for its kernel (plus :data:`SECONDS_PER_DRAW` per
    per-sample noise draw), and the chains share ``threads`` workers (default :func:`n_threads`). The jump sampler
    costs per jump: ``leave[(method, alpha)]`` is the largest leaving probability ``max_i (1 − P[i, i])`` of that
    run's chain (every step at most one jump; without it every step is counted as a jump).

    Memory: the lattice's points and coordinates, the gradient table, the per-chain histograms (``chains × states``
    counts and, for BC and SGD, ``chains × d × bins`` latent counts), the 1-D kernels' per-chain tables and the
    results. Not included: the transition matrices of the jump sampler (:func:`srchain.operators.transition_matrix`
    checks its own).
    """
    steps, chains, burn_in = int(steps), int(chains), int(burn_in)
    runs = [(str(m), float(a)) for m, a in runs]
    n, d = int(lattice.size), int(lattice.dim)
    threads = max(1, int(threads if threads is not None else n_threads()))
    code, draws = _noise_draws(noise)
    nbins = float((max(lattice.shape) - 1) * int(latent_bins_per_cell))
    total = float(steps + burn_in)
    jump = [(m, a) for m, a in runs if m in ("r", "sr") and sampler == "jump"]
    lat = [(m, a) for m, a in runs if m in ("r", "sr", "bc") and (m, a) not in jump]
    sgd = [(m, a) for m, a in runs if m == "sgd"]
    seconds = 0.0
    work = float(len(runs)) * chains * total
    nbytes = 2.0 * n * d * 8 + 8.0 * n * d * 8 if lat or sgd else 2.0 * n * d * 8  # points, coords; gradient table
    for group in (lat, sgd):
        if not group:
            continue
        rows = float(len(group) * chains)
        cost = sum(_chain_step_seconds(m, d, code, draws, sampler) for m, _ in group) * chains * total
        units = min(threads, math.ceil(rows / 2) if (d == 1 and group is lat) else rows)
        seconds += cost / units
        latent = any(m in ("bc", "sgd") for m, _ in group)
        nbytes += rows * n * 8 + (rows * d * nbins * 8 if latent else rows * d * 8)  # counts, latent counts
        if d == 1 and group is lat:
            nbytes += min(rows, 2 * threads) * n * 16  # each running chain's float and fixed-point tables
        nbytes += len(group) * (n * 8 + (d * nbins * 8 if latent else 0))  # summed results
    for m, a in jump:
        q = 1.0 if leave is None else float(leave.get((m, a), 1.0))
        seconds += chains * total * min(1.0, max(q, 0.0)) * SECONDS_PER_STEP["jump"] / min(threads, chains)
        nbytes += chains * n * 8 * 2 + n * 8 * 6  # counts, results; the jump tables beside the operator
    return WorkEstimate(seconds=seconds, bytes=nbytes, work=work, unit="steps")


def simulate_many(problem: Problem, noise: NoiseModel, lattice: Lattice, runs, steps: int, chains: int = 1,
                  start=None, seed: int = 0, burn_in: int = 0, sampler: str = "step", bc_quantizer: str = "qd",
                  latent_bins_per_cell: int = LATENT_BINS_PER_CELL, operators=None, max_memory: float | None = None,
                  max_hours: float | None = None, extra: WorkEstimate | None = None,
                  on_estimate=None) -> list[SimulationResult]:
    """Simulate several ``(method, alpha)`` runs, each with ``chains`` chains, in one parallel kernel call.

    Chain ``c`` of every run uses the same stream (``SeedSequence(seed).spawn(chains)[c]``): a run's histogram
    is the same whether it is simulated alone or with others (common random numbers across runs).

    Parameters
    ----------
    problem, noise, lattice
        Objective, gradient noise (any model, any batch) and lattice ``lo + ΔZ^d`` (its box is the domain).
    runs : list of (method, alpha)
        ``method`` in ``sgd, r, sr, bc``; ``alpha > 0``.
    steps : int
        Steps counted per chain (after ``burn_in`` uncounted ones).
    chains : int
        Independent chains per run.
    start : float or sequence of d floats, optional
        Starting point (rounded to the nearest lattice point for R and SR); default the domain's centre.
    sampler : {"step", "jump"}
        ``"jump"`` uses the exact jump chain for SR and R (see :func:`jump_chain`); BC and SGD always step.
    bc_quantizer : {"qd", "qs"}
        The quantizer BC takes the gradient at.
    operators : dict, optional
        ``(method, alpha) -> Operator`` already built, for the jump sampler.
    max_memory : float, optional
        Refuse (before allocating anything) when the estimated peak memory exceeds this many bytes (default
        :func:`srchain.budget.default_max_memory`; ``math.inf`` for no limit).
    max_hours : float, optional
        Refuse when the estimated time exceeds this many hours (default: no limit). See
        :func:`estimate_simulation` for both estimates.
    extra : WorkEstimate, optional
        The caller's own costs (writing the results, plots), added to the estimate before it is checked.
    on_estimate : callable, optional
        ``on_estimate(estimate)`` is called with the checked :class:`WorkEstimate` just before the kernels run
        (the command line prints it when it is over :data:`NOTE_SECONDS`).

    Returns
    -------
    list of SimulationResult, in the order of ``runs``.

    Raises
    ------
    SrchainError
        Bad steps, chains, burn-in, α, start, method, counts the kernels' int64 counters cannot hold, or work
        estimated over ``max_memory`` or ``max_hours``.
    """
    if sampler not in SAMPLERS:
        raise SrchainError(f"unknown sampler {sampler!r}; choose step or jump")
    if bc_quantizer not in ("qd", "qs"):
        raise SrchainError(f"unknown BC quantizer {bc_quantizer!r}; choose qd or qs")
    runs = [(str(m), float(a)) for m, a in runs]
    for m, a in runs:
        if m not in METHODS:
            raise SrchainError(f"unknown method {m!r}; choose one of {', '.join(METHODS)}")
        _check(steps, chains, burn_in, a)
    steps, chains, burn_in, _ = _check(steps, chains, burn_in, runs[0][1] if runs else 1.0)
    if problem.dim != lattice.dim:
        raise SrchainError(f"the problem is {problem.dim}-dimensional but the lattice is {lattice.dim}-dimensional")
    n, d = lattice.size, lattice.dim
    if chains * n * max(1, len(runs)) > MAX_HIST_ENTRIES:
        raise SrchainError(f"{chains} chains × {n} states is too many histogram entries to hold; use fewer chains "
                           f"or a coarser lattice")
    u0 = _start_units(start, lattice)
    # Jump runs need their transition matrices (each checked against max_memory as it is built): built here, so
    # that their leaving probabilities enter the time estimate and no kernel starts before every check passed.
    operators = dict(operators or {})
    leave = {}
    if sampler == "jump":
        from srchain.operators import transition_matrix

        mem = default_max_memory() if max_memory is None else float(max_memory)
        build = WorkEstimate()
        for m, a in runs:
            if m in ("r", "sr") and (m, a) not in operators:
                op_est = estimate_operator(problem, noise, lattice, a)
                check_memory(op_est.bytes, mem, f"the jump sampler's transition matrix at alpha={a:g} on {n:.3g} "
                             f"states", "use a coarser lattice (larger delta), a smaller alpha or the step sampler")
                build = build + WorkEstimate(seconds=op_est.seconds)
        check_work(build, math.inf, max_hours, what="building the jump sampler's transition matrices",
                   hint="use a coarser lattice (larger delta), a smaller alpha or the step sampler")
        for m, a in runs:
            if m in ("r", "sr"):
                if (m, a) not in operators:
                    operators[(m, a)] = transition_matrix(problem, noise, lattice, a, method=m,
                                                          max_bytes=mem if math.isfinite(mem) else None)
                diag = operators[(m, a)].P.diagonal()
                leave[(m, a)] = float(np.max(1.0 - diag)) if diag.size else 0.0
    est = estimate_simulation(problem, noise, lattice, runs, steps, chains=chains, burn_in=burn_in, sampler=sampler,
                              latent_bins_per_cell=latent_bins_per_cell, leave=leave)
    if sampler == "jump":
        est = est + build
    if extra is not None:
        est = est + extra
    check_work(est, max_memory, max_hours)
    if on_estimate is not None:
        on_estimate(est)
    shape = np.asarray(lattice.shape, dtype=np.int64)
    strides = _strides(lattice.shape)
    bpc = int(latent_bins_per_cell)
    nbins = int((shape.max() - 1) * bpc)
    code = int(noise.numba_code)
    params = np.ascontiguousarray(noise.numba_params, dtype=np.float64)
    results: list[SimulationResult | None] = [None] * len(runs)

    def pack(idx_list, mcode):
        """Per-chain streams, method codes and learning rates, run after run (every run's chain c gets the
        same stream)."""
        methods, alphas = [], []
        for r in idx_list:
            methods += [mcode(runs[r][0])] * chains
            alphas += [runs[r][1]] * chains
        states = np.tile(pcg.states_from_seed(seed, chains), (len(idx_list), 1))
        return states, np.array(methods, dtype=np.int64), np.array(alphas, dtype=np.float64)

    def finish(idx_list, counts, lat, finals, samp):
        for q, r in enumerate(idx_list):
            m, a = runs[r]
            cc = counts[q * chains:(q + 1) * chains]
            lc = None if m in ("r", "sr") else lat[q * chains:(q + 1) * chains].sum(axis=0)
            fin = finals[q * chains:(q + 1) * chains]
            if m in ("r", "sr"):
                fin = np.asarray(lattice.lo) + lattice.delta * fin
            elif m == "bc":
                fin = np.asarray(lattice.lo) + lattice.delta * fin
            edges = None if lc is None else lattice.delta * np.arange(nbins + 1) / bpc
            results[r] = SimulationResult(method=m, alpha=a, steps=steps, burn_in=burn_in, chains=chains,
                                          seed=int(seed), states=lattice.points, counts=cc.sum(axis=0),
                                          chain_counts=cc, latent_edges=edges, latent_counts=lc, final=fin,
                                          sampler=samp, quantizer=bc_quantizer)

    # lattice kernel: r, sr (step), bc
    jump_idx = [r for r, (m, _) in enumerate(runs) if m in ("r", "sr") and sampler == "jump"]
    lat_idx = [r for r, (m, _) in enumerate(runs) if m in ("r", "sr", "bc") and r not in jump_idx]
    sgd_idx = [r for r, (m, _) in enumerate(runs) if m == "sgd"]
    if lat_idx:
        G = np.ascontiguousarray(np.asarray(problem.gradient(lattice.points), dtype=np.float64).reshape(n, d))
        bcode = _CODE["bc-qs"] if bc_quantizer == "qs" else _CODE["bc"]
        states, methods, alphas = pack(lat_idx, lambda m: bcode if m == "bc" else _CODE[m])
        total = len(states)
        counts = np.zeros((total, n), dtype=np.int64)
        # latent histograms only where BC runs (R and SR never touch theirs: one bin keeps the kernels' types)
        lat = np.zeros((total, d, nbins if any(runs[r][0] == "bc" for r in lat_idx) else 1), dtype=np.int64)
        finals = np.zeros((total, d))
        starts = np.tile(u0, (total, 1))
        if d == 1:
            if n >= 2**31:
                raise SrchainError(f"a 1-D lattice of {n} points is too long to simulate (at most 2^31 - 1)")
            step_max = float(np.max(alphas)) / lattice.delta * float(np.max(np.abs(G), initial=0.0))
            if not step_max < 2.0**50:  # the fixed-point tables of _fixed_table need |T| < 2^59
                raise SrchainError(f"the mean step alpha*|grad f|/delta reaches {step_max:.3g} lattice cells; "
                                   f"use a smaller learning rate")
            G1 = G[:, 0].copy()
            nmax = float(shape[0] - 1)
            dl = lattice.delta

            def pair(a, b):
                def task():
                    ua, ub = _pair_1d(states, a, b, methods[a], methods[b], alphas[a], alphas[b],
                                      starts[a, 0], starts[b, 0], nmax, dl, G1, code, params, steps, burn_in,
                                      counts[a], counts[b], lat[a, 0], lat[b, 0], bpc)
                    finals[a, 0] = ua
                    finals[b, 0] = ub
                return task

            def single(a):
                def task():
                    finals[a, 0] = _single_1d(states, a, methods[a], alphas[a], starts[a, 0], nmax, dl, G1, code,
                                              params, steps, burn_in, counts[a], lat[a, 0], bpc)
                return task

            tasks = [pair(a, a + 1) if a + 1 < total else single(a) for a in range(0, total, 2)]
        else:
            def chain(c):
                def task():
                    _chain_lattice(states, c, methods[c], alphas[c], starts[c], shape, strides, lattice.delta, G,
                                   code, params, steps, burn_in, counts[c], lat[c], bpc, finals[c])
                return task

            tasks = [chain(c) for c in range(total)]
        _parallel(tasks)
        finish(lat_idx, counts, lat, finals, "step")
    if sgd_idx:
        if problem.grad_kernel is None:
            raise SrchainError(f"the problem {problem.name!r} has no Numba gradient (grad_kernel); SGD needs one")
        states, methods, alphas = pack(sgd_idx, lambda m: 0)
        total = len(states)
        counts = np.zeros((total, n), dtype=np.int64)
        lat = np.zeros((total, d, nbins), dtype=np.int64)
        finals = np.zeros((total, d))
        lo = np.asarray(lattice.lo, dtype=np.float64)
        starts = np.tile(lo + lattice.delta * u0, (total, 1))
        gk = problem.grad_kernel
        gp = np.asarray(problem.params, dtype=np.float64)

        def sgd_chain(c):
            def task():
                _chain_sgd(states, c, gk, gp, alphas[c], starts[c], lo, shape, strides, lattice.delta, code, params,
                           steps, burn_in, counts[c], lat[c], bpc, finals[c])
            return task

        _parallel([sgd_chain(c) for c in range(total)])
        finish(sgd_idx, counts, lat, finals, "step")
    for r in jump_idx:
        m, a = runs[r]
        op = operators.get((m, a))
        res = jump_chain(problem, noise, lattice, m, a, steps, chains=chains,
                         start=np.asarray(lattice.lo) + lattice.delta * u0, seed=seed, burn_in=burn_in, operator=op)
        results[r] = res
    return results  # type: ignore[return-value]


def simulate(problem: Problem, noise: NoiseModel, lattice: Lattice, method: str, alpha: float, steps: int,
             chains: int = 1, start=None, seed: int = 0, burn_in: int = 0, sampler: str = "step",
             bc_quantizer: str = "qd", latent_bins_per_cell: int = LATENT_BINS_PER_CELL,
             max_memory: float | None = None, max_hours: float | None = None) -> SimulationResult:
    """Simulate one rule (SGD, R, SR or BC) at one learning rate; see :func:`simulate_many`.

    Examples
    --------
    >>> from srchain.problems import get_problem
    >>> from srchain.noise import make_noise
    >>> from srchain.lattice import Lattice
    >>> p = get_problem("toy"); lat = Lattice.from_domain(0.5, p.domain)
    >>> r = simulate(p, make_noise("gaussian", sigma=2.0), lat, "sr", 0.1, steps=1000, chains=2, start=4.0)
    >>> int(r.counts.sum())
    2000
    """
    return simulate_many(problem, noise, lattice, [(method, alpha)], steps, chains=chains, start=start, seed=seed,
                         burn_in=burn_in, sampler=sampler, bc_quantizer=bc_quantizer,
                         latent_bins_per_cell=latent_bins_per_cell, max_memory=max_memory,
                         max_hours=max_hours)[0]


def jump_chain(problem: Problem, noise: NoiseModel, lattice: Lattice, method: str, alpha: float, steps: int,
               chains: int = 1, start=None, seed: int = 0, burn_in: int = 0, operator=None) -> SimulationResult:
    """Exact jump-chain sampler for SR and R: same law of the path as stepping, far fewer draws at small α.

    From the exact row ``P[i, :]`` of ``T_αᵀ`` (:func:`srchain.operators.transition_matrix`), the number of
    steps ``H`` until the chain leaves ``i`` is Geometric(``q_i``) with ``q_i = Σ_{j≠i} P[i, j]``
    (``Pr(H = h) = (1 − q_i)^{h−1} q_i``), and the state it jumps to is ``j`` with probability ``P[i, j]/q_i``.
    Sampling ``H`` as ``⌈E/λ_i⌉`` (``E`` exponential, ``λ_i = −log(1 − q_i)``) and ``j`` by a search of the
    cumulative off-diagonal row costs two draws per jump instead of two per step; at α = 0.001 on the toy problem a chain moves about once every few
    hundred steps.

    The histogram counts the state after each step, exactly as the step-by-step kernel does; the streams differ,
    so the two agree in law, not draw by draw.
    """
    from srchain.operators import transition_matrix

    if method not in ("sr", "r"):
        raise SrchainError(f"the jump sampler is for the lattice chains sr and r, not {method!r}")
    steps, chains, burn_in, alpha = _check(steps, chains, burn_in, alpha)
    u0 = _start_units(start, lattice)
    k0 = np.clip(np.floor(u0 + 0.5).astype(np.int64), 0, np.asarray(lattice.shape) - 1)
    i0 = int(lattice.index(k0))
    op = operator if operator is not None else transition_matrix(problem, noise, lattice, alpha, method=method)
    indptr, indices, cum, leave, mean_hold = _jump_tables(op.P)
    n = lattice.size
    counts = np.zeros((chains, n), dtype=np.int64)
    finals = np.zeros(chains, dtype=np.int64)
    states = pcg.states_from_seed(seed, chains)

    def jtask(c):
        def task():
            finals[c] = _chain_jump(states, c, indptr, indices, cum, leave, mean_hold, i0, steps, burn_in, counts[c])
        return task

    tasks = [jtask(c) for c in range(chains)]
    # At most chains·(steps + burn-in)·max_i q_i jumps in all: below ~10⁵ the whole run takes well under a
    # millisecond, less than starting a thread pool, so it runs in this thread (the result is the same).
    expected_jumps = chains * (steps + burn_in) * (float(leave.max()) if leave.size else 0.0)
    if expected_jumps < 1e5:
        for t in tasks:
            t()
    else:
        _parallel(tasks)
    return SimulationResult(method=method, alpha=alpha, steps=steps, burn_in=burn_in, chains=chains, seed=int(seed),
                            states=lattice.points, counts=counts.sum(axis=0), chain_counts=counts,
                            final=lattice.points[finals], sampler="jump",
                            extra={"dropped_mass": float(op.dropped_mass)})
