"""BC's stationary law on a format's grid (variable-width Ulam bins): the bins, the lattice as a special case,
agreement with a long simulation of BC on the same grid, convergence of the refinement, and the memory check."""

import numpy as np
import pytest
from srchain.toy.bc_grid import grid_bins, grid_level_cost, half_cells
from srchain.toy.bc_law import bc_law
from srchain.toy.figure2 import default_noise

from srchain.errors import SrchainError
from srchain.grids import Grid
from srchain.lattice import Lattice
from srchain.noise import make_noise
from srchain.problems import get_problem
from srchain.simulate.grid import simulate_grid

NOISE = make_noise("gaussian", sigma=2.0)


def test_bins_lie_inside_the_cells_of_qd_and_are_no_wider_than_h():
    grid = Grid.of("fp8-e4m3", (-4, 10))
    v = grid.axis(0)
    h = 0.05
    edges, cell, r = grid_bins(v, h)
    widths = np.diff(edges)
    assert np.all(widths > 0) and np.all(widths <= h * (1 + 1e-12))
    assert edges[0] == v[0] and edges[-1] == v[-1]
    # every midpoint of neighbouring values is a bin edge, and every bin's points round (Qd) to its cell's value
    mids = 0.5 * (v[:-1] + v[1:])
    assert np.all(np.isin(mids, edges))
    for t in (0.01, 0.5, 0.99):
        x = edges[:-1] + t * widths
        np.testing.assert_array_equal(grid.nearest(x[:, None]), cell)
    # a half cell narrower than h keeps one bin (the fine part near 0), a wider one is split
    _, hw, _ = half_cells(v)
    np.testing.assert_array_equal(r, np.maximum(1, np.ceil(hw / h)).astype(int))
    assert r.min() == 1 and r.max() > 1


@pytest.mark.parametrize("alpha", [1.0, 0.1, 0.01])
def test_uniform_values_give_the_lattice_law(alpha):
    """The variable-width path on a grid of equally spaced values (built as a format-less Grid) follows the same
    levels as the lattice path and gives its law up to rounding of the bin edges."""
    toy = get_problem("toy")
    lat = Lattice.from_domain(0.5, toy.domain)
    nz = default_noise()
    law = bc_law(toy, nz, lat, alpha)
    g = bc_law(toy, nz, Grid.from_values(lat.axis(0)), alpha, h0=law.levels[0]["h"])
    assert [lv["bins"] for lv in g.levels] == [lv["bins"] for lv in law.levels]
    np.testing.assert_allclose(g.pi, law.pi, rtol=0, atol=1e-10)


@pytest.mark.parametrize(("name", "domain", "alpha"), [("fp8-e4m3", (-4.0, 10.0), 0.1), ("bf16", (1.0, 8.0), 0.1)])
def test_law_matches_a_long_simulation_on_the_same_grid(name, domain, alpha):
    """fp8-e4m3 on [−4, 10] (155 values, subnormals and 0 inside) and bf16 on [1, 8] (385 values).

    Tolerance: C = 16 independent replicas (seeds 100…115), each run for S = 10⁶ steps after a burn-in of 2·10⁴
    (the latent weight's step has std α·σ = 0.2, so the burn-in diffuses √(2·10⁴)·0.2 ≈ 28 ≫ the box). Each
    replica's occupation f_c is one batch mean; the replicas are independent, so the autocorrelation within a
    replica is accounted for without modelling it: the standard error of f̄ on state i is sd_i = s_i/√C with s_i
    the replicas' sample std (its relative error from 16 replicas is ≈ 1/√30 ≈ 18%, inside the factor 4).
    With e_i = f̄_i − π_i, TV = ½Σ|e_i| has E[TV] ≤ ½Σ sd_i =: m (Jensen) and sd(TV) ≤ ½Σ sd(|e_i|) ≤ m (the
    triangle inequality for standard deviations), so TV ≤ 4m fails with probability at most 1/(1 + 3²) = 10% by
    Cantelli's inequality even in the worst case of perfectly correlated states (nearly independent states make
    TV concentrate at ≈ 0.8m). The operator's own error is below its refinement tolerance (its changes shrink by
    ≈ 4× per level, so the remaining error is ≈ ⅓ of the last change < tol = 1e-4); both are added. On these
    settings m ≈ 6e-4 (fp8) and 3e-3 (bf16).
    """
    problem = get_problem("toy", domain=domain)
    grid = Grid.of(name, problem.domain)
    law = bc_law(problem, NOISE, grid, alpha, tol=1e-4)
    assert law.converged
    C, S = 16, 1_000_000
    F = np.array(
        [
            simulate_grid(
                problem, NOISE, grid, "bc", alpha, S, chains=1, seed=100 + c, burn=20_000, start=5.0
            ).occupation()
            for c in range(C)
        ]
    )
    fbar = F.mean(axis=0)
    m = 0.5 * float(np.sum(F.std(axis=0, ddof=1) / np.sqrt(C)))
    assert 0.5 * float(np.abs(fbar - law.pi).sum()) < 4 * m + law.tol
    # the comparison has power: the law on the same grid with the noise's std doubled is far outside the tolerance
    other = bc_law(problem, make_noise("gaussian", sigma=4.0), grid, alpha, tol=1e-3)
    assert 0.5 * float(np.abs(fbar - other.pi).sum()) > 5 * (4 * m + law.tol)


