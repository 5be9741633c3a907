"""srchain.bounds against values computed by hand from the paper's formulas, and tightness where the proof is tight.

A one-sided check (measured ≤ bound) lets a bound loosened by 2× pass. Here every right-hand side is compared with
the paper's formula evaluated by hand (to 1e-12 relative, so any change of a constant or an exponent fails), and the
two steps that are tight (Lemma 1 for small α along a direction with equal |g_i|, and the step-size sum
``Σ 1/√t ≤ 2√T − 1`` at T = 1 and as T → ∞) are checked from below as well: a bound twice as large fails them.
"""

import math

import numpy as np
import pytest

from srchain import SrchainError
from srchain import bounds as b
from srchain.quantize import qs

REL = 1e-12


def test_lemma1_and_the_floors_by_hand():
    # Lemma 1: √d Δ α G; d = 4, Δ = 0.5, α = 0.1, G = 3 → 2·0.5·0.1·3
    assert b.lemma1(4, 0.5, 0.1, 3.0) == pytest.approx(0.3, rel=REL)
    # SR floor (Theorems 1, 2): √d Δ G / 2; d = 9, Δ = 0.2, G = 5 → 3·0.2·5/2
    assert b.sr_floor(9, 0.2, 5.0) == pytest.approx(1.5, rel=REL)
    # BC floor (Theorem 3): √d Δ L D; d = 16, Δ = 0.25, L = 3, D = 2 → 4·0.25·3·2
    assert b.bc_floor(16, 0.25, 3.0, 2.0) == pytest.approx(6.0, rel=REL)
    # Theorem 4's printed floor: D L₂ √d Δ / 2; D = 2, L₂ = 3, d = 16, Δ = 0.25 → 2·3·4·0.25/2
    assert b.bc_strong_floor(16, 0.25, 2.0, 3.0) == pytest.approx(3.0, rel=REL)


def test_corollary1_and_theorem1_by_hand():
    # (1 + log(T+1)) G² / (2 μ T); T = 3, G = 2, μ = 0.5 → (1 + log 4)·4/3
    assert b.corollary1(3, 2.0, 0.5) == pytest.approx((1 + math.log(4)) * 4 / 3, rel=REL)
    # Theorem 1 adds √d Δ G / 2: d = 25, Δ = 0.1, G = 2 → 0.5
    assert b.theorem1(3, 25, 0.1, 2.0, 0.5) == pytest.approx((1 + math.log(4)) * 4 / 3 + 0.5, rel=REL)


def test_theorems_2_3_proved_by_hand():
    # T = 4, d = 9, Δ = 0.1, G = 3, D = 2, c = 0.5, L = 5:
    #   D²/(2c√T) = 4/2 = 2;  c G² (2√T − 1)/(2T) = 0.5·9·3/8 = 1.6875;  √d Δ G/2 = 0.45;  √d Δ L D = 3
    assert b.theorem2_proved(4, 9, 0.1, 3.0, 2.0, 0.5) == pytest.approx(2 + 1.6875 + 0.45, rel=REL)
    assert b.theorem3_proved(4, 9, 0.1, 3.0, 2.0, 0.5, 5.0) == pytest.approx(2 + 1.6875 + 3.0, rel=REL)


def test_printed_theorems_2_3_4_by_hand_at_other_values():
    # T = 9, d = 4, Δ = 0.5, G = 2, D = 3, c = 1.5, L = 2, μ = 4, L₂ = 0.5:
    #   Thm 2: D²/(c√T) = 9/4.5 = 2;    √(T+1)/(2T)·c G² = √10/18·6 = √10/3;     √d Δ G/2 = 1
    #   Thm 3: D²/(2c√T) = 1;           same middle term;                        √d Δ L D = 6
    #   Thm 4: (1 + log 10)·4/(2·4·9) = (1 + log 10)/18;                          D L₂ √d Δ/2 = 0.75
    assert b.theorem2(9, 4, 0.5, 2.0, 3.0, 1.5) == pytest.approx(2 + math.sqrt(10) / 3 + 1, rel=REL)
    assert b.theorem3(9, 4, 0.5, 2.0, 3.0, 1.5, 2.0) == pytest.approx(1 + math.sqrt(10) / 3 + 6, rel=REL)
    assert b.theorem4(9, 4, 0.5, 2.0, 3.0, 4.0, 0.5) == pytest.approx((1 + math.log(10)) / 18 + 0.75, rel=REL)
    # proved Theorem 4: D L₂ d Δ²/2 = 3·0.5·4·0.25/2 = 0.75 (equal to the printed floor at √d Δ = 1)
    assert b.theorem4_proved(9, 4, 0.5, 2.0, 3.0, 4.0, 0.5) == pytest.approx((1 + math.log(10)) / 18 + 0.75, rel=REL)
    assert b.theorem4_proved(9, 4, 0.25, 2.0, 3.0, 4.0, 0.5) == pytest.approx(
        (1 + math.log(10)) / 18 + 3 * 0.5 * 4 * 0.0625 / 2, rel=REL
    )


