"""Qd (Eq. 3) and Qs (Eq. 5)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srchain import SrchainError
from srchain.quantize import qd, qd_binary, qs


def test_qd_matches_eq3_including_ties():
    d = 0.5
    w = np.array([0.0, 0.1, 0.25, -0.25, 0.75, -0.75, 0.7499, 1.24, -1.26, 3.0])
    # Eq. 3: sign(w)·Δ·floor(|w|/Δ + 1/2): ties (|w|/Δ = k + 1/2) go away from zero
    expected = np.array([0.0, 0.0, 0.5, -0.5, 1.0, -1.0, 0.5, 1.0, -1.5, 3.0])
    np.testing.assert_array_equal(qd(w, d), expected)


def test_qd_binary_is_sign():
    np.testing.assert_array_equal(qd_binary([-2.0, -1e-9, 0.0, 1e-9, 3.0], 0.7), [-0.7, -0.7, 0.7, 0.7, 0.7])


def test_clipping_to_domain():
    assert qd(7.3, 0.5, domain=(-1.0, 2.0)) == 2.0
    assert qs(-9.9, 0.5, rng=0, domain=(-1.0, 2.0)) == -1.0


@pytest.mark.parametrize("delta", [0.5, 0.1])
@pytest.mark.parametrize("w", [0.3, -1.37, 2.05])
def test_qs_unbiased_with_binomial_variance(delta, w):
    n = 400_000
    out = qs(np.full(n, w), delta, rng=7)
    lo = math.floor(w / delta) * delta
    q = w / delta - math.floor(w / delta)
    assert set(np.unique(np.round(out / delta)).tolist()) <= {round(lo / delta), round(lo / delta) + 1}
    var = delta**2 * q * (1 - q)
    # Mean: the sample mean has standard error sqrt(var/n); 5 standard errors bound a fixed-seed fluctuation
    # (two-sided probability 6e-7 of exceeding it).
    assert abs(out.mean() - w) < 5 * math.sqrt(var / n)
    # Variance: Qs = lo + Δ·Bernoulli(q), and (X − EX)² has variance Δ⁴ q(1−q)(1−2q)², so the sample variance has
    # standard error Δ² sqrt(q(1−q)(1−2q)²/n) (+ O(1/n) from estimating the mean); again 5 standard errors.
    se = delta**2 * math.sqrt(q * (1 - q) * (1 - 2 * q) ** 2 / n) + delta**2 / n
    assert abs(out.var() - var) < 5 * se


def test_qs_reproducible_and_keeps_grid_points():
    a = qs(np.linspace(-2, 2, 101), 0.25, rng=3)
    b = qs(np.linspace(-2, 2, 101), 0.25, rng=3)
    np.testing.assert_array_equal(a, b)
    grid = np.arange(-8, 9) * 0.25
    np.testing.assert_array_equal(qs(grid, 0.25, rng=1), grid)


@settings(max_examples=200, deadline=None)
@given(
    st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([0.5, 0.125, 1.0, 2.0]), st.floats(0, 1, exclude_max=True)
)
def test_rounding_lands_on_the_adjacent_grid_points(w, delta, p):
    d = float(qd(w, delta))
    assert abs(d - w) <= delta / 2 * (1 + 1e-12) + 1e-9
    assert abs(d / delta - round(d / delta)) < 1e-9
    s = float(qs(w, delta, p=p))
    assert abs(s - w) < delta * (1 + 1e-12) + 1e-9
    assert math.floor(w / delta) <= round(s / delta) <= math.floor(w / delta) + 1


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_delta(bad):
    with pytest.raises(SrchainError):
        qd(1.0, bad)
