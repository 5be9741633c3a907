"""`srchain simulate | bigbatch | convex | figure2` as sweeps: results stores, Dask workers, resume (issue 10)."""

import json

import numpy as np
import pytest

import srchain as sc
from tests.cli_helpers import run

SIM = ["simulate", "--method", "sr", "bc", "sgd", "--alpha", "1", "0.01", "--steps", "3000", "--chains", "3", "--quiet"]
BB = ["bigbatch", "--batch", "1", "4", "16", "--quiet"]
CV = ["convex", "--method", "sr", "bc", "sgd", "--delta", "0.5", "0.25", "--steps", "500", "--seeds", "3", "--quiet"]
F2 = ["figure2", "--alpha", "1", "0.01", "--steps", "2000", "--quiet"]


def sel(da, **key):
    return da.sel(key).values  # `method` is also a keyword of DataArray.sel


def test_simulate_tasks_reproduce_the_in_process_run(tmp_path, capsys):
    from srchain.lattice import Lattice
    from srchain.noise import make_noise
    from srchain.problems import get_problem
    from srchain.simulate import simulate_many

    js, store = tmp_path / "s.json", tmp_path / "s.zarr"
    code, out, err = run([*SIM, "--json", str(js), "--out", str(store)], capsys)
    assert code == 0, err
    assert "mass@min" in out and "results store" in out
    p = get_problem("toy")
    lat = Lattice.from_domain(0.5, p.domain)
    runs = [(m, a) for m in ("sr", "bc", "sgd") for a in (1.0, 0.01)]
    ref = simulate_many(p, make_noise("gaussian", sigma=2.0), lat, runs, 3000, chains=3, seed=0)
    data = json.loads(js.read_text())
    ds = sc.open_results(store)
    assert ds.done.values.all() and ds.counts.dtype == np.int64
    for r, row in zip(ref, data["results"], strict=True):
        expect = json.loads(json.dumps(r.to_dict()))
        assert {k: row[k] for k in expect} == expect  # today's counts, exactly
        np.testing.assert_array_equal(sel(ds.counts, method=r.method, alpha=r.alpha), r.counts)
        assert float(sel(ds.mass_at_minimizer, method=r.method, alpha=r.alpha)) == row["mass_at_minimizer"]
        if r.latent_counts is not None:
            np.testing.assert_array_equal(sel(ds.latent_counts, method=r.method, alpha=r.alpha), r.latent_counts)
    np.testing.assert_array_equal(
        ds.x0.values, np.asarray(data["states"] if "states" in data else data["results"][0]["states"])[:, 0]
    )
    assert ds.attrs["settings"]["steps"] == 3000 and "versions" in ds.attrs


def test_bigbatch_store_equals_json(tmp_path, capsys):
    js, store = tmp_path / "b.json", tmp_path / "b.nc"
    code, out, err = run([*BB, "--json", str(js), "--out", str(store)], capsys)
    assert code == 0, err
    ds = sc.open_results(store)
    for r in json.loads(js.read_text())["rows"]:
        np.testing.assert_array_equal(ds.pi_limit.sel(batch=r["batch"]).values, r["pi_limit"])
        for k in ("mass_at_minimizer", "expected_f", "entropy", "alpha0", "noise_std"):
            assert float(ds[k].sel(batch=r["batch"])) == r[k]


def test_convex_store_equals_json(tmp_path, capsys):
    js, store = tmp_path / "c.json", tmp_path / "c.zarr"
    code, out, err = run([*CV, "--json", str(js), "--out", str(store)], capsys)
    assert code == 0, err
    ds = sc.open_results(store)
    assert ds.done.values.all()
    for r in json.loads(js.read_text())["results"]:
        key = {"method": r["method"], "delta": 0.0 if r["delta"] is None else r["delta"]}
        assert bool(sel(ds.applicable, **key))
        assert float(sel(ds.error_mean, **key)) == r["error_mean"]
        assert sel(ds.error_ci, **key).tolist() == r["error_ci"]
        assert np.isclose(sel(ds.error, **key).mean(), r["error_mean"], rtol=1e-12, atol=0)
        assert sel(ds.checkpoint_error, **key).tolist() == r["checkpoints"]["error_mean"]
        for k, v in r["bounds"].items():
            b = float(ds.bound.sel(key).sel(theorem=k))
            assert (np.isnan(b) and v is None) or b == v
    assert not bool(sel(ds.applicable, method="sgd", delta=0.5))