def test_every_term_scales_as_its_formula():
    # doubling one constant multiplies each term by the power the formula gives it
    T, d, dl, G, D, c, L, mu, L2 = 16.0, 4.0, 0.1, 2.0, 3.0, 0.5, 1.5, 2.0, 0.7
    t1 = b.theorem1(T, d, dl, G, mu)
    assert b.theorem1(T, d, 2 * dl, G, mu) - t1 == pytest.approx(b.sr_floor(d, dl, G), rel=REL)
    assert b.theorem1(T, 4 * d, dl, G, mu) - t1 == pytest.approx(b.sr_floor(d, dl, G), rel=REL)
    assert b.theorem1(T, d, dl, G, 2 * mu) == pytest.approx(t1 - b.corollary1(T, G, mu) / 2, rel=REL)
    assert b.corollary1(T, 2 * G, mu) == pytest.approx(4 * b.corollary1(T, G, mu), rel=REL)
    t2 = b.theorem2_proved(T, d, dl, G, D, c)
    floor = b.sr_floor(d, dl, G)
    first, middle = D**2 / (2 * c * 4), c * G**2 * 7 / 32  # √T = 4, 2√T − 1 = 7
    assert t2 == pytest.approx(first + middle + floor, rel=REL)
    assert b.theorem2_proved(T, d, dl, G, 2 * D, c) == pytest.approx(4 * first + middle + floor, rel=REL)
    assert b.theorem3_proved(T, d, dl, G, D, c, 2 * L) == pytest.approx(
        first + middle + 2 * b.bc_floor(d, dl, L, D), rel=REL
    )
    assert b.theorem4(T, d, dl, G, D, mu, 2 * L2) - b.theorem4(T, d, dl, G, D, mu, L2) == pytest.approx(
        b.bc_strong_floor(d, dl, D, L2), rel=REL
    )


def test_step_size_sum_bound_is_tight_at_one_and_asymptotically():
    # Σ_{t≤T} 1/√t ≤ 2√T − 1, with equality at T = 1; the sum is ≥ 2√(T+1) − 2, so the ratio → 1
    assert b.sqrt_schedule_sum(1) == 1.0
    assert b.sqrt_schedule_sum(9) == pytest.approx(5.0, rel=REL)
    T = 10**6
    s = math.fsum(1 / math.sqrt(t) for t in range(1, T + 1))
    assert s <= b.sqrt_schedule_sum(T) < s * (1 + 1e-3)


@pytest.mark.parametrize("d", [1, 3, 16])
def test_lemma1_is_tight_for_small_steps_along_equal_gradient_coordinates(d):
    """E‖r‖² for w on the grid and g_i = G/√d: each coordinate's fraction is q = 1 − αg_i/Δ, and
    Δ² Σ q(1 − q) = √d Δ α G (1 − αG/(√d Δ)), so E‖r‖²/lemma1 = 1 − αG/(√d Δ) (= 1 − 1e-3 here): the bound is
    attained to 0.1%. The expectation is taken from the exact two-point law of Qs (quantize.qs with the uniform
    draw at the two ends of its range), not from a formula."""
    delta, G = 0.5, 2.0
    alpha = 1e-3 * math.sqrt(d) * delta / G
    w = delta * np.arange(d, dtype=np.float64)
    y = w - alpha * (G / math.sqrt(d)) * np.ones(d)
    # Qs rounds up iff p ≤ q: p = 0 gives the upper value, p → 1 the lower one; q is the fraction above ⌊y/Δ⌋
    up = qs(y, delta, p=np.zeros(d))
    down = qs(y, delta, p=np.full(d, 1 - 1e-15))
    q = (y - down) / delta
    e_r2 = float(np.sum(q * (up - y) ** 2 + (1 - q) * (down - y) ** 2))
    bound = b.lemma1(d, delta, alpha, G)
    assert e_r2 <= bound
    assert e_r2 / bound == pytest.approx(1 - alpha * G / (math.sqrt(d) * delta), rel=1e-9)


def test_lemma1_is_not_attained_by_unequal_coordinates():
    # ‖g‖₁ < √d ‖g‖₂ unless all |g_i| are equal: one nonzero coordinate in d = 4 gives E‖r‖² ≈ Δ α G = bound / 2
    d, delta, G, alpha = 4, 0.5, 2.0, 1e-4
    q = alpha * G / delta
    e_r2 = delta**2 * q * (1 - q)
    assert e_r2 / b.lemma1(d, delta, alpha, G) == pytest.approx(0.5, rel=1e-3)


@pytest.mark.parametrize(
    "call, ok",
    [
        (lambda: b.lemma1(4, 0.0, 0.1, 1.0), 0.0),  # Δ = 0 is full precision: no rounding error
        (lambda: b.sr_floor(4, 0.5, 0.0), 0.0),  # G = 0 allowed
        (lambda: b.theorem1(1, 4, 0.0, 1.0, 1.0), (1 + math.log(2)) / 2),  # T = 1 is the first legal T
        (lambda: b.theorem4(1, 1, 0.5, 1.0, 1.0, 1.0, 0.0), (1 + math.log(2)) / 2),  # L₂ = 0: Corollary 1
    ],
)
def test_edges_of_the_domain_are_accepted(call, ok):
    assert call() == pytest.approx(ok, rel=REL, abs=0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: b.theorem1(0.999, 4, 0.5, 1.0, 1.0),
        lambda: b.lemma1(0, 0.5, 0.1, 1.0),
        lambda: b.lemma1(4, -1e-300, 0.1, 1.0),
        lambda: b.sr_floor(4, 0.5, -1e-300),
        lambda: b.bc_floor(4, 0.5, 1.0, 0.0),
        lambda: b.corollary1(10, 1.0, 0.0),
        lambda: b.theorem3(10, 4, 0.5, 1.0, 1.0, 1.0, np.inf),
    ],
)
def test_outside_the_domain_is_refused(call):
    with pytest.raises(SrchainError):
        call()
