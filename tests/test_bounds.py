"""srchain.bounds: the right-hand sides of Lemma 1, Theorems 1-4 and Corollary 1."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srchain import SrchainError
from srchain import bounds as b


def test_theorem1_by_hand():
    # T = 1, G = 2, μ = 1, d = 4, Δ = 0.5: (1 + log 2)·4/2 + √4·0.5·2/2 = 2(1 + log 2) + 1
    assert b.theorem1(1, 4, 0.5, 2.0, 1.0) == pytest.approx(2 * (1 + math.log(2)) + 1)
    assert b.sr_floor(4, 0.5, 2.0) == pytest.approx(1.0)


def test_theorem2_3_4_by_hand():
    T, d, dl, G, D, c, L, mu, L2 = 4, 9, 0.1, 3.0, 2.0, 0.5, 5.0, 2.0, 7.0
    assert b.theorem2(T, d, dl, G, D, c) == pytest.approx(D**2 / (c * 2) + math.sqrt(5) / 8 * c * 9 + 3 * 0.1 * 3 / 2)
    assert b.theorem3(T, d, dl, G, D, c, L) == pytest.approx(
        D**2 / (2 * c * 2) + math.sqrt(5) / 8 * c * 9 + 3 * 0.1 * L * D
    )
    assert b.theorem4(T, d, dl, G, D, mu, L2) == pytest.approx((1 + math.log(5)) * 9 / (4 * 4) + D * L2 * 3 * 0.1 / 2)
    assert b.theorem4_proved(T, d, dl, G, D, mu, L2) == pytest.approx(
        (1 + math.log(5)) * 9 / 16 + D * L2 * 9 * 0.01 / 2
    )


def test_corollary1_is_theorem4_with_flat_hessian_and_sgd_is_delta_zero():
    T = np.array([1, 10, 1000, 10**6])
    np.testing.assert_allclose(b.corollary1(T, 3.0, 0.5), b.theorem4(T, 10, 0.5, 3.0, 7.0, 0.5, 0.0))
    np.testing.assert_allclose(b.corollary1(T, 3.0, 0.5), b.theorem1(T, 10, 0.0, 3.0, 0.5))


def test_floors_are_linear_in_delta_and_the_rest_vanishes_as_T_grows():
    big = 10**14
    assert b.theorem1(big, 10, 0.2, 3.0, 0.5) / b.theorem1(big, 10, 0.1, 3.0, 0.5) == pytest.approx(2.0, rel=1e-5)
    assert b.theorem4(big, 10, 0.2, 3.0, 7.0, 0.5, 2.0) / b.theorem4(big, 10, 0.1, 3.0, 7.0, 0.5, 2.0) == pytest.approx(
        2.0, rel=1e-5
    )
    assert b.theorem3(big, 4, 0.3, 2.0, 5.0, 1.0, 3.0) == pytest.approx(b.bc_floor(4, 0.3, 3.0, 5.0), rel=1e-5)
    assert b.theorem2(big, 4, 0.3, 2.0, 5.0, 1.0) == pytest.approx(b.sr_floor(4, 0.3, 2.0), rel=1e-5)


def test_the_paper_step_size_sum_is_too_small_and_ours_is_an_upper_bound():
    # Appendix C uses Σ_{t≤T} 1/√t ≤ √(T+1); it fails from T = 3 on, 2√T − 1 holds for every T.
    for T in [1, 2, 3, 10, 1000, 100000]:
        s = float(np.sum(1 / np.sqrt(np.arange(1, T + 1))))
        assert s <= b.sqrt_schedule_sum(T) + 1e-12
        assert (s <= math.sqrt(T + 1)) == (T < 3)


def test_theorem4_proved_floor_is_below_the_printed_one_iff_sqrt_d_delta_below_one():
    for d, dl in [(10, 0.1), (10, 0.5), (1, 0.9), (4, 1.0)]:
        printed = b.bc_strong_floor(d, dl, 3.0, 2.0)
        proved = b.theorem4_proved(10**15, d, dl, 1e-9, 3.0, 1.0, 2.0)
        assert (proved <= printed * (1 + 1e-9)) == (math.sqrt(d) * dl <= 1)


@pytest.mark.parametrize(
    "call",
    [
        lambda: b.theorem1(0, 4, 0.5, 1.0, 1.0),
        lambda: b.theorem1(10, 4, -0.5, 1.0, 1.0),
        lambda: b.theorem1(10, 4, 0.5, 1.0, 0.0),
        lambda: b.theorem2(10, 4, 0.5, 1, 1, 0),
        lambda: b.lemma1(4, 0.5, 0.0, 1.0),
        lambda: b.theorem3(np.nan, 4, 0.5, 1, 1, 1, 1),
    ],
)
def test_bad_arguments_raise(call):
    with pytest.raises(SrchainError):
        call()


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 20), st.floats(0.01, 2.0), st.floats(1e-5, 10.0), st.integers(0, 2**31))
def test_lemma1_holds_for_the_exact_rounding_variance(d, delta, alpha, seed):
    """E_p‖r‖² = Δ² Σ q_i(1 − q_i) (exact, w on the grid) ≤ Δα‖g‖₁ (Eq. 11) ≤ √d Δ α ‖g‖₂ (Lemma 1 with G = ‖g‖)."""
    rng = np.random.default_rng(seed)
    w = delta * rng.integers(-5, 6, d)
    g = rng.standard_normal(d) * rng.uniform(0.01, 100)
    y = w - alpha * g
    q = y / delta - np.floor(y / delta)
    exact = delta**2 * np.sum(q * (1 - q))
    assert exact <= delta * alpha * np.abs(g).sum() * (1 + 1e-9) + 1e-12
    assert exact <= b.lemma1(d, delta, alpha, np.linalg.norm(g)) * (1 + 1e-9) + 1e-12
