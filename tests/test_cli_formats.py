"""`--format`, `--scale`, `--sr-bits` on the exact-chain commands (stationary, mixing)."""

import json

import numpy as np
import pytest
from cli_helpers import assert_one_line_error, run

from srchain.grids import Grid


def test_format_fixed_is_delta_bit_for_bit(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    common = ["stationary", "--delta", "0.5", "--alpha", "0.1", "0.01", "--quiet"]
    assert run([*common, "--json", str(a)], capsys)[0] == 0
    assert run([*common, "--format", "fixed", "--json", str(b)], capsys)[0] == 0
    ja, jb = json.loads(a.read_text()), json.loads(b.read_text())
    assert ja["states"] == jb["states"] and ja["limit"] == jb["limit"]
    assert [r["pi"] for r in ja["results"]] == [r["pi"] for r in jb["results"]]
    a, b = tmp_path / "ma.json", tmp_path / "mb.json"
    common = ["mixing", "--delta", "0.5", "--alpha", "0.3", "--quiet"]
    assert run([*common, "--json", str(a)], capsys)[0] == 0
    assert run([*common, "--format", "fixed", "--json", str(b)], capsys)[0] == 0
    ra, rb = (json.loads(p.read_text())["results"] for p in (a, b))
    for r in ra + rb:
        r.pop("seconds")
    assert ra == rb


def test_stationary_on_fp8(tmp_path, capsys):
    out = tmp_path / "s.json"
    store = tmp_path / "s.nc"
    code, text, err = run(
        ["stationary", "--format", "fp8-e4m3", "--alpha", "0.1", "--quiet", "--json", str(out), "--out", str(store)],
        capsys,
    )
    assert code == 0, err
    assert "fp8-e4m3 grid" in text
    j = json.loads(out.read_text())
    grid = Grid.of("fp8-e4m3", (-4, 10))
    assert np.array_equal(np.asarray(j["states"])[:, 0], grid.axis(0))
    assert j["settings"]["format"] == "fp8-e4m3"
    import srchain as sc

    ds = sc.open_results(str(store))
    assert np.array_equal(ds["x0"].values, grid.axis(0))


def test_sr_bits_changes_the_law(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    common = ["stationary", "--format", "fp8-e5m2", "--domain", "1", "8", "--alpha", "0.01", "--quiet"]
    assert run([*common, "--json", str(a)], capsys)[0] == 0
    assert run([*common, "--sr-bits", "2", "--json", str(b)], capsys)[0] == 0
    pa = np.asarray(json.loads(a.read_text())["results"][0]["pi"])
    pb = np.asarray(json.loads(b.read_text())["results"][0]["pi"])
    assert 0.5 * np.abs(pa - pb).sum() > 0.05


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--format", "fp9"], "unknown format"),
        (["--format", "fp4-e2m1"], "largest finite value"),
        (["--format", "fp4-e2m1", "--scale", "3"], "power of two"),
        (["--format", "fp8-e4m3", "--sr-bits", "0"], "1 to 32"),
        (["--format", "fp8-e4m3", "--sr-bits", "33"], "1 to 32"),
        (["--format", "bf16", "--dim", "2", "--problem", "separable", "--max-states", "1000000"], "more than the"),
        (["--format", "fp8-e4m3", "--method", "r", "--sr-bits", "4"], "SR only"),
    ],
)
def test_one_line_errors(argv, needle, capsys):
    code, _, err = run(["stationary", "--alpha", "0.1", "--quiet", *argv], capsys)
    assert_one_line_error(code, err, needle)


@pytest.mark.parametrize("command", ["stationary", "mixing", "simulate"])
@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--format", "fp8-e4m3", "--delta", "0.25"], "--delta sets the fixed grid's step"),
        (["--scale", "2"], "--scale is a format's block scale"),
        (["--format", "fixed", "--scale", "2"], "--scale is a format's block scale"),
    ],
)
def test_a_grid_option_that_does_not_apply_is_refused(command, argv, needle, capsys):
    """--delta with a format and --scale with the fixed grid would be ignored: refused in one line instead (given
    explicitly, even at their default values)."""
    code, _, err = run([command, "--alpha", "0.1", "--quiet", *argv], capsys)
    assert_one_line_error(code, err, needle)
    code, _, err = run([command, "--alpha", "0.1", "--quiet", "--format", "bf16", "--delta", "0.5"], capsys)
    assert_one_line_error(code, err, "drop --delta")


def test_simulate_on_a_format(tmp_path, capsys):
    """`srchain simulate --format`: counts over the grid's states, the same as the library's simulator."""
    out = tmp_path / "sim.json"
    argv = ["simulate", "--format", "fp8-e5m2", "--method", "sr", "r", "--alpha", "0.1", "--steps", "500"]
    code, text, err = run([*argv, "--chains", "3", "--start", "4", "--quiet", "--json", str(out)], capsys)
    assert code == 0, err
    j = json.loads(out.read_text())
    grid = Grid.of("fp8-e5m2", (-4, 10))
    assert np.array_equal(np.asarray(j["states"])[:, 0], grid.axis(0))
    from srchain.noise import make_noise
    from srchain.problems import get_problem
    from srchain.simulate.grid import simulate_grid

    ref = simulate_grid(get_problem("toy"), make_noise("gaussian", 2.0), grid, "r", 0.1, 500, 3, [4.0], seed=0)
    assert j["results"][1]["counts"] == ref.counts.tolist() and sum(j["results"][0]["counts"]) == 1500
    code, _, err = run(["simulate", "--format", "fp8-e5m2", "--out", str(tmp_path / "x.zarr"), "--quiet"], capsys)
    assert_one_line_error(code, err, "--out is for the fixed grid")
