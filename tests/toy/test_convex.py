"""Convex theory, checked (issue 4): problems, the SGD/R/SR/BC kernels, Lemma 1, Theorems 1-4, Corollary 1, CLI."""

import json
import math

import numpy as np
import pytest
from srchain.toy import convex as cv
from srchain.toy.convex_problems import full_grad_kernel, get_convex_problem

from srchain import SrchainError
from srchain import bounds as bnd
from srchain.cli import main
from srchain.problems import get_problem


@pytest.fixture(scope="module")
def quad():
    return get_convex_problem("quadratic")


@pytest.fixture(scope="module")
def logi():
    return get_convex_problem("logistic")


@pytest.fixture(scope="module")
def weak():
    return get_convex_problem("weakly-convex")


def G_of(p, batch=1):
    return math.sqrt(p.g_squared(batch)[0])


# ------------------------------------------------------------------------------------------------ problems
@pytest.mark.parametrize("name", ["quadratic", "logistic", "weakly-convex"])
def test_problem_is_registered_and_consistent(name):
    prob = get_problem(name, dim=6)
    cp = prob.extra["convex"]
    assert prob.dim == cp.dim == 6 and prob.extra["mu"] == cp.mu
    rng = np.random.default_rng(1)
    w = rng.uniform(-3, 3, (5, 6))
    eps = 1e-6
    fd = np.stack([(cp.value(w + eps * e) - cp.value(w - eps * e)) / (2 * eps) for e in np.eye(6)], axis=-1)
    np.testing.assert_allclose(cp.gradient(w), fd, rtol=1e-6, atol=1e-7)
    out = np.empty(6)
    full_grad_kernel(w[0], prob.params, out)
    np.testing.assert_allclose(out, cp.gradient(w[0]), rtol=1e-12, atol=1e-12)
    # w* minimises F over the box: zero gradient (interior) and F(w*) = f_star
    np.testing.assert_allclose(cp.gradient(cp.minimizer), 0, atol=1e-9)
    assert cp.value(cp.minimizer) == pytest.approx(cp.f_star, abs=1e-12)


def test_constants_are_what_the_problems_say(quad, logi, weak):
    H = quad.A.T @ quad.A / quad.m + quad.lam * np.eye(quad.dim)
    ev = np.linalg.eigvalsh(H)
    assert (quad.mu, quad.L, quad.L2) == (pytest.approx(ev[0]), pytest.approx(ev[-1]), 0.0)
    assert weak.mu == 0 and weak.f_star == 0 and weak.m < weak.dim
    assert logi.mu == logi.lam and logi.L2 > 0
    # logistic L₂: ‖∇²f_i(x) − ∇²f_i(y)‖ = |σ'(z_x) − σ'(z_y)|·‖a‖² ≤ L₂‖x − y‖, checked on random pairs
    rng = np.random.default_rng(2)
    i = int(np.argmax(np.linalg.norm(logi.A, axis=1)))
    a = logi.A[i]
    sp = lambda z: 0.25 / np.cosh(z / 2) ** 2  # noqa: E731  σ'
    for _ in range(200):
        x, y = rng.uniform(-4, 4, (2, logi.dim))
        lhs = abs(sp(a @ x) - sp(a @ y)) * (a @ a)
        assert lhs <= logi.L2 * np.linalg.norm(x - y) + 1e-12
    assert quad.diameter == pytest.approx(8 * math.sqrt(10))


@pytest.mark.parametrize("name,batch", [("quadratic", 1), ("quadratic", 4), ("weakly-convex", 1), ("logistic", 1)])
def test_G2_is_an_upper_bound_of_the_second_moment_on_the_box(name, batch):
    p = get_convex_problem(name, dim=6)
    G2, how = p.g_squared(batch)
    rng = np.random.default_rng(3)
    W = rng.uniform(p.domain[:, 0], p.domain[:, 1], (300, p.dim))
    W[:50] = np.where(rng.random((50, p.dim)) < 0.5, p.domain[:, 0], p.domain[:, 1])  # vertices too
    # E over a batch of B with replacement: (1 − 1/B)‖∇F‖² + (1/B) mean_i ‖∇f_i‖²
    z = W @ p.A.T
    s = (z - p.b) if p.kind == 0 else -p.b / (1 + np.exp(p.b * z))
    gi = s[:, :, None] * p.A[None] + p.lam * W[:, None, :]
    second = (1 - 1 / batch) * np.sum(gi.mean(1) ** 2, -1) + np.mean(np.sum(gi**2, -1), 1) / batch
    assert second.max() <= G2 * (1 + 1e-12)
    if how.startswith("exact"):  # attained at a vertex
        d = p.dim
        bits = (np.arange(2**d)[:, None] >> np.arange(d)) & 1
        V = np.where(bits == 1, p.domain[:, 1], p.domain[:, 0])
        z = V @ p.A.T
        gi = (z - p.b)[:, :, None] * p.A[None] + p.lam * V[:, None, :]
        sv = (1 - 1 / batch) * np.sum(gi.mean(1) ** 2, -1) + np.mean(np.sum(gi**2, -1), 1) / batch
        assert sv.max() == pytest.approx(G2, rel=1e-10)


