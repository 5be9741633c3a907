"""T_α on grids whose gaps are far below α·std (bf16/fp16 near 0): SR and R by quadrature, k-bit SR refused.

SR's move law on a grid is a divided second difference of the noise's excess over gaps ``h``; its rounding error
relative to a cell's mass is about ``4 eps (α·std/h)²``. bf16's values near 0 are 9.2e-41 apart: there the
differences were all rounding (on [−1e-3, 1e-3] at α = 0.01 a row's law summed to 1,112 before it was
renormalised). Cells whose gaps are both at most WIDE·α·std now integrate the hat function against the noise's
density (as srchain.wide_moves does on the fixed lattice); checked here against adaptive quadrature. R's law, a first
difference of the CDF (error ``eps·α·std/h``), integrates the density over its narrow rounding cells
(srchain.grid_r), checked the same way; k-bit SR does so under Gaussian noise (srchain.grid_kbit,
tests/test_grid_kbit.py) and under other noise is refused in one line below 2^-30·α·std."""

import math

import numpy as np
import pytest
from scipy.integrate import quad

from srchain.errors import SrchainError
from srchain.grid_chains import grid_move_laws
from srchain.grids import Grid
from srchain.noise import make_noise
from srchain.operators import transition_matrix
from srchain.problems import Problem, get_problem
from srchain.wide_moves import WIDE

NOISE = make_noise("gaussian", 2.0)


@pytest.mark.parametrize(
    "fmt,domain,alpha,method,bits",
    [
        ("bf16", (1e-38, 1e-36), 0.01, "sr", 4),
        ("bf16", (1e-30, 1e-28), 0.1, "sr", 1),
    ],
)
def test_first_differences_on_too_fine_a_grid_are_refused_in_one_line(fmt, domain, alpha, method, bits):
    """Under Laplace noise k-bit SR takes first differences of the CDF everywhere (the product rule of
    srchain.grid_kbit is Gaussian's): refused below 2^-30·α·std (under Gaussian noise: tests/test_grid_kbit.py)."""
    toy = get_problem("toy", domain=domain)
    with pytest.raises(SrchainError, match="too fine for float64") as err:
        transition_matrix(toy, make_noise("laplace", 2.0), Grid.of(fmt, domain), alpha, method, sr_bits=bits)
    assert "\n" not in str(err.value)


def test_cli_refuses_it_with_exit_status_2(capsys):
    from srchain.cli import main

    # bf16 on [1e-38, 1e-36]: 830 values (small enough for the memory check), 9.2e-41 apart at the bottom
    code = main(
        [
            "stationary",
            "--format",
            "bf16",
            "--domain",
            "1e-38",
            "1e-36",
            "--sr-bits",
            "4",
            "--alpha",
            "0.01",
            "--noise",
            "laplace",
            "--quiet",
        ]  # fmt: skip
    )
    assert code == 2
    assert "too fine for float64" in capsys.readouterr().err


def _reference(x, g, alpha, v, c):
    """Pr(Qs(y) = v_c) for y = x − α(g + ξ̄): the hat function integrated against the step's density by adaptive
    quadrature, with the clipped tail at an end of the grid."""

    def f(y):
        return float(NOISE.pdf(np.array((x - y) / alpha - g))) / alpha

    def a(y):
        return (x - y) / alpha - g

    p = 0.0
    if c > 0:
        p += quad(lambda y: (y - v[c - 1]) / (v[c] - v[c - 1]) * f(y), v[c - 1], v[c], epsabs=0, epsrel=1e-13)[0]
    else:
        p += float(NOISE.sf(np.array(a(v[0]))))
    if c < v.size - 1:
        p += quad(lambda y: (v[c + 1] - y) / (v[c + 1] - v[c]) * f(y), v[c], v[c + 1], epsabs=0, epsrel=1e-13)[0]
    else:
        p += float(NOISE.cdf(np.array(a(v[-1]))))
    return p


