"""Exact chains on a format's grid (srchain.grid_chains): T_α for SR, k-bit SR and R, Ũ, π̃ and R's stall set."""

import math

import mpmath
import numpy as np
import pytest

from srchain import SrchainError
from srchain.grid_chains import grid_transition_matrix, prepare_rows, stall_set
from srchain.grids import Grid
from srchain.lattice import Lattice
from srchain.mixing import mixing_time
from srchain.noise import make_noise
from srchain.operators import limit_chain, transition_matrix, u_tilde
from srchain.problems import Problem, get_problem
from srchain.stationary import stationary

CONTINUOUS = [make_noise("gaussian", 2.0), make_noise("laplace", 1.0), make_noise("student-t", 1.0, nu=3.0)]


def quadratic(c, domain):
    return Problem(
        name="quadratic",
        dim=1,
        domain=np.array([domain], dtype=np.float64),
        value=lambda w: 0.5 * (np.asarray(w)[..., 0] - c) ** 2,
        gradient=lambda w: np.asarray(w, dtype=np.float64) - c,
    )


def test_fixed_format_is_the_lattice():
    """``--format fixed`` is today's lattice itself, so every result on it is today's bit for bit."""
    toy = get_problem("toy")
    g = Grid.of("fixed", toy.domain, delta=0.5)
    lat = Lattice.from_domain(0.5, toy.domain)
    assert g == lat
    noise = make_noise("gaussian", 2.0)
    for alpha in (1.0, 0.01):
        A, B = transition_matrix(toy, noise, lat, alpha), transition_matrix(toy, noise, g, alpha)
        assert np.array_equal(A.P.data, B.P.data) and np.array_equal(stationary(A).pi, stationary(B).pi)


@pytest.mark.parametrize("noise", CONTINUOUS, ids=lambda n: n.name)
@pytest.mark.parametrize("method", ["sr", "r"])
def test_uniform_grid_agrees_with_the_lattice(noise, method):
    """The grid code (divided differences with h_t = Δ) on the values of ΔZ ∩ [lo, hi] gives the lattice's T_α
    entry by entry to 1e-9 relative (down to 1e-13 entries; the two sum the same terms in another order: for
    Gaussian and Laplace noise they agree bit for bit), the same π_α to 1e-9 relative and the same M_ε, and Ũ."""
    toy = get_problem("toy")
    lat = Lattice.from_domain(0.25, toy.domain)
    grid = Grid.from_values(lat.axis(0))
    for alpha in (1.0, 0.1, 0.003):
        A = transition_matrix(toy, noise, lat, alpha, method)
        B = transition_matrix(toy, noise, grid, alpha, method)
        assert np.array_equal(A.P.indptr, B.P.indptr) and np.array_equal(A.P.indices, B.P.indices)
        assert np.all(np.abs(A.P.data - B.P.data) <= 1e-9 * A.P.data)
        if noise.name != "student-t":
            assert np.array_equal(A.P.data, B.P.data)
        pa, pb = stationary(A).pi, stationary(B).pi
        assert np.all(np.abs(pa - pb) <= 1e-9 * pa)
        if alpha >= 0.1:
            assert mixing_time(A.P, pi=pa).mixing_time == mixing_time(B.P, pi=pb).mixing_time
    assert np.array_equal(u_tilde(toy, noise, lat).toarray(), u_tilde(toy, noise, grid).toarray())


def test_uniform_grid_minibatch_noise():
    """Discrete noise is enumerated by a different sum on a grid: equal to the lattice's to rounding."""
    toy = get_problem("toy")
    noise = make_noise("minibatch", 2.0, batch=3, samples=8)
    lat = Lattice.from_domain(0.25, toy.domain)
    grid = Grid.from_values(lat.axis(0))
    for method in ("sr", "r"):
        for alpha in (1.0, 0.1, 0.003):
            A = transition_matrix(toy, noise, lat, alpha, method).P
            B = transition_matrix(toy, noise, grid, alpha, method).P
            assert abs(A - B).max() < 1e-15


@pytest.mark.parametrize("name", ["bf16", "fp8-e4m3", "fp8-e5m2", "fp16"])
@pytest.mark.parametrize("method", ["sr", "r"])
def test_rows_are_laws(name, method):
    toy = get_problem("toy")
    grid = Grid.of(name, (1.0, 8.0) if name in ("bf16", "fp16") else toy.domain)
    for noise in CONTINUOUS[:2]:
        for alpha in (0.3, 0.01):
            op = transition_matrix(toy, noise, grid, alpha, method, max_bytes=2**30)
            assert op.P.shape == (grid.size, grid.size)
            assert np.abs(np.asarray(op.P.sum(axis=1)).ravel() - 1).max() < 1e-13
            assert op.P.data.min() >= 0 and op.dropped_mass < 1e-10


