"""Noise models at their edges: standard deviations by hand, the tabulated batch-mean law's normalisation and
sampling, Theorem 5's two-sidedness at a support that touches 0, and the minibatch subset limit at its boundary."""

import math

import numpy as np
import pytest

from srchain import SrchainError
from srchain.noise import LaplaceNoise, MinibatchNoise, StudentTNoise, TabulatedNoise, make_noise


def test_standard_deviations_by_hand():
    # Laplace(0, b): variance 2b²; the mean of B samples: 2b²/B. Student-t(ν) scaled by s: s²ν/(ν − 2).
    assert LaplaceNoise(b=1.5).std == pytest.approx(1.5 * math.sqrt(2), rel=1e-15)
    assert make_noise("gaussian", sigma=3.0, batch=9).std == pytest.approx(1.0, rel=1e-15)
    assert StudentTNoise(scale=2.0, nu=5.0).std == pytest.approx(2.0 * math.sqrt(5 / 3), rel=1e-12)
    # the tabulated law of the mean of B samples (FFT convolution; 1e-10 of tail mass is neglected)
    assert make_noise("laplace", sigma=1.5, batch=2).std == pytest.approx(1.5, rel=1e-7)
    assert make_noise("laplace", sigma=1.5, batch=3).std == pytest.approx(1.5 * math.sqrt(2 / 3), rel=1e-7)


@pytest.mark.parametrize("name,batch", [("laplace", 2), ("student-t", 3)])
def test_tabulated_density_is_normalised_and_symmetric(name, batch):
    t = make_noise(name, sigma=1.5, nu=4.0, batch=batch)
    assert isinstance(t, TabulatedNoise)
    # normalised by its own trapezoid integral: 1 to rounding (the raw FFT density is off by ~1e-11)
    assert abs(np.trapezoid(t.density, t.grid) - 1.0) < 1e-14
    assert t.cdf(t.grid[-1] + 1.0) == 1.0 and t.cdf(t.grid[0] - 1.0) == 0.0
    assert t.cdf(0.0) == pytest.approx(0.5, abs=1e-12)
    a = np.array([0.3, 1.0, 2.5])
    np.testing.assert_allclose(t.cdf(a) + t.cdf(-a), 1.0, atol=1e-12)
    # E[(a − ξ̄)⁺] − E[(ξ̄ − a)⁺] = a (mean 0)
    np.testing.assert_allclose(t.lower_partial(a) - t.upper_partial(a), a, atol=1e-9)


@pytest.mark.parametrize("name,batch", [("laplace", 2), ("student-t", 3)])
def test_tabulated_sampling_draws_batch_means_of_the_right_spread(name, batch):
    # n draws of ξ̄ (each the mean of `batch` base samples). The sample variance's standard error is
    # sqrt((μ₄ − σ⁴)/n); with the excess kurtosis of the mean of B samples (Laplace: 3/B; student-t ν = 9: 6/((ν − 4)B))
    # it is at most σ²·sqrt((2 + 3)/n) for both here, and we allow 5 of those.
    t = make_noise(name, sigma=1.5, nu=9.0, batch=batch)
    n = 200_000
    x = t.sample(np.random.default_rng(4), n)
    assert x.shape == (n,)
    var, s2 = float(np.var(x)), t.std**2
    assert abs(var - s2) < 5 * s2 * math.sqrt(5 / n), (var, s2)
    assert abs(float(np.mean(x))) < 5 * t.std / math.sqrt(n)
    assert t.sample(np.random.default_rng(4), (3, 2)).shape == (3, 2)


def test_two_sided_needs_mass_strictly_on_both_sides_of_zero():
    # support {−1, 0}: no mass above 0, so Theorem 5's two-sidedness fails
    assert not MinibatchNoise.from_perturbations([-1.0, 0.0]).theorem5_assumptions()["two_sided"]
    assert not MinibatchNoise.from_perturbations([0.0, 1.0]).theorem5_assumptions()["two_sided"]
    assert MinibatchNoise.from_perturbations([-1.0, 1.0]).theorem5_assumptions()["two_sided"]
    # with gradients: g + min < 0 < g + max at every state; g = 1 with support {−1, 1} touches 0 from below
    mb = MinibatchNoise.from_perturbations([-1.0, 1.0])
    assert not mb.theorem5_assumptions(gradients=[1.0])["two_sided"]
    assert not mb.theorem5_assumptions(gradients=[-1.0])["two_sided"]
    assert mb.theorem5_assumptions(gradients=[0.999, -0.999])["two_sided"]


def test_minibatch_subset_limit_is_exclusive_at_its_boundary():
    # C(m, 1) = m: m = 2,000,001 subsets is one more than the default limit and is refused before any draw
    with pytest.raises(SrchainError, match="subsets"):
        MinibatchNoise.from_seed(1.0, samples=2_000_001, batch=1)
    with pytest.raises(SrchainError, match="subsets"):
        MinibatchNoise.from_perturbations(np.zeros(11), batch=5, max_subsets=461)  # C(11, 5) = 462
    assert MinibatchNoise.from_perturbations(np.arange(11.0), batch=5, max_subsets=462).weights.sum() == pytest.approx(
        1
    )


def test_describe_and_the_partial_expectation_beyond_the_table():
    assert make_noise("gaussian", sigma=2.0, batch=4).describe() == "gaussian(sigma=2, batch=4)"
    t = make_noise("laplace", sigma=1.0, batch=2)
    # above the tabulated range ξ̄ < a surely: E[(a − ξ̄)⁺] = a − E[ξ̄] = a (1e-10 of tail mass neglected)
    a = np.array([t.grid[-1] + 1.0, t.grid[-1] + 50.0])
    np.testing.assert_allclose(t.lower_partial(a), a, rtol=1e-9)
    np.testing.assert_allclose(t.upper_partial(a), 0.0, atol=1e-8)
