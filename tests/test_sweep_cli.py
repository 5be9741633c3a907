"""`srchain stationary` and `srchain mixing` as sweeps: results stores, Dask workers, resume (issue 10)."""

import json

import numpy as np
import pytest

import srchain as sc
from tests.cli_helpers import run

TOY = ["--problem", "toy", "--delta", "0.5", "--quiet"]


def test_store_holds_what_json_holds(tmp_path, capsys):
    js, store = tmp_path / "s.json", tmp_path / "s.zarr"
    code, out, err = run(
        ["stationary", *TOY, "--alpha", "1", "0.1", "0.01", "--json", str(js), "--out", str(store)], capsys
    )
    assert code == 0, err
    ds = sc.open_results(store)
    data = json.loads(js.read_text())
    assert ds.done.values.all()
    for r in data["results"]:
        np.testing.assert_array_equal(ds.pi.sel(alpha=r["alpha"]).values, r["pi"])
        assert float(ds.tv_to_limit.sel(alpha=r["alpha"])) == r["tv_to_limit"]
    np.testing.assert_array_equal(ds.pi_limit.values, data["limit"]["pi"])
    np.testing.assert_array_equal(ds.x0.values, np.asarray(data["states"])[:, 0])
    assert ds.attrs["settings"]["noise"]["sigma"] == 2.0 and "versions" in ds.attrs
    assert ds.attrs["command"].startswith("srchain")


def test_netcdf_store(tmp_path, capsys):
    nc = tmp_path / "m.nc"
    assert run(["mixing", *TOY, "--alpha", "0.1", "0.01", "--out", str(nc)], capsys)[0] == 0
    ds = sc.open_results(nc)
    assert ds.mixing_time.values.tolist() == [182.0, 1871.0]  # README: M_0.25 = 182, 1871
    assert ds.exact.values.all()


def test_resume_reruns_only_unfinished_tasks(tmp_path, capsys):
    store = tmp_path / "s.zarr"
    argv = ["stationary", *TOY, "--alpha", "1", "0.1", "0.01", "--out", str(store)]
    assert run(argv, capsys)[0] == 0
    full = sc.open_results(store).load()
    # an interrupted sweep: the marker of α = 0.1 is missing, its region half written
    markers = sorted((store / ".srchain" / "done").iterdir())
    assert len(markers) == 3
    victim = [m for m in markers if json.loads(m.read_text())["key"]["alpha"] == 0.1][0]
    victim.unlink()
    assert not sc.open_results(store).done.values.all()
    code, _, err = run(argv, capsys)
    assert code == 2 and "exists; pass --resume" in err
    code, out, err = run(argv + ["--resume"], capsys)
    assert code == 0, err
    again = sc.open_results(store).load()
    assert again.done.values.all()
    np.testing.assert_array_equal(again.pi.values, full.pi.values)


def test_resume_with_other_settings_is_refused(tmp_path, capsys):
    store = tmp_path / "s.zarr"
    assert run(["stationary", *TOY, "--alpha", "0.1", "--out", str(store)], capsys)[0] == 0
    code, _, err = run(["stationary", *TOY, "--alpha", "0.1", "--out", str(store), "--resume", "--sigma", "3"], capsys)
    assert code == 2 and err.count("\n") == 1 and "sigma" in err


def test_store_suffix_and_conflicting_options(tmp_path, capsys):
    code, _, err = run(["stationary", *TOY, "--out", str(tmp_path / "x.h5")], capsys)
    assert code == 2 and ".zarr" in err
    code, _, err = run(["stationary", *TOY, "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], capsys)
    assert code == 2 and "not both" in err


@pytest.mark.slow
def test_two_workers_give_the_serial_results_bit_for_bit(tmp_path, capsys, deadline):
    serial, dist = tmp_path / "serial.zarr", tmp_path / "dist.zarr"
    argv = [
        "stationary",
        "--problem",
        "coupled",
        "--dim",
        "2",
        "--delta",
        "0.5",
        "--quiet",
        "--alpha",
        "0.3",
        "0.1",
        "0.03",
        "0.01",
    ]
    assert run(argv + ["--out", str(serial)], capsys)[0] == 0
    code, _, err = run(argv + ["--out", str(dist), "--workers", "2", "--memory-per-worker", "2"], capsys)
    assert code == 0, err
    a, b = sc.open_results(serial).load(), sc.open_results(dist).load()
    for name in ("pi", "pi_limit", "tv_to_limit", "residual", "entropy", "mass_at_minimizer"):
        np.testing.assert_array_equal(a[name].values, b[name].values)
    code, _, err = run(
        ["mixing", *TOY, "--alpha", "0.1", "0.05", "--workers", "2", "--json", str(tmp_path / "m.json")], capsys
    )
    assert code == 0, err
    assert [r["mixing_time"] for r in json.loads((tmp_path / "m.json").read_text())["results"]] == [182, 374]
