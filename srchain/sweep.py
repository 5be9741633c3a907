"""One sweep engine: independent tasks run in-process, on a local Dask cluster, or on an existing one.

A sweep is a list of :class:`Task`. A task's function returns ``(summary, arrays)``: a small dict for the
client (printed in tables, returned by :func:`run_sweep`) and the big arrays, which the task writes into its
own region of a :class:`srchain.results.ResultStore` *where it runs*, followed by its completion marker. Only
summaries travel back to the client, so a 10⁷-vector never passes through the Dask scheduler.

* ``run_sweep(tasks)``: in this process, one task after another; Dask is not imported.
* ``run_sweep(tasks, workers=N)``: a ``dask.distributed.LocalCluster`` of N single-threaded worker
  processes on the loopback interface, each declaring the resource ``memory`` (its memory limit); a task's
  ``resources={"memory": bytes}`` keeps a worker from running more solves than fit. The cluster starts in a
  thread while this process runs the first tasks, and each worker imports the package and loads its compiled
  kernels as it starts (``srchain._worker_warmup``), before it takes a task.
* ``run_sweep(tasks, scheduler="tcp://host:8786")``: an existing cluster (``dask scheduler`` /
  ``dask worker ADDRESS --nthreads 1 --resources "memory=16e9 GPU=1"``, or dask-jobqueue).

The two Dask forms are run by :mod:`srchain.sweep_dask`.

Faults: a worker killed mid-task is replaced by Dask and its task rerun elsewhere (a rerun rewrites the same
bytes, so every task is in the store exactly once); Ctrl-C cancels the futures, closes the local cluster and
leaves the store readable, and ``resume=True`` later runs only the tasks without a marker. A task raising
:class:`srchain.SrchainError` stops the sweep with that one-line error.

Examples
--------
>>> from srchain.sweep import Task, run_sweep
>>> def square(x):
...     return {"x": x, "y": x * x}, {}
>>> [s["y"] for s in run_sweep([Task({"alpha": a}, square, {"x": a}) for a in (1.0, 2.0)], progress=False)]
[1.0, 4.0]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from srchain.errors import SrchainError

__all__ = ["Task", "run_sweep", "check_workers", "check_scheduler"]


@dataclass(frozen=True)
class Task:
    """One independent piece of a sweep.

    Attributes
    ----------
    key : dict
        Its coordinates in the results, e.g. ``{"alpha": 0.1}`` or ``{"method": "sr", "alpha": 1.0}`` (the
        values of the store's sweep dimensions; unique within a sweep).
    fn : callable
        A module-level (picklable, importable by the workers) function called as ``fn(**kwargs)`` that returns
        ``(summary, arrays)``: a small JSON-able dict and a dict of arrays for the task's region of the store
        (``{}`` when there is nothing to store).
    kwargs : dict
        Its arguments (sent to the worker: keep them small, e.g. a spec, not a matrix).
    resources : dict
        Dask resources the task needs while it runs, e.g. ``{"memory": 3 * 2**30}`` (bytes: the operator's
        estimate plus the solver's fill) or ``{"GPU": 1}``. Ignored when the sweep runs in-process.
    """

    key: Mapping[str, Any]
    fn: Callable
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    resources: Mapping[str, float] = field(default_factory=dict)


def machine_cpus() -> int:
    """The CPUs this process may run on (its affinity where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def machine_memory() -> int:
    """Bytes of memory of this machine (physical memory, or the cgroup's limit when that is lower)."""
    try:
        total = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - exotic platforms
        total = 0
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = open(limit_file, encoding="ascii").read().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < (total or int(text) + 1):
            total = int(text)
    return total


def check_workers(workers, memory_limit=None, n_tasks: int | None = None) -> None:
    """Refuse, before anything starts, a local cluster larger than the machine or the sweep.

    ``workers`` must not exceed the CPUs (:func:`machine_cpus`) nor ``n_tasks`` (when given), and ``workers`` ×
    ``memory_limit`` (bytes per worker) must fit in the machine's memory (:func:`machine_memory`).

    Raises
    ------
    SrchainError
        One line naming the limit.
    """
    if workers is None:
        return
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SrchainError(f"workers must be an integer >= 1, got {workers!r}")
    cpus = machine_cpus()
    if workers > cpus:
        raise SrchainError(f"`workers` {workers} exceeds the {cpus} CPUs of this machine; use at most {cpus}")
    if n_tasks is not None and workers > max(1, n_tasks):
        raise SrchainError(
            f"`workers` {workers} exceeds the {n_tasks} task(s) of this sweep; use at most {max(1, n_tasks)}"
        )
    if memory_limit is not None:
        per = int(memory_limit) if isinstance(memory_limit, (int, float)) else _memory_per_worker(memory_limit, workers)
        total = machine_memory()
        if total and per * workers > total:
            raise SrchainError(
                f"`workers` {workers} × {per / 2**30:.3g} GiB (memory_per_worker) exceed the "
                f"{total / 2**30:.3g} GiB of this machine; use fewer workers or less memory per worker"
            )


#: How long :func:`check_scheduler` waits for a scheduler to accept a connection.
SCHEDULER_TIMEOUT = 5.0


def check_scheduler(address, timeout: float = SCHEDULER_TIMEOUT) -> None:
    """Refuse, in one line and within about ``timeout`` seconds, a scheduler address that is malformed, does not
    resolve or does not accept a connection (tcp/tls; other protocols are only parsed). Nothing is created."""
    import socket
    import threading

    text = str(address).strip() if address is not None else ""
    if not text:
        raise SrchainError("`scheduler` is empty; give an address such as tcp://host:8786")
    scheme, _, loc = text.rpartition("://") if "://" in text else ("tcp", "", text)
    if scheme not in ("tcp", "tls", "ucx", "inproc", "ws", "wss"):
        raise SrchainError(f"`scheduler` {text!r}: unknown protocol {scheme!r} (use tcp://host:port)")
    if scheme not in ("tcp", "tls"):
        return
    host, sep, port = loc.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or any(c in host for c in "/ @?#"):
        raise SrchainError(f"`scheduler` {text!r} is not an address of the form tcp://host:port")
    outcome: list = []

    def probe():
        try:
            socket.create_connection((host, int(port)), timeout=timeout).close()
            outcome.append(None)
        except OSError as exc:
            outcome.append(exc)

    t = threading.Thread(target=probe, daemon=True)  # name resolution cannot be interrupted: wait at most timeout
    t.start()
    t.join(timeout + 0.5)
    if not outcome:
        raise SrchainError(f"the Dask scheduler at {text} did not answer within {timeout:g} s; is it running?")
    if outcome[0] is not None:
        exc = outcome[0]
        why = exc.strerror if getattr(exc, "strerror", None) else (str(exc) or type(exc).__name__)
        raise SrchainError(f"cannot connect to the Dask scheduler at {text} ({why}); is it running?")


def _execute(task: Task, store, return_arrays: bool = False, share=None):
    """Run one task where it is (client or worker): compute, write its region, then its marker.

    ``share = (n_workers, cpus)``: a local worker first binds its task thread to its own slice of the machine's
    CPUs, so that N workers' multi-threaded solvers (which size their thread pools by the CPU affinity) do not
    oversubscribe the cores.
    """
    from srchain.results import _canon

    if share is not None:
        _bind_worker_cpus(*share)
    out = task.fn(**dict(task.kwargs))
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], dict) and isinstance(out[1], dict)):
        raise TypeError(
            f"task {dict(task.key)!r}: {getattr(task.fn, '__name__', task.fn)} must return "
            f"(summary: dict, arrays: dict), got {type(out).__name__}"
        )
    summary, arrays = out
    if store is not None:
        store.write_region(dict(task.key), arrays)
        store.mark_done(dict(task.key), summary)
    summary = _canon(summary)  # what a resumed sweep reads back from the marker: the same either way
    return (summary, arrays) if return_arrays else summary