def test_refinement_converges_on_bf16():
    """On bf16's [1, 8] at α = 0.01 the changes between levels shrink geometrically (≈ 4× per halving of h: the
    Ulam error is second order in the bin width) and the law at tol = 1e-3 is within 2·tol of a much finer one."""
    problem = get_problem("toy", domain=(1.0, 8.0))
    grid = Grid.of("bf16", problem.domain)
    law = bc_law(problem, NOISE, grid, 0.01, tol=1e-3)
    assert law.converged and law.tv_change < 1e-3
    changes = [lv["tv_change"] for lv in law.levels[1:]]
    assert len(changes) >= 3
    assert all(b < a / 2 for a, b in zip(changes, changes[1:], strict=False)), changes
    assert all(lv2["h"] == lv["h"] / 2 for lv, lv2 in zip(law.levels, law.levels[1:], strict=False))
    fine = bc_law(problem, NOISE, grid, 0.01, tol=2e-5)
    assert fine.converged
    assert 0.5 * float(np.abs(fine.pi - law.pi).sum()) < 2 * law.tol
    assert abs(law.pi.sum() - 1) < 1e-12 and np.all(law.pi >= 0)


def test_memory_is_estimated_before_allocation_and_refused_in_one_line():
    # bf16 on [−4, 10] holds 33,185 values, most within 1 of 0: every row near 0 reaches thousands of bins
    problem = get_problem("toy", domain=(-4.0, 10.0))
    grid = Grid.of("bf16", problem.domain)
    need, _, bins = grid_level_cost(problem, NOISE, grid, 0.1, 0.03125)
    assert bins == 2 * (grid.size - 1) and need > 32 * 2**30  # the band matrix alone: 66,368 rows × ~65,000
    with pytest.raises(SrchainError) as exc:
        bc_law(problem, NOISE, grid, 0.1, max_memory=8 * 2**30)
    msg = str(exc.value)
    assert "\n" not in msg and "max_memory" in msg and "smaller domain" in msg
    # the estimate bounds what a level allocates: a small grid passes at its estimate and fails just below it
    small = Grid.of("fp8-e4m3", (1.0, 8.0))
    p8 = get_problem("toy", domain=(1.0, 8.0))
    law = bc_law(p8, NOISE, small, 0.1, tol=0.5)
    first = grid_level_cost(p8, NOISE, small, 0.1, law.levels[0]["h"])[0]
    assert bc_law(p8, NOISE, small, 0.1, tol=0.5, max_memory=first).levels[0]["bins"] == law.levels[0]["bins"]
    with pytest.raises(SrchainError, match="max_memory"):
        bc_law(p8, NOISE, small, 0.1, max_memory=first / 2)


def test_a_level_too_fine_for_memory_is_refused_from_its_bin_count():
    """7·10⁹ bins (h0 = 1e-9 on fp8-e4m3's [1, 8]) are refused from the count alone: nothing of that size (nor of a
    few MiB) is allocated before the one-line error."""
    import tracemalloc

    problem = get_problem("toy", domain=(1.0, 8.0))
    grid = Grid.of("fp8-e4m3", problem.domain)
    tracemalloc.start()
    try:
        with pytest.raises(SrchainError, match="max_memory") as exc:
            bc_law(problem, NOISE, grid, 0.1, h0=1e-9, max_memory=8 * 2**30)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "\n" not in str(exc.value) and "7e+09 bins" in str(exc.value)
    assert peak < 4 * 2**20


def test_blocks_of_rows_do_not_change_the_bits(monkeypatch):
    """The matrix is assembled in blocks of whole rows; with blocks of ~100 entries (hundreds of blocks) the law is
    the same to the last bit."""
    import srchain.toy.bc_grid as bg

    problem = get_problem("toy", domain=(-4.0, 10.0))
    grid = Grid.of("fp8-e4m3", problem.domain)
    law = bc_law(problem, NOISE, grid, 0.1, tol=1e-2)
    monkeypatch.setattr(bg, "CHUNK", 100)
    small = bc_law(problem, NOISE, grid, 0.1, tol=1e-2)
    assert small.pi.tobytes() == law.pi.tobytes() and small.latent.tobytes() == law.latent.tobytes()


def test_bad_inputs_on_a_grid():
    problem = get_problem("toy", domain=(1.0, 8.0))
    grid = Grid.of("fp8-e4m3", problem.domain)
    with pytest.raises(SrchainError):
        bc_law(problem, NOISE, grid, 0.1, h0=0.0)
    p2 = get_problem("separable", dim=2, domain=(1.0, 8.0))
    with pytest.raises(SrchainError):
        bc_law(p2, NOISE, Grid.of("fp8-e4m3", p2.domain), 0.1)
