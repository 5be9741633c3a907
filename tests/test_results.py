"""srchain.results: fast JSON with write_json's contract, and the Zarr / netCDF results store."""

from __future__ import annotations

import json
import os
import pickle
import socket
import subprocess
import sys
import warnings
from dataclasses import dataclass

import numpy as np
import pytest

from srchain.errors import SrchainError
from srchain.io import write_json
from srchain.results import ResultStore, dumps_json, make_template, open_results, write_json_fast

ALPHAS = [1.0, 0.1, 0.01, 0.001]
N = 40
SCALARS = ("tv_to_limit", "residual", "mass_at_minimizer", "entropy")


# ------------------------------------------------------------------------------------------------------------
# JSON
# ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _WithDict:
    pi: np.ndarray

    def to_dict(self):
        return {"pi": self.pi, "n": np.int64(self.pi.size)}


@dataclass
class _Plain:
    a: float
    b: tuple


def _payload(n=1000):
    rng = np.random.default_rng(1)
    pi = rng.random(n)
    pi[[3, 7, 11]] = [np.nan, np.inf, -np.inf]
    return {
        "command": "stationary",
        "delta": 0.5,
        "nan": float("nan"),
        "inf": np.float64("inf"),
        "states": rng.random((n, 2)),
        "flat_states": [[float(x)] for x in range(5)],
        "limit": {"alpha0": np.float64(0.25), "pi": pi},
        "results": [
            {
                "alpha": a,
                "pi": pi * a,
                "exact": np.bool_(a > 0.1),
                "count": np.int32(7),
                "f32": np.float32(0.1),
                "f32s": np.array([0.1, np.nan], dtype=np.float32),
            }
            for a in ALPHAS
        ],
        "tuple": (1, 2.5, None),
        "keys": {1: "one", 2.5: "two and a half"},
        "transposed": np.arange(6.0).reshape(2, 3).T,
        "ints": np.arange(4, dtype=np.int16).reshape(2, 2)[:, ::-1],
        "obj": _WithDict(np.array([0.5, np.nan])),
        "bools": np.array([True, False]),
        "empty": [],
        "none": None,
        "python_list_nan": [1.0, float("nan"), 2.0],
    }


def test_write_json_fast_gives_write_json_values(tmp_path):
    obj = _payload()
    write_json(tmp_path / "slow.json", obj)
    write_json_fast(tmp_path / "fast.json", obj)
    slow = json.loads((tmp_path / "slow.json").read_text())
    fast = json.loads((tmp_path / "fast.json").read_text())
    assert fast == slow
    assert fast["limit"]["pi"][3] is None and fast["limit"]["pi"][7] is None and fast["limit"]["pi"][11] is None
    assert fast["obj"] == {"pi": [0.5, None], "n": 2}
    assert fast["results"][0]["f32"] == float(np.float32(0.1))  # float32 written as float(x), like json


def test_write_json_fast_strict_json_and_indent(tmp_path):
    big = {"pi": np.full(200_000, np.nan), "states": np.zeros((200_000, 2))}
    text = dumps_json(big)
    assert b"NaN" not in text and b"Infinity" not in text
    json.loads(text)  # strict JSON
    assert b"\n " not in text  # large payloads are compact
    small = dumps_json({"a": [1, 2]})
    assert small.endswith(b"\n") and b"\n  " in small  # small payloads are indented
    assert json.loads(dumps_json({"a": _Plain(1.0, (2,))})) == {"a": {"a": 1.0, "b": [2]}}


def test_write_json_fast_is_atomic(tmp_path):
    p = tmp_path / "r.json"
    write_json_fast(p, {"ok": 1})
    with pytest.raises(TypeError):
        write_json_fast(p, {"bad": object()})
    assert json.loads(p.read_text()) == {"ok": 1}
    assert [f.name for f in tmp_path.iterdir()] == ["r.json"]  # no temporary file left behind


