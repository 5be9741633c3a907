"""Tests of srchain.simulate: simulated histograms against the exact laws, reproducibility, the jump sampler.

Tolerances (derivation used by ``_tv_tol``). For a stationary chain with relaxation time τ = 1/(1 − λ*) (λ* the
second-largest eigenvalue modulus of P), the variance of the empirical frequency of state i over N steps is at most
π_i(1 − π_i)·(1 + λ*)/((1 − λ*)N) ≤ π_i(1 − π_i)·2τ/N, i.e. N_eff ≥ N/(2τ) effective samples. Then
E[TV] = ½ Σ_i E|p̂_i − π_i| ≤ ½ Σ_i sqrt(π_i(1 − π_i)/N_eff), and we allow 4× that (Markov's inequality makes a
failure under 25% in the worst case; in practice the bound is loose by far more) plus the start-up bias, bounded by
(burn-in-free) τ·log(1/π_min-ish)/N_chain, which we keep small by a burn-in of 20τ.
"""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from srchain.lattice import Lattice
from srchain.noise import make_noise
from srchain.operators import transition_matrix
from srchain.problems import get_problem
from srchain.simulate import jump_chain, simulate, simulate_many
from srchain.stationary import stationary, tv

TOY = get_problem("toy")
LAT = Lattice.from_domain(0.5, TOY.domain)
CELLS = LAT.cells(TOY.minimizer)


def _relaxation(P):
    ev = np.sort(np.abs(np.linalg.eigvals(P.toarray())))[::-1]
    return 1.0 / (1.0 - ev[1])


def _tv_tol(pi, n_total, tau):
    n_eff = n_total / (2.0 * tau)
    return 4 * 0.5 * float(np.sum(np.sqrt(pi * (1 - pi) / n_eff)))


CASES = [  # (method, alpha, noise, sampler)
    ("sr", 0.1, ("gaussian", 2.0, 3.0), "step"),
    ("sr", 0.01, ("gaussian", 2.0, 3.0), "jump"),
    ("sr", 0.1, ("laplace", 1.5, 3.0), "step"),
    ("r", 0.1, ("student-t", 2.0, 3.0), "step"),
    ("r", 0.01, ("student-t", 2.0, 3.0), "jump"),
    ("sr", 0.2, ("minibatch", 12.0, 3.0), "step"),  # 16 samples, batches of 4 without replacement
]


@pytest.mark.parametrize("method,alpha,noise,sampler", CASES)
def test_simulated_histogram_matches_exact_law(method, alpha, noise, sampler):
    extra = {"samples": 16, "batch": 4} if noise[0] == "minibatch" else {}
    nz = make_noise(noise[0], sigma=noise[1], nu=noise[2], **extra)
    op = transition_matrix(TOY, nz, LAT, alpha, method=method)
    pi = stationary(op.P).pi
    tau = _relaxation(op.P)
    chains = 4
    steps = int(min(4e6 if sampler == "jump" else 1e6, max(2e5, 400 * tau)))
    if sampler == "jump":
        steps = int(max(steps, 4000 * tau))
    burn = int(20 * tau)
    r = simulate_many(
        TOY,
        nz,
        LAT,
        [(method, alpha)],
        steps,
        chains=chains,
        start=4.0,
        seed=1,
        burn_in=burn,
        sampler=sampler,
        operators={(method, alpha): op},
    )[0]
    tol = _tv_tol(pi, steps * chains, tau)
    assert r.counts.sum() == steps * chains
    assert tv(r.freq, pi) < tol, (tv(r.freq, pi), tol, tau)


def test_jump_sampler_agrees_with_stepping_at_small_alpha():
    nz = make_noise("gaussian", sigma=2.0)
    op = transition_matrix(TOY, nz, LAT, 0.001, method="sr")
    tau = _relaxation(op.P)
    steps, chains = 2_000_000, 4
    step = simulate(TOY, nz, LAT, "sr", 0.001, steps, chains=chains, start=4.0, seed=3)
    jump = jump_chain(TOY, nz, LAT, "sr", 0.001, steps, chains=chains, start=4.0, seed=4, operator=op)
    pi = stationary(op.P).pi
    # both are estimates of the same law from the same start; each is within _tv_tol of its mean (incl. start bias)
    tol = 2 * _tv_tol(pi, steps * chains, tau) + 2 * tau / steps
    assert tv(step.freq, jump.freq) < tol, (tv(step.freq, jump.freq), tol)
    assert jump.sampler == "jump" and jump.counts.sum() == steps * chains