def _bind_worker_cpus(n_workers: int, cpus) -> None:
    import os

    from distributed import get_worker

    try:
        index = int(get_worker().name) % n_workers
    except (ValueError, TypeError):
        return
    cpus = list(cpus)
    mine = cpus[index * len(cpus) // n_workers : (index + 1) * len(cpus) // n_workers]  # a contiguous block
    if mine and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, mine)  # the calling thread; threads it starts inherit it
        except OSError:
            return
        import numba

        # Numba's parallel kernels use as many threads as the machine has CPUs unless told otherwise (per thread)
        numba.set_num_threads(max(1, min(len(mine), numba.config.NUMBA_NUM_THREADS)))


def _key_id(task: Task, store) -> str:
    if store is not None:
        return store.task_id(dict(task.key))
    import orjson

    from srchain.results import _canon

    return orjson.dumps(_canon(dict(task.key)), option=orjson.OPT_SORT_KEYS).decode()


def run_sweep(
    tasks,
    store=None,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    progress: bool = True,
    memory_limit=None,
    return_arrays: bool = False,
    worker_resources=None,
    desc: str = "sweep",
    client_tasks: bool = True,
) -> list:
    """Run every task of a sweep once and return their summaries in task order.

    Parameters
    ----------
    tasks : iterable of Task
    store : srchain.results.ResultStore, optional
        Where tasks write their arrays (their region, then a marker). Without a store the arrays are
        dropped unless ``return_arrays``. The store is finalised (``.nc`` written) when every task succeeded.
    workers : int, optional
        Run on a ``LocalCluster`` of this many single-threaded worker processes (loopback only, no dashboard).
    scheduler : str, optional
        Run on the existing Dask cluster at this address (``tcp://host:8786``). Not with ``workers``.
    resume : bool
        Skip the tasks whose marker is in ``store``; their summaries are read back from the markers.
    progress : bool
        A tqdm progress bar on stderr.
    memory_limit : int or str, optional
        Memory per local worker (bytes or ``"4GiB"``); default: the machine's memory divided by ``workers``.
        Each worker declares it as its ``memory`` resource.
    return_arrays : bool
        Return ``(summary, arrays)`` pairs instead of summaries (resumed tasks: arrays read from the store).
        On a cluster the arrays then travel through the scheduler: for small results only.
    worker_resources : dict, optional
        Further resources each local worker declares, e.g. ``{"GPU": 1}``.
    desc : str
        The progress bar's label.
    client_tasks : bool
        With ``workers``: run tasks in this process while the local cluster starts (its workers' start-up, a few
        seconds, is then spent on work; each task runs once, wherever, with the same bits). The cluster starts one
        second after the first task, and not at all if this process has taken every task by then. Until the cluster is
        up, and for the rest of the task this process is in when it comes up, this process runs one task beside
        the workers: leave memory for one more task than ``workers``, or pass ``False``.

    Returns
    -------
    list of dict
        One summary per task (as read back from JSON: NumPy scalars become floats, NaN becomes ``None``).

    Raises
    ------
    SrchainError
        Bad arguments, a task needing more of a resource than any worker has, a task that raised
        ``SrchainError`` (re-raised as is), a task that killed its workers repeatedly, an unreachable scheduler.
    KeyboardInterrupt
        After cancelling the remaining tasks and closing the local cluster (the store stays readable).
    """
    tasks = list(tasks)
    for t in tasks:
        if not isinstance(t, Task):
            raise SrchainError(f"run_sweep takes Task objects, got {type(t).__name__}")
    if workers is not None and scheduler is not None:
        raise SrchainError("give workers or scheduler, not both")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise SrchainError(f"workers must be an integer >= 1, got {workers!r}")
    check_workers(workers, memory_limit)
    ids = [_key_id(t, store) for t in tasks]
    seen: dict[str, object] = {}
    for t, tid in zip(tasks, ids, strict=True):
        if tid in seen:
            raise SrchainError(f"two tasks have the key {dict(t.key)!r}; every task needs its own key")
        seen[tid] = t
    results: list = [None] * len(tasks)
    todo = []
    for i, t in enumerate(tasks):
        if resume and store is not None and store.is_done(dict(t.key)):
            s = store.summary(dict(t.key))
            results[i] = (s, store.read_region(dict(t.key))) if return_arrays else s
        else:
            todo.append(i)
    if todo:
        if workers is not None:
            workers = min(workers, len(todo))  # a resumed sweep: no idle worker processes
        if scheduler is not None:
            check_scheduler(scheduler)
        if workers is None and scheduler is None:
            _run_serial(tasks, todo, results, store, progress, return_arrays, desc)
        else:
            from srchain.sweep_dask import _run_dask

            _run_dask(
                tasks,
                todo,
                ids,
                results,
                store,
                workers,
                scheduler,
                progress,
                memory_limit,
                return_arrays,
                worker_resources,
                desc,
                client_tasks,
            )
    if store is not None:
        store.finalize()
    return results


def _bar(total: int, progress: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="task", disable=not progress, leave=False, file=sys.stderr)


def _run_serial(tasks, todo, results, store, progress, return_arrays, desc) -> None:
    with _bar(len(todo), progress, desc) as bar:
        for i in todo:
            results[i] = _execute(tasks[i], store, return_arrays)
            bar.update()


def _memory_per_worker(memory_limit, workers: int) -> int:
    from dask.utils import parse_bytes
    from distributed.system import MEMORY_LIMIT

    if memory_limit is None:
        return int(MEMORY_LIMIT // workers)
    try:
        limit = int(parse_bytes(memory_limit) if isinstance(memory_limit, str) else memory_limit)
    except (ValueError, TypeError):
        raise SrchainError(f"memory_limit {memory_limit!r} is not a size (bytes or e.g. '4GiB')") from None
    if limit <= 0:
        raise SrchainError(f"memory_limit must be positive, got {memory_limit!r}")
    return limit