def reference_sr_law(x, g, alpha, s, v, t):
    """Pr(Qs(y) = v_t) for y ~ N(x − αg, (αs)²) in 400 digits: the divided second difference of E[(y − v)⁺]."""
    with mpmath.workdps(400):  # the second difference of O(0.1) terms must resolve 1e-280
        return _reference_sr_law(x, g, alpha, s, v, t)


def _reference_sr_law(x, g, alpha, s, v, t):
    mean, sd = mpmath.mpf(x) - mpmath.mpf(alpha) * mpmath.mpf(g), mpmath.mpf(alpha) * mpmath.mpf(s)

    def ramp(c):
        z = (mean - mpmath.mpf(c)) / sd
        return sd * (z * mpmath.ncdf(z) + mpmath.npdf(z))

    vm, v0, v1 = (mpmath.mpf(float(v[t + i])) for i in (-1, 0, 1))
    return ramp(vm) / (v0 - vm) - ramp(v0) * (1 / (v0 - vm) + 1 / (v1 - v0)) + ramp(v1) / (v1 - v0)


def test_tiny_probabilities_keep_relative_accuracy():
    """On the fp8-e4m3 grid, far moves down to 1e-280 agree with a 400-digit reference to 1e-9 relative."""
    c = 2.3
    prob = quadratic(c, (0.5, 8.0))
    grid = Grid.of("fp8-e4m3", (0.5, 8.0))
    v = grid.axis(0)
    noise = make_noise("gaussian", 1.0)
    alpha = 0.05
    op = grid_transition_matrix(prob, noise, grid, alpha, "sr", tol=1e-300)
    P = op.P.toarray()
    checked = 0
    for i in (3, 15, 28):
        for t in range(1, v.size - 1):
            ref = float(reference_sr_law(v[i], v[i] - c, alpha, 1.0, v, t))
            if ref > 1e-280:
                assert P[i, t] == pytest.approx(ref, rel=1e-9), (i, t)
                checked += 1
    assert checked >= 45
    assert P[P > 0].min() < 1e-100  # the test reached far into the tails


def test_closed_form_quadratic_fp8():
    """f(w) = (w − 2.3)²/2 on the fp8-e4m3 values of [1, 4], written by hand: 1 + k/8 (k < 8), 2 + k/4 (k < 8), 4.

    R's stall set at α = 0.5 (no noise): x stalls iff α|x − 2.3| is below half the gap on the side the step goes
    (at a tie only an even value stays): x = 2.25 (gap up 0.25, step 0.025) and 2.5 (gap down 0.25, step 0.1);
    2.0 (step 0.15 > 0.125) and 2.75 (0.225) move. π̃ by detailed balance (1-D, Eq. 9):
    π̃_{t+1}/π̃_t = Λ(−g_t)/Υ(−g_{t+1}) with Λ(a) = σψ(a/σ), Υ(a) = σψ(−a/σ), ψ(z) = zΦ(z) + φ(z): the gaps cancel.
    """
    hand = [1 + k / 8 for k in range(8)] + [2 + k / 4 for k in range(8)] + [4.0]
    grid = Grid.of("fp8-e4m3", (1.0, 4.0))
    assert grid.axis(0).tolist() == hand
    prob = quadratic(2.3, (1.0, 4.0))
    assert grid.axis(0)[stall_set(prob, grid, 0.5)].tolist() == [2.25, 2.5]
    # larger α: only 2.25 (step 0.05·... ) — α = 1: 2.25 moves? α|2.25 − 2.3| = 0.05 < 0.125 stays; 2.5: 0.2 > 0.125
    assert grid.axis(0)[stall_set(prob, grid, 1.0)].tolist() == [2.25]
    # the minimiser above the domain: every step goes up by α(4.5 − x) ≥ 0.25, more than half of any gap (≤ 0.125),
    # so every value moves but the top one, whose step leaves the grid and rounds back to it
    assert grid.axis(0)[stall_set(quadratic(4.5, (1.0, 4.0)), grid, 0.5)].tolist() == [4.0]

    def psi(z):
        return z * 0.5 * math.erfc(-z / math.sqrt(2)) + math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

    s = 0.7
    g = [x - 2.3 for x in hand]
    ratios = [s * psi(-g[t] / s) / (s * psi(g[t + 1] / s)) for t in range(len(hand) - 1)]
    pi = np.cumprod([1.0] + ratios)
    pi /= pi.sum()
    lim = limit_chain(prob, make_noise("gaussian", s), grid)
    got = stationary(lim.t_tilde).pi
    assert np.allclose(got, pi, rtol=1e-12, atol=0)


