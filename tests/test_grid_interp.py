"""Rows whose mean steps share a binade, interpolated between a few reference rows (srchain.grid_interp).

The error bound holds in 60-digit arithmetic; the interpolated rows keep exactly the cells of the direct computation
and its values within the bound plus the references' rounding (checked against 60-digit integrals too); a row's law
does not depend on the chunk of rows it is computed in or on the thread count; binades whose windows reach an end of
the grid take its tail into the bound."""

import math

import mpmath as mp
import numba
import numpy as np
import pytest

import srchain.grid_interp as gi
from srchain.assemble import build_rows
from srchain.grid_chains import chunk_rows, grid_move_laws, grid_transition_matrix, prepare_rows
from srchain.grids import Grid
from srchain.noise import make_noise
from srchain.problems import Problem, get_problem
from srchain.wide_moves import WIDE

NOISE = make_noise("gaussian", 2.0)
# bf16 down to its smallest subnormal 2^-133 (2,817 values); the step's reach at tol = 1e-6 (α·2·4.89 ≈ 2^-117.7)
# leaves the binades below 2^-119 clear of the ends: 1,216 rows have their law interpolated
DOMAIN = (-(2.0**-116), 2.0**-116)
TOY, GRID, ALPHA, TOL = get_problem("toy", domain=DOMAIN), Grid.of("bf16", DOMAIN), 2.0**-121, 1e-6


@pytest.fixture
def counted(monkeypatch):
    """The number of rows whose law is interpolated, counted as they are."""
    seen = {"rows": 0}
    tables, rows_1d = gi._interpolate_rows, gi._rows_1d

    def counting_tables(rows, *args):
        seen["rows"] += args[-1] - args[-2]
        return tables(rows, *args)

    def counting_rows(rows, *args):
        seen["rows"] += 0 if args[9] else args[-1] - args[-2]  # (its first pass: write is False)
        return rows_1d(rows, *args)

    monkeypatch.setattr(gi, "_interpolate_rows", counting_tables)
    monkeypatch.setattr(gi, "_rows_1d", counting_rows)
    return seen


@pytest.fixture
def sixty_digits():
    with mp.workdps(60):
        yield


def _direct(monkeypatch):
    monkeypatch.setattr(gi, "ROWS_PER_POINT", math.inf)  # no binade holds enough values: every row computed directly


def _check_the_bound(F, Z, eta):
    """``F`` (60 digits) interpolated from its exact values at m Chebyshev points of [−η, η] errs by at most
    error_bound(Z, η, 1, m) at 41 points, for every m up to points_needed(Z, η, 1), and by at most
    INTERPOLATION_ERROR there."""
    need = gi.points_needed(Z, eta, 1.0)
    assert 1 <= need <= gi.POINTS_MAX
    at = [mp.mpf(eta) * (mp.mpf(k) / 20 - 1) for k in range(41)]
    exact = [F(c) for c in at]
    for m in range(1, need + 1):
        nodes = [mp.mpf(eta) * mp.cos((2 * j + 1) * mp.pi / (2 * m)) for j in range(m)]
        values = [F(c) for c in nodes]
        worst = 0
        for c, want in zip(at, exact, strict=True):
            got = mp.fsum(
                values[j] * mp.fprod((c - nodes[k]) / (nodes[j] - nodes[k]) for k in range(m) if k != j)
                for j in range(m)
            )
            worst = max(worst, abs(got - want) / want)
        assert worst <= gi.error_bound(Z, eta, 1.0, m)
    assert worst <= gi.INTERPOLATION_ERROR


