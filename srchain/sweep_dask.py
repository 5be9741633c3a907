"""The Dask path of the sweep engine (:func:`srchain.sweep.run_sweep` with ``workers`` or ``scheduler``).

A local cluster of single-threaded worker processes on the loopback interface (started in a thread while the
client runs the first tasks, :class:`_Claims`), or an existing cluster; each task's resources are checked against
what the workers declare before anything runs (:func:`_task_resources`), and the cluster is closed on every exit.
Tasks run through :func:`srchain.sweep._execute`, as in the serial path, so the store is the same either way.
"""

from __future__ import annotations

import logging
import os
import uuid
import warnings

from srchain.errors import SrchainError
from srchain.sweep import _bar, _execute, _memory_per_worker

__all__: list[str] = []


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
