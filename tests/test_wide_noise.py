"""Move laws when the noise is wide compared with a step (ασ/Δ ≫ 1), and the invariants every operator build checks.

At ``--sigma 1e16`` the excess form's second differences were rounding noise: ``srchain stationary`` returned a law
with 38% of its mass inside the box and ``dropped_mass`` 2.6 (residual 2e-16), where ``simulate`` puts everything on
the two faces. The move laws are now integrals of the density (:mod:`srchain.wide_moves`), checked here against
120-digit references, and every build refuses a law whose sums float64 did not resolve.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
import scipy.sparse as sp

from srchain.errors import SrchainError
from srchain.lattice import Lattice
from srchain.noise import make_noise
from srchain.operator_checks import check_dropped, check_move_laws, check_stochastic
from srchain.operators import move_laws, transition_matrix
from srchain.problems import get_problem
from srchain.simulate import simulate
from srchain.stationary import stationary
from srchain.wide_moves import WIDE, is_wide, wide_r_law, wide_sr_laws
from tests.cli_helpers import run


@pytest.fixture(autouse=True)
def _digits():
    """120 digits for every test here (differences of the excess at h = 1e-17·σ cancel ~35 of them), set per test:
    mpmath's precision is global, and other test modules set their own."""
    with mp.workdps(120):
        yield


TOY = get_problem("toy")
LAT = Lattice.from_domain(0.5, TOY.domain)  # 29 states on [−4, 10]
SIGMAS = [1e9, 1e10, 1e12, 1e16, 1e20]


def _gauss_excess(a, s):
    """E(a) = E[(a − ξ)⁺] − a⁺ for ξ ~ N(0, s²): s·ψ(−|z|), ψ(−t) = φ(t) − t·Q(t), z = a/s (small in both tails)."""
    t = abs(mp.mpf(a)) / s
    return s * (mp.npdf(t) - t * mp.ncdf(-t))


def _laplace_excess(a, b):
    return b / 2 * mp.exp(-abs(mp.mpf(a)) / b)


def _sr_reference(excess, a, h):
    """Pr(move j), Pr(Qs ≥ j), Pr(Qs ≤ j) = τ[Λ(a+h) − 2Λ(a) + Λ(a−h)], τ[Λ(a+h) − Λ(a)], τ[Υ(a−h) − Υ(a)]
    (τ = 1/h, Υ(a) = Λ(a) − a for mean-zero noise), with Λ = a⁺ + E split so that the differences of the small
    excess E and of the ramp a⁺ are taken separately, at 120 digits."""
    a, h = mp.mpf(a), mp.mpf(h)
    ep, e0, em = excess(a + h), excess(a), excess(a - h)
    pos = lambda x: x if x > 0 else mp.mpf(0)  # noqa: E731
    exact = ((ep - 2 * e0 + em) + pos(h - abs(a))) / h
    ge = ((ep - e0) + (pos(a + h) - pos(a))) / h
    le = ((em - e0) + (pos(h - a) - pos(-a))) / h
    return float(exact), float(ge), float(le)


@pytest.mark.parametrize("ratio", [WIDE, 1e-3, 1e-8, 1e-17])
@pytest.mark.parametrize("z", [0.0, 0.37, -2.5, 6.0, -11.0, 30.0])
def test_gaussian_wide_laws_have_full_relative_accuracy(ratio, z):
    # σ = 1, h = ratio; every probability, down to e^-450, to 1e-12 relative (exp(−z²/2) alone carries ~z²·eps)
    noise = make_noise("gaussian", sigma=1.0)
    assert is_wide(noise, ratio)
    exact, ge, le = wide_sr_laws(noise, np.array([z]), ratio)
    ref = _sr_reference(lambda a: _gauss_excess(a, 1), z, ratio)
    for got, want in zip((exact[0], ge[0], le[0]), ref, strict=True):
        assert got == pytest.approx(want, rel=1e-12, abs=0.0)


@pytest.mark.parametrize("ratio", [WIDE, 1e-6])
@pytest.mark.parametrize("z", [0.0, 0.004, -0.004, 3.0, -20.0])
def test_laplace_wide_laws_across_the_kink(ratio, z):
    # the Laplace density has a kink at 0: the rule is split there (z = ±0.004 puts it inside the interval)
    b = 2.0
    noise = make_noise("laplace", sigma=b)
    exact, ge, le = wide_sr_laws(noise, np.array([z * b]), ratio * b)
    ref = _sr_reference(lambda a: _laplace_excess(a, b), z * b, ratio * b)
    for got, want in zip((exact[0], ge[0], le[0]), ref, strict=True):
        assert got == pytest.approx(want, rel=1e-12, abs=0.0)