@pytest.mark.parametrize("Z,eta", [(8.0, 0.05), (16.0, 0.02), (16.0, 1e-3), (30.0, 0.015), (16.0, 1e-10)])
def test_the_interpolation_bound_holds_on_a_smoothed_hat_at_the_edge_of_reach(Z, eta, sixty_digits):
    """The hat function of a cell whose far end is at |z| = Z from every mean step of the binade (the largest |z|
    the bound allows), smoothed by a unit Gaussian, in 60-digit arithmetic (F = s·ψ second difference, ψ(u) =
    uΦ(u) + φ(u), no cancellation at 60 digits): interpolated from its exact values at m Chebyshev points, it errs
    by at most error_bound(m) at 41 points of the binade, for every m up to points_needed, and by at most
    INTERPOLATION_ERROR at points_needed."""
    H = mp.mpf(1) / 64  # a wide cell's gaps (WIDE·std)
    v2 = mp.mpf(Z) - mp.mpf(eta)
    v1, v0 = v2 - H, v2 - 2 * H

    def F(c):
        u = [(c - v) for v in (v0, v1, v2)]
        psi = [x * mp.ncdf(x) + mp.npdf(x) for x in u]
        return psi[0] / H - psi[1] * (2 / H) + psi[2] / H

    _check_the_bound(F, Z, eta)


@pytest.mark.parametrize("side", [1, -1])
@pytest.mark.parametrize("Z,eta", [(8.0, 0.05), (16.0, 1e-3), (30.0, 0.01)])
def test_the_bound_with_z_plus_s_holds_on_an_end_cells_tail(Z, eta, side, sixty_digits):
    """The tail beyond an end of the grid, Pr(ξ̄ > a) for a unit Gaussian, with |a| up to Z over the binade (far in
    the tail, side 1, where the inverse Mills ratio grows like |a|; or near 1, side −1): interpolated from its exact
    values at m Chebyshev points, it errs by at most error_bound(Z + s) (s = 1), for every m up to the points that
    bound asks for, and by at most INTERPOLATION_ERROR there."""
    v0 = -side * (mp.mpf(Z) - mp.mpf(eta))  # a = c − v0 ranges over side·[Z − 2η, Z]

    def F(c):
        return mp.ncdf(-(c - v0))

    _check_the_bound(F, Z + 1.0, eta)


def test_points_needed_refuses_binades_across_which_entries_change_by_more_than_e():
    assert gi.points_needed(16.0, 1.0 / 32, 1.0) > 0  # 2Zη/s² = 1: allowed
    assert gi.points_needed(16.0, 1.0 / 31, 1.0) == 0  # 2Zη/s² = 1.03
    assert gi.points_needed(16.0, 1e-3, 1.0) < gi.points_needed(16.0, 1e-2, 1.0)
    assert gi.points_needed(1000.0, 1e-3, 1.0) == 0  # 2Zη/s² = 2


def test_points_needed_refuses_binades_that_no_points_up_to_the_most_interpolate():
    """A binade as wide as the noise (η = s, Z = 0: 2Zη/s² = 0) needs more than POINTS_MAX points: its bound there
    is 7e-15, far above 2^-57, so the binade is not interpolated (0), while at η = s/2 the fewest that meet it do."""
    assert gi.error_bound(0.0, 1.0, 1.0, gi.POINTS_MAX) > 1000 * gi.INTERPOLATION_ERROR
    assert gi.points_needed(0.0, 1.0, 1.0) == 0
    m = gi.points_needed(0.0, 0.5, 1.0)
    assert 1 < m <= gi.POINTS_MAX
    assert gi.error_bound(0.0, 0.5, 1.0, m - 1) > gi.INTERPOLATION_ERROR >= gi.error_bound(0.0, 0.5, 1.0, m)


@pytest.mark.parametrize("method", ["sr", "r"])
def test_interpolated_rows_keep_the_direct_cells_and_values(method, counted, monkeypatch):
    """T_α with the binades interpolated against T_α computed row by row: the same entries (every cell kept or
    dropped alike, the own value's neighbours too), and values within 1e-14 relative where SR integrates the density
    (wide cells, both few ulps: the bound's 2^-57 plus the references' rounding times the Lebesgue constant, below
    3, and e: about 10 ulps); within 2e-13 for R (its differences of the CDF lose at most 64 eps = 1.4e-14, carried
    over at most 3e times: 1.3e-13); within 1e-10 where SR takes differences of the excess (measured within 4e-12
    of 60-digit integrals here, carried over at most 3e times: 3.3e-11)."""
    binned = grid_transition_matrix(TOY, NOISE, GRID, ALPHA, method, tol=TOL).P
    assert counted["rows"] > 1000
    _direct(monkeypatch)
    direct = grid_transition_matrix(TOY, NOISE, GRID, ALPHA, method, tol=TOL).P
    assert np.array_equal(binned.indptr, direct.indptr) and np.array_equal(binned.indices, direct.indices)
    rel = np.abs(binned.data - direct.data) / direct.data
    v = GRID.points[:, 0]
    gaps = np.diff(v)
    t = direct.indices
    inner = (t > 0) & (t < v.size - 1)
    wide = np.zeros(t.size, dtype=bool)
    wide[inner] = np.maximum(gaps[t[inner] - 1], gaps[t[inner]]) <= WIDE * ALPHA * NOISE.std
    if method == "r":
        assert rel.max() < 2e-13
    else:
        assert wide.mean() > 0.5 and rel[wide].max() < 1e-14 and rel.max() < 1e-10