# ------------------------------------------------------------------------------------------------------------
# the store
# ------------------------------------------------------------------------------------------------------------
def _states(n=N):
    return np.stack([np.arange(n) * 0.5, -np.arange(n) * 0.25], axis=1)


def stationary_template(alphas=ALPHAS, n=N):
    s = _states(n)
    return make_template(
        {"alpha": alphas, "x0": ("state", s[:, 0]), "x1": ("state", s[:, 1])},
        {
            "pi": (("alpha", "state"), "f8"),
            **{v: ("alpha", "f8") for v in SCALARS},
            "pi_limit": (("state",), np.linspace(1, 2, n) / np.linspace(1, 2, n).sum()),
        },
        attrs={
            "command": "stationary",
            "problem": {"name": "separable", "dim": 2},
            "noise": {"name": "gaussian", "sigma": 2.0, "batch": 1},
            "argv": ["srchain", "stationary"],
        },
    )


SETTINGS = {"problem": "separable", "method": "sr", "delta": 0.5, "noise": {"name": "gaussian", "sigma": 2.0}}


def stationary_arrays(alpha, n=N):
    rng = np.random.default_rng(int(alpha * 1e6))
    pi = rng.random(n)
    pi /= pi.sum()
    return {"pi": pi, "tv_to_limit": alpha / 3, "residual": 1e-17, "mass_at_minimizer": pi[0], "entropy": 1.5 + alpha}


def _store_files(path):
    out = {}
    for root, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if d != ".srchain"]
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, path)] = fh.read()
    return out


def test_zarr_store_regions_any_order_identical(tmp_path):
    paths = []
    for order, name in ((ALPHAS, "a.zarr"), (ALPHAS[::-1], "b.zarr")):
        p = tmp_path / name
        with ResultStore.open_or_create(p, stationary_template(), SETTINGS) as st:
            assert st.sweep_dims == ("alpha",)
            for a in order:
                st.write_region({"alpha": a}, stationary_arrays(a))
                st.mark_done({"alpha": a}, {"alpha": a, "entropy": 1.5 + a})
            assert sorted(k["alpha"] for k in st.completed()) == sorted(ALPHAS)
        paths.append(p)
    assert _store_files(paths[0]) == _store_files(paths[1])
    ds = open_results(paths[0])
    assert bool(ds.done.all())
    assert ds.pi.dims == ("alpha", "state") and ds.pi_limit.dims == ("state",)
    for a in ALPHAS:
        want = stationary_arrays(a)
        np.testing.assert_array_equal(ds.pi.sel(alpha=a).values, want["pi"])
        assert float(ds.entropy.sel(alpha=a)) == want["entropy"]
    np.testing.assert_array_equal(ds.x0.values, _states()[:, 0])
    assert ds.attrs["settings"] == SETTINGS
    assert ds.attrs["noise"] == {"name": "gaussian", "sigma": 2.0, "batch": 1}
    assert ds.attrs["command"] == "stationary"


def test_plain_xarray_reads_the_store(tmp_path):
    import xarray as xr

    p = tmp_path / "r.zarr"
    with ResultStore.open_or_create(p, stationary_template(), SETTINGS) as st:
        st.write_region({"alpha": 0.1}, stationary_arrays(0.1))
        st.mark_done({"alpha": 0.1})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # consolidated metadata: no fallback warning
        ds = xr.open_zarr(p)
    np.testing.assert_array_equal(ds.pi.sel(alpha=0.1).values, stationary_arrays(0.1)["pi"])
    assert json.loads(ds.attrs["settings"]) == SETTINGS