def test_data_come_from_the_seed():
    a, b = get_convex_problem("logistic", data_seed=5), get_convex_problem("logistic", data_seed=5)
    np.testing.assert_array_equal(a.A, b.A)
    assert not np.array_equal(a.A, get_convex_problem("logistic", data_seed=6).A)


# ------------------------------------------------------------------------------------------------ kernels
@pytest.mark.parametrize("method", cv.METHODS)
def test_numba_kernel_equals_the_python_reference(method, quad, logi):
    for p, sched, batch in [
        (quad, cv.Schedule("strong", mu=quad.mu), 1),
        (quad, cv.Schedule("sqrt", c=0.3), 3),
        (logi, cv.Schedule("strong", mu=logi.mu), 2),
    ]:
        run = cv.run_convex(p, method, 0.25, 400, 3, sched, seed=11, batch=batch)
        states = cv.seed_states(11, 3)
        for k in range(3):
            avg, avg_q = cv.run_python(p, method, 0.25, 400, sched, cv.XoshiroPy(states[k]), batch=batch)
            np.testing.assert_allclose(run.average[k], avg, rtol=0, atol=1e-10)
            np.testing.assert_allclose(run.average_q[k], avg_q, rtol=0, atol=1e-10)


def test_xoshiro_streams_are_uniform_and_match_python():
    st = cv.seed_states(0, 2)
    py = cv.XoshiroPy(st[0])
    x = py.random(20000)
    # mean of 20000 U[0,1): sd 1/√(12·20000) ≈ 0.002; 5 sd
    assert abs(x.mean() - 0.5) < 0.01 and x.min() >= 0 and x.max() < 1


def test_same_seed_same_result_other_seed_other_result(quad):
    s = cv.Schedule("strong", mu=quad.mu)
    a = cv.run_convex(quad, "sr", 0.25, 3000, 6, s, seed=4)
    b = cv.run_convex(quad, "sr", 0.25, 3000, 6, s, seed=4)
    c = cv.run_convex(quad, "sr", 0.25, 3000, 6, s, seed=5)
    np.testing.assert_array_equal(a.errors, b.errors)
    assert not np.array_equal(a.errors, c.errors)
    # seed k's stream does not depend on how many seeds run beside it
    d = cv.run_convex(quad, "sr", 0.25, 3000, 3, s, seed=4)
    np.testing.assert_array_equal(a.errors[:3], d.errors)


def test_iterates_stay_on_the_grid_and_in_the_box(quad):
    s = cv.Schedule("strong", mu=quad.mu)
    for m in ("r", "sr"):
        run = cv.run_convex(quad, m, 0.5, 50, 8, s, seed=0)  # early steps are huge: clipping is active
        np.testing.assert_allclose(run.final / 0.5, np.round(run.final / 0.5), atol=1e-12)
        assert np.all(np.abs(run.final) <= 4.0)