def test_interpolated_laws_are_within_the_bound_of_60_digit_integrals(sixty_digits):
    """SR's law (before T_α renormalises rows) on 600 cells of interpolated rows against the hat function
    integrated exactly (60 digits, F = s·ψ second difference): within 1e-14 relative at the wide cells (measured
    2.1e-15; the direct quadrature 5.3e-16) and 1e-10 at the others (measured 6.4e-12; the direct differences
    3.4e-12)."""
    v = GRID.points[:, 0]
    grad = TOY.gradient(GRID.points)[:, 0]
    c = v - ALPHA * grad
    rows = np.flatnonzero((np.abs(c) < 2.0**-124) & (c != 0))
    a, b = rows[0], rows[-1] + 1
    targets, probs, _ = grid_move_laws(TOY, NOISE, GRID, ALPHA, "sr", TOL, rows=slice(a, b))
    S = 2 * mp.mpf(ALPHA)

    def exact(i, t):
        step = mp.mpf(v[i]) - mp.mpf(ALPHA) * mp.mpf(grad[i])
        vs = [mp.mpf(v[t + k]) for k in (-1, 0, 1)]
        psi = [u * mp.ncdf(u) + mp.npdf(u) for u in ((step - x) / S for x in vs)]
        return S * (
            psi[0] / (vs[1] - vs[0]) - psi[1] * (1 / (vs[1] - vs[0]) + 1 / (vs[2] - vs[1])) + psi[2] / (vs[2] - vs[1])
        )

    rng = np.random.default_rng(7)
    worst = {True: 0.0, False: 0.0}
    for r in rng.choice(b - a, 30, replace=False):
        cells = np.flatnonzero(targets[r, 0] >= 0)
        for w in rng.choice(cells, 20, replace=False):
            t = targets[r, 0, w]
            if 0 < t < v.size - 1:
                want = exact(a + r, t)
                wide = max(v[t] - v[t - 1], v[t + 1] - v[t]) <= WIDE * ALPHA * NOISE.std
                worst[wide] = max(worst[wide], float(abs(probs[r, 0, w] - want) / want))
    assert worst[True] < 1e-14 and worst[False] < 1e-10


def test_a_rows_law_does_not_depend_on_its_chunk_or_the_threads(counted):
    """A binade's reference rows and each row's weights depend on the grid, the noise, α and tol alone: the rows of
    a range computed as one chunk, as two chunks cut inside a binade, and on one thread, have the same bits."""
    _, _, _, grads, _, _ = prepare_rows(TOY, NOISE, GRID, ALPHA, "sr", TOL, None)
    v = GRID.points[:, 0]
    a, b = np.searchsorted(v, [-(2.0**-125), 2.0**-125])
    cut = int(np.searchsorted(v, 1.3 * 2.0**-127))  # inside the binade [2^-127, 2^-126)
    whole = chunk_rows(TOY, NOISE, GRID, ALPHA, "sr", TOL, grads, None, a, b)
    assert counted["rows"] > 400
    parts = [chunk_rows(TOY, NOISE, GRID, ALPHA, "sr", TOL, grads, None, lo, hi) for lo, hi in ((a, cut), (cut, b))]
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        single = chunk_rows(TOY, NOISE, GRID, ALPHA, "sr", TOL, grads, None, a, b)
    finally:
        numba.set_num_threads(threads)
    for k in range(3):
        assert np.array_equal(whole[k], np.concatenate([parts[0][k], parts[1][k]]))
        assert np.array_equal(whole[k], single[k])


