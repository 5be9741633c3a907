"""The arithmetic of the extended-exponent factorisation (srchain.gth.extended): ``mant · 2^expo`` values, each
operation rounded once as in float64 however far the exponents leave float64's range.

References are exact: a sum or fused multiply-add of such values is a ``Fraction``, rounded to 53 bits by Python's
correctly rounded ``int / int`` after scaling it near 1 (exact, a power of two). Mantissas are random 53-bit
floats, so a product is never exactly halfway between two floats (probability 2^-53 per draw).
"""

import math
from fractions import Fraction

import numpy as np
import pytest

import srchain.gth.extended as extended
from srchain.gth.front import front_eliminate


def _exact(m, e):
    return Fraction(m) * Fraction(2) ** e


def _rounded(v: Fraction):
    """``v`` rounded to 53 bits as ``(mant in [½, 1), expo)`` (or ``(0.0, 0)``), with no exponent range."""
    if v == 0:
        return 0.0, 0
    e = v.numerator.bit_length() - v.denominator.bit_length()
    m, f = math.frexp(float(v / Fraction(2) ** e))
    return m, e + f


def _draws(rng, n, spread):
    """``n`` values ``(mant, expo)`` with mantissas in [½, 1) and exponents within ``spread`` of a common one."""
    base = int(rng.integers(-3000, 3000))
    return [(float(rng.uniform(0.5, 1.0)), base + int(rng.integers(-spread, spread + 1))) for _ in range(n)]


@pytest.mark.parametrize("spread", [0, 3, 60, 2000])
def test_add_is_the_sum_rounded_once(spread):
    rng = np.random.default_rng(spread)
    for (xm, xe), (ym, ye) in zip(_draws(rng, 300, spread), _draws(rng, 300, spread), strict=True):
        want = _rounded(_exact(xm, xe) + _exact(ym, ye))
        assert extended._add(xm, xe, ym, ye) == want
        assert extended._add(0.0, 0, ym, ye) == (ym, ye)
        assert extended._add(xm, xe, 0.0, 0) == (xm, xe)


@pytest.mark.parametrize("spread", [0, 3, 60, 2000])
def test_fma_is_the_fused_multiply_add_rounded_once(spread):
    rng = np.random.default_rng(100 + spread)
    c, a, y = (_draws(rng, 300, spread) for _ in range(3))
    for (cm, ce), (am, ae), (ym, ye) in zip(c, a, y, strict=True):
        ye += ce  # y near the product c·a (within 2·spread binades)
        want = _rounded(_exact(cm, ce) * _exact(am, ae) + _exact(ym, ye))
        assert extended._fma(cm, ce, am, ae, ym, ye) == want
        # y = 0: the product alone, however small (exponents far below float64's 2^-1074)
        assert extended._fma(cm, ce, am, ae, 0.0, 0) == _rounded(_exact(cm, ce) * _exact(am, ae))
        assert extended._fma(0.0, 0, am, ae, ym, ye) == (ym, ye)


def _front(seed, m):
    rng = np.random.default_rng(seed)
    F = rng.uniform(0.0, 1.0, (m, m)) * (rng.uniform(size=(m, m)) < 0.7)
    np.fill_diagonal(F, 0.0)
    F[np.arange(m), (np.arange(m) + 1) % m] = rng.uniform(0.1, 1.0, m)  # every row has an exit
    return F


@pytest.mark.parametrize("seed,m,k", [(0, 9, 5), (1, 14, 13), (2, 30, 12)])
def test_front_eliminate_ext_has_the_float64_bits_and_scales_exactly(seed, m, k):
    F = _front(seed, m)
    Fm, Fe = np.frexp(F)
    Fe = Fe.astype(np.int64)
    want = F.copy()
    assert front_eliminate(want, k) == 0
    got_m, got_e = Fm.copy(), Fe.copy()
    assert extended.front_eliminate_ext(got_m, got_e, k) == 0
    off = ~np.eye(m, dtype=bool)  # the diagonal is never read (the blocked float64 kernel writes to it)
    assert np.ldexp(got_m, got_e)[off].tobytes() == want[off].tobytes()
    # every rate 2^K times as large (far outside float64): the multipliers c_ip = a_ip / s_p are unchanged, every
    # other entry 2^K times as large, the same mantissas (GTH is homogeneous in the rates)
    K = -3000
    sm, se = Fm.copy(), np.where(Fm != 0.0, Fe + K, 0)
    assert extended.front_eliminate_ext(sm, se, k) == 0
    assert sm.tobytes() == got_m.tobytes()
    mult = np.zeros((m, m), dtype=bool)
    mult[:, : min(k, m - 1)] = np.tril(np.ones((m, min(k, m - 1)), dtype=bool), -1)
    shifted = (got_m != 0.0) & ~mult
    assert np.array_equal(se[shifted], got_e[shifted] + K)
    assert np.array_equal(se[mult & (got_m != 0.0)], got_e[mult & (got_m != 0.0)])
