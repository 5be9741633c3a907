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

import logging
import os
import sys
import uuid
import warnings
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


def _fmt_amount(name: str, x) -> str:
    return f"{x / 2**30:.3g} GiB" if name == "memory" else f"{x:g}"


def _task_resources(tasks, todo, available: dict | None, where: str) -> dict[int, dict | None]:
    """Each task's Dask resources, checked against what the workers declare (``None``: no worker known yet)."""
    out, dropped = {}, set()
    for i in todo:
        res = {}
        for name, need in dict(tasks[i].resources).items():
            if available is not None and name not in available:
                if name == "memory":  # workers started without --resources memory=...: run unconstrained
                    dropped.add(name)
                    continue
                raise SrchainError(
                    f"task {dict(tasks[i].key)!r} needs resource {name}={need:g} but no worker of "
                    f"{where} declares {name}; start workers with --resources {name}=..."
                )
            if available is not None and need > available[name]:
                raise SrchainError(
                    f"task {dict(tasks[i].key)!r} needs {name} = {_fmt_amount(name, need)} but the "
                    f"largest worker of {where} has {_fmt_amount(name, available[name])}; "
                    f"use fewer workers, more memory per worker or a smaller problem"
                )
            res[name] = need
        out[i] = res or None
    if dropped:
        warnings.warn(
            f"the workers of {where} declare no 'memory' resource; tasks run without a memory "
            f"constraint (start workers with --resources memory=BYTES)",
            stacklevel=3,
        )
    return out


#: Environment of local worker processes. Dask sets ``MALLOC_TRIM_THRESHOLD_`` before spawning workers; any such
#: setting turns off glibc's dynamic mmap threshold, so every large temporary array of an operator build is
#: mmapped and page-faulted afresh: solves ran 2× slower in workers than in-process. ``None`` unsets it.
_WORKER_ENVIRON = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


def _start_method() -> dict:
    """Dask's way of starting local worker processes: ``forkserver`` where the platform has it. One server
    process, started once per client process and already holding Dask and NumPy, forks every worker of this and
    later sweeps; with ``spawn`` each worker started a fresh interpreter and imported them again (measured here, two
    workers on a loaded 2-core machine: 10.2 s to the first task against 7.3 s, and the cluster's teardown 3.3 s
    against 0.1 s)."""
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        return {"distributed.worker.multiprocessing-method": "forkserver"}
    return {}


#: Seconds the client runs tasks alone before it starts a local cluster: a sweep it has taken every task of by then
#: (small tasks, or few) starts none (a cluster takes seconds to start and to close).
_START_DELAY = 1.0

#: Module each local worker runs at start-up (Dask ``preload``): imports the science modules and loads their
#: compiled kernels, so that a worker's first task does not pay for them.
_PRELOAD = "srchain._worker_warmup"


class _Claims:
    """The tasks not yet claimed, shared by the client (which runs tasks while its local cluster starts) and the
    thread that starts the cluster (which, once it is up, takes all the rest for the workers)."""

    def __init__(self, todo):
        import threading

        self._lock = threading.Lock()
        self._left = list(todo)
        self._closed = False
        self.drained = threading.Event()  # set once no task is left to claim

    def take(self):
        with self._lock:
            if self._closed or not self._left:
                return None
            i = self._left.pop(0)
            if not self._left:
                self.drained.set()
            return i

    def close(self) -> tuple[list, bool]:
        """Claim every task left; also whether this call was the first to close (the other side then knows that
        it was not, and who owns the cluster)."""
        with self._lock:
            first = not self._closed
            self._closed = True
            rest, self._left = self._left, []
            self.drained.set()
            return rest, first


def _shutdown(state: dict) -> None:
    """Close the client and the local cluster in ``state`` (best effort)."""
    for name in ("client", "cluster"):
        obj, state[name] = state.get(name), None
        if obj is not None:
            try:
                obj.close()
            except Exception:  # noqa: BLE001 - best effort
                pass