def test_stall_set_with_minibatch_noise_is_absorbing():
    """With discrete noise the stall set is exactly R's absorbing states (rows that are a point mass)."""
    toy = get_problem("toy")
    grid = Grid.of("bf16", (1.0, 8.0))
    noise = make_noise("minibatch", 0.5, batch=4, samples=8)
    alpha = 0.01
    S = stall_set(toy, grid, alpha, noise)
    P = transition_matrix(toy, noise, grid, alpha, "r").P
    diag = P.diagonal()
    assert S.size > 3
    assert np.array_equal(np.flatnonzero(diag == 1.0), S)


def test_kbit_chain_tends_to_sr():
    """|P_k − P| ≤ 2·2^-k entrywise (each of the two cells' up-probabilities moves by < 2^-k), and k = 1 is not SR."""
    toy = get_problem("toy")
    grid = Grid.of("fp8-e5m2", (1.0, 8.0))
    noise = make_noise("gaussian", 2.0)
    P = transition_matrix(toy, noise, grid, 0.05, "sr").P.toarray()
    for k in (1, 4, 10):
        Pk = transition_matrix(toy, noise, grid, 0.05, "sr", sr_bits=k).P.toarray()
        assert np.abs(Pk.sum(axis=1) - 1).max() < 1e-13
        d = np.abs(Pk - P).max()
        assert d <= 2 * 2.0**-k + 1e-12
        if k == 1:
            assert d > 0.05


def test_kbit_pulls_toward_zero_at_small_alpha():
    """With k bits a tiny downward step drops one value with probability 2^-k (the truncated probability), a tiny
    upward step practically never rises: at α = 1e-3 (steps of about 1e-3 against gaps of 1/8 … 1/2) SR's
    up-moves have probability α·Λ(−g)/h > 1e-4 below the minimiser, k-bit SR's are below 1e-12 (they need
    α|ξ| ≥ h/8, a 30-sigma draw); its down-moves are 2^-k Pr(y < x) to 1e-9 (the rest of the staircase needs the
    same 30-sigma draws)."""
    prob = quadratic(4.0, (2.0, 8.0))
    grid = Grid.of("fp8-e4m3", (2.0, 8.0))
    noise = make_noise("gaussian", 1.0)
    alpha, k = 1e-3, 3
    P = transition_matrix(prob, noise, grid, alpha, "sr").P.toarray()
    Pk = transition_matrix(prob, noise, grid, alpha, "sr", sr_bits=k).P.toarray()
    g = grid.axis(0) - 4.0
    i = np.arange(1, grid.size - 1)
    assert np.all(P[i, i + 1][g[i] <= 0] > 1e-4) and np.all(Pk[i, i + 1] < 1e-12)
    down = 2.0**-k * noise.sf(-g[i])  # Pr(y < x) = Pr(ξ > −g)
    assert np.allclose(Pk[i, i - 1], down, rtol=1e-9, atol=0)
    assert np.all(Pk[i, i - 1] > 10 * P[i, i - 1])  # SR: α·Υ(−g)/h ≤ 7e-3 here


def test_grid_errors():
    toy = get_problem("toy")
    grid = Grid.of("fp8-e4m3", toy.domain)
    with pytest.raises(SrchainError, match="SR only"):
        transition_matrix(toy, make_noise("gaussian", 1.0), grid, 0.1, "r", sr_bits=4)
    with pytest.raises(SrchainError, match="1 to 32"):
        transition_matrix(toy, make_noise("gaussian", 1.0), grid, 0.1, "sr", sr_bits=0)
    # (under Gaussian noise the wide cells take sub-cells instead of 2^k differences: 30 bits are accepted there)
    with pytest.raises(SrchainError, match=r"CDF evaluations.*exact up to about k = \d+ here"):
        transition_matrix(toy, make_noise("laplace", 1.0), grid, 0.1, "sr", sr_bits=30)
    # a grid whose windows are so wide that even one random bit is out of reach says so (no k below 1)
    with pytest.raises(SrchainError, match="even k = 1 is out of reach") as err:
        prepare_rows(toy, make_noise("laplace", 2.0), Grid.of("bf16", (-4.0, 10.0)), 0.01, "sr", 1e-14, 4)
    assert "k = -" not in str(err.value)
    big = Grid.of("bf16", toy.domain)
    with pytest.raises(SrchainError, match="memory|GiB|bytes"):
        transition_matrix(toy, make_noise("gaussian", 2.0), big, 0.1, "sr", max_bytes=2**30)