def test_unfinished_tasks_are_masked(tmp_path):
    p = tmp_path / "r.zarr"
    with ResultStore.open_or_create(p, stationary_template(), SETTINGS) as st:
        st.write_region({"alpha": 1.0}, stationary_arrays(1.0))
        st.mark_done({"alpha": 1.0}, {"alpha": 1.0})
        st.write_region({"alpha": 0.1}, stationary_arrays(0.1))  # written, but no marker: e.g. killed before it
        ds = open_results(p)
        assert ds.done.values.tolist() == [True, False, False, False]
        assert not np.isnan(ds.pi.sel(alpha=1.0).values).any()
        assert np.isnan(ds.pi.sel(alpha=0.1).values).all() and np.isnan(ds.entropy.sel(alpha=0.1))
        raw = open_results(p, mask=False)
        assert not np.isnan(raw.pi.sel(alpha=0.1).values).any()
        np.testing.assert_array_equal(ds.pi_limit.values, raw.pi_limit.values)
        assert st.summary({"alpha": 1.0}) == {"alpha": 1.0} and st.summary({"alpha": 0.1}) is None


def test_read_region_and_write_region_shapes(tmp_path):
    with ResultStore.open_or_create(tmp_path / "r.zarr", stationary_template(), SETTINGS) as st:
        arr = stationary_arrays(0.01)
        st.write_region({"alpha": 0.01}, {"pi": arr["pi"][None, :], "entropy": np.array([2.0])})
        back = st.read_region({"alpha": 0.01})
        np.testing.assert_array_equal(back["pi"], arr["pi"])
        assert back["entropy"] == 2.0 and "pi_limit" in back
        with pytest.raises(SrchainError, match="'nope' is not a variable"):
            st.write_region({"alpha": 0.01}, {"nope": 1.0})
        with pytest.raises(SrchainError, match="shape"):
            st.write_region({"alpha": 0.01}, {"pi": np.zeros(N + 1)})
        with pytest.raises(SrchainError, match="alpha=0.5 is not one of"):
            st.write_region({"alpha": 0.5}, {"entropy": 1.0})
        with pytest.raises(SrchainError, match="does not fix 'alpha'"):
            st.write_region({}, {"entropy": np.zeros(len(ALPHAS))})
        with pytest.raises(SrchainError, match="not a sweep dimension"):
            st.write_region({"state": 1}, {"entropy": 1.0})
        st.write_region({}, {"pi_limit": np.full(N, 1.0 / N)})  # the empty key owns the variables without sweep dims
        np.testing.assert_array_equal(st.read_region({})["pi_limit"], np.full(N, 1.0 / N))


def test_simulate_and_mixing_shapes(tmp_path):
    methods = ["sr", "bc", "r", "sgd"]
    tpl = make_template(
        {"method": methods, "alpha": [1.0, 0.001], "x0": ("state", np.arange(N) * 0.5)},
        {"counts": (("method", "alpha", "state"), "i8"), "visited": (("method", "alpha"), "i8")},
        attrs={"steps": 1000, "start": [4.0]},
    )
    p = tmp_path / "sim.zarr"
    with ResultStore.open_or_create(p, tpl, {"steps": 1000, "seed": 0}) as st:
        assert st.sweep_dims == ("method", "alpha")
        for m in methods[::-1]:
            for a in (0.001, 1.0):
                counts = np.arange(N, dtype=np.int64) * (1 + len(m)) + int(a * 1000)
                st.write_region({"method": m, "alpha": a}, {"counts": counts, "visited": N})
                st.mark_done({"method": m, "alpha": a}, {"visited": N})
        assert st.task_id({"method": "bc", "alpha": 0.001}) == "method-1_alpha-1"
    ds = open_results(p)
    assert ds.counts.dtype == np.int64 and ds.counts.dims == ("method", "alpha", "state")
    assert ds.done.dims == ("method", "alpha") and bool(ds.done.all())
    assert ds.counts.sel({"method": "bc", "alpha": 0.001}).values.tolist() == list(np.arange(N) * 3 + 1)
    assert ds.attrs["start"] == [4.0]

    mix = make_template(
        {"alpha": [0.1, 0.01]},
        {"mixing_time": ("alpha", "f8"), "exact": ("alpha", "bool"), "relaxation_time": ("alpha", "f8")},
    )
    with ResultStore.open_or_create(tmp_path / "mix.nc", mix, {"eps": 0.25}) as st:
        for a in (0.01, 0.1):
            st.write_region(
                {"alpha": a},
                {"mixing_time": np.nan if a == 0.01 else 12.0, "exact": a > 0.05, "relaxation_time": 1 / a},
            )
            st.mark_done({"alpha": a}, {"alpha": a})
        st.finalize()
    ds = open_results(tmp_path / "mix.nc")
    assert ds.exact.values.tolist() == [True, False]
    assert ds.mixing_time.values[0] == 12.0 and np.isnan(ds.mixing_time.values[1])


