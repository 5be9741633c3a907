"""Noise models: closed-form expectations against quadrature and sampling."""

import math

import numpy as np
import pytest
from scipy import integrate, stats

from srchain import SrchainError
from srchain.noise import GaussianNoise, LaplaceNoise, MinibatchNoise, StudentTNoise, make_noise

CONTINUOUS = [
    (make_noise("gaussian", 2.0), stats.norm(scale=2.0)),
    (make_noise("gaussian", 2.0, batch=4), stats.norm(scale=1.0)),
    (make_noise("laplace", 1.5), stats.laplace(scale=1.5)),
    (make_noise("student-t", 1.0, nu=3.0), stats.t(3.0, scale=1.0)),
    (make_noise("student-t", 0.5, nu=2.5), stats.t(2.5, scale=0.5)),
]


@pytest.mark.parametrize("noise,law", CONTINUOUS, ids=lambda x: getattr(x, "name", ""))
@pytest.mark.parametrize("a", [-7.0, -1.3, 0.0, 0.4, 5.0])
def test_partial_expectations_match_quadrature(noise, law, a):
    lp = integrate.quad(lambda x: (a - x) * law.pdf(x), -np.inf, a, epsabs=1e-14, epsrel=1e-11, limit=200)[0]
    up = integrate.quad(lambda x: (x - a) * law.pdf(x), a, np.inf, epsabs=1e-14, epsrel=1e-11, limit=200)[0]
    assert float(noise.lower_partial(a)) == pytest.approx(lp, rel=1e-8, abs=1e-14)
    assert float(noise.upper_partial(a)) == pytest.approx(up, rel=1e-8, abs=1e-14)
    assert float(noise.cdf(a)) == pytest.approx(law.cdf(a), rel=1e-12)
    assert float(noise.sf(a)) == pytest.approx(law.sf(a), rel=1e-12)


def test_gaussian_tails_keep_relative_accuracy():
    g = GaussianNoise(sigma=1.0)
    for z in [10.0, 30.0, 100.0, 3000.0]:
        # E[(−z − ξ)⁺] = φ(z)·(1/z² − 3/z⁴ + 15/z⁶ − …) for large z: positive, never 0 or negative until underflow
        val = float(g.lower_partial(-z))
        ref = math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi) * (1 / z**2 - 3 / z**4 + 15 / z**6 - 105 / z**8)
        if ref > 1e-300:
            assert val == pytest.approx(ref, rel=1e-6)
        assert val >= 0


def test_batch_mean_of_laplace_matches_monte_carlo():
    noise = make_noise("laplace", 1.0, batch=3)
    x = LaplaceNoise(b=1.0).sample(np.random.default_rng(0), (400_000, 3)).mean(axis=1)
    for a in [-1.0, 0.0, 0.5]:
        mc = np.maximum(a - x, 0)
        # 5 standard errors of the Monte Carlo mean
        assert float(noise.lower_partial(a)) == pytest.approx(mc.mean(), abs=5 * mc.std() / math.sqrt(x.size))


def test_minibatch_law_is_exact():
    e = np.array([-3.0, -1.0, 0.5, 1.5, 2.0])
    noise = MinibatchNoise.from_perturbations(e, batch=2)
    vals, w = noise.support()
    assert w.sum() == pytest.approx(1.0)
    assert float(w @ vals) == pytest.approx(0.0, abs=1e-15)
    # variance of a without-replacement mean: (σ²/B)(m − B)/(m − 1), σ² the population variance
    assert float(w @ vals**2) == pytest.approx(e.var() / 2 * (5 - 2) / (5 - 1))
    full = MinibatchNoise.from_perturbations(e, batch=5)
    assert full.support()[0].tolist() == [0.0]
    s = noise.sample(np.random.default_rng(1), 200_000)
    assert s.mean() == pytest.approx(0.0, abs=5 * s.std() / math.sqrt(s.size))


def test_theorem5_assumptions():
    assert make_noise("gaussian", 1.0).theorem5_assumptions()["holds"]
    assert not StudentTNoise(scale=1.0, nu=1.5).theorem5_assumptions()["holds"]
    mb = MinibatchNoise.from_perturbations([-1.0, 1.0], batch=1)
    assert mb.theorem5_assumptions(gradients=[0.0, 0.5])["holds"]
    assert not mb.theorem5_assumptions(gradients=[0.0, 3.0])["two_sided"]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(name="cauchy"),
        dict(name="gaussian", sigma=0.0),
        dict(name="gaussian", sigma=-1.0),
        dict(name="student-t", nu=2.0),
        dict(name="gaussian", batch=0),
        dict(name="minibatch", samples=4, batch=5),
    ],
)
def test_bad_noise(kwargs):
    with pytest.raises(SrchainError):
        make_noise(**kwargs)