def _run_dask(
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
    client_tasks=True,
) -> None:
    import threading

    import dask
    from distributed import Client, KilledWorker, LocalCluster, as_completed

    state: dict = {"cluster": None, "client": None, "futures": {}, "error": None}
    run_id = uuid.uuid4().hex[:8]

    def submit(client, cluster, rest, res, where) -> None:
        if res is None:
            info = client.scheduler_info(n_workers=-1) if _accepts_n_workers(client) else client.scheduler_info()
            winfo = list(info.get("workers", {}).values())
            available: dict | None = None
            if winfo:
                available = {}
                for w in winfo:
                    for name, amount in (w.get("resources") or {}).items():
                        available[name] = max(available.get(name, 0), amount)
            res = _task_resources(tasks, rest, available, where)
        share = None
        if cluster is not None and hasattr(os, "sched_getaffinity"):
            cpus = sorted(os.sched_getaffinity(0))
            share = (workers, tuple(cpus)) if workers <= len(cpus) else None
        for i in rest:
            fut = client.submit(
                _execute,
                tasks[i],
                store,
                return_arrays,
                share,
                key=f"srchain-{ids[i]}-{run_id}",
                resources=res[i],
                pure=False,
            )
            state["futures"][fut] = i

    claims = None
    starter = None
    owner = True  # this thread closes the client and the cluster (False: the starter thread does)
    try:
        with _bar(len(todo), progress, desc) as bar:
            if workers is not None:
                limit = _memory_per_worker(memory_limit, workers)
                where = f"the local cluster ({workers} workers)"
                declared = {"memory": limit, **dict(worker_resources or {})}
                res = _task_resources(tasks, todo, declared, where)  # refused before any process starts

                def start() -> None:
                    with dask.config.set({**_WORKER_ENVIRON, **_start_method()}):
                        state["cluster"] = LocalCluster(
                            n_workers=workers,
                            threads_per_worker=1,
                            processes=True,
                            host="127.0.0.1",
                            dashboard_address=None,
                            memory_limit=limit,
                            silence_logs=logging.ERROR,
                            resources=declared,
                            preload=[_PRELOAD],
                        )
                    state["client"] = Client(state["cluster"], set_as_default=False)

                if client_tasks and len(todo) > 1:
                    # The cluster starts in a thread while this one runs tasks (the client's modules and kernels
                    # are already loaded); once it is up, that thread hands every task not yet begun to the
                    # workers, and this one finishes the task it is in.
                    claims = _Claims(todo)

                    def starter_main() -> None:
                        if claims.drained.wait(_START_DELAY):  # the client took every task meanwhile: no cluster
                            claims.close()
                            return
                        try:
                            start()
                            rest, first = claims.close()
                        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                            if not claims.close()[1]:  # the client has stopped without the cluster: nobody waits
                                _shutdown(state)
                            state["error"] = exc
                            return
                        if not first:  # every task ran in the client (or it failed): the cluster is not needed
                            _shutdown(state)
                            return
                        try:
                            if rest:
                                submit(state["client"], state["cluster"], rest, res, where)
                        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                            state["error"] = exc

                    # not a daemon: if the client finishes first, the thread closes the cluster once it is up,
                    # and the interpreter waits for that at exit
                    starter = threading.Thread(target=starter_main, name="srchain-cluster-start")
                    starter.start()
                    while (i := claims.take()) is not None:
                        results[i] = _execute(tasks[i], store, return_arrays)
                        bar.update()
                    if claims.close()[1]:  # all done here: the starting cluster is left to its thread
                        owner = False
                    else:
                        starter.join()
                        if state["error"] is not None:
                            raise state["error"]
                    starter = None
                else:
                    start()
                    submit(state["client"], state["cluster"], todo, res, where)
            else:
                where = f"the cluster at {scheduler}"
                try:
                    state["client"] = Client(scheduler, set_as_default=False, timeout="30s")
                except (OSError, TimeoutError) as exc:
                    raise SrchainError(f"cannot connect to the Dask scheduler at {scheduler}: {exc}") from None
                submit(state["client"], None, todo, None, where)
            futures = state["futures"]
            if futures:
                for fut in as_completed(list(futures), loop=state["client"].loop):
                    i = futures[fut]
                    try:
                        results[i] = fut.result()
                    except KilledWorker:
                        raise SrchainError(
                            f"task {dict(tasks[i].key)!r} killed its worker repeatedly (out of memory?"
                            f" declare its memory need, use fewer workers or more memory per worker)"
                        ) from None
                    bar.update()
    except BaseException:
        if claims is not None and claims.close()[1]:
            owner = False  # the starter thread closes the cluster once it is up; this one need not wait
        elif starter is not None:
            starter.join()  # it is submitting: wait, so that the futures are cancelled and the cluster closed
        if owner and state["client"] is not None and state["futures"]:
            try:
                state["client"].cancel(list(state["futures"]), force=True)
            except Exception:  # noqa: BLE001 - best effort while already failing
                pass
        raise
    else:
        if owner:  # every task is done: the teardown (seconds) goes on in a thread the interpreter waits for at exit
            owner = False
            threading.Thread(target=_shutdown, args=(state,), name="srchain-cluster-close").start()
    finally:
        if owner:
            _shutdown(state)


def _accepts_n_workers(client) -> bool:
    import inspect

    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):
        return False
