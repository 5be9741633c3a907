"""Results stores that never lie (issue 22, section 3): a completion marker certifies its task's data.

Each case damages a finished store the way a crash, a full disk or a careless hand would, then checks that
``--resume`` reruns exactly the damaged tasks (the results equal an undamaged run's, bit for bit) or refuses in
one line naming the damage, and that :func:`srchain.open_results` never returns data that failed its check.
"""

import json
import shutil

import numpy as np
import pytest

import srchain as sc
from srchain.errors import SrchainError
from tests.cli_helpers import assert_one_line_error, run

ST = ["stationary", "--problem", "toy", "--delta", "0.5", "--alpha", "1", "0.1", "--quiet"]
MX = ["mixing", "--problem", "toy", "--delta", "0.5", "--alpha", "0.1", "0.01", "--quiet"]
SIM = ["simulate", "--method", "sr", "bc", "--alpha", "1", "0.01", "--steps", "3000", "--chains", "3", "--quiet"]
CV = ["convex", "--method", "sr", "bc", "--delta", "0.5", "0.25", "--steps", "500", "--seeds", "3", "--quiet"]
BB = ["bigbatch", "--batch", "1", "4", "--quiet"]
F2 = ["figure2", "--alpha", "1", "0.01", "--steps", "2000", "--quiet"]

#: command -> (argv, the store option, a variable every task writes)
COMMANDS = {
    "stationary": (ST, "--out", "pi"),
    "mixing": (MX, "--out", "mixing_time"),
    "simulate": (SIM, "--out", "counts"),
    "convex": (CV, "--out", "error"),
    "bigbatch": (BB, "--out", "pi_limit"),
    "figure2": (F2, "--store", "counts"),
}


def _strip(obj):
    """A JSON result without its wall-clock times (they differ between runs)."""
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k != "seconds"}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _argv(name, tmp, suffix=".zarr", json_name="r.json"):
    argv, flag, _ = COMMANDS[name]
    extra = ["--out", str(tmp / "f.png")] if name == "figure2" else []
    store = tmp / f"r{suffix}"
    return [*argv, *extra, flag, str(store), "--json", str(tmp / json_name)], store


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """One finished store (and its JSON) per command, made once; each test damages a copy."""
    made = {}

    def get(name, suffix=".zarr"):
        if (name, suffix) not in made:
            tmp = tmp_path_factory.mktemp(f"clean-{name}")
            argv, store = _argv(name, tmp, suffix)
            assert sc.cli.main(argv) == 0
            made[name, suffix] = (tmp, store, json.loads((tmp / "r.json").read_text()))
        return made[name, suffix]

    return get


def _copy(clean, name, tmp_path, suffix=".zarr"):
    src_tmp, src, data = clean(name, suffix)
    store = tmp_path / src.name
    if src.is_dir():
        shutil.copytree(src, store, symlinks=True)
    else:
        shutil.copy2(src, store)
    return store, data


def _chunks(store, var):
    """The chunk files of ``var`` (one per task along the sweep dimensions), in order."""
    return sorted(p for p in (store / var / "c").rglob("*") if p.is_file())


def _marker_of(store, chunk, var):
    """The marker of the task owning ``chunk`` (its path names the task's positions)."""
    pos = [int(x) for x in chunk.relative_to(store / var / "c").parts]
    dims = json.loads((store / var / "zarr.json").read_text())["dimension_names"]
    sweep = (store / "zarr.json").read_text()
    sweep_dims = json.loads(sweep)["attributes"]["sweep_dims"].split()
    tid = "_".join(f"{d}-{p}" for d, p in zip(dims, pos, strict=True) if d in sweep_dims) or "all"
    return store / ".srchain" / "done" / f"{tid}.json"


# ------------------------------------------------------------------------------------------------------------------
# --resume reruns what failed its check, and reports the same results as an undamaged run
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(COMMANDS))
def test_resume_reruns_the_task_whose_chunk_was_deleted(clean, tmp_path, capsys, name):
    store, data = _copy(clean, name, tmp_path)
    var = COMMANDS[name][2]
    victim = _chunks(store, var)[-1]
    marker = _marker_of(store, victim, var)
    others = {m.name: m.stat().st_mtime_ns for m in (store / ".srchain" / "done").iterdir() if m != marker}
    victim.unlink()
    with pytest.raises(SrchainError, match=marker.stem):
        sc.open_results(store)
    argv, _ = _argv(name, tmp_path)
    with pytest.warns(UserWarning, match=marker.stem):
        code, _, err = run([*argv, "--resume"], capsys)
    assert code == 0, err
    assert victim.is_file()
    assert {m.name: m.stat().st_mtime_ns for m in (store / ".srchain" / "done").iterdir() if m != marker} == others
    assert _strip(json.loads((tmp_path / "r.json").read_text())) == _strip(data)
    ds = sc.open_results(store)  # checked: it would raise if a task failed its check
    assert "done" not in ds or ds.done.values.all()  # figure2's one task has no `done`


