"""NumPy's PCG64 stream, inlined into Numba kernels.

A kernel that calls ``numpy.random.Generator`` methods from Numba pays an indirect call into NumPy's C code for
every 64-bit draw, and the generator's state lives behind a pointer, so the compiler can neither inline nor
reorder the draws. Here the same generator (PCG64, XSL-RR output on a 128-bit LCG; O'Neill 2014, as in NumPy's
``pcg64.h``) is written as pure functions of a state tuple ``s = (hi, lo, inc_hi, inc_lo)`` of ``uint64``:

    u, s = next_double(s)        # same number as Generator(PCG64(...)).random()
    z, s = standard_normal(s)    # same as .standard_normal()  (NumPy's 256-layer ziggurat)
    e, s = standard_exponential(s)
    g, s = standard_gamma(s, k)

The state stays in registers, the draws inline into the step, and the stream is bit for bit NumPy's: a kernel
seeded from ``SeedSequence(seed).spawn(n)[c]`` draws exactly what ``Generator(PCG64(child))`` would, in the same
order (``tests/test_pcg.py`` checks this against NumPy). The ziggurat tables are Numba's copies of NumPy's
(``numba.np.random._constants``, a private module: the same tests catch any change there).

Python side: :func:`states_from_seed` gives the ``(chains, 4)`` array of initial states, a kernel unpacks row
``c`` with :func:`load` and writes it back with :func:`store` when it finishes.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic
from numba.np.random._constants import (
    fe_double,
    fi_double,
    ke_double,
    ki_double,
    we_double,
    wi_double,
    ziggurat_exp_r,
    ziggurat_nor_inv_r,
    ziggurat_nor_r,
)

__all__ = [
    "MULTIPLIER",
    "state_of",
    "states_from_seed",
    "load",
    "store",
    "next_uint64",
    "next_double",
    "standard_normal",
    "standard_exponential",
    "standard_gamma",
]

#: PCG's default 128-bit LCG multiplier (NumPy's ``PCG_DEFAULT_MULTIPLIER_128``).
MULTIPLIER = 0x2360ED051FC65DA44385DF649FCCF645
_MASK64 = (1 << 64) - 1
_M52 = np.uint64(0x000FFFFFFFFFFFFF)
_INV53 = 1.0 / 9007199254740992.0  # 2^-53


@intrinsic
def _lcg_step(typingctx, hi, lo, inc_hi, inc_lo):
    """``state ← state · MULTIPLIER + inc`` in 128-bit arithmetic (LLVM ``i128``: a few 64-bit multiplies)."""
    sig = types.UniTuple(types.uint64, 2)(types.uint64, types.uint64, types.uint64, types.uint64)

    def codegen(context, builder, signature, args):
        i128, i64 = ir.IntType(128), ir.IntType(64)
        sixty_four = ir.Constant(i128, 64)

        def join(h, lo_):
            return builder.or_(builder.shl(builder.zext(h, i128), sixty_four), builder.zext(lo_, i128))

        s = builder.add(builder.mul(join(args[0], args[1]), ir.Constant(i128, MULTIPLIER)), join(args[2], args[3]))
        new_hi = builder.trunc(builder.lshr(s, sixty_four), i64)
        new_lo = builder.trunc(s, i64)
        return context.make_tuple(builder, signature.return_type, [new_hi, new_lo])

    return sig, codegen


@njit(cache=True, nogil=True)
def next_uint64(s):
    """One 64-bit output: advance the LCG, then XSL-RR (xor the halves, rotate by the top 6 bits)."""
    hi, lo = _lcg_step(s[0], s[1], s[2], s[3])
    x = hi ^ lo
    r = hi >> np.uint64(58)
    return (x >> r) | (x << ((np.uint64(64) - r) & np.uint64(63))), (hi, lo, s[2], s[3])


@njit(cache=True, nogil=True)
def next_double(s):
    """Uniform on [0, 1) with 53 random bits (``Generator.random``)."""
    r, s = next_uint64(s)
    return np.float64(r >> np.uint64(11)) * _INV53, s


@njit(cache=True, nogil=True)
def _ziggurat_proposal(s):
    """One 64-bit draw split as NumPy's normal ziggurat does: 8 bits pick the layer ``idx``, 1 the sign, 52 the
    abscissa ``rabs``; returns ``(x, idx, rabs, s)``. ``x`` is accepted outright when ``rabs < ki_double[idx]``."""
    r, s = next_uint64(s)
    idx = r & np.uint64(0xFF)
    r >>= np.uint64(8)
    rabs = (r >> np.uint64(1)) & _M52
    x = np.float64(rabs) * wi_double[idx]
    if r & np.uint64(1):
        x = -x
    return x, idx, rabs, s


@njit(cache=True, nogil=True)
def _normal_tail(s, idx, rabs, x):
    """The rare branches of NumPy's ziggurat (0.7% of draws): the wedge test, the tail, and retries."""
    while True:
        if idx == 0:
            while True:
                u, s = next_double(s)
                xx = -ziggurat_nor_inv_r * math.log1p(-u)
                u, s = next_double(s)
                yy = -math.log1p(-u)
                if yy + yy > xx * xx:
                    if (rabs >> np.uint64(8)) & np.uint64(1):
                        return -(ziggurat_nor_r + xx), s
                    return ziggurat_nor_r + xx, s
        else:
            u, s = next_double(s)
            if (fi_double[idx - 1] - fi_double[idx]) * u + fi_double[idx] < math.exp(-0.5 * x * x):
                return x, s
        x, idx, rabs, s = _ziggurat_proposal(s)
        if rabs < ki_double[idx]:
            return x, s


