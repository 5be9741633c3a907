"""`srchain formats` (srchain.toy.formats): SR vs R vs k-bit SR on format grids, exactly."""

import json

import numpy as np
import pytest
from cli_helpers import assert_one_line_error, run
from srchain.toy.formats import default_scale, study_format

from srchain.grid_chains import stall_set
from srchain.grids import Grid
from srchain.noise import make_noise
from srchain.operators import transition_matrix
from srchain.problems import get_problem
from srchain.stationary import stationary


def test_command_outputs(tmp_path, capsys):
    out, store, figs = tmp_path / "f.json", tmp_path / "f.nc", tmp_path / "figs"
    argv = ["formats", "--formats", "fp8-e5m2", "fp4-e2m1", "--alpha", "0.1", "0.01", "--sr-bits", "2", "--quiet"]
    code, text, err = run([*argv, "--json", str(out), "--out", str(store), "--plot", str(figs)], capsys)
    assert code == 0, err
    assert "fp8-e5m2 grid" in text and "fp4-e2m1×2 grid" in text
    doc = json.loads(out.read_text())
    assert [f["format"] for f in doc["formats"]] == ["fp8-e5m2", "fp4-e2m1"]
    f8 = doc["formats"][0]
    grid = Grid.of("fp8-e5m2", (1, 8))
    assert np.array_equal(np.asarray(f8["states"])[:, 0], grid.axis(0))
    assert [r["method"] for r in f8["results"]] == ["sr", "r", "sr2", "bc"] * 2
    # the numbers are those of the chains computed directly
    toy = get_problem("toy", domain=(1, 8))
    noise = make_noise("gaussian", 2.0)
    pi = stationary(transition_matrix(toy, noise, grid, 0.1, "sr")).pi
    assert np.allclose(f8["results"][0]["pi"], pi, rtol=1e-12, atol=0)
    cells = grid.cells([4.75])
    assert f8["results"][0]["mass_at_minimizer"] == pytest.approx(pi[cells].sum(), rel=1e-12)
    assert (figs / "formats-fp8-e5m2.png").stat().st_size > 10_000
    import srchain as sc

    ds = sc.open_results(str(store))
    assert np.array_equal(ds["x0"].sel(format="fp8-e5m2").values[: grid.size], grid.axis(0))
    assert ds["mass_at_minimizer"].sel({"format": "fp8-e5m2", "method": "sr", "alpha": 0.1}).item() == pytest.approx(
        f8["results"][0]["mass_at_minimizer"]
    )


def test_study_kbit_bias_is_toward_zero_and_r_stalls():
    toy = get_problem("toy", domain=(1, 8))
    grid = Grid.of("fp8-e4m3", (1, 8))
    st = study_format(toy, make_noise("gaussian", 2.0), grid, [0.1], sr_bits=3)
    sr, r, k = st.rows
    assert k["kbit_bias"] < 0 and r["stall_count"] >= 1
    assert r["stall_values"] == grid.points[stall_set(toy, grid, 0.1)].tolist()
    assert 0 <= sr["tv_to_limit"] <= 1 and sr["mixing_time"] > 0


def test_kbit_bias_is_the_mean_drift_difference_from_the_chains():
    """The k-bit row's bias is Σ_x π_k(x)(drift_k(x) − drift_SR(x)), drift(x) = Σ_y P(x, y) y − x, computed here from
    the two transition matrices; relative to π_k·|drift_SR|. (R's chain, computed between the two, must not enter.)"""
    toy = get_problem("toy", domain=(1, 8))
    grid = Grid.of("fp8-e4m3", (1, 8))
    noise = make_noise("gaussian", 2.0)
    _, st_r, k = study_format(toy, noise, grid, [0.1], sr_bits=3).rows
    x = grid.points[:, 0]
    P_sr = transition_matrix(toy, noise, grid, 0.1, "sr").P
    P_k = transition_matrix(toy, noise, grid, 0.1, "sr", sr_bits=3).P
    pi_k = stationary(P_k).pi
    drift_sr, drift_k = P_sr @ x - x, P_k @ x - x
    bias = float(pi_k @ (drift_k - drift_sr))
    assert k["method"] == "sr3"
    assert k["tv_to_limit"] is None and st_r["tv_to_limit"] is None  # (π̃ is exact SR's limit)
    assert k["kbit_bias"] == pytest.approx(bias, rel=1e-9)
    assert k["kbit_bias_relative"] == pytest.approx(bias / float(pi_k @ np.abs(drift_sr)), rel=1e-9)


def test_mixing_times_up_to_max_exact_states_inclusive():
    toy = get_problem("toy", domain=(1, 8))
    grid = Grid.of("fp8-e5m2", (1, 8))
    noise = make_noise("gaussian", 2.0)
    at = study_format(toy, noise, grid, [0.1], max_exact_states=grid.size).rows
    below = study_format(toy, noise, grid, [0.1], max_exact_states=grid.size - 1).rows
    assert all(r["mixing_time"] > 0 for r in at)
    assert all(r["mixing_time"] is None for r in below)