@pytest.mark.parametrize("method", ["sr", "r"])
def test_binades_that_reach_an_end_take_its_tail_and_other_noises_are_computed_directly(method, counted, monkeypatch):
    """A binade whose rows' windows reach an end of the grid takes Z + s in its bound (the end cell carries the tail
    beyond it): on fp16's subnormals at α·std far wider than the domain (every row spans every state, ends included)
    1,472 of the 1,537 rows are interpolated, with the same entries as row by row and values within 1e-14 (measured
    1.1e-15; the end cells 4.6e-16). Laplace noise (no bound on its derivatives here) is computed directly."""
    v = GRID.points[:, 0]
    alpha = 2.0**-118  # the reach, 2^-114.7, spans the whole grid
    c0, eta_w, m, lo, hi = gi._binade(2 * -121, v, alpha, alpha * NOISE.quantile_width(TOL), NOISE.s)
    Z = (max(c0 + eta_w - v[lo], v[hi] - (c0 - eta_w)) + np.max(np.diff(v))) / alpha
    assert (lo, hi) == (0, v.size - 1)
    assert m == gi.points_needed(Z + NOISE.s, eta_w / alpha, NOISE.s) > gi.points_needed(Z, eta_w / alpha, NOISE.s)
    domain = (-(2.0**-14), 2.0**-15)
    problem, grid = get_problem("toy", domain=domain), Grid.of("fp16", domain)
    binned = grid_transition_matrix(problem, NOISE, grid, 1e-3, method).P
    assert counted["rows"] == 1472
    grid_transition_matrix(TOY, make_noise("laplace", 2.0), GRID, ALPHA, tol=TOL)
    assert counted["rows"] == 1472
    _direct(monkeypatch)
    direct = grid_transition_matrix(problem, NOISE, grid, 1e-3, method).P
    assert np.array_equal(binned.indptr, direct.indptr) and np.array_equal(binned.indices, direct.indices)
    ends = (direct.indices == 0) | (direct.indices == grid.size - 1)
    assert ends.sum() >= 2 * grid.size - 2  # every row moves to both ends
    assert np.max(np.abs(binned.data - direct.data) / direct.data) < 1e-14


@pytest.mark.parametrize("method", ["sr", "r"])
def test_far_cells_leave_interpolated_rows_as_they_leave_direct_ones(method, counted, monkeypatch):
    """bf16 on [−4, 10] at α = 0.01 (the issue's grid): the chunks of rows at 0 (most cells are far values near 0
    that T_α drops from every row but their neighbours'), at 1e-8 and at 1e-3 (where the mean step x − αg differs
    from x by 2%), built straight from the reference rows: the same bits as from the interpolated move laws' tables
    (srchain.assemble.build_rows), and the same entries as the direct computation, the values within the tolerances
    of test_interpolated_rows_keep_the_direct_cells_and_values (wide cells: 1e-14; R: 2e-13; SR's differences:
    1e-10)."""
    toy, bf = get_problem("toy"), Grid.of("bf16", (-4.0, 10.0))
    alpha, _, _, grads, chunks, _ = prepare_rows(toy, NOISE, bf, 0.01, method, 1e-14, None)
    v = bf.points[:, 0]
    picked = [next((a, b) for a, b in chunks if a <= np.searchsorted(v, at) < b) for at in (0.0, 1e-8, 1e-3)]
    binned = [chunk_rows(toy, NOISE, bf, alpha, method, 1e-14, grads, None, a, b) for a, b in picked]
    # every row but 0's (its mean step is 0) and the 8 at bf16's four smallest subnormals (their mean steps' binades
    # hold one or two values: fewer than ROWS_PER_POINT per reference row)
    assert counted["rows"] == sum(b - a for a, b in picked) - 9
    for (a, b), got in zip(picked, binned, strict=True):  # the same bits as from the move laws' tables
        targets, probs, own = grid_move_laws(toy, NOISE, bf, alpha, method, 1e-14, grads[a:b], np.arange(a, b))
        tables = build_rows(targets, probs, bf, 1e-14, own)
        assert all(np.array_equal(x, y) for x, y in zip(got, tables, strict=True))
    _direct(monkeypatch)
    for (a, b), got in zip(picked, binned, strict=True):
        want = chunk_rows(toy, NOISE, bf, alpha, method, 1e-14, grads, None, a, b)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
        assert got[1].size < 0.5 * (b - a) * (want[1].max() - want[1].min())  # most cells left the windows
        rel = np.abs(got[2] - want[2]) / want[2]
        t = want[1]
        wide = np.maximum(v[t] - v[np.maximum(t - 1, 0)], v[np.minimum(t + 1, v.size - 1)] - v[t]) <= WIDE * 0.02
        assert rel.max() < (2e-13 if method == "r" else 1e-10) and rel[wide].max() < 1e-14


