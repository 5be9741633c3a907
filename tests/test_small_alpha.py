"""Small α: every move probability keeps its relative accuracy down to the smallest α float64 can carry.

Issue 9, item 1: once the mean step m = −α∇f/Δ fell below ~1e-16, ``1 − |m − j|`` rounded m away and the laws
went silently wrong (TV(π_α, π̃) = 0.709 at α = 1e-17). The references below are independent of the operator's
code path: the Gaussian partial expectations are evaluated in 40-digit arithmetic (mpmath) from their closed form
Λ(a) = aΦ(a/s) + sφ(a/s), and the 1-D stationary law is the birth–death law summed in log space.
"""

import math

import mpmath
import numpy as np
import pytest
import scipy.sparse as sp

from srchain.cli import main
from srchain.errors import SrchainError
from srchain.lattice import Lattice
from srchain.noise import make_noise
from srchain.operators import move_laws, t_tilde, transition_matrix, u_tilde
from srchain.problems import get_problem
from srchain.stationary import stationary, tv

SIGMA = 2.0
TOY = get_problem("toy")
LAT = Lattice.from_domain(0.5, TOY.domain)
NOISE = make_noise("gaussian", SIGMA)
ALPHAS = [1e-3, 1e-8, 1e-12, 1e-14, 1e-16, 1e-17, 1e-30, 1e-100, 1e-200, 1e-300]


@pytest.fixture(autouse=True)
def _digits():
    """40 digits for every test here, set per test (mpmath's precision is global; other modules set their own)."""
    with mpmath.workdps(40):
        yield


def _lam(a):
    """Λ(a) = E[(a − ξ)⁺] for ξ ~ N(0, σ²), in 40 digits."""
    a = mpmath.mpf(a)
    z = a / SIGMA
    return a * mpmath.ncdf(z) + SIGMA * mpmath.npdf(z)


def _ups(a):
    """Υ(a) = E[(ξ − a)⁺] = Λ(a) − a."""
    return _lam(a) - mpmath.mpf(a)


def _log_birth_death_law():
    """log π̃ of the 1-D chain: log π(i+1) − log π(i) = log Ũ(i, i+1) − log Ũ(i+1, i), Ũ from the closed form."""
    g = np.asarray(TOY.gradient(LAT.points), dtype=np.float64).ravel()
    logs = [mpmath.mpf(0)]
    for i in range(LAT.size - 1):
        up = _lam(-g[i])  # Ũ(i, i+1)·Δ: rate of moving up from i
        down = _ups(-g[i + 1])  # Ũ(i+1, i)·Δ
        logs.append(logs[-1] + mpmath.log(up) - mpmath.log(down))
    top = max(logs)
    z = mpmath.log(mpmath.fsum(mpmath.exp(v - top) for v in logs)) + top
    return np.array([float(v - z) for v in logs])


LOG_PI_REF = _log_birth_death_law()
PI_LIMIT = stationary(t_tilde(u_tilde(TOY, NOISE, LAT))).pi


@pytest.mark.parametrize("alpha", ALPHAS)
def test_law_equals_the_limit_at_every_small_alpha(alpha):
    # With Gaussian noise σ = 2 and |∇f| ≤ 21 on the toy box, for α ≤ 1e-3 the step leaves the neighbourhood with
    # probability Φ(−(Δ/α − 21)/σ) < 1e-1000 and Pr(±1) is α·Ũ(x, x±Δ) exactly (module docstring of
    # srchain.operators), so T_α = T̃_α and π_α = π̃ up to rounding: ~30 states × a few ulps, well under 1e-12.
    pi = stationary(transition_matrix(TOY, NOISE, LAT, alpha).P).pi
    assert tv(pi, PI_LIMIT) <= 1e-12
    cells = LAT.cells(TOY.minimizer)
    assert pi[cells].sum() == pytest.approx(0.7274, abs=5e-5)  # the independently computed mass