@pytest.mark.parametrize("z", [0.0, 1.5, -40.0])
def test_student_t_and_r_wide_laws_against_the_density_integral(z):
    # Student-t (ν = 3, scale 1e12): Pr(move j) = ∫_{−h}^{h} (h − |s|) f(a + s) ds / h, and R's (Eq. 4)
    # Pr(j − ½ ≤ u < j + ½) = F(b + h) − F(b), both by 120-digit quadrature of the density
    scale, nu, h = 1e12, 3.0, 5.0
    noise = make_noise("student-t", sigma=scale, nu=nu)
    a = z * scale
    c = mp.gamma((nu + 1) / 2) / (mp.gamma(nu / 2) * mp.sqrt(nu * mp.pi) * scale)

    def f(x):
        return c * (1 + (x / scale) ** 2 / nu) ** (-(nu + 1) / 2)

    want = mp.quad(lambda s: (h - abs(s)) * f(a + s), [-h, 0, h]) / h
    exact, _, _ = wide_sr_laws(noise, np.array([a]), h)
    assert exact[0] == pytest.approx(float(want), rel=1e-12, abs=0.0)
    want_r = mp.quad(f, [a, a + h])
    assert wide_r_law(noise, np.array([a]), h)[0] == pytest.approx(float(want_r), rel=1e-12, abs=0.0)


def test_below_the_threshold_the_excess_form_and_the_quadrature_agree():
    # just above h = σ/64 the excess form runs (relative error ≈ eps·64² ≈ 1e-12); the quadrature agrees there
    noise = make_noise("gaussian", sigma=2.0)
    alpha = 0.5
    lat = Lattice.from_domain(alpha * 2.0 * WIDE * 1.01, (-1.0, 1.0))
    h = lat.delta / alpha
    assert not is_wide(noise, h)
    targets, probs, J = move_laws(TOY, noise, lat, alpha)
    g = np.asarray(TOY.gradient(lat.points), dtype=np.float64).reshape(-1)
    i = lat.size // 2
    offs = np.arange(-J, J + 1)
    a = -g[i] - offs * h
    exact, _, _ = wide_sr_laws(noise, a, h)
    inside = (targets[i, 0] > 0) & (targets[i, 0] < lat.size - 1) & (probs[i, 0] > 1e-12)
    np.testing.assert_allclose(probs[i, 0][inside], exact[inside], rtol=1e-10)