# ------------------------------------------------------------------------------------------------ Lemma 1
def test_lemma1_holds_on_every_iteration(quad):
    """Lemma 1: E‖r_t‖² ≤ √d Δ α_t G, checked at every t = 1..T on the average over n seeds.

    Margin: at fixed t the n values X_s = ‖r_t‖² are iid (independent seeds) with 0 ≤ X ≤ M = dΔ² (each
    |r_i| ≤ Δ). If Lemma 1 holds, E X ≤ b_t and Var X ≤ E X² ≤ M b_t; Bernstein's inequality gives
    P(X̄ − E X ≥ ε) ≤ exp(−n ε² / (2 M b_t + 2 M ε / 3)). With a union bound over the T iterations and a total
    false-alarm probability δ = 1e-6, ε_t solves n ε² = ℓ (2 M b_t + 2 M ε/3), ℓ = log(T/δ).
    """
    n, T, delta = 400, 3000, 0.25
    G = G_of(quad)
    run = cv.run_convex(quad, "sr", delta, T, n, cv.Schedule("strong", mu=quad.mu), seed=21, trace=T)
    tr = run.traces
    bt = bnd.lemma1(quad.dim, delta, tr["alpha"], G)
    M = quad.dim * delta**2
    ell = math.log(T / 1e-6)
    a = 2 * ell * M / 3
    eps = (a + np.sqrt(a * a + 4 * n * ell * 2 * M * bt)) / (2 * n)
    xbar = tr["r2"].mean(axis=0)
    assert np.all(xbar <= bt + eps)
    # Measured: the worst ratio X̄_t / b_t over t is about 0.09 (G is the supremum over the whole box, while
    # ‖∇f̃‖ near w* is far smaller), so Lemma 1 holds with a factor ≈ 10 to spare on this problem.
    assert np.max(xbar / bt) < 0.2
    # The check has power: the margin ε_t is below b_t itself for t ≤ 700 (measured: up to t ≈ 760), so a
    # rounding error twice Lemma 1's right-hand side on those iterations would fail it.
    assert np.all(eps[:700] < bt[:700])
    # Eq. 11, E_p‖r_t‖² = Δ² Σ q_i(1 − q_i) given the past (exact for Qs): the realised ‖r_t‖² minus its
    # conditional mean is a martingale difference with conditional variance ≤ M·Δ²Σq(1−q); the sum over all
    # (s, t) has sd ≤ √(M Σ qq). A biased or mis-scaled rounding fails this at 5 sd.
    diff = float(np.sum(tr["r2"] - tr["qq"]))
    assert abs(diff) <= 5 * math.sqrt(M * tr["qq"].sum())
    assert np.all(tr["qq"] <= tr["g1"] * (1 + 1e-12) + 1e-15)  # q(1−q)Δ² ≤ Δ|α g| per coordinate


def test_lemma1_time_average_in_sweep(quad):
    s = cv.Schedule("strong", mu=quad.mu)
    recs, _, _ = cv.sweep(quad, ["sr"], [0.5, 0.125], 5000, 20, s)
    for r in recs:
        assert r["lemma1"]["holds"] and r["lemma1"]["measured"] > 0


# ------------------------------------------------------------------------------------------------ theorems
@pytest.mark.parametrize(
    "name,kind",
    [
        ("quadratic", "strong"),
        ("logistic", "strong"),
        ("weakly-convex", "sqrt"),
        ("quadratic", "sqrt"),
        ("logistic", "sqrt"),
    ],
)
def test_each_theorem_holds_for_several_deltas(name, kind):
    p = get_convex_problem(name)
    G = G_of(p)
    sched = cv.Schedule("strong", mu=p.mu) if kind == "strong" else cv.Schedule("sqrt", c=cv.default_c(p, G))
    recs, _, _ = cv.sweep(p, ["sgd", "sr", "bc", "bc-qs"], [0.5, 0.25, 0.125], 20000, 16, sched, seed=3, G=G)
    checked = set()
    for r in recs:
        for k, v in r["bounds"].items():
            if v is None:
                continue
            checked.add(k)
            # the upper end of the 95% CI, not only the mean, is below each bound (printed and as proved)
            assert r["error_ci"][1] <= v, (r["method"], r["delta"], k)
            if r["bounds_proved"][k] is not None:
                assert r["error_ci"][1] <= r["bounds_proved"][k]
    want = {"strong": {"theorem1", "theorem4"}, "sqrt": {"theorem2", "theorem3"}}[kind]
    assert want <= checked
    if name == "quadratic" and kind == "strong":
        assert "corollary1" in checked


@pytest.mark.parametrize("kind", ["strong", "sqrt"])
def test_sr_is_told_from_r_under_theorems_1_and_2(quad, kind):
    """Theorems 1 and 2 bound SR's error from above only, and R (2.13 at Δ = 0.5) sits below Theorem 1's bound
    (46.2) too, so the bounds alone cannot tell SR from R. SR keeps moving (E[Qs(y)] = y: the gradient is not lost)
    while R freezes once α_t|g| < Δ/2: on the same seeds SR's error is below R's beyond both 95% CIs, at every Δ."""
    G = G_of(quad)
    sched = cv.Schedule("strong", mu=quad.mu) if kind == "strong" else cv.Schedule("sqrt", c=cv.default_c(quad, G))
    for delta in (0.5, 0.25):
        sr = cv.summarize(quad, cv.run_convex(quad, "sr", delta, 20000, 16, sched, seed=3), G)
        r = cv.summarize(quad, cv.run_convex(quad, "r", delta, 20000, 16, sched, seed=3), G)
        assert sr["error_ci"][1] < r["error_ci"][0], (delta, sr["error_ci"], r["error_ci"])


