"""Sweeps that cannot be turned against the machine (issue 22, sections 3 and 4): ``--scheduler`` is checked before
anything is created and fails in one line within a few seconds; ``--workers`` is refused before any process starts
when it exceeds the CPUs, the tasks or the memory."""

import socket
import time

import pytest

from srchain.errors import SrchainError
from srchain.sweep import Task, check_scheduler, check_workers, machine_cpus, machine_memory, run_sweep
from tests.cli_helpers import assert_one_line_error, run

ST = ["stationary", "--problem", "toy", "--delta", "0.5", "--alpha", "1", "0.1", "--quiet"]


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "address,needle",
    [
        (None, "cannot connect"),  # unreachable: a closed loopback port
        ("garbage", "not an address"),
        ("garbage::://", "unknown protocol"),
        ("tcp://", "not an address"),
        ("tcp://host:notaport", "not an address"),
        ("foo://127.0.0.1:8786", "unknown protocol"),
        ("tcp://no-such-host.invalid:8786", "cannot connect"),
    ],
)
@pytest.mark.parametrize("command", ["stationary", "simulate"])
def test_a_bad_scheduler_fails_fast_and_leaves_nothing(tmp_path, capsys, address, needle, command):
    address = address or f"tcp://127.0.0.1:{_closed_port()}"
    out = tmp_path / "s.zarr"
    argv = ST if command == "stationary" else ["simulate", "--alpha", "1", "--steps", "100", "--quiet"]
    t0 = time.perf_counter()
    code, _, err = run([*argv, "--out", str(out), "--json", str(tmp_path / "s.json"), "--scheduler", address], capsys)
    assert time.perf_counter() - t0 < 15  # the probe waits at most 5 s (the issue saw 30 s and 60 s)
    assert_one_line_error(code, err, "--scheduler" if "address" in needle or "protocol" in needle else "scheduler")
    assert needle in err
    assert list(tmp_path.iterdir()) == []  # no half-made store, no JSON


def test_check_scheduler_accepts_a_listening_address():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        check_scheduler(f"tcp://127.0.0.1:{s.getsockname()[1]}")  # does not raise


def test_run_sweep_checks_the_scheduler_before_any_task():
    calls = []
    with pytest.raises(SrchainError, match="cannot connect"):
        run_sweep([Task({"a": 1}, calls.append, {"object": 1})], scheduler=f"tcp://127.0.0.1:{_closed_port()}")
    assert calls == []


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--workers", "1e6"], "CPUs"),
        (["--workers", str(machine_cpus() + 1)], "CPUs"),
        (["--workers", "2", "--memory-per-worker", str(machine_memory() / 2**30)], "GiB of this machine"),
    ],
)
def test_workers_beyond_the_machine_are_refused_before_anything_starts(tmp_path, capsys, extra, needle):
    out = tmp_path / "s.zarr"
    code, _, err = run([*ST, "--out", str(out), *extra], capsys)
    assert_one_line_error(code, err, needle, "--workers")
    assert list(tmp_path.iterdir()) == []


def test_simulate_petabyte_of_workers_is_refused(tmp_path, capsys):
    argv = ["simulate", "--alpha", "1", "--steps", "100", "--quiet", "--out", str(tmp_path / "s.zarr")]
    code, _, err = run([*argv, "--workers", "1000", "--memory-per-worker", "1000"], capsys)
    assert_one_line_error(code, err, "--workers")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(machine_cpus() < 2, reason="needs 2 CPUs to ask for more workers than tasks")
@pytest.mark.parametrize("argv", [ST[:-2] + ["--quiet"], ["figure2", "--steps", "100", "--quiet"]])
def test_more_workers_than_tasks_is_refused(tmp_path, capsys, argv):
    extra = ["--out", str(tmp_path / "f.png")] if argv[0] == "figure2" else []
    code, _, err = run([*argv, *extra, "--workers", "2"], capsys)
    assert_one_line_error(code, err, "--workers", "task")
    assert list(tmp_path.iterdir()) == []


def test_check_workers_library():
    check_workers(1, 2**20, n_tasks=1)  # fits
    with pytest.raises(SrchainError, match="CPUs"):
        check_workers(10**6)
    with pytest.raises(SrchainError, match="GiB of this machine"):
        check_workers(1, 2 * machine_memory())
    with pytest.raises(SrchainError, match="workers must be an integer"):
        check_workers(0)