def test_a_row_keeps_its_own_values_neighbours_below_tol_as_the_direct_computation_does(counted, monkeypatch):
    """A constant slope steps every row 0.9 of the reach away from its own value (the most a binned row may): the
    rows whose mean steps land in an interpolated binade keep their own value and its neighbours, far below tol
    there, as T_α does row by row (srchain.assemble keeps the self-loop and nearest-neighbour moves)."""
    slope = 0.9 * NOISE.quantile_width(TOL)  # α·g = 0.9 of the reach
    problem = Problem(
        name="slope",
        dim=1,
        domain=np.array([DOMAIN]),
        value=lambda w: slope * np.asarray(w)[..., 0],
        gradient=lambda w: np.full(np.shape(w), slope),
    )
    binned = grid_transition_matrix(problem, NOISE, GRID, ALPHA, tol=TOL).P.tocoo()
    rows = counted["rows"]
    v = GRID.points[:, 0]
    interpolated = gi._binning(NOISE, v, np.full(v.size, slope), ALPHA, np.r_[0.0, v, 0.0], TOL)[2]
    _direct(monkeypatch)
    direct = grid_transition_matrix(problem, NOISE, GRID, ALPHA, tol=TOL).P.tocoo()
    assert np.array_equal(binned.row, direct.row) and np.array_equal(binned.col, direct.col)
    assert rows == interpolated.sum() >= 10
    near = (np.abs(binned.row - binned.col) <= 1) & (binned.data < TOL) & interpolated[binned.row]
    assert near.sum() == 3 * rows  # each interpolated row's own value and both neighbours


def test_on_a_2d_box_each_axis_law_is_interpolated_as_in_1d(counted, monkeypatch):
    """A product box whose first axis is the bf16 grid above (separable objective (8)): the move laws along it, on
    rows near 0, interpolated from the move tables (srchain.grid_interp.binned_axis_law) keep the same targets as row
    by row and values within the tolerances of the 1-D test (1e-10; the wide cells 1e-14)."""
    box = np.array([DOMAIN, (1.0, 1.03)])
    grid = Grid.of("bf16", box)
    problem = get_problem("separable", dim=2, domain=box)
    rows = np.flatnonzero(np.abs(grid.points[:, 0]) < 2.0**-124)[::7]
    targets, probs, _ = grid_move_laws(problem, NOISE, grid, ALPHA, "sr", TOL, rows=rows)
    assert counted["rows"] > 300
    _direct(monkeypatch)
    direct_targets, direct, _ = grid_move_laws(problem, NOISE, grid, ALPHA, "sr", TOL, rows=rows)
    assert np.array_equal(targets, direct_targets)
    on = direct > 0
    rel = np.abs(probs - direct)[on] / direct[on]
    v = grid.axis(0)
    t = np.clip(targets[:, 0, :], 1, v.size - 2)
    wide = (np.maximum(v[t] - v[t - 1], v[t + 1] - v[t]) <= WIDE * ALPHA * NOISE.std) & (targets[:, 0, :] >= 0)
    assert rel.max() < 1e-10 and np.max(np.abs(probs[:, 0][wide] - direct[:, 0][wide]) / direct[:, 0][wide]) < 1e-14