def test_two_dimensional_grid_is_the_product_of_one_dimensional_laws():
    """`separable` (objective (8) per coordinate) on a 2-D fp8-e5m2 grid: rows are products of 1-D move laws and
    the noise is independent per coordinate, so π_α (SR and R) and π̃ are the outer products of the 1-D laws."""
    noise = make_noise("gaussian", 2.0)
    sep = get_problem("separable", dim=2, domain=(1.0, 8.0))
    toy = get_problem("toy", domain=(1.0, 8.0))
    g2 = Grid.of("fp8-e5m2", [(1.0, 8.0), (1.0, 8.0)])
    g1 = Grid.of("fp8-e5m2", (1.0, 8.0))
    assert g2.shape == (g1.size, g1.size)
    for method in ("sr", "r"):
        p2 = stationary(transition_matrix(sep, noise, g2, 0.1, method, tol=1e-300)).pi
        p1 = stationary(transition_matrix(toy, noise, g1, 0.1, method, tol=1e-300)).pi
        assert np.allclose(p2, np.outer(p1, p1).ravel(), rtol=1e-9, atol=1e-300)
    l2 = stationary(limit_chain(sep, noise, g2).t_tilde).pi
    l1 = stationary(limit_chain(toy, noise, g1).t_tilde).pi
    assert np.allclose(l2, np.outer(l1, l1).ravel(), rtol=1e-9, atol=1e-300)


def _tilted(dim_coupling):
    """Objective (8) per coordinate, plus ``dim_coupling · w₀ w₁`` (0: separable)."""
    sep = get_problem("separable", dim=2, domain=(0.5, 4.0))

    def gradient(w):
        w = np.asarray(w, dtype=np.float64)
        g = np.array(sep.gradient(w), dtype=np.float64)
        g[..., 0] += dim_coupling * w[..., 1]
        g[..., 1] += dim_coupling * w[..., 0]
        return g

    return Problem(name="tilted", dim=2, domain=sep.domain, value=lambda w: 0.0 * w[..., 0], gradient=gradient)


@pytest.mark.parametrize("coupling", [0.0, 1e-3])
@pytest.mark.parametrize("method,bits", [("sr", None), ("r", None), ("sr", 3)])
def test_one_law_per_axis_value_has_the_bits_of_one_per_row(monkeypatch, coupling, method, bits):
    """On a 2-D box each axis' move law is computed once per value where the gradient along it depends on that
    coordinate alone (``per_value``), and per row otherwise: T_α is bitwise that of the per-row computation either
    way. The coupled case (a 1e-3 tilt) must not be shared: a law computed from another row's gradient would differ."""
    import srchain.grid_chains as gc

    problem = _tilted(coupling)
    grid = Grid.of("fp8-e4m3", [(0.5, 4.0), (1.0, 3.0)])
    grads = np.asarray(problem.gradient(grid.points)).reshape(-1, 2)
    own = np.stack([np.searchsorted(grid.axis(k), grid.points[:, k]) for k in range(2)], axis=1)
    first, each = gc.per_value(own[:, 0], grads[:, 0], grid.shape[0])
    assert (first is None) == (coupling != 0)
    if first is not None:  # one row per value of axis 0, and every row mapped to its own value's
        assert first.size == grid.shape[0] and np.array_equal(grid.points[first[each], 0], grid.points[:, 0])
    noise = make_noise("gaussian", 2.0)
    shared = grid_transition_matrix(problem, noise, grid, 0.05, method, sr_bits=bits).P
    monkeypatch.setattr(gc, "per_value", lambda *a: (None, None))
    per_row = grid_transition_matrix(problem, noise, grid, 0.05, method, sr_bits=bits).P
    for a, b in ((shared.indptr, per_row.indptr), (shared.indices, per_row.indices), (shared.data, per_row.data)):
        assert np.array_equal(a, b)
