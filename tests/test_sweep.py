"""srchain.sweep: serial and Dask sweeps give the same store; resume, killed workers, Ctrl-C, refusals.

Cluster tests run a loopback ``LocalCluster`` of 2 worker processes; each is bounded by :func:`deadline` (a
SIGALRM that raises in the test, so a hang fails instead of blocking CI). The workers import the task functions
from ``tests/_sweep_tasks.py``: ``tests/`` is on ``sys.path`` here (pytest's rootdir insertion, and the line
below), and spawned worker processes inherit the parent's ``sys.path``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import _sweep_tasks as T  # noqa: E402

from srchain.errors import SrchainError  # noqa: E402
from srchain.results import ResultStore, make_template, open_results  # noqa: E402
from srchain.sweep import Task, run_sweep  # noqa: E402

ALPHAS = [1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 0.0003]
SETTINGS = {"problem": "toy", "method": "sr", "delta": 0.5, "noise": {"name": "gaussian", "sigma": 2.0}}
SCALARS = ("tv_to_limit", "residual", "mass_at_minimizer", "entropy")


@contextlib.contextmanager
def deadline(seconds: float):
    """Fail (TimeoutError in the test's thread) if the block takes longer than ``seconds``."""

    def on_alarm(signum, frame):
        raise TimeoutError(f"cluster test exceeded its {seconds} s deadline")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def template(alphas=ALPHAS):
    s = T.states()
    return make_template(
        {"alpha": alphas, "x0": ("state", s[:, 0]), "x1": ("state", s[:, 1])},
        {
            "pi": (("alpha", "state"), "f8"),
            **{v: ("alpha", "f8") for v in SCALARS},
            "pi_limit": (("state",), np.full(T.N_STATES, 1.0 / T.N_STATES)),
        },
        attrs={"command": "stationary", "noise": SETTINGS["noise"]},
    )


def tasks(calls_dir=None, alphas=ALPHAS, **kw):
    return [
        Task(
            {"alpha": a},
            T.stationary_like,
            {"alpha": a, "calls_dir": calls_dir, **kw},
            resources={"memory": 10 * 2**20},
        )
        for a in alphas
    ]


def store_files(path):
    """Every file of a Zarr store except the bookkeeping (markers hold pids and times), as bytes."""
    out = {}
    for root, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if d != ".srchain"]
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, path)] = fh.read()
    return out


def calls(calls_dir) -> list[str]:
    return sorted(name.split("@")[0] for name in os.listdir(calls_dir))


@pytest.fixture
def serial_store(tmp_path):
    """The reference: a serial sweep's store and summaries."""
    p = tmp_path / "serial.zarr"
    with ResultStore.open_or_create(p, template(), SETTINGS) as st:
        summaries = run_sweep(tasks(), st, progress=False)
    return p, summaries