@pytest.mark.parametrize(
    "fmt,domain,alpha",
    [
        ("bf16", (1e-38, 1e-36), 0.01),  # gaps 9.2e-41 … 7.4e-39: pure rounding before, quadrature now
        ("fp16", (1e-7, 1e-5), 1e-4),  # subnormals 6e-8 apart, the step's spread 2e-4: quadrature
        ("fp16", (1e-7, 1e-5), 0.9 * 6e-8 / (WIDE * 2.0)),  # the gap just above WIDE·α·std: the excess form
    ],
)
def test_sr_law_on_very_fine_gaps_keeps_its_relative_accuracy(fmt, domain, alpha, monkeypatch):
    import srchain.grid_sr as gs

    toy = get_problem("toy", domain=domain)
    grid = Grid.of(fmt, domain)
    v = grid.points[:, 0]
    built = transition_matrix(toy, NOISE, grid, alpha)  # accepted (the far cells that T_α drops leave the windows)
    monkeypatch.setattr(gs, "DROP", 0.0)  # every cell of a window computed, to check the quadrature at each
    op = transition_matrix(toy, NOISE, grid, alpha)
    assert op.dropped_mass < 1e-12 and np.array_equal(op.P.data, built.P.data)
    rows = np.array([0, v.size // 3, v.size - 1])
    targets, probs, _ = grid_move_laws(toy, NOISE, grid, alpha, rows=rows)
    g = 2.0 * v[rows]  # objective (8): f'(w) = 2w below 1
    checked = 0
    for r, i in enumerate(rows):
        law = np.where(targets[r, 0] >= 0, probs[r, 0], 0.0)
        assert abs(law.sum() - 1.0) < 1e-12
        cells = np.flatnonzero(targets[r, 0] >= 0)
        for w in np.unique(np.r_[cells[:3], cells[-3:], cells[:: max(1, cells.size // 20)]]):
            want = _reference(v[i], g[r], alpha, v, targets[r, 0, w])
            # the quadrature rule and the excess form (gap ≥ WIDE·α·std: 4 eps (1/WIDE)² ≈ 4e-12) are both far
            # inside 1e-9; the reference's own tolerance is 1e-13
            assert probs[r, 0, w] == pytest.approx(want, rel=1e-9, abs=1e-300)
            checked += 1
    assert checked > 40


@pytest.mark.parametrize(
    "tier,domain,middle",
    [("ONE_NODE", (-1e-7, 1e-7), 5e-8), ("TWO_NODES", (-1e-3, 1e-3), 5e-4)],
)
def test_half_cells_of_one_or_two_nodes_are_exact_to_rounding(tier, domain, middle):
    """SR's half cells with C = (h/s)(1 + |a|/s + h/s) < ONE_NODE take one node at the centroid u = 1/3 of the weight
    1 − u (srchain.grid_wide), those with C < TWO_NODES Gauss's two nodes for that weight, where the Gauss–Legendre
    rule took 8 per piece. Checked on bf16 values within 1e-7 of 0 (gaps from 9.2e-41 up to 4.7e-10) and within 1e-3
    (up to 3.8e-6) at α = 0.01, so that the coarsest cells of each tier sit at its threshold next to cells of the
    next, against the hat function integrated at 40 digits (mpmath). Tolerance: the rules' own errors are below
    2^-56; rounding a = (x − v)/α − g perturbs the density by |a|/s²·ulp(a) ≈ 6 ulps relative for |a| ≤ 5, the
    exponent, product and sum a few more: 1e-14 relative. A wrong node (u = 1/2 for one) errs by φ'/6, about 1e-9
    relative at the threshold with |a| = 2s; a wrong weight by a factor."""
    import mpmath

    import srchain.grid_wide as gw

    threshold = getattr(gw, tier)
    mpmath.mp.dps = 40
    # ½(w − 4)²: the gradient −4 puts the cells on the density's flank (|a| ≈ 4 = 2s), where a misplaced node errs
    grid = Grid.of("bf16", domain)
    quadratic = Problem(
        name="quadratic",
        dim=1,
        domain=np.array([domain]),
        value=lambda w: 0.5 * (np.asarray(w)[..., 0] - 4.0) ** 2,
        gradient=lambda w: np.asarray(w, dtype=np.float64) - 4.0,
    )
    v = grid.points[:, 0]
    alpha, s = 0.01, 2.0
    rows = np.array([int(np.searchsorted(v, 0.0)), int(np.searchsorted(v, middle)), v.size - 1])
    targets, probs, _ = grid_move_laws(quadratic, NOISE, grid, alpha, rows=rows)
    g = v[rows] - 4.0

    def reference(x, gi, c):  # Pr(Qs = v_c): the hat function against the step's density, interior cells
        xm, gm, am = mpmath.mpf(x), mpmath.mpf(gi), mpmath.mpf(alpha)

        def f(y):
            z = ((xm - y) / am - gm) / s
            return mpmath.exp(-z * z / 2) / (s * mpmath.sqrt(2 * mpmath.pi)) / am

        lo, mid, hi = (mpmath.mpf(float(u)) for u in v[c - 1 : c + 2])
        top = f(mid)  # each half on u ∈ [0, 1] and relative to the density at v_c (mpmath's tolerance is absolute)
        left = mpmath.quad(lambda u: u * f(lo + (mid - lo) * u) / top, [0, 1]) * (mid - lo)
        right = mpmath.quad(lambda u: u * f(hi - (hi - mid) * u) / top, [0, 1]) * (hi - mid)
        return (left + right) * top

    inside = near = 0
    for r, i in enumerate(rows):
        cells = np.flatnonzero(targets[r, 0] >= 0)
        cells = cells[(targets[r, 0, cells] > 0) & (targets[r, 0, cells] < v.size - 1)]
        t = targets[r, 0, cells]
        edges = cells[(v[t] - v[t - 1]) != (v[t + 1] - v[t])]  # a binade's first value: its two halves differ
        # (elsewhere the two halves' errors of a misplaced node cancel to first order)
        sample = np.unique(np.r_[cells[-300:][::7], cells[:: max(1, cells.size // 30)], edges])
        for w in sample:
            c = targets[r, 0, w]
            h = max(v[c] - v[c - 1], v[c + 1] - v[c]) / alpha
            a = (v[i] - v[c]) / alpha - g[r]
            crit = (h / s) * (1 + abs(a) / s + h / s)
            inside += crit < threshold
            near += threshold / 4 < crit < threshold
            want = float(reference(v[i], g[r], c))
            assert probs[r, 0, w] == pytest.approx(want, rel=1e-14, abs=0), (r, c, crit)
    assert inside > 40 and near > 5


def test_a_move_law_that_does_not_sum_to_one_is_refused_not_renormalised(monkeypatch):
    # the invariants checked on every lattice build hold on a grid too: with the quadrature switched off (the
    # difference form everywhere, as before it existed) bf16's cells near 0 give laws summing far from 1, and the
    # build refuses them in one line instead of renormalising the rows
    import srchain.grid_sr as gs

    monkeypatch.setattr(gs, "WIDE", 0.0)
    with pytest.raises(SrchainError, match="move law") as e:
        transition_matrix(get_problem("toy", domain=(-1e-3, 1e-3)), NOISE, Grid.of("bf16", (-1e-3, 1e-3)), 0.01)
    assert "\n" not in str(e.value)


class _ArrayFormGaussian(type(NOISE)):  # the same law; its own pdf sends the cells through the generic array form
    def pdf(self, a):
        return type(NOISE).pdf(self, a)


@pytest.mark.parametrize("sigma,batch", [(2.0, 1), (0.7, 4)])
def test_the_compiled_gaussian_quadrature_has_the_array_forms_bits(sigma, batch, monkeypatch):
    """srchain.grid_wide.gauss_hat_integrals replaces, for Gaussian noise, the array form that evaluates 32
    densities per wide cell through NumPy temporaries: the same operations in the same order with NumPy's exp, so T_α
    keeps its bits, on any number of threads. The cells here are too wide for one or two nodes (their gaps are at
    least TWO_NODES·α·s), which the array form does not have; those are checked against 40-digit integrals above.
    Every row is computed directly (no binade interpolated, srchain.grid_interp: the array form has none)."""
    import numba

    import srchain.grid_interp as gi
    import srchain.grid_wide as gw

    monkeypatch.setattr(gi, "ROWS_PER_POINT", math.inf)

    noise = make_noise("gaussian", sigma, batch=batch)
    generic = _ArrayFormGaussian(sigma=sigma, batch=batch)
    domain = (2.0**-4, 2.0**-1)  # three binades of fp16, 3073 values, gaps 2^-14 … 2^-12: wide at α = 0.1
    toy = get_problem("toy", domain=domain)
    grid = Grid.of("fp16", domain)
    for alpha in (0.1, 0.03):
        assert np.diff(grid.points[:, 0]).min() / (alpha * noise.s) > gw.TWO_NODES
        ref = transition_matrix(toy, generic, grid, alpha).P
        before = numba.get_num_threads()
        for threads in (1, before):
            numba.set_num_threads(threads)
            try:
                P = transition_matrix(toy, noise, grid, alpha).P
            finally:
                numba.set_num_threads(before)
            assert np.array_equal(P.indices, ref.indices) and np.array_equal(P.indptr, ref.indptr)
            assert np.array_equal(P.data.view(np.int64), ref.data.view(np.int64))


def test_cells_that_t_alpha_drops_leave_the_window_and_t_alpha_keeps_its_bits(monkeypatch):
    """A far cell whose probability is certainly below tol/4 (the density's peak times the hat's integral) leaves its
    row's window (srchain.grid_sr._mark_rows: target −1, no quadrature), and T_α, which drops it anyway, keeps its
    bits, its dropped mass included (rows are normalised by the kept sum). fp8-e4m3 on [−0.5, 0.5] at α = 3e11:
    every cell is wide, and the far cells' probabilities straddle tol (gaps from 2^-9 to 2^-4), so T_α keeps some far
    cells (quadrature) and drops the others; the ends and the row's own value and neighbours, kept whatever their
    size, never leave. The window's sum loses at most W·tol/4."""
    import srchain.grid_sr as gs

    domain, alpha = (-0.5, 0.5), 3e11
    toy = get_problem("toy", domain=domain)
    grid = Grid.of("fp8-e4m3", domain)
    targets, fast, own = grid_move_laws(toy, NOISE, grid, alpha)
    op = transition_matrix(toy, NOISE, grid, alpha)
    monkeypatch.setattr(gs, "DROP", 0.0)  # every cell computed
    full_targets, full, _ = grid_move_laws(toy, NOISE, grid, alpha)
    ref = transition_matrix(toy, NOISE, grid, alpha)
    P, R = op.P, ref.P
    assert np.array_equal(P.indptr, R.indptr) and np.array_equal(P.indices, R.indices)
    assert np.array_equal(P.data.view(np.int64), R.data.view(np.int64)) and op.dropped_mass == ref.dropped_mass
    far = np.abs(full_targets[:, 0] - own[:, :1]) > 1
    assert np.count_nonzero((P.data < 1e-14) & (P.data > 0)) > 0  # kept entries below tol: neighbours
    left = (targets[:, 0] < 0) & (full_targets[:, 0] >= 0)
    assert 1000 < np.count_nonzero(left) < np.count_nonzero(far)  # some far cells, not all
    cells = np.nonzero(left)
    assert far[cells].all() and np.all(full_targets[:, 0][cells] > 0)
    assert np.all(full_targets[:, 0][cells] < grid.size - 1)
    assert np.all(full[:, 0][cells] < 0.25e-14) and np.all(fast[:, 0][cells] == 0.0)
    stay = ~left & (full_targets[:, 0] >= 0)
    assert np.array_equal(fast[:, 0][stay], full[:, 0][stay])  # every other cell: the same bits
    W = targets.shape[2]
    assert np.all(np.abs(fast.sum(axis=2) - full.sum(axis=2)) <= W * 0.25e-14)
    # an end of the grid carries its tail whatever its gap: bf16 from 2^-125 (gaps of 2^-133, far below tol·α·std
    # here) with the step's spread far wider than the domain, where each end's tail holds about half of a row's mass
    domain, alpha = (2.0**-125, 2.0**-100), 2.0**-80
    toy, grid = get_problem("toy", domain=domain), Grid.of("bf16", domain)
    P = transition_matrix(toy, NOISE, grid, alpha).P
    monkeypatch.setattr(gs, "DROP", 0.25)
    Q = transition_matrix(toy, NOISE, grid, alpha).P
    assert np.array_equal(P.indices, Q.indices) and np.array_equal(P.data, Q.data)
    assert np.all(P[:, 0].toarray() > 0.1)  # the tail, kept in every row


def _r_reference(noise, x, g, alpha, v, c):
    """Pr(Qd(y) = v_c) for an interior value: the step's density over the rounding cell between the midpoints, by
    adaptive quadrature (split at the density's kink at ξ̄ = 0 where it lies inside)."""
    lo, hi = 0.5 * (v[c - 1] + v[c]), 0.5 * (v[c] + v[c + 1])
    kink = x - alpha * g  # y at ξ̄ = 0

    def f(y):
        return float(noise.pdf(np.array((x - y) / alpha - g))) / alpha

    points = [kink] if lo < kink < hi else None
    return quad(f, lo, hi, points=points, epsabs=0, epsrel=1e-13)[0]


@pytest.mark.parametrize(
    "noise,fmt,domain,alpha",
    [
        (NOISE, "bf16", (1e-38, 1e-36), 0.01),  # gaps 9.2e-41 … 7.4e-39: the midpoint rule, exact to rounding
        (NOISE, "bf16", (-(2.0**-120), 2.0**-120), 2.0**-110),  # both signs, Gauss–Legendre and the midpoint rule
        # the step's spread (2^-99) as wide as the domain: cells near 2^-125 take the midpoint rule where the
        # density's slope is O(1) (a left-point rule would be off by ~1e-9 there)
        (NOISE, "bf16", (2.0**-125, 2.0**-100), 2.0**-100),
        (NOISE, "fp16", (1e-7, 1e-5), 1e-4),  # subnormals 6e-8 apart, the step's spread 2e-4
        (NOISE, "fp16", (1e-7, 1e-5), 0.9 * 6e-8 / (WIDE * 2.0)),  # cells just above WIDE·α·std: the CDF differences
        (make_noise("laplace", 2.0), "bf16", (-(2.0**-120), 2.0**-120), 2.0**-110),  # a kink: Gauss–Legendre, split
    ],
)
def test_r_law_on_very_fine_gaps_keeps_its_relative_accuracy(noise, fmt, domain, alpha, monkeypatch):
    """R was refused below 2^-30·α·std (its CDF differences were rounding); now every interior cell's mass matches
    adaptive quadrature. Tolerance: the midpoint rule's error is below 2^-52/24 relative, Gauss–Legendre's a few
    ulps, the differences' at most 64 eps ≈ 1.4e-14 at the threshold; 1e-11 leaves room for the reference's own
    1e-13 and the rounding of the step's offsets (about eps·|b|² relative)."""
    import srchain.grid_sr as gs

    toy = get_problem("toy", domain=domain)
    grid = Grid.of(fmt, domain)
    v = grid.points[:, 0]
    built = transition_matrix(toy, noise, grid, alpha, "r")  # accepted (the far cells that T_α drops leave windows)
    monkeypatch.setattr(gs, "DROP", 0.0)  # every cell of a window computed, to check each
    op = transition_matrix(toy, noise, grid, alpha, "r")
    assert op.dropped_mass < 1e-12 and np.array_equal(op.P.data, built.P.data)
    rows = np.array([0, v.size // 3, v.size // 2, v.size - 1])
    targets, probs, _ = grid_move_laws(toy, noise, grid, alpha, "r", rows=rows)
    checked = 0
    for r, i in enumerate(rows):
        law = np.where(targets[r, 0] >= 0, probs[r, 0], 0.0)
        assert abs(law.sum() - 1.0) < 1e-12
        cells = np.flatnonzero((targets[r, 0] > 0) & (targets[r, 0] < v.size - 1))
        for w in np.unique(np.r_[cells[:3], cells[-3:], cells[:: max(1, cells.size // 25)]]):
            want = _r_reference(noise, v[i], 2.0 * v[i], alpha, v, targets[r, 0, w])  # objective (8): f'(w) = 2w
            assert probs[r, 0, w] == pytest.approx(want, rel=1e-11, abs=1e-300)
            checked += 1
    assert checked > 60