@pytest.mark.parametrize("alpha", [1e-3, 1e-17, 1e-300])
def test_smallest_entries_match_the_log_space_birth_death_law(alpha):
    # Each π(i) is a product of 28 rate ratios; each ratio carries a relative error of a few 1e-15 (the Gaussian
    # tail kernels are accurate to ~1e-13 relative by their own docstring), so 1e-10 in log π has a margin of 100×.
    pi = stationary(transition_matrix(TOY, NOISE, LAT, alpha).P).pi
    assert pi.min() < 1e-30  # the law does span dozens of orders of magnitude
    np.testing.assert_allclose(np.log(pi), LOG_PI_REF, rtol=0, atol=1e-10)


@pytest.mark.parametrize("alpha", [1e-18, 1e-100, 1e-300])
def test_each_neighbour_move_is_alpha_times_the_rate_to_full_precision(alpha):
    targets, probs, J = move_laws(TOY, NOISE, LAT, alpha)
    g = np.asarray(TOY.gradient(LAT.points), dtype=np.float64).ravel()
    up = probs[:, 0, J + 1]
    down = probs[:, 0, J - 1]
    for i in range(1, LAT.size - 1):  # interior states (the faces carry clipped tails)
        want_up = float(alpha / LAT.delta * _lam(-g[i]))
        want_down = float(alpha / LAT.delta * _ups(-g[i]))
        assert up[i] == pytest.approx(want_up, rel=1e-12)
        assert down[i] == pytest.approx(want_down, rel=1e-12)


def test_minibatch_moves_keep_relative_accuracy():
    # Discrete noise: Pr(+1) = Σ_v p_v·m_v⁺ with m_v = −τ(g + v) for tiny τ (no rounding term survives).
    noise = make_noise("minibatch", sigma=2.0, batch=2, samples=6, seed=0)
    vals, w = noise.support()
    alpha = 1e-250
    _, probs, J = move_laws(TOY, noise, LAT, alpha)
    g = np.asarray(TOY.gradient(LAT.points), dtype=np.float64).ravel()
    tau = alpha / LAT.delta
    for i in range(1, LAT.size - 1):
        want = math.fsum(p * max(0.0, -(g[i] + v)) for v, p in zip(vals, w, strict=True)) * tau
        if want > 0:
            assert probs[i, 0, J + 1] == pytest.approx(want, rel=1e-12)


def test_coupled_chain_tends_to_its_limit_linearly():
    # d = 2: a row is a product of 1-D laws, so T_α = T̃_α + O(α²) entries and TV(π_α, π̃) = O(α) (here ~0.17·α).
    prob = get_problem("coupled", dim=2)
    lat = Lattice.from_domain(0.5, prob.domain, dim=2)
    lim = stationary(t_tilde(u_tilde(prob, NOISE, lat))).pi
    tvs = [tv(stationary(transition_matrix(prob, NOISE, lat, a).P).pi, lim) for a in (1e-3, 1e-5)]
    assert tvs[1] == pytest.approx(tvs[0] / 100, rel=0.05)
    for a in (1e-17, 1e-250):
        assert tv(stationary(transition_matrix(prob, NOISE, lat, a).P).pi, lim) <= 1e-12