@pytest.mark.parametrize("sigma", SIGMAS)
def test_rows_of_t_alpha_match_high_precision_move_laws(sigma):
    # every entry the operator keeps, to 1e-12 relative: the faces (≈ ½) and the interior moves (≈ Δ/(ασ√2π))
    alpha = 0.1
    op = transition_matrix(TOY, make_noise("gaussian", sigma=sigma), LAT, alpha)
    assert 0.0 <= op.dropped_mass <= 1.0
    h = LAT.delta / alpha
    g = np.asarray(TOY.gradient(LAT.points), dtype=np.float64).reshape(-1)
    n = LAT.size
    for i in (0, 7, n // 2, n - 1):
        row = op.P.getrow(i)
        exc = lambda a: _gauss_excess(a, sigma)  # noqa: E731
        ref = {}
        for j in range(n):
            ex, ge, le = _sr_reference(exc, -g[i] - (j - i) * h, h)
            ref[j] = le if j == 0 else ge if j == n - 1 else ex
        total = math.fsum(ref.values())  # the reference row before the operator's renormalisation
        for j, p in zip(row.indices, row.data, strict=True):
            assert p == pytest.approx(ref[j] / total, rel=1e-12), (i, j)


@pytest.mark.parametrize("sigma", SIGMAS)
def test_stationary_law_is_the_faces_law_of_the_simulator(sigma):
    # simulate: 64 chains × 4000 steps; every step lands on a face with probability 1 − O(Δ/(ασ)), left or right
    # with probability ½ ± O(L/(ασ)) whatever the state, so the visits are Bernoulli(½) draws, independent to
    # O(1e-8): the simulated share of the lower face is within 5 standard errors, 5·½/√N, of π's
    noise = make_noise("gaussian", sigma=sigma)
    res = stationary(transition_matrix(TOY, noise, LAT, 0.1).P)
    pi = res.pi
    interior = float(pi[1:-1].sum())
    assert interior < 5.0 * LAT.size * LAT.delta / (0.1 * sigma)  # each interior state: ≲ 2·½·Δ/(ασ√2π)
    assert abs(pi[0] - 0.5) < 1e-6 and abs(pi[-1] - 0.5) < 1e-6
    sim = simulate(TOY, noise, LAT, "sr", 0.1, 4000, chains=64, start=3.0, seed=11)
    counts = np.asarray(sim.counts, dtype=np.float64).reshape(-1)
    N = counts.sum()
    assert counts[1:-1].sum() == 0
    assert abs(counts[0] / N - pi[0]) < 5 * 0.5 / math.sqrt(N)


@pytest.mark.parametrize("noise", ["laplace", "student-t"])
@pytest.mark.parametrize("batch", [1, 4])
def test_other_continuous_noises_at_huge_scale(noise, batch):
    # the faces carry ½ each (the tabulated batch means are accurate to ~1e-5, their faces to ~1e-12 here)
    op = transition_matrix(TOY, make_noise(noise, sigma=1e16, batch=batch), LAT, 0.1)
    pi = stationary(op.P).pi
    assert abs(pi[0] - 0.5) < 1e-9 and abs(pi[-1] - 0.5) < 1e-9
    assert float(pi[1:-1].sum()) < 1e-14


def test_minibatch_noise_at_huge_scale_is_refused_naming_the_faces(capsys, tmp_path):
    # 16 perturbations of size ~1e16: every step jumps onto a face, so the faces form the one closed class
    code, _, err = run(
        ["stationary", "--noise", "minibatch", "--sigma", "1e16", "--quiet", "--json", str(tmp_path / "o.json")], capsys
    )
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "reducible" in lines[0] and "{0, 28}" in lines[0]


@pytest.mark.parametrize("sigma", ["1e9", "1e10", "1e12", "1e16", "1e20"])
def test_cli_stationary_at_large_sigma(sigma, capsys, tmp_path):
    import json

    out = tmp_path / "o.json"
    code, _, err = run(["stationary", "--alpha", "0.1", "--sigma", sigma, "--quiet", "--json", str(out)], capsys)
    assert code == 0, err
    r = json.loads(out.read_text())["results"][0]
    assert 0.0 <= r["dropped_mass"] <= 1.0
    pi = np.asarray(r["pi"])
    assert float(pi[1:-1].sum()) < 1e-6 and abs(pi[0] - 0.5) < 1e-6


def test_too_wide_for_float64_is_refused_in_one_line():
    # h·f(0) = 5·0.4/1.7e308 is below float64's smallest normal number: nothing can be resolved
    noise = make_noise("gaussian", sigma=1.7e308)
    with pytest.raises(SrchainError, match="float64 cannot resolve") as e:
        wide_sr_laws(noise, np.zeros(3), 5e-16)
    assert "\n" not in str(e.value)


def test_the_invariant_checks_refuse_in_one_line():
    probs = np.full((3, 1, 5), 0.2)
    check_move_laws(probs, 1e-14, 0, "T")
    probs[1, 0, 2] = 0.9  # a law summing to 1.7, as the old second differences gave at sigma = 1e16
    with pytest.raises(SrchainError, match="state 11 along axis 0 sums to 1.7") as e:
        check_move_laws(probs, 1e-14, 10, "T")
    assert "\n" not in str(e.value)
    probs[1, 0, 2] = 0.2 - 1e-6  # a law short by more than tol
    with pytest.raises(SrchainError):
        check_move_laws(probs, 1e-7, 0, "T")
    check_move_laws(probs, 1e-5, 0, "T")  # ... but within a larger stated error
    check_dropped(0.0, "T")
    check_dropped(1.0, "T")
    for bad in (2.6, -1e-6, float("nan")):
        with pytest.raises(SrchainError, match="outside"):
            check_dropped(bad, "T")
    P = sp.csr_matrix(np.array([[0.5, 0.5], [0.25, 0.75]]))
    check_stochastic(P, "T")
    for M, what in (([[0.5, 0.5], [-0.25, 1.25]], "negative entry in row 1"), ([[0.5, 0.6], [0.5, 0.5]], "row 0 sums")):
        with pytest.raises(SrchainError, match=what):
            check_stochastic(sp.csr_matrix(np.array(M)), "T")
    with pytest.raises(SrchainError, match="NaN"):
        check_stochastic(sp.csr_matrix(np.array([[np.nan, 1.0], [0.5, 0.5]])), "T")


@pytest.mark.parametrize("name", ["gaussian", "laplace", "student-t"])
def test_the_quadrature_is_blocked_and_masked_without_changing_a_bit(name, monkeypatch):
    """``_integral`` runs in blocks that keep its temporaries in cache, and the faces' Pr(Qs ≥ j), Pr(Qs ≤ j) are
    computed only where asked: both give the same bits as the whole array at once (element by element the same
    operations), whatever the block size."""
    import srchain.wide_moves as wm

    noise = make_noise(name, sigma=2.0)
    rng = np.random.default_rng(3)
    a = rng.normal(scale=4.0, size=(37, 2, 301))  # 22,274 offsets: several blocks of every size below
    a[0, 0, :5] = 0.0  # the split point at the node itself
    h = 0.02
    monkeypatch.setattr(wm, "_BLOCK", a.size)  # one block: the whole array
    whole = wide_sr_laws(noise, a, h)
    hs = rng.uniform(0.01, 0.05, size=a.shape)  # a step per element, as on a format's grid
    whole_h = wm._integral(noise.pdf, a, hs, -1.0, True)
    upper, lower = rng.random(a.shape) < 0.01, rng.random(a.shape) < 0.01
    for block in (999, 1 << 14):
        monkeypatch.setattr(wm, "_BLOCK", block)
        exact, ge, le = wide_sr_laws(noise, a, h, upper, lower)
        assert np.array_equal(exact, whole[0])
        assert np.array_equal(ge[upper], whole[1][upper]) and not ge[~upper].any()
        assert np.array_equal(le[lower], whole[2][lower]) and not le[~lower].any()
        assert np.array_equal(wm._integral(noise.pdf, a, hs, -1.0, True), whole_h)
