"""Benchmark: a stationary sweep of 8 α at 10⁶ states, serial vs 2 Dask workers; output and read-back costs (issue 10).

Chains: the separable 2-D objective (8) on [−4, 10]², Δ = 0.014014 (1000 × 1000 states), Gaussian σ = 2, SR,
α from 8e-4 down to 3e-4. Each task builds T_α (``srchain.operators.transition_matrix``) and solves for π_α
(``srchain.stationary.stationary``), then writes its region of a Zarr store from where it runs.

(a) ``parallel_ratio``: wall time with ``--workers`` (default 2) LocalCluster workers, cluster start included,
    over the serial in-process wall time (target ≤ 0.6). The serial solve is itself multi-threaded and
    memory-bound: on a 2-vCPU machine it already uses what the machine has, and the ratio stays near 1.
(b) ``output_fraction``: writing the results at 10⁶ states — every task's Zarr region and marker, plus the
    ``--json`` file of the stationary contract (states, 8 π vectors) through ``write_json_fast`` — over the
    serial compute time (target ≤ 0.2); ``output_fraction_one_alpha`` is the same for a single α (the issue's
    ``--json`` example: 43 s of JSON on 8 s of compute before).
(c) ``read_seconds``: ``srchain.results.open_results(PATH).load()`` of the 8-α store (target ≤ 1 s).
(d) The machine's ceiling, measured in the same run: ``stream_concurrency_slowdown`` is how much slower a
    memory-streaming NumPy loop (``a += s·b`` over 256 MB) runs when one copy runs on each core at once than
    alone, and ``task_concurrency_slowdown`` the same for the sweep's own tasks (median worker task over median
    serial task, each process's first task excluded). With W workers, ``parallel_ratio`` can be no better than about
    ``task_concurrency_slowdown / W``: where the cores share one memory bus, a memory-bound solve cannot reach 0.6.

(e) Fixed costs: ``until_first_task_seconds`` / ``until_first_worker_task_seconds`` (from the call), ``client_tasks``
    (tasks the client ran while its cluster started), ``worker_first_task_seconds``. ``--startup`` runs only these,
    on small tasks that time their own imports, T_α build and solve, so that a worker's first task (imports, loading
    the compiled kernels) shows against its later ones; it also runs on older versions of the package (the
    "before" figures), and ``--no-client-tasks`` keeps the client idle while the cluster starts.

    python benchmarks/bench_sweep.py                  # 10⁶ states, 8 α (a few minutes on 2 cores)
    python benchmarks/bench_sweep.py --startup --states 40000   # where the fixed costs go
    python benchmarks/bench_sweep.py --states 40000   # a quick check
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import time

import numpy as np


def chain(states: int):
    from srchain.lattice import Lattice
    from srchain.noise import make_noise
    from srchain.problems import get_problem

    side = max(3, int(round(math.sqrt(states))))
    delta = 0.014014 if side == 1000 else 14.0 / (side - 1)
    problem = get_problem("separable", dim=2, domain=(-4, 10))
    lat = Lattice.from_domain(delta, problem.domain, 2)
    return problem, make_noise("gaussian", sigma=2.0), lat


def solve(alpha: float, states: int):
    """One task: π_α of the SR chain, as (summary, arrays) for the store (runs on a worker or in-process)."""
    from srchain.operators import transition_matrix
    from srchain.stationary import stationary

    enter = time.time()
    t0 = time.perf_counter()
    problem, noise, lat = chain(states)
    op = transition_matrix(problem, noise, lat, alpha)
    res = stationary(op.P, shape=lat.shape)
    pi = res.pi
    cells = lat.cells(problem.minimizer) if problem.minimizer is not None else np.array([int(np.argmax(pi))])
    p = pi[pi > 0]
    ent = float(-(p * np.log(p)).sum())
    mass = float(pi[cells].sum())
    seconds = time.perf_counter() - t0
    summary = {
        "alpha": alpha,
        "residual": res.residual,
        "entropy": ent,
        "seconds": seconds,
        "pid": os.getpid(),
        "enter": enter,
    }
    return summary, {
        "pi": pi,
        "tv_to_limit": float("nan"),
        "residual": res.residual,
        "mass_at_minimizer": mass,
        "entropy": ent,
    }


def startup_task(alpha: float, states: int):
    """A small task that times its own imports, T_α build and solve (where a worker's fixed costs show)."""
    import sys as _sys

    enter = time.time()
    fresh = "srchain.stationary" not in _sys.modules
    t0 = time.perf_counter()
    from srchain.operators import transition_matrix
    from srchain.stationary import stationary

    t1 = time.perf_counter()
    problem, noise, lat = chain(states)
    P = transition_matrix(problem, noise, lat, alpha).P
    t2 = time.perf_counter()
    pi = stationary(P, shape=lat.shape).pi
    t3 = time.perf_counter()
    summary = {"alpha": alpha, "pid": os.getpid(), "enter": enter, "leave": time.time(), "fresh_imports": fresh}
    summary.update(
        {"imports": t1 - t0, "build": t2 - t1, "solve": t3 - t2, "digest": hashlib.sha256(pi.tobytes()).hexdigest()}
    )
    return summary, {}


def startup(workers: int, alphas: int, states: int, client_tasks: bool | None) -> dict:
    """Where a local sweep's fixed costs go: from the call to the first task on a worker, and each worker's first
    task (imports, loading the compiled kernels) against its later ones. Works on older versions of the package
    (without ``client_tasks``)."""
    import inspect

    from srchain.sweep import Task, run_sweep

    alist = [float(a) for a in np.geomspace(8e-4, 3e-4, alphas)]
    tasks = [Task({"alpha": a}, startup_task, {"alpha": a, "states": states}) for a in alist]
    startup_task(alist[0], states)  # this process warm, as a CLI's is by the time it sweeps
    t = time.perf_counter()
    serial = run_sweep(tasks, progress=False)
    serial_wall = time.perf_counter() - t
    kw = {}
    if client_tasks is not None and "client_tasks" in inspect.signature(run_sweep).parameters:
        kw["client_tasks"] = client_tasks
    t_wall = time.time()
    t = time.perf_counter()
    par = run_sweep(tasks, workers=workers, progress=False, **kw)
    wall = time.perf_counter() - t
    import threading

    for th in threading.enumerate():  # the cluster's teardown, in the background after run_sweep returned
        if th.name in ("srchain-cluster-start", "srchain-cluster-close"):
            th.join()
    closing = time.perf_counter() - t - wall
    mine = os.getpid()
    on_workers = sorted((s for s in par if s["pid"] != mine), key=lambda s: s["enter"])
    first = {}
    for s in on_workers:
        first.setdefault(s["pid"], s)
    later = [s for s in on_workers if first[s["pid"]] is not s]

    def med(rows, key):
        return round(float(np.median([r[key] for r in rows])), 3) if rows else None

    return {
        "mode": "startup",
        "states": states,
        "alphas": alphas,
        "workers": workers,
        "client_tasks_option": kw.get("client_tasks", "n/a (this version has none)"),
        "serial_seconds": round(serial_wall, 3),
        "workers_seconds": round(wall, 3),
        "same_results": [s["digest"] for s in serial] == [s["digest"] for s in par],
        "tasks_in_client": sum(s["pid"] == mine for s in par),
        "until_first_task_seconds": round(min(s["enter"] for s in par) - t_wall, 3),
        "until_first_worker_task_seconds": round(on_workers[0]["enter"] - t_wall, 3) if on_workers else None,
        "after_last_task_seconds": round(t_wall + wall - max(s["leave"] for s in par), 3),
        "cluster_closing_after_return_seconds": round(closing, 3),
        "worker_first_task": [
            {k: round(v, 3) if isinstance(v, float) else v for k, v in f.items() if k in ("imports", "build", "solve")}
            | {"fresh_imports": f["fresh_imports"]}
            for f in first.values()
        ],
        "worker_later_task": {k: med(later, k) for k in ("imports", "build", "solve")},
        "serial_task": {k: med(serial[1:], k) for k in ("imports", "build", "solve")},
        "load_average": os.getloadavg(),
    }


def _stream_once(_=None) -> float:
    """Seconds for 8 passes of ``a += s·b`` over two 128 MB arrays (memory-bound: 2 reads + 1 write per entry)."""
    a = np.ones(16_000_000)
    b = np.ones(16_000_000)
    a += 1e-9 * b  # first touch outside the clock
    t = time.perf_counter()
    for _ in range(8):
        a += 1e-9 * b
    return time.perf_counter() - t


def stream_concurrency_slowdown(workers: int) -> float:
    """Median over 3 tries of (time with ``workers`` concurrent copies) / (time of one copy alone)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    ratios = []
    with ctx.Pool(workers) as pool:
        pool.map(_stream_once, range(workers))  # start-up outside the clock
        for _ in range(3):
            alone = pool.apply(_stream_once)
            together = max(pool.map(_stream_once, range(workers), chunksize=1))
            ratios.append(together / alone)
    return float(np.median(ratios))


def template(alphas, lat):
    from srchain.results import make_template

    pts = lat.points
    return make_template(
        {"alpha": alphas, "x0": ("state", pts[:, 0]), "x1": ("state", pts[:, 1])},
        {
            "pi": (("alpha", "state"), "f8"),
            **{v: ("alpha", "f8") for v in ("tv_to_limit", "residual", "mass_at_minimizer", "entropy")},
        },
        attrs={"command": "stationary", "problem": "separable", "dim": 2},
    )


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--states", type=int, default=1_000_000, help="lattice size (a square; default 10^6)")
    ap.add_argument("--alphas", type=int, default=8, help="number of α (tasks)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dir", default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument(
        "--no-client-tasks", action="store_true", help="the client runs no task while the cluster starts (as before)"
    )
    ap.add_argument("--startup", action="store_true", help="only the fixed costs: small tasks (--states 2500)")
    args = ap.parse_args(argv)
    if args.startup:
        r = startup(args.workers, args.alphas, args.states, not args.no_client_tasks)
        print(json.dumps(r, indent=1))
        return r

    from srchain.operators import estimate_bytes
    from srchain.results import ResultStore, open_results, write_json_fast
    from srchain.sweep import Task, run_sweep

    problem, noise, lat = chain(args.states)
    alphas = [float(a) for a in np.geomspace(8e-4, 3e-4, args.alphas)]
    need = 6 * estimate_bytes(lat, 3)  # operator + the solver's fill, generously
    tasks = [Task({"alpha": a}, solve, {"alpha": a, "states": args.states}, resources={"memory": need}) for a in alphas]
    scratch = args.dir or tempfile.mkdtemp(prefix="bench_sweep.")
    settings = {"states": lat.size, "delta": lat.delta, "sigma": 2.0}
    solve(alphas[0], 2500)  # compile / load the Numba kernels in this process first

    # (a) serial vs workers
    serial_path = os.path.join(scratch, "serial.zarr")
    shutil.rmtree(serial_path, ignore_errors=True)
    t = time.perf_counter()
    with ResultStore.open_or_create(serial_path, template(alphas, lat), settings) as st:
        serial = run_sweep(tasks, st, progress=False)
    serial_wall = time.perf_counter() - t
    dask_path = os.path.join(scratch, "dask.zarr")
    shutil.rmtree(dask_path, ignore_errors=True)
    t = time.perf_counter()
    t_wall = time.time()
    with ResultStore.open_or_create(dask_path, template(alphas, lat), settings) as st:
        par = run_sweep(tasks, st, workers=args.workers, progress=False, client_tasks=not args.no_client_tasks)
    par_wall = time.perf_counter() - t
    in_client = [s for s in par if s["pid"] == os.getpid()]
    on_workers = [s for s in par if s["pid"] != os.getpid()]
    same = np.array_equal(
        open_results(serial_path, chunks=None).pi.values, open_results(dask_path, chunks=None).pi.values
    )

    # (b) output cost at this size: every region + marker, and the --json file of the stationary contract
    compute = sum(s["seconds"] for s in serial)
    arrays = {}
    with ResultStore.open_or_create(serial_path, template(alphas, lat), settings, resume=True) as st:
        for a in alphas:
            arrays[a] = st.read_region({"alpha": a})
    out_path = os.path.join(scratch, "out.zarr")
    shutil.rmtree(out_path, ignore_errors=True)
    with ResultStore.open_or_create(out_path, template(alphas, lat), settings) as st:
        t = time.perf_counter()
        for a, s in zip(alphas, serial, strict=True):
            st.write_region(
                {"alpha": a},
                {k: arrays[a][k] for k in ("pi", "tv_to_limit", "residual", "mass_at_minimizer", "entropy")},
            )
            st.mark_done({"alpha": a}, s)
        zarr_write = time.perf_counter() - t
    payload = {
        "command": "stationary",
        "problem": "separable",
        "method": "sr",
        "delta": lat.delta,
        "noise": noise.to_dict(),
        "domain": lat.domain,
        "states": lat.points,
        "limit": None,
        "results": [
            {
                "alpha": a,
                "pi": arrays[a]["pi"],
                "tv_to_limit": None,
                "residual": s["residual"],
                "mass_at_minimizer": float(arrays[a]["mass_at_minimizer"]),
                "entropy": s["entropy"],
            }
            for a, s in zip(alphas, serial, strict=True)
        ],
    }
    t = time.perf_counter()
    write_json_fast(os.path.join(scratch, "out.json"), payload)
    json_write = time.perf_counter() - t
    one = {**payload, "results": payload["results"][:1]}
    t = time.perf_counter()
    write_json_fast(os.path.join(scratch, "one.json"), one)
    json_one = time.perf_counter() - t
    json_bytes = os.path.getsize(os.path.join(scratch, "out.json"))

    # (c) reading it back
    t = time.perf_counter()
    ds = open_results(serial_path).load()
    read = time.perf_counter() - t
    assert ds.pi.shape == (len(alphas), lat.size) and bool(ds.done.all())

    stream = stream_concurrency_slowdown(args.workers)
    later = []  # each worker's tasks after its first
    for pid in {s["pid"] for s in on_workers}:
        later += sorted((s for s in on_workers if s["pid"] == pid), key=lambda s: s["enter"])[1:]
    task_slow = float(
        np.median([s["seconds"] for s in (later or on_workers)]) / np.median([s["seconds"] for s in serial[1:]])
    )
    result = {
        "states": lat.size,
        "alphas": len(alphas),
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "serial_seconds": round(serial_wall, 3),
        "workers_seconds": round(par_wall, 3),
        "parallel_ratio": round(par_wall / serial_wall, 3),
        "parallel_target": 0.6,
        "identical_results": bool(same and [s["entropy"] for s in serial] == [s["entropy"] for s in par]),
        "serial_task_seconds": [round(s["seconds"], 2) for s in serial],
        "worker_task_seconds": [round(s["seconds"], 2) for s in par],
        "client_tasks": len(in_client),
        "until_first_task_seconds": round(min(s["enter"] for s in par) - t_wall, 3),
        "until_first_worker_task_seconds": round(min(s["enter"] for s in on_workers) - t_wall, 3)
        if on_workers
        else None,
        "worker_first_task_seconds": sorted(
            round(min((s for s in on_workers if s["pid"] == pid), key=lambda s: s["enter"])["seconds"], 2)
            for pid in {s["pid"] for s in on_workers}
        ),
        "compute_seconds": round(compute, 3),
        "zarr_write_seconds": round(zarr_write, 3),
        "json_write_seconds": round(json_write, 3),
        "json_megabytes": round(json_bytes / 1e6, 1),
        "output_fraction": round((zarr_write + json_write) / compute, 4),
        "output_fraction_one_alpha": round((zarr_write / len(alphas) + json_one) / (compute / len(alphas)), 4),
        "output_target": 0.2,
        "read_seconds": round(read, 3),
        "read_target": 1.0,
        "stream_concurrency_slowdown": round(stream, 2),
        "task_concurrency_slowdown": round(task_slow, 2),
        "parallel_ratio_floor": round(task_slow / args.workers, 3),
    }
    if not args.dir:
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
