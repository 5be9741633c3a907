"""SR with k random bits on grids whose gaps are far below α·std (bf16/fp16/fp8 near 0): srchain.grid_kbit.

k-bit SR's move law is a staircase of first differences of the CDF, whose rounding error relative to a cell's mass is
``eps·α·std/h``: all of it at bf16's gaps near 0, where it used to be refused. Under Gaussian noise a narrow cell now
integrates the staircase against the density with product-integration weights (or one node at the weight's
centroid); checked here against adaptive quadrature, piece by piece, and against simulation."""

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy.integrate import quad

import srchain.grid_interp as gi
from srchain.grid_chains import grid_move_laws, prepare_rows
from srchain.grid_kbit import staircase_rule
from srchain.grids import Grid
from srchain.noise import make_noise
from srchain.operators import transition_matrix
from srchain.problems import Problem, get_problem
from srchain.simulate.grid import simulate_grid

NOISE = make_noise("gaussian", 2.0)


def _bernoulli(n):
    B = [Fraction(1)] + [Fraction(0)] * n
    for m in range(1, n + 1):
        B[m] = -sum(math.comb(m + 1, k) * B[k] for k in range(m)) / Fraction(m + 1)
    return B


def _staircase_moment(j, N):
    """∫₀¹ q^j ⌊Nq⌋/N dq exactly: Σ_m (m/N)((m+1)^{j+1} − m^{j+1})/((j+1)N^{j+1}), summed by Faulhaber's formula."""
    B = _bernoulli(j + 2)

    def power_sum(p):  # Σ_{m<N} m^p
        return sum(math.comb(p + 1, i) * B[i] * Fraction(N) ** (p + 1 - i) for i in range(p + 1)) / (p + 1)

    total = sum(math.comb(j + 1, i) * power_sum(i + 1) for i in range(j + 1))
    return total / Fraction(N) ** (j + 2) / (j + 1)


@pytest.mark.parametrize("bits", [1, 2, 3, 7, 12, 13, 20, 32])
def test_staircase_rule_integrates_polynomials_exactly(bits):
    """The product weights integrate q^j (j < 8) against the staircase ⌊Nq⌋/N and against 1 − ⌊Nq⌋/N exactly, for
    the piecewise sums (k ≤ 12) and the Euler–Maclaurin form (k > 12) alike. Tolerance: 8 products of numbers ≤ 1
    and their sum, each weight itself a few roundings off: 16 eps. A weight summed from the wrong pieces, or a
    Bernoulli term's sign, errs by more than 1e-4 at k ≤ 7 and by 1e-9 at k = 13."""
    q, away, zero = staircase_rule(bits)
    N = 2**bits
    for j in range(8):
        want = float(_staircase_moment(j, N))
        assert abs(float(np.sum(away * q**j)) - want) <= 16 * np.finfo(float).eps
        assert abs(float(np.sum(zero * q**j)) - (1.0 / (j + 1) - want)) <= 16 * np.finfo(float).eps


def _reference(x, g, alpha, v, c, bits, noise=NOISE):
    """Pr(SR with ``bits`` bits of y = v_c), y = x − α(g + ξ̄): each cell's staircase integrated piece by piece by
    adaptive quadrature in the cell's fraction q from its end nearer zero (gaps of 1e-40 are no trouble there); for
    k > 12 the staircase ⌊Nq⌋/N is taken as q − 1/(2N), whose error against the density's change across the cell
    is at most |Δφ|/(12N²) ≤ 1e-15 of the cell's mass. The clipped tails at the grid's ends."""
    N = 2**bits

    def half(a, b, up):  # the mass of the cell [a, b) that rounds up (or down) to its end
        neg = b <= 0
        away = up != neg
        H = (b - a) / alpha
        xi0 = ((x - b) if neg else (x - a)) / alpha - g
        sign = 1.0 if neg else -1.0

        def dens(qq):
            return H * float(noise.pdf(np.array(xi0 + sign * H * qq)))

        if bits > 12:
            w = (lambda qq: qq - 0.5 / N) if away else (lambda qq: 1.0 - qq + 0.5 / N)
            return quad(lambda qq: w(qq) * dens(qq), 0.0, 1.0, epsabs=0, epsrel=1e-13, limit=200)[0]
        total = 0.0
        for m in range(N):
            piece = quad(dens, m / N, (m + 1) / N, epsabs=0, epsrel=1e-13)[0]
            total += (m / N if away else 1.0 - m / N) * piece
        return total

    def arg(y):
        return (x - y) / alpha - g

    p = half(v[c - 1], v[c], True) if c > 0 else float(noise.sf(np.array(arg(v[0]))))
    return p + (half(v[c], v[c + 1], False) if c < v.size - 1 else float(noise.cdf(np.array(arg(v[-1])))))


