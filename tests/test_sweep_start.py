"""srchain.sweep with a local cluster: the client runs tasks while the cluster starts, then hands the rest to the
workers. Every task runs once, with the serial run's bits; Ctrl-C and errors in a task the client runs leave a
store that ``resume`` completes; the cluster is closed even when the client needed none of it.

Workers import the task functions from ``tests/_sweep_tasks.py`` (see tests/test_sweep.py).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import _sweep_tasks as T  # noqa: E402
from test_sweep import ALPHAS, SETTINGS, deadline, store_files, tasks, template  # noqa: E402

from srchain.errors import SrchainError  # noqa: E402
from srchain.results import ResultStore, open_results  # noqa: E402
from srchain.sweep import Task, run_sweep  # noqa: E402


def _pids(calls_dir) -> list[int]:
    return [int(open(calls_dir / f).read()) for f in os.listdir(calls_dir)]


def _wait_for_cluster_threads() -> None:
    """The threads that start or close a local cluster in the background, joined; then no worker is left."""
    for th in threading.enumerate():
        if th.name in ("srchain-cluster-start", "srchain-cluster-close"):
            th.join(timeout=120)
            assert not th.is_alive()
    assert multiprocessing.active_children() == []


@pytest.fixture
def serial_store(tmp_path):
    p = tmp_path / "serial.zarr"
    with ResultStore.open_or_create(p, template(), SETTINGS) as st:
        summaries = run_sweep(tasks(), st, progress=False)
    return p, summaries


def test_client_and_workers_share_the_tasks_with_the_serial_bits(tmp_path, serial_store):
    ref_path, ref_summaries = serial_store
    calls_dir = tmp_path / "calls"
    calls_dir.mkdir()
    p = tmp_path / "d.zarr"
    # 8 tasks of 2 s: the client starts the first at once; a loopback cluster of 2 workers comes up within a few
    # seconds (16 s would be ~10× what it takes here), and takes the tasks not yet begun
    with deadline(240), ResultStore.open_or_create(p, template(), SETTINGS) as st:
        summaries = run_sweep(tasks(calls_dir, sleep=2.0), st, workers=2, progress=False, memory_limit="1GiB")
    _wait_for_cluster_threads()
    pids = _pids(calls_dir)
    assert len(pids) == len(ALPHAS)  # each task ran once
    assert os.getpid() in pids  # the client ran the first
    assert any(pid != os.getpid() for pid in pids)  # the workers ran the rest
    assert summaries == ref_summaries
    assert store_files(p) == store_files(ref_path)


def test_ctrl_c_in_a_task_the_client_runs_then_resume(tmp_path, serial_store):
    ref_path, ref_summaries = serial_store
    p = tmp_path / "c.zarr"
    # the second task raises KeyboardInterrupt where it runs: in the client, a fraction of a second after the start
    # (the first task does not sleep), long before a cluster is up
    run = [Task({"alpha": a}, T.stationary_like, {"alpha": a, "interrupt_at": ALPHAS[1]}) for a in ALPHAS]
    with deadline(240):
        with ResultStore.open_or_create(p, template(), SETTINGS) as st:
            with pytest.raises(KeyboardInterrupt):
                run_sweep(run, st, workers=2, progress=False, memory_limit="1GiB")
        assert not (p / ".srchain" / "lock").exists()
        assert int(open_results(p).done.sum()) == 1  # readable, with the first task's results only
        _wait_for_cluster_threads()  # the cluster that was starting is closed once it is up
        with ResultStore.open_or_create(p, template(), SETTINGS, resume=True) as st:
            summaries = run_sweep(tasks(), st, workers=2, resume=True, progress=False, memory_limit="1GiB")
        _wait_for_cluster_threads()
    assert summaries == ref_summaries
    assert store_files(p) == store_files(ref_path)


def test_a_task_error_in_the_client_is_reraised_one_line(tmp_path):
    with deadline(240), ResultStore.open_or_create(tmp_path / "e.zarr", template(), SETTINGS) as st:
        with pytest.raises(SrchainError, match=f"^alpha {ALPHAS[0]} is too large for this lattice; use a smaller"):
            run_sweep(tasks(fail_at=ALPHAS[0]), st, workers=2, progress=False, memory_limit="1GiB")
    _wait_for_cluster_threads()
    open_results(tmp_path / "e.zarr")  # still readable


def test_a_sweep_the_client_finishes_alone_returns_and_the_cluster_is_closed(tmp_path):
    calls_dir = tmp_path / "calls"
    calls_dir.mkdir()
    with deadline(240):
        summaries = run_sweep(tasks(calls_dir, alphas=ALPHAS[:2]), workers=2, progress=False, memory_limit="1GiB")
        assert [s["alpha"] for s in summaries] == ALPHAS[:2]
        assert _pids(calls_dir) == [os.getpid()] * 2  # two instant tasks: done before any worker is up
        _wait_for_cluster_threads()


def solve_task(alpha: float):
    """A real task: T_α of the coupled 2-D chain and its stationary law, as digests of their bytes."""
    import hashlib

    from srchain.lattice import Lattice
    from srchain.noise import make_noise
    from srchain.operators import transition_matrix
    from srchain.problems import get_problem
    from srchain.stationary import stationary

    p = get_problem("coupled", dim=2)
    lat = Lattice.from_domain(0.5, p.domain, 2)
    P = transition_matrix(p, make_noise("gaussian", sigma=2.0), lat, alpha).P
    pi = stationary(P, shape=lat.shape).pi
    digest = {name: hashlib.sha256(a.tobytes()).hexdigest() for name, a in (("P", P.data), ("pi", pi))}
    return {"alpha": alpha, **digest, "pid": os.getpid()}, {}


def test_real_solves_on_workers_have_the_serial_bits():
    # the CLI's small sweeps now finish in the client before a cluster starts; here the workers solve every α
    run = [Task({"alpha": a}, solve_task, {"alpha": a}) for a in (0.1, 0.03, 0.01, 0.003)]
    serial = run_sweep(run, progress=False)
    with deadline(240):
        par = run_sweep(run, workers=2, progress=False, memory_limit="1GiB", client_tasks=False)
    _wait_for_cluster_threads()
    assert all(s["pid"] != os.getpid() for s in par)
    assert [{k: v for k, v in s.items() if k != "pid"} for s in par] == [
        {k: v for k, v in s.items() if k != "pid"} for s in serial
    ]