def test_same_seed_same_histogram_and_chain_streams_independent_of_chain_count():
    nz = make_noise("gaussian", sigma=2.0)
    a = simulate(TOY, nz, LAT, "sr", 0.1, 20000, chains=3, start=4.0, seed=7)
    b = simulate(TOY, nz, LAT, "sr", 0.1, 20000, chains=3, start=4.0, seed=7)
    c = simulate(TOY, nz, LAT, "sr", 0.1, 20000, chains=5, start=4.0, seed=7)
    d = simulate(TOY, nz, LAT, "sr", 0.1, 20000, chains=3, start=4.0, seed=8)
    np.testing.assert_array_equal(a.counts, b.counts)
    # chain c's stream is SeedSequence(seed).spawn(...)[c] whatever the number of chains: identical rows
    np.testing.assert_array_equal(a.chain_counts, c.chain_counts[:3])
    assert not np.array_equal(a.counts, d.counts)
    # a run's histogram does not depend on the other runs simulated with it
    many = simulate_many(TOY, nz, LAT, [("bc", 0.1), ("sr", 0.1), ("r", 1.0)], 20000, chains=3, start=4.0, seed=7)
    np.testing.assert_array_equal(many[1].counts, a.counts)


def test_r_with_small_alpha_and_light_tails_never_moves():
    nz = make_noise("gaussian", sigma=2.0)
    r = simulate(TOY, nz, LAT, "r", 0.001, 200_000, chains=2, start=4.0)
    start = LAT.nearest(np.array([4.0])).item()
    assert r.counts[start] == r.counts.sum()
    np.testing.assert_allclose(r.final, 4.0)


def test_bc_sgd_and_bc_qs_run_and_stay_in_the_box():
    nz = make_noise("gaussian", sigma=2.0)
    for m in ("bc", "sgd"):
        r = simulate(TOY, nz, LAT, m, 0.5, 5000, chains=2, start=4.0)
        assert r.counts.sum() == 10000 and r.latent_counts.sum() == 10000
        assert np.all((r.final >= -4) & (r.final <= 10))
    q = simulate(TOY, nz, LAT, "bc", 0.01, 50_000, chains=2, start=4.0, bc_quantizer="qs")
    assert q.quantizer == "qs" and q.mass(CELLS) > 0.5


@pytest.mark.parametrize("noise", [("minibatch", 2.0), ("student-t", 1.0), ("laplace", 1.0)])
def test_other_noise_models_simulate(noise):
    nz = make_noise(noise[0], sigma=noise[1], batch=2)
    r = simulate(TOY, nz, LAT, "sr", 0.1, 20000, chains=2, start=4.0)
    assert r.counts.sum() == 40000


def test_separable_problem_runs_in_two_dimensions():
    p = get_problem("separable", dim=2)
    lat = Lattice.from_domain(0.5, p.domain, dim=2)
    nz = make_noise("gaussian", sigma=2.0)
    op = transition_matrix(TOY, nz, LAT, 0.1, method="sr")
    pi, tau = stationary(op.P).pi, _relaxation(op.P)
    steps, chains = 200_000, 2
    r = simulate(p, nz, lat, "sr", 0.1, steps, chains=chains, start=4.0, burn_in=int(20 * tau))
    # each coordinate is an independent copy of the 1-D chain (separable objective, independent noise), so each
    # marginal of the d-dimensional kernel's histogram estimates the 1-D law π with the 1-D chain's tolerance
    law = r.freq.reshape(lat.shape)
    for marg in (law.sum(axis=1), law.sum(axis=0)):
        assert tv(marg, pi) < _tv_tol(pi, steps * chains, tau), (tv(marg, pi), _tv_tol(pi, steps * chains, tau))


@pytest.mark.parametrize(
    "kwargs", [dict(steps=0), dict(chains=0), dict(start=20.0), dict(alpha=0.0), dict(alpha=-1.0), dict(burn_in=-1)]
)
def test_bad_arguments_raise_srchain_error(kwargs):
    from srchain.errors import SrchainError

    base = dict(method="sr", alpha=0.1, steps=10, chains=1, start=4.0)
    base.update(kwargs)
    with pytest.raises(SrchainError):
        simulate(TOY, make_noise("gaussian", sigma=2.0), LAT, **base)


@pytest.mark.parametrize(
    "argv", [["--steps", "-5"], ["--chains", "0"], ["--start", "20"], ["--alpha", "0"], ["--alpha", "-0.1"]]
)
def test_cli_bad_input_exits_2_with_one_line(argv, capsys):
    from srchain.cli import main

    try:
        rc = main(["simulate", "--steps", "100"] + argv)
    except SystemExit as exc:
        rc = exc.code
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and err.startswith("srchain")