def test_sr_floor_grows_with_delta_and_does_not_vanish(quad):
    s = cv.Schedule("strong", mu=quad.mu)
    deltas = [0.5, 0.25, 0.125, 0.0625]
    runs = [cv.run_convex(quad, "sr", d, 100_000, 24, s, seed=8) for d in deltas]
    err = np.array([r.errors.mean() for r in runs])
    se = np.array([r.errors.std(ddof=1) / math.sqrt(r.errors.size) for r in runs])
    assert np.all(np.diff(err) < -2 * (se[:-1] + se[1:]))  # strictly larger for larger Δ, beyond 2 s.e.
    sgd = cv.run_convex(quad, "sgd", None, 100_000, 24, s, seed=8)
    big = runs[0]
    i10k = int(np.searchsorted(big.ck_steps, 10_000))
    # Δ = 0.5: the error at T = 1e5 is no smaller than at T ≈ 1e4 (it stalled) and 1000× SGD's
    assert big.ck_errors[:, -1].mean() >= 0.8 * big.ck_errors[:, i10k].mean()
    assert big.errors.mean() > 1000 * sgd.errors.mean()
    # Slope of the floor against Δ on a log-log scale. Measured here (24 seeds, T = 1e5, Δ = 0.5 … 0.0625):
    # about 1.5; the bound's floor √dΔG/2 has slope 1. The floor grows faster than linearly: at large Δ the
    # iterates freeze on grid points near w* (F(q) − F* ~ (L/2)‖q − w*‖² ~ Δ²); at small Δ SR behaves like SGD
    # with rounding noise of variance ≈ Δα‖g‖₁ per step, whose stationary spread is ∝ Δ (slope 1). The
    # measured slope sits between the two regimes. We assert the measurement, not the bound's slope.
    slope = cv.floor_slope(deltas, err)
    assert 1.2 < slope < 1.9, slope


def test_corollary1_bc_converges_to_w_star_while_sr_stalls(quad):
    s = cv.Schedule("strong", mu=quad.mu)
    bc = cv.run_convex(quad, "bc-qs", 0.5, 100_000, 16, s, seed=9)
    sr = cv.run_convex(quad, "sr", 0.5, 100_000, 16, s, seed=9)
    ck = bc.ck_steps
    i1k = int(np.searchsorted(ck, 1000))
    e_bc = bc.ck_errors.mean(0)
    assert e_bc[-1] < e_bc[i1k] / 100  # keeps converging
    assert np.all(bc.errors <= bnd.corollary1(bc.steps, G_of(quad), quad.mu))
    assert np.linalg.norm(bc.average.mean(0) - quad.minimizer) < 0.02
    assert sr.errors.mean() > 1000 * bc.errors.mean()
    assert sr.ck_errors.mean(0)[-1] > 0.5 * sr.ck_errors.mean(0)[i1k]  # SR's does not
    # BC is not SGD: its gradients are taken at Q(w_r), not at w_r. Per step the difference Qs(w_r) − w_r has mean
    # 0 and variance Δ²q(1 − q) ≤ Δ²/4 per coordinate (q the fractional part), nearly independent across steps, so
    # each coordinate of the average of Q(w_r) minus the average of w_r is ~N(0, s²) with s ≤ Δ/(2√T). Over
    # 16 seeds × d coordinates the RMS of that difference is then at most Δ/(2√T) up to sampling error (+50% is
    # > 5 standard errors of an RMS over ≥ 32 draws) and positive; SGD (gradient at w_r) gives exactly 0.
    diff = bc.average_q - bc.average
    rms = float(np.sqrt(np.mean(diff**2)))
    assert 0.05 * 0.5 / (2 * math.sqrt(bc.steps)) < rms < 1.5 * 0.5 / (2 * math.sqrt(bc.steps)), rms


def test_bc_with_deterministic_rounding_violates_corollary1_as_printed(quad):
    """The paper says BC's results hold for Qd too; Corollary 1's proof needs E[r_t] = 0 (Qs). With Qd the
    average of w_r stalls near cell boundaries (error ≈ 0.11 at Δ = 0.5), while the bound (1+log(T+1))G²/(2μT)
    falls to 0.038 at T = 1e6: measured > bound. The average of Qd(w_r) itself still converges."""
    s = cv.Schedule("strong", mu=quad.mu)
    run = cv.run_convex(quad, "bc", 0.5, 1_000_000, 8, s, seed=10)
    bound = bnd.corollary1(run.steps, G_of(quad), quad.mu)
    assert run.errors.mean() > 2 * bound
    assert run.errors_q.mean() < bound / 10