def test_serial_sweep_starts_no_cluster(tmp_path):
    """In-process by default: ``distributed`` is never imported; without a store not even xarray or dask.

    (xarray itself imports the ``dask`` array package whenever it is installed, so a store brings that in.)
    """
    code = (
        "import sys; sys.path.insert(0, sys.argv[2]); import _sweep_tasks as T; "
        "from srchain.sweep import Task, run_sweep; "
        "from test_sweep import template, tasks, SETTINGS; "
        "s = run_sweep(tasks(), progress=False); "
        "print(len(s), [m for m in ('dask', 'distributed', 'xarray') if m in sys.modules]); "
        "from srchain.results import ResultStore; "
        "st = ResultStore.open_or_create(sys.argv[1], template(), SETTINGS); "
        "s = run_sweep(tasks(), st, progress=False); st.close(); "
        "print(len(s), [m for m in ('distributed',) if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "s.zarr"), os.path.dirname(__file__)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["8 []", "8 []"]


def test_serial_summaries_arrays_and_errors(tmp_path):
    got = run_sweep(tasks(alphas=[1.0, 0.1]), progress=False, return_arrays=True)
    assert [s["alpha"] for s, _ in got] == [1.0, 0.1]
    assert got[0][0]["residual"] is None  # summaries are as JSON reads them back (NaN -> None)
    assert got[0][1]["pi"].shape == (T.N_STATES,)
    with pytest.raises(SrchainError, match="two tasks have the key"):
        run_sweep(tasks(alphas=[1.0, 1.0]), progress=False)
    with pytest.raises(SrchainError, match="workers or scheduler, not both"):
        run_sweep(tasks(), workers=2, scheduler="tcp://127.0.0.1:1", progress=False)
    with pytest.raises(SrchainError, match="workers must be an integer >= 1"):
        run_sweep(tasks(), workers=0, progress=False)
    with ResultStore.open_or_create(tmp_path / "f.zarr", template(), SETTINGS) as st:
        with pytest.raises(SrchainError, match="alpha 0.01 is too large"):
            run_sweep(tasks(fail_at=0.01), st, progress=False)
        assert len(st.completed()) == ALPHAS.index(0.01)
    assert open_results(tmp_path / "f.zarr").done.sum() == ALPHAS.index(0.01)


def test_resume_after_interrupt_reruns_only_missing(tmp_path, serial_store):
    calls_dir = tmp_path / "calls"
    calls_dir.mkdir()
    p = tmp_path / "r.zarr"
    with ResultStore.open_or_create(p, template(), SETTINGS) as st:
        with pytest.raises(KeyboardInterrupt):  # Ctrl-C during the 4th task
            run_sweep(tasks(calls_dir, interrupt_at=ALPHAS[3]), st, progress=False)
    ds = open_results(p)  # readable, with what finished
    assert ds.done.values.tolist() == [True] * 3 + [False] * 5
    assert np.isnan(ds.pi.sel(alpha=ALPHAS[3]).values).all()
    first = calls(calls_dir)
    assert len(first) == 4
    for f in os.listdir(calls_dir):
        os.unlink(calls_dir / f)
    with pytest.raises(SrchainError, match="exists; pass `resume`"):
        ResultStore.open_or_create(p, template(), SETTINGS)
    with ResultStore.open_or_create(p, template(), SETTINGS, resume=True) as st:
        summaries = run_sweep(tasks(calls_dir), st, resume=True, progress=False)
    assert calls(calls_dir) == sorted(f"alpha={a!r}" for a in ALPHAS[3:])  # only the missing ones ran
    ref_path, ref_summaries = serial_store
    assert summaries == ref_summaries
    assert store_files(p) == store_files(ref_path)


def test_settings_mismatch_refused_naming_the_setting(serial_store):
    p, _ = serial_store
    with pytest.raises(SrchainError, match=r"setting delta is 0\.25 now but 0\.5 in the store"):
        ResultStore.open_or_create(p, template(), {**SETTINGS, "delta": 0.25}, resume=True)


def test_two_concurrent_writers_refused(tmp_path):
    p = tmp_path / "r.zarr"
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[2]); from srchain.results import ResultStore; "
        "from srchain.sweep import run_sweep; from test_sweep import template, tasks, SETTINGS; "
        "st = ResultStore.open_or_create(sys.argv[1], template(), SETTINGS); "
        "print('writing', flush=True); run_sweep(tasks(sleep=30), st, progress=False)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(p), os.path.dirname(__file__)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "writing"
        with pytest.raises(SrchainError, match=f"being written by another sweep \\(pid {proc.pid} ") as exc:
            ResultStore.open_or_create(p, template(), SETTINGS, resume=True)
        assert "\n" not in str(exc.value)
    finally:
        proc.kill()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_two_workers_identical_to_serial(tmp_path, serial_store):
    ref_path, ref_summaries = serial_store
    for suffix in (".zarr", ".nc"):
        p = tmp_path / f"dask{suffix}"
        with deadline(180), ResultStore.open_or_create(p, template(), SETTINGS) as st:
            # the workers run every task (the client's share: tests/test_sweep_start.py)
            summaries = run_sweep(tasks(), st, workers=2, progress=False, memory_limit="1GiB", client_tasks=False)
        assert summaries == ref_summaries
        if suffix == ".zarr":
            assert store_files(p) == store_files(ref_path)
        got, want = open_results(p).load(), open_results(ref_path).load()
        for name in want.data_vars:
            np.testing.assert_array_equal(got[name].values, want[name].values)
        assert got.attrs == want.attrs