@njit(cache=True, nogil=True)
def standard_normal(s):
    """N(0, 1) by NumPy's ziggurat (``Generator.standard_normal``)."""
    x, idx, rabs, s = _ziggurat_proposal(s)
    if rabs >= ki_double[idx]:
        x, s = _normal_tail(s, idx, rabs, x)
    return x, s


@njit(cache=True, nogil=True)
def standard_exponential(s):
    """Exp(1) by NumPy's exponential ziggurat (``Generator.standard_exponential``)."""
    while True:
        ri, s = next_uint64(s)
        ri >>= np.uint64(3)
        idx = ri & np.uint64(0xFF)
        ri >>= np.uint64(8)
        x = np.float64(ri) * we_double[idx]
        if ri < ke_double[idx]:
            return x, s
        if idx == 0:
            u, s = next_double(s)
            return ziggurat_exp_r - math.log1p(-u), s
        u, s = next_double(s)
        if (fe_double[idx - 1] - fe_double[idx]) * u + fe_double[idx] < math.exp(-x):
            return x, s


@njit(cache=True, nogil=True)
def standard_gamma(s, shape):
    """Gamma(shape, 1) as NumPy draws it (``Generator.standard_gamma``): exponential for shape 1, Johnk-type
    rejection below 1, Marsaglia–Tsang above."""
    if shape == 1.0:
        return standard_exponential(s)
    if shape == 0.0:
        return 0.0, s
    if shape < 1.0:
        while True:
            u, s = next_double(s)
            v, s = standard_exponential(s)
            if u <= 1.0 - shape:
                x = u ** (1.0 / shape)
                if x <= v:
                    return x, s
            else:
                y = -math.log((1.0 - u) / shape)
                x = (1.0 - shape + shape * y) ** (1.0 / shape)
                if x <= v + y:
                    return x, s
    b = shape - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * b)
    while True:
        while True:
            x, s = standard_normal(s)
            v = 1.0 + c * x
            if v > 0.0:
                break
        v = v * v * v
        u, s = next_double(s)
        if u < 1.0 - 0.0331 * (x * x) * (x * x):
            return b * v, s
        if math.log(u) < 0.5 * x * x + b * (1.0 - v + math.log(v)):
            return b * v, s


@njit(cache=True, nogil=True)
def load(states, c):
    """Row ``c`` of a ``(n, 4)`` uint64 state array as a state tuple."""
    return states[c, 0], states[c, 1], states[c, 2], states[c, 3]


@njit(cache=True, nogil=True)
def store(states, c, s):
    """Write the state tuple ``s`` back to row ``c`` (the increment never changes)."""
    states[c, 0] = s[0]
    states[c, 1] = s[1]


def state_of(bit_generator: np.random.PCG64) -> np.ndarray:
    """``[hi, lo, inc_hi, inc_lo]`` of a NumPy PCG64 (the 32-bit buffer, unused by these kernels, is ignored)."""
    st = bit_generator.state["state"]
    s, inc = int(st["state"]), int(st["inc"])
    return np.array([s >> 64, s & _MASK64, inc >> 64, inc & _MASK64], dtype=np.uint64)


def states_from_seed(seed: int, n: int) -> np.ndarray:
    """``(n, 4)`` initial states: row ``c`` is ``PCG64(SeedSequence(seed).spawn(n)[c])``.

    ``SeedSequence.spawn`` gives child ``c`` the spawn key ``(c,)`` whatever ``n``, so row ``c`` is the same for
    any ``n`` (a chain's stream does not depend on how many chains or threads run beside it).
    """
    children = np.random.SeedSequence(int(seed)).spawn(int(n))
    out = np.empty((int(n), 4), dtype=np.uint64)
    for c, child in enumerate(children):
        out[c] = state_of(np.random.PCG64(child))
    return out