@pytest.mark.parametrize(
    "damage",
    [
        "delete",
        "truncate",
        "junk",
        "folder",
        "empty-marker",
        "junk-marker",
        "marker-list",
        "marker-without-key",
        "marker-summary-edited",
    ],
)
def test_stationary_resume_repairs_a_damaged_task(clean, tmp_path, capsys, damage):
    store, data = _copy(clean, "stationary", tmp_path)
    chunk = store / "pi" / "c" / "1" / "0"
    marker = store / ".srchain" / "done" / "alpha-1.json"
    if damage == "delete":
        chunk.unlink()
    elif damage == "truncate":
        chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])
    elif damage == "junk":
        chunk.write_bytes(np.random.default_rng(0).bytes(chunk.stat().st_size))
    elif damage == "folder":
        chunk.unlink()
        chunk.mkdir()
    elif damage == "empty-marker":
        marker.write_bytes(b"")
    elif damage == "junk-marker":
        marker.write_bytes(b"\x00{not json")
    elif damage == "marker-list":
        marker.write_text("[1, 2]")
    elif damage == "marker-without-key":
        rec = json.loads(marker.read_text())
        del rec["key"]
        marker.write_text(json.dumps(rec))
    else:  # a number of the summary (printed in the table) changed by hand
        rec = json.loads(marker.read_text())
        rec["summary"]["tv_to_limit"] = 0.0
        marker.write_text(json.dumps(rec))
    with pytest.raises(SrchainError, match="alpha-1") as info:
        sc.open_results(store)
    assert "\n" not in str(info.value) and "alpha-0" not in str(info.value)
    argv, _ = _argv("stationary", tmp_path)
    with pytest.warns(UserWarning, match="alpha-1"):
        code, _, err = run([*argv, "--resume"], capsys)
    assert code == 0, err
    out = json.loads((tmp_path / "r.json").read_text())
    assert _strip(out) == _strip(data)
    assert all(np.isfinite(r["pi"]).all() for r in out["results"])
    np.testing.assert_array_equal(sc.open_results(store).pi.sel(alpha=0.1).values, data["results"][1]["pi"])


def test_a_deleted_pi_limit_chunk_is_rewritten_from_the_recomputed_limit(clean, tmp_path, capsys):
    store, data = _copy(clean, "stationary", tmp_path)
    (store / "pi_limit" / "c" / "0").unlink()
    with pytest.raises(SrchainError, match="pi_limit"):
        sc.open_results(store)
    argv, _ = _argv("stationary", tmp_path)
    code, _, err = run([*argv, "--resume"], capsys)
    assert code == 0, err
    assert _strip(json.loads((tmp_path / "r.json").read_text())) == _strip(data)
    np.testing.assert_array_equal(sc.open_results(store).pi_limit.values, data["limit"]["pi"])