def test_the_api_defaults_are_the_commands():
    """`study_format(...)` with its defaults computes what `srchain formats` does with its own."""
    import argparse
    import inspect

    from srchain.toy.commands.formats import configure

    parser = argparse.ArgumentParser()
    configure(parser)
    cli = vars(parser.parse_args([]))
    api = inspect.signature(study_format).parameters
    for name in ("eps", "max_exact_states", "max_steps", "bc_tol", "bc_steps"):
        assert api[name].default == cli[name], name


def test_a_zarr_store_is_written_without_warnings(tmp_path, capsys):
    """The format and method names are variable-length strings in a Zarr store (Zarr 3 warns that fixed-width
    unicode has no stable specification), and read back as the same names."""
    import warnings

    import srchain as sc

    argv = ["formats", "--formats", "fp8-e4m3", "--alpha", "0.1", "--no-bc", "--quiet"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code, _, err = run([*argv, "--out", str(tmp_path / "f.zarr")], capsys)
    assert code == 0, err
    ds = sc.open_results(str(tmp_path / "f.zarr"))
    assert list(ds["method"].values) == ["sr", "r", "sr4"] and list(ds["format"].values) == ["fp8-e4m3"]


def test_r_without_a_law_still_gives_its_stall_set():
    """At α = 1e-3 R on fp8-e4m3 [1, 8] is reducible (17 closed classes): no law, but its stall set, which needs
    none, is in the row (all 25 values: |α∇f| is below half a gap everywhere)."""
    toy = get_problem("toy", domain=(1, 8))
    grid = Grid.of("fp8-e4m3", (1, 8))
    r = study_format(toy, make_noise("gaussian", 2.0), grid, [1e-3], sr_bits=None, bc=False).rows[1]
    assert r["law"] is None and "reducible" in r["note"] and r["stall_mass"] is None
    assert r["stall_count"] == grid.size and r["stall_values"] == grid.points.tolist()


def test_a_chain_not_mixed_within_max_steps_gives_its_certified_lower_bound(capsys):
    """Within 2 steps SR on fp8-e4m3 [1, 8] has not mixed (t_mix is in the tens): the row gives no mixing time but
    the steps after which the exact doubling certified it unmixed (a power of 2, at most max_steps), and the table
    prints it as ">S"."""
    from srchain.mixing import mixing_time

    toy = get_problem("toy", domain=(1, 8))
    grid = Grid.of("fp8-e4m3", (1, 8))
    noise = make_noise("gaussian", 2.0)
    st = study_format(toy, noise, grid, [0.1], sr_bits=None, max_steps=2)
    sr = st.rows[0]
    exact = mixing_time(transition_matrix(toy, noise, grid, 0.1, "sr").P, eps=0.25).mixing_time
    assert exact > 2 and sr["mixing_time"] is None
    assert sr["mixing_time_above"] in (1, 2) and sr["mixing_time_above"] < exact
    assert "M_eps > " in sr["note"] and "max_steps = 2" in sr["note"]
    full = study_format(toy, noise, grid, [0.1], sr_bits=None)
    assert full.rows[0]["mixing_time"] == exact and full.rows[0]["mixing_time_above"] is None
    argv = ["formats", "--formats", "fp8-e4m3", "--alpha", "0.1", "--no-bc", "--sr-bits", "2", "--quiet"]
    code, text, err = run([*argv, "--max-steps", "2"], capsys)
    assert code == 0, err
    assert text.count(" >2 ") == 3 and text.count("M_eps > 2 (") == 3  # SR, R and SR with 2 bits


def test_default_scale():
    assert default_scale("fp4-e2m1", (1, 8)) == 2.0
    assert default_scale("fp4-e2m1", (-4, 10)) == 2.0
    assert default_scale("fp4-e2m1", (0, 30)) == 8.0
    assert default_scale("bf16", (-4, 10)) == 1.0


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--formats", "fp9"], "unknown format"),
        (["--formats", "fp4-e2m1", "--scale", "3"], "power of two"),
        (["--formats", "fp8-e4m3", "--domain", "0", "1000"], "largest finite value"),
        (["--formats", "fp8-e4m3", "--sr-bits", "33"], "1 to 32"),
        (["--formats", "bf16", "--domain", "-4", "10", "--max-memory", "0.5"], "GiB"),
        (["--formats", "bf16", "--domain", "-4", "10", "--max-states", "1000"], "more than the"),
    ],
)
def test_one_line_errors(argv, needle, capsys):
    code, _, err = run(["formats", "--alpha", "0.1", "--quiet", *argv], capsys)
    assert_one_line_error(code, err, needle)