@pytest.mark.parametrize(
    "problem, alpha", [("toy", 1e-320), ("toy", 5e-324), ("coupled", 1e-300), ("separable", 1e-310)]
)
def test_underflowing_rates_are_reported_as_underflow(problem, alpha, capsys):
    """(``separable`` in 2-D: its move laws are one per value along each axis, srchain.operators.move_tables.)"""
    args = ["stationary", "--problem", problem, "--alpha", repr(alpha), "--quiet"]
    two = problem != "toy"
    if two:
        args += ["--dim", "2"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "underflows float64" in err and "reducible" not in err
    with pytest.raises(SrchainError, match="underflows"):
        transition_matrix(
            get_problem(problem, **({"dim": 2} if two else {})),
            NOISE,
            Lattice.from_domain(0.5, get_problem(problem, dim=2).domain, dim=2) if two else LAT,
            alpha,
        )


def _tiny_exit_chain(n=60, seed=3):
    """A birth–death chain in which every third upward rate is 1e-200 (the others 1e-3 … 0.5), so that π falls by
    a factor 1e200 at each of those steps, and GTH's ``c = rate / exit rate`` values reach 1e200: with
    back-substituted values up to 2^600, their products overflow float64 unless back-substitution rescales."""
    rng = np.random.default_rng(seed)
    up = 10.0 ** rng.uniform(-3, np.log10(0.5), n - 1)
    down = 10.0 ** rng.uniform(-3, np.log10(0.5), n - 1)  # down[i]: the rate from i + 1 to i
    up[::3] = 1e-200
    rows = np.r_[np.arange(n - 1), np.arange(1, n)]
    cols = np.r_[np.arange(1, n), np.arange(n - 1)]
    P = sp.csr_matrix((np.r_[up, down], (rows, cols)), shape=(n, n))
    P = P + sp.diags(1.0 - np.asarray(P.sum(axis=1)).ravel())
    log_pi = np.r_[0.0, np.cumsum(np.log(up) - np.log(down))]  # detailed balance, in log space
    return sp.csr_matrix(P), log_pi


@pytest.mark.parametrize("solver", ["dense_gth", "sparse_gth"])
def test_tiny_exit_rates_do_not_overflow_back_substitution(solver):
    # Before the rescaling in multifrontal_solve, such chains came back with NaN entries and no error.
    from srchain import gth

    P, log_pi = _tiny_exit_chain()
    pi = getattr(gth, solver)(P)
    assert np.all(np.isfinite(pi)) and abs(pi.sum() - 1.0) < 1e-12
    big = log_pi > log_pi.max() - 600  # entries within float64's range of the largest: relative accuracy
    # each entry is a product/sum of ~n rounded non-negative terms: relative error ≲ n·eps, well under 1e-10
    assert np.allclose(
        np.log(pi[big]),
        log_pi[big] - math.log(np.exp(log_pi[big] - log_pi.max()).sum()) - log_pi.max(),
        rtol=0,
        atol=1e-10,
    )


def test_reducible_chain_with_tiny_rates_gives_finite_laws():
    # the R chain of the toy problem at sigma 0.3 is reducible; its closed class has rates down to 1e-294
    from srchain.stationary import stationary_distributions

    pr = get_problem("toy")
    op = transition_matrix(
        pr, make_noise("gaussian", sigma=0.3), Lattice.from_domain(0.5, pr.domain, 1), 0.1, method="r"
    )
    ref = stationary_distributions(op.P, method="gth-dense")
    got = stationary_distributions(op.P, method="gth-sparse")
    assert len(got) == len(ref) >= 1
    for (s1, p1), (s2, p2) in zip(ref, got, strict=True):
        assert np.array_equal(s1, s2) and np.all(np.isfinite(p2))
        assert np.allclose(p1, p2, rtol=1e-10, atol=1e-300)


def _toy_1d(n, alpha):
    pr = get_problem("toy")
    lat = Lattice.from_domain(14.0 / (n - 1), pr.domain, 1)
    return transition_matrix(pr, make_noise("gaussian", sigma=2.0), lat, alpha), lat


def _entrywise_balance(P, pi):
    """max over states j of |(πP)_j − π_j| / π_j, over the states whose in-neighbours all carry normal-range mass
    (πP is a sum of non-negative terms, so it is computed to relative precision wherever no term is subnormal or
    flushed to zero; 1e-290 keeps clear of the subnormals below 2.2e-308)."""
    A = sp.csr_matrix(P)
    flow = A.T @ pi
    tiny = (pi < 1e-290).astype(float)
    starved = np.asarray((A.T @ sp.diags(tiny)).sum(axis=1)).ravel() > 0
    ok = (pi >= 1e-290) & ~starved
    return float(np.max(np.abs(flow[ok] - pi[ok]) / pi[ok])), int(ok.sum())


def test_banded_gth_agrees_with_nested_dissection_on_a_1d_chain():
    from srchain import gth

    op, lat = _toy_1d(5000, 1e-3)
    a = gth.banded_law(op.P)
    b = gth.sparse_gth(op.P, shape=lat.shape)
    big = (a > 1e-250) & (b > 1e-250)
    # two GTH orders, each entry to relative error ~ n·eps with n ≈ the band's 2b+1 terms per step: 1e-9 is loose
    assert big.sum() > 1000 and np.max(np.abs(a[big] - b[big]) / b[big]) < 1e-9


def test_auto_solves_a_1d_chain_where_nested_dissection_underflows():
    # toy problem (8), 5000 states, alpha 3e-4: nested dissection's far separators make a censored rate underflow
    # (a zero pivot on an ergodic chain in float64; sparse GTH then factors it with an exponent per entry); the
    # natural order of the banded solver does not, and auto takes it for this 1-D chain
    op, lat = _toy_1d(5000, 3e-4)
    r = stationary(op.P, shape=lat.shape)
    assert r.method == "gth-banded"
    worst, checked = _entrywise_balance(op.P, r.pi)
    # each balance equation is a sum of ≤ 2b+1 ≈ 40 non-negative rounded terms against a GTH entry accurate to
    # ~n·eps relative: 1e-9 leaves room for both and still fails for any wrong basin or mis-scaled frame
    assert checked > 1000 and worst < 1e-9
    # and it is the right basin: Theorem 5's limit law (a birth–death chain, solved in log space by another solver)
    # is within O(alpha) = O(3e-4) in TV (measured 3.7e-7); a law in a wrong basin (pinned splu here) is at TV 1
    from srchain.operators import limit_chain

    limit = stationary(limit_chain(get_problem("toy"), make_noise("gaussian", sigma=2.0), lat), shape=lat.shape)
    assert limit.method == "birth-death" and tv(r.pi, limit.pi) < 1e-3
    # sparse GTH agrees entrywise (measured 5.8e-15 relative on the entries above 1e-200): both are GTH, ~n·eps
    s = stationary(op.P, method="gth-sparse", shape=lat.shape)
    big = r.pi > 1e-200
    assert big.sum() > 1000 and np.max(np.abs(s.pi[big] - r.pi[big]) / r.pi[big]) < 1e-12


def test_auto_falls_back_to_banded_when_the_sparse_order_underflows(monkeypatch):
    # without the lattice shape, auto takes sparse GTH (graph nested dissection), whose float64 factorisation meets
    # a zero pivot on this ergodic chain and is done again with an exponent per entry; where sparse GTH still
    # raises a zero pivot (forced here), auto must solve the chain in the natural order, not report it reducible
    import srchain.stationary as st
    from srchain.gth.scaling import ZeroPivot, zero_pivot

    op, lat = _toy_1d(5000, 3e-4)
    P = op.P.tocsr()  # a plain matrix: no lattice attached
    banded = stationary(op.P, method="gth-banded", shape=lat.shape).pi
    r = stationary(P)
    assert r.method == "gth-sparse"
    big = banded > 1e-200
    assert big.sum() > 1000 and np.max(np.abs(r.pi[big] - banded[big]) / banded[big]) < 1e-12

    def pivot(*args, **kwargs):
        raise zero_pivot(0)

    monkeypatch.setattr(st, "sparse_gth", pivot)
    with pytest.raises(ZeroPivot):
        stationary(P, method="gth-sparse")
    r = stationary(P)
    assert r.method == "gth-banded"
    assert tv(r.pi, banded) == 0.0