@pytest.mark.filterwarnings("ignore:Consolidated metadata")
@pytest.mark.parametrize(
    "damage", ["root-deleted", "root-garbled", "root-list", "root-bare", "float32", "coord-deleted"]
)
def test_damage_no_rerun_can_mend_is_refused_in_one_line(clean, tmp_path, capsys, damage):
    store, _ = _copy(clean, "stationary", tmp_path)
    root = store / "zarr.json"
    if damage == "root-deleted":
        root.unlink()
    elif damage == "root-garbled":
        root.write_bytes(root.read_bytes()[:100])
    elif damage == "root-list":
        root.write_text("[]")
    elif damage == "root-bare":  # a valid group without the store's attributes and consolidated metadata
        root.write_text('{"zarr_format": 3, "node_type": "group"}')
    elif damage == "coord-deleted":
        (store / "alpha" / "c" / "0").unlink()
    else:  # the store rewritten by hand with π as float32 (the bookkeeping kept)
        import xarray as xr

        ds = xr.open_zarr(store, chunks=None).load()
        ds["pi"] = ds.pi.astype(np.float32)
        for v in ds.variables.values():
            v.encoding = {}
        side = tmp_path / "side.zarr"
        ds.to_zarr(side, consolidated=True)
        for p in store.iterdir():
            if p.name != ".srchain":
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        for p in side.iterdir():
            shutil.move(str(p), store / p.name)
    before = sorted((p.relative_to(store), p.stat().st_size) for p in store.rglob("*") if p.is_file())
    argv, _ = _argv("stationary", tmp_path)
    code, _, err = run([*argv, "--resume"], capsys)
    assert_one_line_error(code, err, str(store))
    assert not (tmp_path / "r.json").exists()
    after = sorted((p.relative_to(store), p.stat().st_size) for p in store.rglob("*") if p.is_file())
    assert after == before  # nothing changed (the lock taken and released)
    with pytest.raises(SrchainError) as info:
        sc.open_results(store)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------------------------------------------------------
# netCDF stores
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("content", [b"", b"garbage, not netCDF", "truncated"])
def test_resume_on_a_broken_nc_is_one_line(clean, tmp_path, capsys, content):
    src_tmp, src, _ = clean("stationary", ".nc")
    nc = tmp_path / "r.nc"
    nc.write_bytes(src.read_bytes()[:1000] if content == "truncated" else content)
    argv, _ = _argv("stationary", tmp_path, ".nc")
    code, _, err = run([*argv, "--resume"], capsys)
    assert_one_line_error(code, err, str(nc))
    with pytest.raises(SrchainError):
        sc.open_results(nc)


def test_nc_with_garbage_task_records(clean, tmp_path, capsys):
    import h5py

    nc, data = _copy(clean, "stationary", tmp_path, ".nc")
    with h5py.File(nc, "r+") as fh:
        fh.attrs["srchain_tasks"] = "{garbage"
    with pytest.raises(SrchainError, match="task records"):
        sc.open_results(nc)
    argv, _ = _argv("stationary", tmp_path, ".nc")
    with pytest.warns(UserWarning):  # nothing certified: every task runs again
        code, _, err = run([*argv, "--resume"], capsys)
    assert code == 0, err
    assert _strip(json.loads((tmp_path / "r.json").read_text())) == _strip(data)
    assert sc.open_results(nc).done.values.all()


def test_nc_task_records_that_do_not_certify_their_data(clean, tmp_path, capsys):
    import h5py

    nc, data = _copy(clean, "stationary", tmp_path, ".nc")
    with h5py.File(nc, "r+") as fh:
        recs = json.loads(fh.attrs["srchain_tasks"])
        recs["alpha-0"]["checksums"]["pi"] = "0" * 32
        fh.attrs["srchain_tasks"] = json.dumps(recs)
    with pytest.raises(SrchainError, match="alpha-0"):
        sc.open_results(nc)
    argv, _ = _argv("stationary", tmp_path, ".nc")
    with pytest.warns(UserWarning, match="alpha-0"):
        code, _, err = run([*argv, "--resume"], capsys)
    assert code == 0, err
    assert _strip(json.loads((tmp_path / "r.json").read_text())) == _strip(data)
    assert sc.open_results(nc).done.values.all()


# ------------------------------------------------------------------------------------------------------------------
# the library: open_results, verify=False, markers written after the data
# ------------------------------------------------------------------------------------------------------------------
def test_open_results_verify_false_reads_what_is_there(clean, tmp_path):
    store, _ = _copy(clean, "stationary", tmp_path)
    (store / "pi" / "c" / "1" / "0").unlink()
    ds = sc.open_results(store, verify=False, chunks=None)
    assert ds.done.values.all() and np.isnan(ds.pi.sel(alpha=0.1).values).all()


def test_a_marker_records_the_checksums_of_its_region(clean):
    from srchain.results.checks import checksum

    _, store, data = clean("stationary")
    rec = json.loads((store / ".srchain" / "done" / "alpha-0.json").read_text())
    assert rec["key"] == {"alpha": 1.0}
    pi = np.asarray(data["results"][0]["pi"]).reshape(1, -1)
    assert rec["checksums"]["pi"] == checksum(pi, "<f8")
    assert rec["checksums"]["pi"] != checksum(pi.astype(np.float32), "<f8")