def test_exists_without_resume_is_refused(tmp_path):
    p = tmp_path / "r.zarr"
    ResultStore.open_or_create(p, stationary_template(), SETTINGS).close()
    with pytest.raises(SrchainError, match="exists; pass `resume` or choose another path"):
        ResultStore.open_or_create(p, stationary_template(), SETTINGS)
    ResultStore.open_or_create(p, stationary_template(), SETTINGS, resume=True).close()
    with pytest.raises(SrchainError, match="suffix"):
        ResultStore.open_or_create(tmp_path / "r.h5", stationary_template(), SETTINGS)


def test_resume_with_other_settings_is_refused(tmp_path):
    p = tmp_path / "r.zarr"
    with ResultStore.open_or_create(p, stationary_template(), SETTINGS) as st:
        st.write_region({"alpha": 1.0}, stationary_arrays(1.0))
        st.mark_done({"alpha": 1.0})
    other = {**SETTINGS, "noise": {"name": "gaussian", "sigma": 1.0}}
    with pytest.raises(SrchainError, match=r"setting noise\.sigma is 1\.0 now but 2\.0 in the store") as exc:
        ResultStore.open_or_create(p, stationary_template(), other, resume=True)
    assert "\n" not in str(exc.value)
    with pytest.raises(SrchainError, match='setting solver is "gth" now but unset in the store'):
        ResultStore.open_or_create(p, stationary_template(), {**SETTINGS, "solver": "gth"}, resume=True)
    with pytest.raises(SrchainError, match="alpha values differ"):
        ResultStore.open_or_create(p, stationary_template(alphas=[1.0, 0.5]), SETTINGS, resume=True)
    with pytest.raises(SrchainError, match="variables differ"):
        ResultStore.open_or_create(p, stationary_template(n=N + 1), SETTINGS, resume=True)
    # tuples and NumPy scalars compare as their JSON: the same settings
    same = {**SETTINGS, "delta": np.float64(0.5)}
    with ResultStore.open_or_create(p, stationary_template(), same, resume=True) as st:
        assert st.is_done({"alpha": 1.0}) and not st.is_done({"alpha": 0.1})


def test_second_writer_is_refused_and_lock_released(tmp_path):
    p = tmp_path / "r.zarr"
    st = ResultStore.open_or_create(p, stationary_template(), SETTINGS)
    with pytest.raises(SrchainError, match=f"being written by another sweep \\(pid {os.getpid()} on"):
        ResultStore.open_or_create(p, stationary_template(), SETTINGS, resume=True)
    copy = pickle.loads(pickle.dumps(st))  # what a worker gets: it does not hold the lock
    copy.close()
    assert st.lock_path.exists()
    st.close()
    assert not st.lock_path.exists()
    ResultStore.open_or_create(p, stationary_template(), SETTINGS, resume=True).close()