def test_cli_simulate_json(tmp_path):
    import json

    from srchain.cli import main

    out = tmp_path / "sim.json"
    rc = main(
        [
            "simulate",
            "--method",
            "sr",
            "bc",
            "--alpha",
            "1",
            "0.01",
            "--steps",
            "5000",
            "--chains",
            "2",
            "--start",
            "4.0",
            "--json",
            str(out),
            "--quiet",
        ]
    )
    assert rc == 0
    d = json.loads(out.read_text())
    assert d["command"] == "simulate" and d["steps"] == 5000 and d["chains"] == 2 and d["start"] == [4.0]
    assert [(r["method"], r["alpha"]) for r in d["results"]] == [("sr", 1.0), ("sr", 0.01), ("bc", 1.0), ("bc", 0.01)]
    for r in d["results"]:
        assert len(r["states"]) == len(r["counts"]) == 29 and sum(r["counts"]) == 10000


def _reference_chain(method, gen, G, ad, sigma, nmax, v, steps):
    """One chain in plain Python from the NumPy generator ``gen``: ``(counts, final state in lattice units)``.
    SR and R in the kernels' fixed point (T[q] and r as integer multiples of 2^-F, floor by shift), BC in float64."""
    from srchain.simulate.kernels_1d import _ZIGGURAT_MAX, _fixed_table

    T = -ad * G + (np.arange(G.size) if method in ("sr", "r") else 0.0)
    Tf, F, S, K = _fixed_table(T, nmax, 1.0 + _ZIGGURAT_MAX * ad * sigma)
    q = min(int(v + 0.5), int(nmax))
    counts = np.zeros(G.size, dtype=np.int64)
    for _ in range(steps):
        e = ad * sigma * gen.standard_normal()
        if method in ("sr", "r"):
            # Qs(y) = ⌊y + U⌋, Qd(y) = ⌊y + ½⌋; int() truncates as the kernel's conversion does
            r = (gen.random() if method == "sr" else 0.5) - e
            x = int(Tf[q]) + int(min(max(r, -K), K) * S)
            q = min(max(x >> F, 0), int(nmax))
        else:
            v = min(max(v + (T[q] - e), 0.0), nmax)
            q = int(np.rint(v))  # Qd(v) = ⌊v + ½⌋ = rint(v) but for exact ties (probability ~1e-16), to even
        counts[q] += 1
    return counts, (q if method != "bc" else v)


@pytest.mark.parametrize("methods,chains", [(["sr"], 3), (["r"], 3), (["bc"], 3), (["bc", "sr", "r"], 1)])
def test_kernel_draws_numpys_stream_step_by_step(methods, chains):
    """The kernels draw, for chain c, exactly Generator(PCG64(SeedSequence(seed).spawn(n)[c])).standard_normal()
    then .random() (SR only) per step: a plain Python loop over those draws gives the same histogram and end.
    Three chains of one method take the two-chain and the one-chain fast paths; one chain each of BC, SR and R
    are paired across runs and take the general loop."""
    from srchain.simulate import make_generators

    alpha, sigma, steps, seed = 0.3, 2.0, 3000, 11
    results = simulate_many(
        TOY,
        make_noise("gaussian", sigma=sigma),
        LAT,
        [(m, alpha) for m in methods],
        steps,
        chains=chains,
        start=4.0,
        seed=seed,
    )
    G = TOY.gradient(LAT.points)[:, 0]
    ad, nmax, v0 = alpha / LAT.delta, LAT.size - 1.0, (4.0 - LAT.lo[0]) / LAT.delta
    for m, res in zip(methods, results, strict=True):
        for c, gen in enumerate(make_generators(seed, chains)):
            counts, end = _reference_chain(m, gen, G, ad, sigma, nmax, v0, steps)
            np.testing.assert_array_equal(res.chain_counts[c], counts)
            assert res.final[c, 0] == LAT.lo[0] + LAT.delta * end


@settings(max_examples=300, deadline=None)
@given(
    T=st.lists(st.floats(-60, 60, allow_nan=False), min_size=1, max_size=12),
    r=st.floats(-1e6, 1e6, allow_nan=False),
    data=st.data(),
)
def test_fixed_point_step_is_the_exact_clipped_floor(T, r, data):
    """SR/R's fixed-point step (_fixed_step) equals clip(⌊T[q] + r⌋) computed in exact rationals, whenever the
    exact sum is not within 2·2^-F of an integer (the two truncations to 2^-F err by less than that)."""
    from fractions import Fraction

    from srchain.simulate.kernels_1d import _fixed_step, _fixed_table

    T = np.array(T)
    nmax = float(T.size - 1)
    q = data.draw(st.integers(0, T.size - 1))
    Tf, F, S, K = _fixed_table(T, nmax, np.inf)
    y = Fraction(float(T[q])) + Fraction(r)
    frac = y - math.floor(y)
    assume(min(frac, 1 - frac) > Fraction(2, 2**F))
    assert _fixed_step(Tf, q, r, F, S, K, T.size - 1) == min(max(math.floor(y), 0), T.size - 1)