@pytest.mark.parametrize(
    "fmt,domain,alpha,bits,sigma",
    [
        ("bf16", (1e-38, 1e-36), 0.01, 4, 2.0),  # gaps 9.2e-41 … 7.4e-39: one node a half (refused before)
        ("bf16", (1e-38, 1e-36), 0.01, 20, 2.0),
        ("bf16", (-1e-3, 1e-3), 0.01, 1, 2.0),  # gaps up to 7.6e-6 against α·std = 0.02: the product rule
        ("bf16", (-1e-3, 1e-3), 0.01, 20, 2.0),
        # σ = 0.01: α·std = 1e-4, so that the noise's scale is not 1 in any of the rules' criteria (one node up to
        # gaps of ~1e-12, the product rule up to 1.6e-6, wider cells on sub-cells)
        ("bf16", (-1e-3, 1e-3), 0.01, 4, 0.01),
        ("fp8-e4m3", (-1.0, 1.0), 0.1, 3, 2.0),  # cells below 2^-5 narrow (2^-9 apart), the others the staircase
        ("fp8-e4m3", (-1.0, 1.0), 0.1, 6, 2.0),  # cells up to 4·WIDE·α·std on 2 or 4 sub-cells, wider: staircase
        ("fp8-e4m3", (-1.0, 1.0), 0.1, 20, 2.0),  # every wide cell on sub-cells (up to 32 of 2^-9)
    ],
)
def test_kbit_law_on_fine_gaps_keeps_its_relative_accuracy(fmt, domain, alpha, bits, sigma, monkeypatch):
    """Entries of k-bit SR's move law against :func:`_reference`, at the ends and across each row's window.
    Tolerance 1e-12 relative: the product rule's error is below 2e-15 for |z| ≤ 10 (srchain.grid_kbit), rounding
    the argument a = (x − v)/α − g perturbs the density by |a|/s²·ulp(a), a few ulps, the sub-cells of a wide cell
    are as narrow as a narrow cell, and the staircase's differences on wide cells lose at most 64 eps of the cell's
    mass; the reference's own tolerance is 1e-13 a piece. The first differences that this replaces lost
    eps·α·std/h: 1e-9 on bf16 within 1e-3 of 0, everything below 1e-36."""
    import srchain.grid_kbit as gk

    toy = get_problem("toy", domain=domain)
    grid = Grid.of(fmt, domain)
    v = grid.points[:, 0]
    monkeypatch.setattr(gk, "DROP", 0.0)  # every cell of a window computed, to check the rule at each
    rows = np.array([0, v.size // 3, v.size // 2 + 1, v.size - 1])
    noise = make_noise("gaussian", sigma)
    targets, probs, _ = grid_move_laws(toy, noise, grid, alpha, sr_bits=bits, rows=rows)
    g = toy.gradient(v[rows, None])[:, 0]
    checked = 0
    for r, i in enumerate(rows):
        law = np.where(targets[r, 0] >= 0, probs[r, 0], 0.0)
        assert abs(law.sum() - 1.0) < 1e-12
        cells = np.flatnonzero(targets[r, 0] >= 0)
        for w in np.unique(np.r_[cells[:3], cells[-3:], cells[:: max(1, cells.size // 12)]]):
            want = _reference(v[i], g[r], alpha, v, targets[r, 0, w], bits, noise)
            assert probs[r, 0, w] == pytest.approx(want, rel=1e-12, abs=1e-300)
            checked += 1
    assert checked > 40


def test_interpolated_kbit_rows_equal_the_rows_computed_one_by_one(monkeypatch):
    """fp16's 2,049 values within 2^-14 of 0 at α = 1e-4 (rows near 0 share their mean steps' binades): the rows
    interpolated between reference rows against every row computed by its own law. The interpolation's bound is
    2^-57 of each entry; the reference rows' errors (a few ulps) carry over times the Lebesgue constant (< 3) and a
    factor e: 1e-13 relative. The same entries are kept (the far cells leave the windows by the same rule)."""
    domain = (-(2.0**-14), 2.0**-14)
    toy = get_problem("toy", domain=domain)
    grid = Grid.of("fp16", domain)
    alpha = 1e-4
    v = grid.points[:, 0]
    assert gi.interpolated(NOISE, v, v, toy.gradient(grid.points)[:, 0], alpha, 1e-14).sum() > 1000
    P = transition_matrix(toy, NOISE, grid, alpha, "sr", sr_bits=3).P
    monkeypatch.setattr(gi, "ROWS_PER_POINT", 10**9)  # no binade interpolated
    Q = transition_matrix(toy, NOISE, grid, alpha, "sr", sr_bits=3).P
    assert np.array_equal(P.indptr, Q.indptr) and np.array_equal(P.indices, Q.indices)
    assert np.max(np.abs(P.data - Q.data) / Q.data) < 1e-13


def test_kbit_simulation_on_a_grid_holding_zero_matches_the_exact_law():
    """fp8-e4m3 on [−1, 1] at α = 0.1, σ = 2, 3 bits, from w = 0.0625: the cells within 2^-5 of 0 (2^-9 apart,
    below WIDE·α·std = 0.003) take the product rule and the chain crosses them often. N chains end after T steps at
    iid draws from e_{x0} P^T: TV below ½ Σ sqrt(μ_i/N) + sqrt(ln(1e6)/(2N)) but with probability 1e-6
    (McDiarmid; tests/test_simulate_grid.py)."""
    domain = (-1.0, 1.0)
    toy = get_problem("toy", domain=domain)
    grid = Grid.of("fp8-e4m3", domain)
    alpha, bits, T, N = 0.1, 3, 40, 40_000
    x0 = int(grid.nearest([0.0625]))
    run = simulate_grid(toy, NOISE, grid, "sr", alpha, steps=T, chains=N, start=[0.0625], seed=3, sr_bits=bits)
    P = transition_matrix(toy, NOISE, grid, alpha, "sr", sr_bits=bits).P
    mu = np.zeros(grid.size)
    mu[x0] = 1.0
    PT = P.T.tocsr()
    for _ in range(T):
        mu = PT @ mu
    v = grid.points[:, 0]
    assert mu[np.abs(v) < 2.0**-5].sum() > 0.03  # the narrow cells carry mass
    d = 0.5 * np.abs(run.end_law() - mu).sum()
    assert d < 0.5 * np.sqrt(mu / N).sum() + math.sqrt(math.log(1e6) / (2 * N))


def test_kbit_on_bf16_holding_zero_is_exact_where_it_was_refused():
    """bf16 [−4, 10] (33,185 values) at α = 0.01: 4-bit SR needed 3.2e10 CDF evaluations (every cell of every window)
    and was refused; with the narrow cells integrated, the wide ones on narrow sub-cells and the rows near 0
    interpolated, prepare_rows accepts it, with any number of bits (under Laplace noise, first
    differences everywhere, it is still refused: tests/test_grid_chains.py::test_grid_errors)."""
    wide = get_problem("toy", domain=(-4.0, 10.0))
    grid = Grid.of("bf16", (-4.0, 10.0))
    for bits in (4, 32):  # (32 bits: the wide cells' staircase of 2^32 differences on sub-cells, 8 densities each)
        prepare_rows(wide, NOISE, grid, 0.01, "sr", 1e-14, bits)


@pytest.mark.parametrize(
    "fmt,domain,alpha,bits",
    [
        ("bf16", (1.0, 8.0), 0.01, 4),
        ("fp8-e4m3", (-1.0, 1.0), 0.1, 3),  # narrow cells near 0 and wide ones on sub-cells of whole steps
        ("fp8-e4m3", (-4.0, 10.0), 0.1, 3),  # cells 1 wide against WIDE·α·std = 0.003: sub-cells within a step
        ("bf16", (1.0, 8.0), 0.001, 20),
        ("fp8-e4m3", (1.0, 8.0), 0.3, 2),  # ½w² (below): mean steps below the grid's first value, its clipped tail
    ],
)
def test_drifts_from_the_steps_law_equal_t_alphas(fmt, domain, alpha, bits):
    """kbit_drift_gap and sr_drift (the k-bit bias where T_α is not kept) against T_α's rows: drift_k − drift_SR and
    drift_SR = Σ_y P(x, y) y − x. Tolerance 1e-12 absolute: T_α's drifts are sums of at most ~200 entries times
    values below 10 (200·eps·10 = 4e-13 of rounding) and its rows lose the entries below tol = 1e-14 (times the
    span, 1.4e-13); the gaps are up to 8e-3, so a wrong weight or sub-cell (a factor, a step) shows."""
    from srchain.grid_kbit import kbit_drift_gap, sr_drift

    toy = get_problem("toy", domain=domain) if alpha < 0.3 else _half_square(domain)
    grid = Grid.of(fmt, domain)
    x = grid.points[:, 0]
    g = toy.gradient(grid.points)[:, 0]
    if alpha == 0.3:
        assert np.sum(x - alpha * g < x[0]) > 3  # rows whose mean step is below the grid
    Pk = transition_matrix(toy, NOISE, grid, alpha, "sr", sr_bits=bits).P
    P = transition_matrix(toy, NOISE, grid, alpha, "sr").P
    gap = kbit_drift_gap(NOISE, x, g, alpha, x, bits)
    assert np.abs(gap).max() > 1e-8
    np.testing.assert_allclose(gap, (Pk @ x - x) - (P @ x - x), rtol=0, atol=1e-12)
    np.testing.assert_allclose(sr_drift(NOISE, x, g, alpha, x), P @ x - x, rtol=0, atol=1e-12)


def _half_square(domain):
    """½w² on ``domain``: its gradient w pushes every row toward (and below) the grid's first value."""
    return Problem(
        name="half-square",
        dim=1,
        domain=np.array([domain], dtype=np.float64),
        value=lambda w: 0.5 * np.asarray(w)[..., 0] ** 2,
        gradient=lambda w: np.asarray(w, dtype=np.float64),
    )


def test_the_drift_gaps_window_holds_every_cell_that_counts():
    """kbit_drift_gap sums over the cells within the noise's 2^-60 quantiles of each mean step; against the sum over
    every cell of the grid (the same per-cell rule), on fp8-e4m3 [−4, 10] at α = 0.1 (cells up to 1 wide against
    α·std = 0.2, so that two cells at a window's end hold mass of 1e-14). Tolerance 16 eps of the terms' absolute
    sum: the cells left out hold less than 2^-60 of the mass, each term is the same operations, and the window's
    sum in order (at most ~16 terms that count, of both signs) rounds by at most that against the exact sum."""
    from srchain.grid_kbit import _saw_mass, kbit_drift_gap, saw_rule, staircase_rule

    domain = (-4.0, 10.0)
    toy = get_problem("toy", domain=domain)
    grid = Grid.of("fp8-e4m3", domain)
    v = grid.points[:, 0]
    alpha, bits, s = 0.1, 3, 2.0
    rows = np.arange(0, v.size, 7)
    g = toy.gradient(grid.points[rows])[:, 0]
    gap = kbit_drift_gap(NOISE, v[rows], g, alpha, v, bits)
    q, away, zero = staircase_rule(bits)
    saw = np.array([saw_rule(k) for k in range(bits + 1)])
    limit, c_pdf = 2.0 / 64, 1.0 / (s * math.sqrt(2.0 * math.pi))
    for r, i in enumerate(rows):
        cells = [
            -(1.0 if v[c + 1] > 0 else -1.0)
            * (v[c + 1] - v[c])
            * _saw_mass(v[i], g[r], alpha, v[c], v[c + 1], limit, s, c_pdf, q, away + zero, saw, bits)
            for c in range(v.size - 1)
        ]
        assert abs(gap[r] - math.fsum(cells)) <= 16 * np.finfo(float).eps * math.fsum(np.abs(cells))