def test_second_writer_in_another_process_is_refused(tmp_path):
    p = tmp_path / "r.zarr"
    ResultStore.open_or_create(p, stationary_template(), SETTINGS).close()
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[2]); from test_results import *; "
        "s = ResultStore.open_or_create(sys.argv[1], stationary_template(), SETTINGS, resume=True); "
        "print('locked', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(p), os.path.dirname(__file__)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(SrchainError, match=f"another sweep \\(pid {proc.pid} on {socket.gethostname()}"):
            ResultStore.open_or_create(p, stationary_template(), SETTINGS, resume=True)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    # its owner is dead now: the stale lock is taken over
    with ResultStore.open_or_create(p, stationary_template(), SETTINGS, resume=True) as st:
        assert json.loads(st.lock_path.read_text())["pid"] == os.getpid()


def test_lock_of_another_host_is_refused(tmp_path):
    p = tmp_path / "r.zarr"
    st = ResultStore.open_or_create(p, stationary_template(), SETTINGS)
    st.close()
    st.lock_path.write_text(json.dumps({"host": "elsewhere.example", "pid": 1, "since": "2026-01-01 00:00:00"}))
    with pytest.raises(SrchainError, match=r"pid 1 on elsewhere\.example.*remove .*lock if that sweep is gone"):
        ResultStore.open_or_create(p, stationary_template(), SETTINGS, resume=True)


def test_netcdf_store(tmp_path):
    p = tmp_path / "r.nc"
    z = tmp_path / "r.zarr"
    for path in (p, z):
        with ResultStore.open_or_create(path, stationary_template(), SETTINGS) as st:
            for a in ALPHAS[:2]:
                st.write_region({"alpha": a}, stationary_arrays(a))
                st.mark_done({"alpha": a}, {"alpha": a})
            if path == p:
                assert not p.exists()  # nothing half-written at PATH while the sweep runs
                part = open_results(p)  # the partial results are readable
                assert part.done.values.tolist() == [True, True, False, False]
            for a in ALPHAS[2:]:
                st.write_region({"alpha": a}, stationary_arrays(a))
                st.mark_done({"alpha": a}, {"alpha": a})
            st.finalize()
    assert p.exists() and [f.name for f in tmp_path.iterdir() if f.name.startswith(".")] == []
    a, b = open_results(p).load(), open_results(z).load()
    assert a.attrs == b.attrs and bool(a.done.all())
    for name in b.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values)
    np.testing.assert_array_equal(a.x1.values, b.x1.values)
    # a finished .nc can be "resumed": every task is done, nothing is rewritten
    before = p.stat().st_mtime_ns
    with ResultStore.open_or_create(p, stationary_template(), SETTINGS, resume=True) as st:
        assert all(st.is_done({"alpha": x}) for x in ALPHAS)
        assert st.summary({"alpha": 0.1}) == {"alpha": 0.1}
        st.finalize()
    assert p.stat().st_mtime_ns == before
    with pytest.raises(SrchainError, match="setting method"):
        ResultStore.open_or_create(p, stationary_template(), {**SETTINGS, "method": "r"}, resume=True)
    with pytest.raises(SrchainError, match="exists; pass `resume`"):
        ResultStore.open_or_create(p, stationary_template(), SETTINGS)
    # rewriting one task of a finished .nc rebuilds it
    with ResultStore.open_or_create(p, stationary_template(), SETTINGS, resume=True) as st:
        st.write_region({"alpha": 0.1}, {"entropy": 9.0})
        st.mark_done({"alpha": 0.1})
        st.finalize()
    assert float(open_results(p).entropy.sel(alpha=0.1)) == 9.0


def test_open_results_errors(tmp_path):
    with pytest.raises(SrchainError, match="does not exist"):
        open_results(tmp_path / "none.zarr")
    with pytest.raises(SrchainError, match=".zarr or .nc"):
        open_results(tmp_path / "x.json")


def test_reserved_and_missing_coords(tmp_path):
    bad = make_template({"alpha": [1.0]}, {"done": ("alpha", "f8")})
    with pytest.raises(SrchainError, match="reserved"):
        ResultStore.open_or_create(tmp_path / "a.zarr", bad, {})
    import xarray as xr

    nocoord = xr.Dataset({"pi": (("alpha", "state"), np.zeros((2, 3)))})
    with pytest.raises(SrchainError, match="needs a coordinate"):
        ResultStore.open_or_create(tmp_path / "b.zarr", nocoord, {})
    assert not (tmp_path / "b.zarr").exists()