def test_figure2_store_equals_json(tmp_path, capsys):
    js, store, png = tmp_path / "f.json", tmp_path / "f.zarr", tmp_path / "f.png"
    code, out, err = run([*F2, "--out", str(png), "--json", str(js), "--store", str(store)], capsys)
    assert code == 0, err
    assert png.exists() and "SR limit" in out
    data = json.loads(js.read_text())
    ds = sc.open_results(store)
    for r in data["results"]:
        key = {"method": r["method"], "alpha": r["alpha"]}
        np.testing.assert_array_equal(sel(ds.counts, **key), r["counts"])
        np.testing.assert_array_equal(sel(ds.exact, **key), r["exact"]["pi"])
        if r["method"] == "bc":
            np.testing.assert_array_equal(ds.latent_counts.sel(alpha=r["alpha"]).values, r["latent"]["counts"])
            np.testing.assert_allclose(ds.latent_edges.values, r["latent"]["edges"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ds.pi_limit.values, data["limit"]["pi"])
    assert float(ds.alpha0[0]) == data["limit"]["alpha0"]


@pytest.mark.parametrize("argv,dim", [(SIM, ("method", "alpha")), (BB, ("batch",)), (CV, ("method", "delta"))])
def test_resume_reruns_only_the_unfinished_task(tmp_path, capsys, argv, dim):
    store = tmp_path / "r.zarr"
    full_argv = [*argv, "--out", str(store)]
    assert run(full_argv, capsys)[0] == 0
    full = sc.open_results(store).load()
    markers = sorted((store / ".srchain" / "done").iterdir())
    victim = [m for m in markers if json.loads(m.read_text())["summary"] not in (None, {"applicable": False})][1]
    before = {m.name: m.stat().st_mtime_ns for m in markers if m != victim}
    victim.unlink()
    assert not sc.open_results(store).done.values.all()
    code, _, err = run(full_argv, capsys)
    assert code == 2 and err.count("\n") == 1
    code, _, err = run(full_argv + ["--resume"], capsys)
    assert code == 0, err
    assert victim.exists()
    assert {
        m.name: m.stat().st_mtime_ns for m in sorted((store / ".srchain" / "done").iterdir()) if m.name != victim.name
    } == before  # the others were not rerun
    again = sc.open_results(store).load()
    assert again.done.values.all()
    for name in full.data_vars:
        np.testing.assert_array_equal(again[name].values, full[name].values)


def test_figure2_resume_keeps_the_finished_task(tmp_path, capsys):
    store, png = tmp_path / "f.zarr", tmp_path / "f.png"
    argv = [*F2, "--out", str(png), "--store", str(store)]
    assert run(argv, capsys)[0] == 0
    code, out, err = run(argv + ["--resume"], capsys)
    assert code == 0, err and "SR limit" in out


@pytest.mark.parametrize(
    "argv,change", [(SIM, ["--sigma", "3"]), (BB, ["--sigma", "3"]), (CV, ["--seed", "1"]), (F2, ["--sigma", "3"])]
)
def test_resume_with_other_settings_is_refused(tmp_path, capsys, argv, change):
    flag = "--store" if argv[0] == "figure2" else "--out"
    store = tmp_path / "x.zarr"
    extra = ["--out", str(tmp_path / "f.png")] if argv[0] == "figure2" else []
    assert run([*argv, *extra, flag, str(store)], capsys)[0] == 0
    code, _, err = run([*argv, *extra, flag, str(store), "--resume", *change], capsys)
    assert code == 2 and err.count("\n") == 1 and "cannot resume" in err


def test_sweep_option_refusals(tmp_path, capsys):
    code, _, err = run(["simulate", "--resume"], capsys)
    assert code == 2 and "--resume needs --out" in err
    code, _, err = run(["figure2", "--store", str(tmp_path / "x.h5")], capsys)
    assert code == 2 and "--store" in err and ".zarr" in err
    code, _, err = run(["bigbatch", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], capsys)
    assert code == 2 and "not both" in err


@pytest.mark.slow
def test_two_workers_give_the_serial_results(tmp_path, capsys, deadline):
    for argv in (SIM, BB, CV):
        serial, dist = tmp_path / f"{argv[0]}-s.zarr", tmp_path / f"{argv[0]}-d.zarr"
        assert run([*argv, "--out", str(serial)], capsys)[0] == 0
        code, _, err = run([*argv, "--out", str(dist), "--workers", "2", "--memory-per-worker", "2"], capsys)
        assert code == 0, err
        a, b = sc.open_results(serial).load(), sc.open_results(dist).load()
        for name in a.data_vars:
            np.testing.assert_array_equal(a[name].values, b[name].values)
    js_s, js_d = tmp_path / "f-s.json", tmp_path / "f-d.json"
    assert run([*F2, "--out", str(tmp_path / "s.png"), "--json", str(js_s)], capsys)[0] == 0
    code, _, err = run(
        [*F2, "--out", str(tmp_path / "d.png"), "--json", str(js_d), "--workers", "1", "--memory-per-worker", "2"],
        capsys,
    )
    assert code == 0, err
    s, d = json.loads(js_s.read_text()), json.loads(js_d.read_text())
    s.pop("seconds"), d.pop("seconds")
    assert s == d
