"""BC in `srchain formats`: its exact law on the format's grid where the transfer operator fits, simulated (and
said so) where it does not."""

import json

import numpy as np
import pytest
from cli_helpers import assert_one_line_error, run
from srchain.toy.bc_law import bc_law
from srchain.toy.formats import _bc_row, study_format

from srchain.grids import Grid
from srchain.noise import make_noise
from srchain.problems import get_problem
from srchain.simulate.grid import simulate_grid

TOY = get_problem("toy", domain=(1.0, 8.0))
NOISE = make_noise("gaussian", 2.0)


def test_study_reports_bcs_exact_law():
    grid = Grid.of("fp8-e4m3", (1, 8))
    st = study_format(TOY, NOISE, grid, [0.1, 0.01], bc=True, max_exact_states=0)
    assert [r["method"] for r in st.rows] == ["sr", "r", "bc"] * 2
    cells = grid.cells(TOY.minimizer)
    dist = np.abs(grid.points[:, 0] - 4.75)
    for row in st.rows[2::3]:
        law = bc_law(TOY, NOISE, grid, row["alpha"], tol=1e-3)
        assert row["law"] == "exact" and row["note"] == ""
        np.testing.assert_array_equal(row["pi"], law.pi)
        assert row["mass_at_minimizer"] == pytest.approx(float(law.pi[cells].sum()), rel=1e-12)
        assert row["expected_distance"] == pytest.approx(float(law.pi @ dist), rel=1e-12)
        assert row["residual"] == law.tv_change < 1e-3
        assert row["mixing_time"] is None and row["tv_to_limit"] is None
    # the other rows are exact chains
    assert {r["law"] for r in st.rows if r["method"] != "bc"} == {"exact"}


def test_bc_is_simulated_where_its_operator_does_not_fit():
    """With a memory limit below the first level's estimate BC is simulated: 4 chains × 10⁶ steps at α = 0.1.

    Tolerance: the frequency of state i has std ≤ sqrt(π_i(1 − π_i)·2τ/N), N = 4·10⁶, τ ≲ 100 steps at α = 0.1
    (the latent step has std 0.2 on a box of length 7); with Σ_i sqrt(π_i) ≤ sqrt(25) the expected TV error is
    ≲ ½·5·sqrt(200/4e6) ≈ 0.018, and we allow 0.03 plus the operator's tolerance.
    """
    grid = Grid.of("fp8-e4m3", (1, 8))
    cells, dist = grid.cells(TOY.minimizer), np.abs(grid.points[:, 0] - 4.75)
    row = _bc_row(TOY, NOISE, grid, 0.1, cells, dist, 1e-3, 10**6, max_bytes=1e4)
    assert row["law"] == "simulated"
    assert row["note"].startswith("simulated (4e+06 steps of 4 chains)") and "max_memory" in row["note"]
    pi = np.asarray(row["pi"])
    assert abs(pi.sum() - 1) < 1e-12
    exact = bc_law(TOY, NOISE, grid, 0.1, tol=1e-3).pi
    assert 0.5 * np.abs(pi - exact).sum() < 0.03 + 1e-3
    assert row["mass_at_minimizer"] == pytest.approx(float(pi[cells].sum()))
    # as documented: the occupation of 4 chains from the minimiser after a tenth as many burn-in steps, seed 0
    run = simulate_grid(TOY, NOISE, grid, "bc", 0.1, 10**6, chains=4, seed=0, burn=10**5)
    np.testing.assert_array_equal(pi, run.occupation())


def test_command_reports_bc_and_which_law(tmp_path, capsys):
    out, store = tmp_path / "f.json", tmp_path / "f.nc"
    argv = ["formats", "--formats", "fp8-e5m2", "--alpha", "0.1", "--quiet", "--json", str(out), "--out", str(store)]
    code, text, err = run(argv, capsys)
    assert code == 0, err
    assert "law" in text and "bc  exact" in text
    doc = json.loads(out.read_text())
    assert doc["bc_tol"] == 1e-3
    rows = doc["formats"][0]["results"]
    assert [r["method"] for r in rows] == ["sr", "r", "sr4", "bc"]
    assert [r["law"] for r in rows] == ["exact"] * 4
    import srchain as sc

    ds = sc.open_results(str(store))
    assert ds["simulated"].sel({"method": "bc"}).values.tolist() == [[0.0]]
    code, text, err = run([*argv[:-4], "--no-bc"], capsys)
    assert code == 0 and "bc " not in text


def test_bad_bc_tol(capsys):
    code, _, err = run(["formats", "--formats", "fp8-e4m3", "--alpha", "0.1", "--quiet", "--bc-tol", "1e-20"], capsys)
    assert_one_line_error(code, err, "--bc-tol")