@pytest.mark.slow
def test_task_needing_more_memory_than_a_worker_is_refused():
    big = [Task({"alpha": 1.0}, T.stationary_like, {"alpha": 1.0}, resources={"memory": 2 * 2**30})]
    with deadline(120), pytest.raises(SrchainError, match=r"needs memory = 2 GiB but the largest worker .* has 1 GiB"):
        run_sweep(big, workers=1, memory_limit=2**30, progress=False)
    gpu = [Task({"alpha": 1.0}, T.stationary_like, {"alpha": 1.0}, resources={"GPU": 1})]
    with deadline(120), pytest.raises(SrchainError, match="no worker of .* declares GPU"):
        run_sweep(gpu, workers=1, memory_limit=2**30, progress=False)


@pytest.mark.slow
def test_cluster_task_error_is_reraised_one_line(tmp_path):
    with deadline(120), ResultStore.open_or_create(tmp_path / "e.zarr", template(), SETTINGS) as st:
        with pytest.raises(SrchainError, match="^alpha 0.01 is too large for this lattice; use a smaller alpha$"):
            run_sweep(tasks(fail_at=0.01), st, workers=2, progress=False, memory_limit="1GiB", client_tasks=False)
    open_results(tmp_path / "e.zarr")  # still readable


@pytest.mark.slow
def test_sigkill_a_worker_mid_sweep(tmp_path, serial_store):
    from distributed import Client, LocalCluster

    ref_path, ref_summaries = serial_store
    calls_dir = tmp_path / "calls"
    calls_dir.mkdir()
    p = tmp_path / "k.zarr"
    killed = {}
    with deadline(300):
        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            memory_limit="1GiB",
            resources={"memory": 2**30},
        )
        client = Client(cluster, set_as_default=False)
        try:
            pids = list(client.run(os.getpid).values())
            assert len(set(pids)) == 2

            def killer():
                victim = pids[0]
                while time.monotonic() < t_end:  # wait until the victim is inside a task, then SIGKILL it
                    started = [open(calls_dir / f).read() for f in os.listdir(calls_dir)]
                    if str(victim) in started:
                        time.sleep(0.2)
                        os.kill(victim, signal.SIGKILL)
                        killed["pid"] = victim
                        return
                    time.sleep(0.02)

            t_end = time.monotonic() + 60
            th = threading.Thread(target=killer, daemon=True)
            th.start()
            with ResultStore.open_or_create(p, template(), SETTINGS) as st:
                summaries = run_sweep(
                    tasks(calls_dir, sleep=1.0), st, scheduler=cluster.scheduler_address, progress=False
                )
            th.join(timeout=10)
        finally:
            client.close()
            cluster.close()
    assert killed, "the victim worker never started a task"
    assert len(calls(calls_dir)) > len(ALPHAS)  # the killed task ran again elsewhere
    assert summaries == ref_summaries
    ds = open_results(p)
    assert bool(ds.done.all()) and len(os.listdir(p / ".srchain" / "done")) == len(ALPHAS)
    assert store_files(p) == store_files(ref_path)


@pytest.mark.slow
def test_ctrl_c_on_the_client_then_resume(tmp_path, serial_store):
    import _thread

    ref_path, ref_summaries = serial_store
    calls_dir = tmp_path / "calls"
    calls_dir.mkdir()
    p = tmp_path / "c.zarr"
    with deadline(240):

        def interrupt():
            while len(os.listdir(p / ".srchain" / "done")) < 2:
                time.sleep(0.02)
            _thread.interrupt_main()  # what Ctrl-C does: KeyboardInterrupt in the main thread

        with ResultStore.open_or_create(p, template(), SETTINGS) as st:
            th = threading.Thread(target=interrupt, daemon=True)
            th.start()
            with pytest.raises(KeyboardInterrupt):  # the workers' path (tests/test_sweep_start.py: the client's)
                run_sweep(
                    tasks(calls_dir, sleep=0.5), st, workers=2, progress=False, memory_limit="1GiB", client_tasks=False
                )
        assert not (p / ".srchain" / "lock").exists()
        ds = open_results(p)  # readable
        finished = int(ds.done.sum())
        assert 2 <= finished < len(ALPHAS)
        with ResultStore.open_or_create(p, template(), SETTINGS, resume=True) as st:
            summaries = run_sweep(
                tasks(calls_dir, sleep=0.5), st, workers=2, resume=True, progress=False, memory_limit="1GiB"
            )
    assert summaries == ref_summaries
    assert store_files(p) == store_files(ref_path)
    assert bool(open_results(p).done.all())
