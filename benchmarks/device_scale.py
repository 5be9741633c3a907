"""Device benchmark (issue 20): GPU mixing times, T_α thread scaling, an 8-worker sweep, in one time budget.

Each case runs in its own subprocess with a timeout taken from what is left of ``--budget`` seconds; the JSON file
(``--out``/device_scale.json) is rewritten after every case, so a case that is skipped or killed still leaves the
others' figures. Cases, in order of value:

1. ``mix_gpu``: the exact worst-start ε-mixing time (Eq. 10, ε = 0.25) of the coupled 2-D chain (c = 1, Gaussian
   σ = 2, α = ``--mix-alpha``) with torch on CUDA (``srchain.mixing_gpu``, what ``mixing_time(device="cuda")``
   runs) at ``--mix-side``² states (default 10⁴). π comes from a dense LU solve with torch (preparation, not
   timed; the package's sparse solve of these wide-band chains takes ~100 s at 4·10⁴ states), the same π for all.
2. ``mix_gpu_big`` at ``--big-side``² states (default 4·10⁴), while ``mix_numpy``, the package's default NumPy
   path on the chain of case 1, runs at the same time on the CPUs (same integer?).
3. ``talpha``: building T_α at ``--talpha-side``² states (separable 2-D, α = 5e-4) on 1, 2, 4, 8, 16 threads (those
   the machine has, and all of them), with the speedup over 1 thread and whether every build has the same bits.
4. ``sweep``: ``--sweep-alphas`` α × ``--sweep-states`` states, serial vs ``--workers`` Dask workers (same bits?),
   with where the workers' time goes (cluster start, imports, first task with its Numba cache loads).

    python benchmarks/device_scale.py --out DIR [--budget 150] [--tiny]   # --tiny: seconds-long sizes for CPU
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _coupled_chain(side: int, alpha: float):
    from srchain.lattice import Lattice
    from srchain.noise import make_noise
    from srchain.operators import transition_matrix
    from srchain.problems import get_problem

    prob = get_problem("coupled", dim=2, coupling=1.0)
    lat = Lattice.from_domain(14.0 / (side - 1), prob.domain, 2)
    return transition_matrix(prob, make_noise("gaussian", sigma=2.0), lat, alpha).P


def _pi_dense(P, device: str):
    """π from a dense LU solve with torch (chain preparation, not timed: the package's sparse GTH solve of these
    wide-band 2-D chains takes ~100 s at 4·10⁴ states on 16 cores). Returns (π, ‖πP − π‖₁)."""
    import numpy as np
    import torch

    from srchain.mixing_gpu import _Store

    n = P.shape[0]
    A = _Store(torch, P.tocsr(), torch.device(device), 0, 0).p().T.contiguous()
    A.diagonal().sub_(1.0)
    A[-1] = 1.0
    b = torch.zeros(n, dtype=torch.float64, device=device)
    b[-1] = 1.0
    pi = torch.linalg.solve(A, b).cpu().numpy()
    del A
    pi = np.maximum(pi, 0.0)
    pi /= pi.sum()
    return pi, float(np.abs(P.T @ pi - pi).sum())


def case_mix(side: int, alpha: float, device: str, pi_file: str) -> dict:
    """The exact mixing time on ``device`` ("numpy": the package's default NumPy path), π shared via ``pi_file``."""
    import numpy as np

    from srchain.mixing import mixing_time

    t = time.perf_counter()
    P = _coupled_chain(side, alpha)
    out = {"states": int(P.shape[0]), "alpha": alpha, "nnz": int(P.nnz), "operator_seconds": time.perf_counter() - t}
    if device == "numpy":
        if os.path.exists(pi_file):
            pi = np.load(pi_file)
            out["pi"] = "from the GPU case"
        else:
            from srchain.stationary import stationary

            t = time.perf_counter()
            pi = stationary(P).pi
            out["pi"] = f"srchain.stationary, {time.perf_counter() - t:.1f} s"
        emit(out)
        r = mixing_time(P, eps=0.25, pi=pi)
        out.update({"device": "numpy", "mixing_time": r.mixing_time, "seconds": r.seconds, "method": r.method})
        out["note"] = r.note
        return out
    import torch

    from srchain.mixing_gpu import exact_mixing_torch

    if device.startswith("cuda"):
        t = time.perf_counter()
        torch.zeros(1, device=device, dtype=torch.float64).sum().item()  # CUDA context outside the clock
        a = torch.ones((512, 512), dtype=torch.float64, device=device)
        (a @ a).sum().item()  # cuBLAS handle too
        out["cuda_init_seconds"] = time.perf_counter() - t
        out["gpu"] = torch.cuda.get_device_name(0)
    t = time.perf_counter()
    pi, res = _pi_dense(P, device)
    out.update({"pi_seconds": time.perf_counter() - t, "pi_residual_l1": res})
    if pi_file:
        np.save(pi_file, pi)
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    emit(out)
    t = time.perf_counter()
    m, info = exact_mixing_torch(P, pi, 0.25, 10**9, device=device, log=lambda s: print(s, file=sys.stderr, flush=True))
    out.update({"device": device, "mixing_time": m, "seconds": time.perf_counter() - t, "info": info})
    if device.startswith("cuda"):
        out["gpu_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return out


def emit(out: dict) -> None:
    """A partial result (the last one printed is kept if the case is killed)."""
    print("RESULT " + json.dumps(out), flush=True)


def case_talpha(side: int, threads: list[int]) -> dict:
    import numba
    from threadpoolctl import threadpool_limits

    from srchain.lattice import Lattice
    from srchain.noise import make_noise
    from srchain.operators import transition_matrix
    from srchain.problems import get_problem

    prob = get_problem("separable", dim=2)
    noise = make_noise("gaussian", sigma=2.0)
    transition_matrix(prob, noise, Lattice.from_domain(14.0 / 49, prob.domain, 2), 5e-4)  # compile/load first
    lat = Lattice.from_domain(14.0 / (side - 1), prob.domain, 2)
    out = {"states": lat.size, "alpha": 5e-4, "cpus": os.cpu_count(), "numba_max": numba.config.NUMBA_NUM_THREADS}
    ref = None
    for k in threads:
        k = min(k, numba.config.NUMBA_NUM_THREADS)
        numba.set_num_threads(k)
        with threadpool_limits(k):
            best = []
            for _ in range(2):
                t = time.perf_counter()
                P = transition_matrix(prob, noise, lat, 5e-4).P
                best.append(time.perf_counter() - t)
                emit(out)  # partial figures survive a timeout
        if ref is None:
            ref = P
        same = all(
            a.tobytes() == b.tobytes()
            for a, b in zip((ref.data, ref.indices, ref.indptr), (P.data, P.indices, P.indptr), strict=True)
        )
        out[f"threads_{k}"] = {"seconds": min(best), "all": best, "same_bits": same}
    ks = [min(k, numba.config.NUMBA_NUM_THREADS) for k in threads]
    base = out[f"threads_{ks[0]}"]["seconds"]
    out["speedup_by_threads"] = {str(k): round(base / out[f"threads_{k}"]["seconds"], 2) for k in ks}
    out["speedup"] = base / out[f"threads_{ks[-1]}"]["seconds"]
    out["target"] = "speedup >= 5 on 16 threads (issue 20)"
    return out


def _sweep_task(alpha: float, side: int):
    t_enter = time.time()
    t_imp = time.perf_counter()
    from srchain.lattice import Lattice
    from srchain.noise import make_noise
    from srchain.operators import transition_matrix
    from srchain.problems import get_problem
    from srchain.stationary import stationary

    imports = time.perf_counter() - t_imp
    t0 = time.perf_counter()
    prob = get_problem("separable", dim=2)
    lat = Lattice.from_domain(14.0 / (side - 1), prob.domain, 2)
    P = transition_matrix(prob, make_noise("gaussian", sigma=2.0), lat, alpha).P
    t_build = time.perf_counter() - t0
    pi = stationary(P, shape=lat.shape).pi
    import hashlib

    summary = {
        "alpha": alpha,
        "pid": os.getpid(),
        "enter": t_enter,
        "imports": imports,
        "build": t_build,
        "seconds": time.perf_counter() - t0,
        "leave": time.time(),
        "digest": hashlib.sha256(pi.tobytes()).hexdigest()[:16],
    }
    return summary, {}


def case_sweep(side: int, n_alpha: int, workers: int) -> dict:
    import numpy as np

    from srchain.sweep import Task, run_sweep

    alphas = [float(a) for a in np.geomspace(8e-4, 3e-4, n_alpha)]
    tasks = [Task({"alpha": a}, _sweep_task, {"alpha": a, "side": side}) for a in alphas]
    _sweep_task(alphas[0], 50)  # compile / load the Numba kernels in this process first
    t = time.perf_counter()
    serial = run_sweep(tasks, progress=False)
    serial_wall = time.perf_counter() - t
    emit({"states": side * side, "alphas": n_alpha, "serial_seconds": serial_wall})
    t_start = time.time()
    t = time.perf_counter()
    par = run_sweep(tasks, workers=workers, progress=False)
    par_wall = time.perf_counter() - t
    first_enter = min(s["enter"] for s in par) - t_start
    by_pid: dict = {}
    for s in sorted(par, key=lambda s: s["enter"]):
        by_pid.setdefault(s["pid"], []).append(s)
    first = [v[0]["seconds"] for v in by_pid.values()]
    later = [x["seconds"] for v in by_pid.values() for x in v[1:]]
    return {
        "states": side * side,
        "alphas": n_alpha,
        "workers": workers,
        "serial_seconds": serial_wall,
        "workers_seconds": par_wall,
        "parallel_ratio": par_wall / serial_wall,
        "same_bits": [s["digest"] for s in serial] == [s["digest"] for s in par],
        "until_first_task_seconds": first_enter,
        "last_task_end_to_return_seconds": t_start + par_wall - max(s["leave"] for s in par),
        "worker_imports_seconds": [round(v[0]["imports"], 3) for v in by_pid.values()],
        "worker_first_task_seconds": [round(x, 3) for x in first],
        "worker_later_task_median_seconds": float(np.median(later)) if later else None,
        "serial_task_median_seconds": float(np.median([s["seconds"] for s in serial[1:]])),
        "serial_build_median_seconds": float(np.median([s["build"] for s in serial[1:]])),
        "worker_build_median_seconds": float(np.median([s["build"] for s in par])),
        "tasks_per_worker": [len(v) for v in by_pid.values()],
        "tasks_in_client": sum(s["pid"] == os.getpid() for s in par),  # run while the cluster started
    }


def run_case(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("--side", type=int)
    ap.add_argument("--alpha", type=float, default=0.1)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--pi-file", default="")
    ap.add_argument("--threads", default="1,16")
    ap.add_argument("--alphas", type=int, default=16)
    ap.add_argument("--workers", type=int, default=8)
    a = ap.parse_args(argv)
    if a.name == "mix":
        out = case_mix(a.side, a.alpha, a.device, a.pi_file)
    elif a.name == "talpha":
        out = case_talpha(a.side, [int(x) for x in a.threads.split(",")])
    else:
        out = case_sweep(a.side, a.alphas, a.workers)
    emit(out)


def _start(argv: list[str]):
    import tempfile

    err = tempfile.TemporaryFile(mode="w+")
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--case", *argv], stdout=subprocess.PIPE,
                         stderr=err, text=True)  # fmt: skip
    return p, err


def _finish(p, err, limit: float, t0: float) -> dict:
    try:
        stdout, _ = p.communicate(timeout=max(1.0, limit - (time.perf_counter() - t0)))
        killed = False
    except subprocess.TimeoutExpired:
        p.kill()
        stdout, _ = p.communicate()
        killed = True
    err.seek(0)
    stderr = err.read()
    lines = [ln for ln in (stdout or "").splitlines() if ln.startswith("RESULT ")]
    res = json.loads(lines[-1][7:]) if lines else {}
    if killed:
        res["timed_out"] = f"killed after {limit:.0f} s (the figures above are the partial ones it printed)"
    elif p.returncode != 0:
        res["failed"] = f"exit {p.returncode}"
    if killed or p.returncode != 0 or "phase" in stderr:
        res["stderr_tail"] = stderr[-2500:]
    res["wall_seconds"] = time.perf_counter() - t0
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--budget", type=float, default=150.0, help="seconds for all cases together")
    ap.add_argument("--tiny", action="store_true", help="seconds-long sizes (a CPU check of the script itself)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--mix-side", type=int, default=100)
    ap.add_argument("--big-side", type=int, default=200)
    ap.add_argument("--mix-alpha", type=float, default=0.1)
    ap.add_argument("--talpha-side", type=int, default=1000)
    ap.add_argument("--sweep-states", type=int, default=250_000)
    ap.add_argument("--sweep-alphas", type=int, default=16)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--threads", default=None, help="thread counts for T_α (default: 1, 2, 4, 8, 16 and all CPUs)")
    args = ap.parse_args()
    if args.tiny:
        args.mix_side, args.big_side, args.talpha_side = 20, 24, 60
        args.sweep_states, args.sweep_alphas, args.workers = 900, 4, 2
    cpus = os.cpu_count() or 1
    threads = args.threads or ",".join(str(k) for k in sorted({k for k in (1, 2, 4, 8, 16) if k <= cpus} | {cpus}))
    side = int(round(args.sweep_states**0.5))
    # (name, argv, cap in seconds); a group's cases run at the same time (the NumPy baseline uses the CPUs while
    # the big GPU case mostly waits on the device)
    import tempfile

    pi_file = os.path.join(tempfile.mkdtemp(prefix="device_scale."), "pi.npy")
    mix = ["--alpha", str(args.mix_alpha)]
    groups = [
        [("mix_gpu", ["mix", "--side", str(args.mix_side), *mix, "--device", args.device, "--pi-file", pi_file], 45)],
        [
            ("mix_gpu_big", ["mix", "--side", str(args.big_side), *mix, "--device", args.device], 85),
            ("mix_numpy", ["mix", "--side", str(args.mix_side), *mix, "--device", "numpy", "--pi-file", pi_file], 60),
        ],
        [("talpha", ["talpha", "--side", str(args.talpha_side), "--threads", threads], 50)],
        [("sweep", ["sweep", "--side", str(side), "--alphas", str(args.sweep_alphas), "--workers",
                    str(args.workers)], 90)],
    ]  # fmt: skip
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "device_scale.json")
    t_begin = time.perf_counter()
    report = {"budget_seconds": args.budget, "cpus": os.cpu_count(), "python": sys.version.split()[0], "cases": {}}
    for group in groups:
        left = args.budget - (time.perf_counter() - t_begin)
        running = []
        for name, argv, cap in group:
            limit = min(cap, left - 2.0)
            if limit < 8.0:
                report["cases"][name] = {"skipped": f"time budget: {left:.0f} s left"}
                print(f"[device_scale] {name}: skipped ({left:.0f} s left)", flush=True)
                continue
            print(f"[device_scale] {name}: start (limit {limit:.0f} s) {' '.join(argv)}", flush=True)
            if len(group) > 1:
                report["cases"].setdefault(name, {})["concurrent_with"] = [g[0] for g in group if g[0] != name]
            running.append((name, *_start(argv), limit, time.perf_counter()))
        for name, p, err, limit, t0 in running:
            res = _finish(p, err, limit, t0)
            report["cases"].setdefault(name, {}).update(res)
            print(f"[device_scale] {name}: {json.dumps(report['cases'][name])}", flush=True)
            report["total_seconds"] = time.perf_counter() - t_begin
            with open(path, "w") as f:
                json.dump(report, f, indent=1)
    report["total_seconds"] = time.perf_counter() - t_begin
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report, indent=1), flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--case":
        run_case(sys.argv[2:])
    else:
        main()