def test_r_with_small_steps_does_not_move(quad):
    """R loses the gradient: if α_t |∂_k f_i| < Δ/2 everywhere, Qd(w − α g) = w for w on the grid."""
    delta = 0.25
    A, b, lam, R = quad.A, quad.b, quad.lam, 4.0
    gmax = float(np.max(np.abs(A) * (np.abs(A).sum(1, keepdims=True) * R + np.abs(b)[:, None])) + lam * R)
    c = 0.4 * delta / gmax  # α_t = c/√t ≤ c, so |α g| < 0.4Δ
    s = cv.Schedule("sqrt", c=c)
    r = cv.run_convex(quad, "r", delta, 20_000, 8, s, seed=1)
    assert np.all(r.final == 0.0) and np.all(r.average == 0.0)
    sr = cv.run_convex(quad, "sr", delta, 20_000, 8, s, seed=1)
    assert np.any(sr.final != 0.0)


def test_batch_lowers_G_and_runs(quad):
    assert quad.g_squared(8)[0] < quad.g_squared(1)[0]
    s = cv.Schedule("strong", mu=quad.mu)
    one = cv.run_convex(quad, "sgd", None, 5000, 16, s, seed=2, batch=1)
    eight = cv.run_convex(quad, "sgd", None, 5000, 16, s, seed=2, batch=8)
    assert eight.errors.mean() < one.errors.mean()


# ------------------------------------------------------------------------------------------------ CLI
@pytest.mark.parametrize(
    "argv",
    [
        ["--delta", "0"],
        ["--delta", "-0.5"],
        ["--steps", "0"],
        ["--problem", "nope"],
        ["--problem", "weakly-convex", "--schedule", "strong"],
        ["--theorem", "1", "--schedule", "sqrt"],
        ["--theorem", "3", "--schedule", "strong"],
        ["--theorem", "corollary1", "--problem", "logistic"],
        ["--seeds", "0"],
        ["--method", "adam"],
        ["--c", "0"],
    ],
)
def test_bad_input_exits_2_with_one_line(argv, capsys):
    try:
        rc = main(["convex", "--quiet", "--steps", "10", "--seeds", "2"] + argv)
    except SystemExit as exc:
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("srchain")


def test_cli_json_schema_and_plot(tmp_path, capsys):
    out, png = tmp_path / "c.json", tmp_path / "c.png"
    rc = main(
        [
            "convex",
            "--problem",
            "quadratic",
            "--method",
            "sr",
            "bc",
            "r",
            "sgd",
            "--delta",
            "0.5",
            "0.25",
            "--steps",
            "2000",
            "--seeds",
            "4",
            "--quiet",
            "--json",
            str(out),
            "--plot",
            str(png),
        ]
    )
    assert rc == 0 and png.stat().st_size > 1000
    data = json.loads(out.read_text())
    assert data["command"] == "convex" and data["constants"]["G2"] > 0 and data["constants"]["G2_how"]
    assert len(data["results"]) == 2 * 3 + 1
    for r in data["results"]:
        assert {"method", "delta", "steps", "error_mean", "error_ci", "bounds", "holds"} <= set(r)
        assert set(r["bounds"]) == set(r["holds"]) == {"theorem1", "theorem2", "theorem3", "theorem4", "corollary1"}
        assert r["error_ci"][0] <= r["error_mean"] <= r["error_ci"][1]
    sr = [r for r in data["results"] if r["method"] == "sr"][0]
    assert sr["bounds"]["theorem1"] > 0 and sr["holds"]["theorem1"] is True and sr["bounds"]["theorem2"] is None
    assert "theorem1" in capsys.readouterr().out
    assert data["slopes"]["sr"]["bound_theorem1"] < 1  # the whole bound is sub-linear in Δ


def test_cli_theorem_option_and_sqrt_schedule(tmp_path):
    out = tmp_path / "c.json"
    rc = main(
        [
            "convex",
            "--problem",
            "weakly-convex",
            "--theorem",
            "3",
            "--method",
            "bc",
            "--delta",
            "0.5",
            "--steps",
            "1000",
            "--seeds",
            "3",
            "--quiet",
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    data = json.loads(out.read_text())
    assert data["schedule"]["kind"] == "sqrt" and data["results"][0]["bounds"]["theorem3"] > 0


def test_unknown_delta_grid_outside_box_is_a_user_error(quad):
    with pytest.raises(SrchainError):
        quad.grid_box(9.0)
