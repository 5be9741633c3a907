"""The Numba side of :mod:`srchain.toy.convex`: the xoshiro256** streams and the kernel that runs SGD, R, SR and BC
(Eq. 2, 4, 6, 7) for all seeds of one (method, Δ) in parallel, the steps in compiled code.

:func:`simulate` runs the seeds in parallel, each one by :func:`_run_seed`. Both take four records, module-level
:func:`collections.namedtuple` classes (Numba compiles them as tuples with named fields, and ``cache=True`` keeps
working), which :mod:`srchain.toy.convex` builds:

``Objective(kind, A, b, lam, lo, hi)``
    The problem ``F(w) = (1/m) Σ_i f_i(w)`` of Section 4 (``kind``: ``KIND_LSQ`` or ``KIND_LOGISTIC`` of
    :mod:`srchain.toy.convex_problems`; data ``A``, ``b``; ridge ``λ``) and the box ``[lo, hi]`` that every
    iterate is clipped into (the grid box for the quantized rules).
``Method(rule, delta, schedule, mu, c, batch)``
    How one step is taken: the :class:`~srchain.rules.Rule`, the grid spacing Δ, the step-size schedule
    (:data:`SCHEDULE_STRONG`: ``α_t = 1/(μ t)``; :data:`SCHEDULE_SQRT`: ``α_t = c/√t``) and the mini-batch size B
    of ``∇f̃``.
``Run(w0, steps, states, checkpoints, trace_len)``
    What is run: the start ``w_0``, the number of steps T (the schedules do not depend on it), one xoshiro256**
    state per seed, the step counts t at which the running sums are saved, and how many steps SR traces.
``Outputs(sum_w, sum_q, ck_w, ck_q, lemma, tr_r2, tr_g1, tr_qq, last)``
    Row ``s`` for seed ``s``: ``Σ_t w_t`` and ``Σ_t x_t`` (x: the point where the gradient is taken, ``Q(w_r)``
    for BC) up to T (``sum_*``) and up to each checkpoint (``ck_*``); SR's ``Σ_t ‖r_t‖²/α_t`` (Lemma 1) and its
    per-step traces ``‖r_t‖²``, ``Δ α_t ‖∇f̃‖₁`` (Eq. 11) and ``Σ_i Δ² q_i(1 − q_i)``; the last iterate ``w_T``.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit, prange
from srchain.toy.convex_problems import KIND_LSQ

from srchain.quantize import qd_scalar, qs_scalar
from srchain.rules import Rule

__all__ = [
    "Objective",
    "Method",
    "Run",
    "Outputs",
    "SCHEDULE_STRONG",
    "SCHEDULE_SQRT",
    "seed_states",
    "XoshiroPy",
    "simulate",
]

#: ``Method.schedule`` codes: ``α_t = 1/(μ t)`` (Theorems 1, 4, Corollary 1) and ``α_t = c/√t`` (Theorems 2, 3)
SCHEDULE_STRONG = 0
SCHEDULE_SQRT = 1

Objective = namedtuple("Objective", ["kind", "A", "b", "lam", "lo", "hi"])
Method = namedtuple("Method", ["rule", "delta", "schedule", "mu", "c", "batch"])
Run = namedtuple("Run", ["w0", "steps", "states", "checkpoints", "trace_len"])
Outputs = namedtuple("Outputs", ["sum_w", "sum_q", "ck_w", "ck_q", "lemma", "tr_r2", "tr_g1", "tr_qq", "last"])


# ---------------------------------------------------------------------------------------------------------------
# Random numbers: xoshiro256** (Blackman & Vigna), one state of four uint64 per seed
# ---------------------------------------------------------------------------------------------------------------
def seed_states(seed: int, n: int) -> np.ndarray:
    """States ``(n, 4)`` uint64 from ``SeedSequence(seed).spawn(n)`` (never all zero)."""
    kids = np.random.SeedSequence(int(seed)).spawn(int(n))
    st = np.stack([k.generate_state(4, dtype=np.uint64) for k in kids])
    st[np.all(st == 0, axis=1), 0] = np.uint64(1)
    return st


@njit(cache=True, nogil=True, inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(cache=True, nogil=True, inline="always")
def _uniform(st):
    """Next U[0, 1) double (53 random bits) from the xoshiro256** state ``st``, updated in place."""
    s0 = st[0]
    s1 = st[1]
    s2 = st[2]
    s3 = st[3]
    result = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    st[0] = s0
    st[1] = s1
    st[2] = s2
    st[3] = s3
    return float(result >> np.uint64(11)) * (1.0 / 9007199254740992.0)


class XoshiroPy:
    """The same generator in plain Python (for the reference loop and the tests)."""

    MASK = (1 << 64) - 1

    def __init__(self, state):
        self.s = [int(x) for x in state]

    def _rotl(self, x, k):
        return ((x << k) | (x >> (64 - k))) & self.MASK

    def uniform(self) -> float:
        s0, s1, s2, s3 = self.s
        result = (self._rotl((s1 * 5) & self.MASK, 7) * 9) & self.MASK
        t = (s1 << 17) & self.MASK
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = self._rotl(s3, 45)
        self.s = [s0, s1, s2, s3]
        return (result >> 11) * (1.0 / 9007199254740992.0)

    def random(self, size=None):
        if size is None:
            return self.uniform()
        return np.array([self.uniform() for _ in range(size)])


# ---------------------------------------------------------------------------------------------------------------
# The kernel: all seeds of one (method, Δ) in parallel, the steps in compiled code
# ---------------------------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _run_seed(s, objective, method, run, out):
    """Seed ``s`` of ``run``: T steps of ``method`` on ``objective`` from its own xoshiro256** stream, written into
    row ``s`` of ``out`` (the records of the module docstring).

    Step ``t = 1 … T``: ``α_t`` from the schedule; the point ``x`` where the gradient is taken (``w`` itself, or
    BC's ``Π(Qd(w_r))`` (Eq. 3) or ``Π(Qs(w_r))`` (Eq. 5)); ``∇f̃(x)``, the mean of ``batch`` sampled ``∇f_i(x)``
    plus ``λx``; then ``w ← Π(Qs(w − α_t∇f̃))`` for SR (Eq. 6, recording ``r_t = Qs(y) − y`` for Lemma 1),
    ``Π(Qd(w − α_t∇f̃))`` for R (Eq. 4), and ``Π(w − α_t∇f̃)`` for SGD (Eq. 2) and BC's ``w_r`` (Eq. 7).
    """
    kind, A, b, lam, lo, hi = objective
    rule, delta, schedule, mu, c, batch = method
    w0, steps, states, ckpts, trace_len = run
    sum_w, sum_q, ck_w, ck_q, lemma, tr_r2, tr_g1, tr_qq, last = out
    m, d = A.shape
    nck = ckpts.shape[0]
    st = states[s].copy()
    w = w0.copy()
    x = np.empty(d)
    g = np.empty(d)
    sw = np.zeros(d)
    sq = np.zeros(d)
    ci = 0
    lem = 0.0
    for k in range(steps):
        t = k + 1
        if schedule == SCHEDULE_STRONG:
            alpha = 1.0 / (mu * t)
        else:
            alpha = c / math.sqrt(t)
        # the point where the gradient is taken: w itself, or BC's Q(w_r)
        if rule == Rule.BC:
            for j in range(d):
                x[j] = min(max(qd_scalar(w[j], delta), lo[j]), hi[j])
        elif rule == Rule.BC_QS:
            for j in range(d):
                x[j] = min(max(qs_scalar(w[j], delta, _uniform(st)), lo[j]), hi[j])
        else:
            for j in range(d):
                x[j] = w[j]
        for j in range(d):
            sw[j] += w[j]
            sq[j] += x[j]
        if ci < nck and ckpts[ci] == t:
            for j in range(d):
                ck_w[s, ci, j] = sw[j]
                ck_q[s, ci, j] = sq[j]
            ci += 1
        # the stochastic gradient: mean of `batch` sampled ∇f_i(x)
        for j in range(d):
            g[j] = 0.0
        for _ in range(batch):
            i = int(_uniform(st) * m)
            if i >= m:
                i = m - 1
            z = 0.0
            for j in range(d):
                z += A[i, j] * x[j]
            if kind == KIND_LSQ:
                sc = z - b[i]
            else:
                sc = -b[i] / (1.0 + math.exp(b[i] * z))
            for j in range(d):
                g[j] += sc * A[i, j]
        for j in range(d):
            g[j] = g[j] / batch + lam * x[j]
        # the update
        if rule == Rule.SR:
            r2 = 0.0
            g1 = 0.0
            qq = 0.0
            for j in range(d):
                y = w[j] - alpha * g[j]
                q = qs_scalar(y, delta, _uniform(st))
                r = q - y
                r2 += r * r
                g1 += abs(g[j])
                fr = y / delta - math.floor(y / delta)
                qq += fr * (1.0 - fr)
                w[j] = min(max(q, lo[j]), hi[j])
            lem += r2 / alpha
            if k < trace_len:
                tr_r2[s, k] = r2
                tr_g1[s, k] = delta * alpha * g1
                tr_qq[s, k] = delta * delta * qq
        elif rule == Rule.R:
            for j in range(d):
                w[j] = min(max(qd_scalar(w[j] - alpha * g[j], delta), lo[j]), hi[j])
        else:
            for j in range(d):
                w[j] = min(max(w[j] - alpha * g[j], lo[j]), hi[j])
    for j in range(d):
        sum_w[s, j] = sw[j]
        sum_q[s, j] = sq[j]
        last[s, j] = w[j]
    lemma[s] = lem


@njit(cache=True, nogil=True, parallel=True)
def simulate(objective, method, run, out):
    """Every seed of ``run`` (:func:`_run_seed`), in parallel over the seeds.

    The loop body is only the call, and the records are unpacked inside it: with the body written out here, Numba
    0.68 silently dropped the store ``lemma[s] = lem`` (a store, after an inner loop, into an array taken from a
    tuple argument; its alias analysis seems not to link such an array to the argument, so the store looks
    dead), leaving ``out.lemma`` at zero. Stores made inside the called function are kept.
    """
    for s in prange(run.states.shape[0]):
        _run_seed(s, objective, method, run, out)
