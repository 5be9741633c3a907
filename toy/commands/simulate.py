"""``srchain simulate``: histograms of SGD, R, SR and BC iterates on any registered problem (Numba, many chains)."""

from __future__ import annotations

import argparse

HELP = "simulate SGD, R, SR and BC (histograms of the quantized iterates; many chains in parallel)"
OUTPUTS = {"json": "file", "plot": "image", "out": "store"}


def configure(parser: argparse.ArgumentParser) -> None:
    from srchain.toy.commands._sweep import add_toy_sweep_options

    from srchain.cli import (
        add_noise_options,
        add_output_options,
        add_problem_options,
        finite_float,
        nonneg_int,
        positive_float,
        positive_int,
    )

    add_problem_options(parser, methods=["sgd", "r", "sr", "bc"], default_method="sr", multi_method=True, formats=True)
    add_noise_options(parser)
    g = parser.add_argument_group("simulation")
    g.add_argument(
        "--alpha", type=positive_float, nargs="+", default=[0.1], metavar="A", help="learning rates α (each > 0)"
    )
    g.add_argument("--steps", type=positive_int, default=1_000_000, metavar="N", help="counted steps per chain")
    g.add_argument("--chains", type=positive_int, default=4, metavar="C", help="independent chains per (method, α)")
    g.add_argument(
        "--start",
        type=finite_float,
        nargs="+",
        default=None,
        metavar="X",
        help="starting point (1 or d numbers, inside the domain; default the domain's centre)",
    )
    g.add_argument("--burn-in", type=nonneg_int, default=0, metavar="N", help="uncounted steps before the counted ones")
    g.add_argument(
        "--sampler",
        choices=["step", "jump"],
        default="step",
        help="step: the paper's step-by-step iteration; jump: exact jump chain for sr and r "
        "(geometric holding times, far faster at small α)",
    )
    g.add_argument(
        "--bc-quantizer", choices=["qd", "qs"], default="qd", help="quantizer BC takes the gradient at (Eq. 7 uses Qd)"
    )
    g.add_argument(
        "--threads", type=positive_int, default=None, metavar="T", help="Numba threads (results do not depend on it)"
    )
    from srchain.toy.commands._limits import add_limit_options

    add_limit_options(g, "the simulation")
    add_output_options(parser)
    add_toy_sweep_options(parser)
    parser.epilog = (
        "example: srchain simulate --problem toy --method sr bc r sgd --alpha 1 0.001 --steps 1000000 "
        "--chains 8 --start 4.0 --json sim.json; one task per (method, α) on 2 local workers into a "
        "Zarr store: ... --workers 2 --out sim.zarr"
    )


def simulate_run(
    options: dict,
    method: str,
    alpha: float,
    steps: int,
    chains: int,
    start,
    burn_in: int,
    sampler: str,
    bc_quantizer: str,
    max_memory: float,
    max_hours: float,
    threads=None,
    extra=None,
    on_estimate=None,
):
    """One task of ``srchain simulate``: the ``(method, alpha)`` run, ``chains`` chains, on the spec of ``options``.

    Chain ``c`` draws from ``SeedSequence(seed).spawn(...)[c]`` whatever the other runs (common random numbers, see
    :func:`srchain.simulate.simulate_many`), so a run simulated alone here has the counts it has beside the others.
    Returns ``(summary, arrays)``: ``counts`` (and ``latent_counts`` for BC and SGD) go to the results store.
    """
    import numpy as np
    from srchain.toy.commands._limits import as_flags

    from srchain.simulate import simulate_many
    from srchain.spec import spec_from_options

    if threads is not None:
        import numba

        numba.set_num_threads(min(int(threads), numba.config.NUMBA_NUM_THREADS))
    spec = spec_from_options(options)
    lat = spec.lattice
    with as_flags(
        {"steps + burn_in": "--steps + --burn-in", "chains × steps": "--chains × --steps", "start": "--start"}
    ):
        (r,) = simulate_many(
            spec.problem,
            spec.noise,
            lat,
            [(method, float(alpha))],
            steps,
            chains=chains,
            start=start,
            seed=options["seed"],
            burn_in=burn_in,
            sampler=sampler,
            bc_quantizer=bc_quantizer,
            max_memory=max_memory,
            max_hours=max_hours,
            extra=extra,
            on_estimate=on_estimate,
        )
    cells = spec.minimizer_cells()
    summary = {k: v for k, v in r.to_dict().items() if k not in ("states", "counts", "latent")}
    summary["mass_at_minimizer"] = r.mass(cells) if cells.size else float("nan")
    summary["mode"] = lat.points[int(np.argmax(r.counts))].tolist()
    arrays = {"counts": r.counts, "mass_at_minimizer": summary["mass_at_minimizer"]}
    if r.latent_counts is not None:
        arrays["latent_counts"] = r.latent_counts
    return summary, arrays


def run(args: argparse.Namespace) -> int:
    import sys
    import time

    import numpy as np

    if getattr(args, "format", "fixed") != "fixed" or getattr(args, "sr_bits", None) is not None:
        from srchain.toy.commands._simulate_grid import run_grid

        return run_grid(args)
    from srchain.toy.commands._limits import (
        announcer,
        check_dim,
        check_lattice_size,
        check_minibatch,
        max_memory_bytes,
        output_cost,
    )
    from srchain.toy.commands._sweep import check_resume, is_distributed, open_store

    from srchain.commands.common import run_attrs, state_coords, sweep_kwargs
    from srchain.errors import SrchainError
    from srchain.results import region_reader, write_json_fast
    from srchain.simulate import LATENT_BINS_PER_CELL, estimate_operator, estimate_simulation
    from srchain.spec import spec_from_args, spec_options
    from srchain.sweep import Task, run_sweep

    check_resume(args)
    if args.threads is not None:
        import numba

        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    runs = [(m, a) for m in dict.fromkeys(args.method) for a in dict.fromkeys(args.alpha)]
    from srchain.commands.common import check_sweep_resources

    check_sweep_resources(args, len(runs))  # --workers: within the CPUs, the tasks, the memory
    if args.sampler == "jump" and not any(m in ("sr", "r") for m, _ in runs):
        raise SrchainError(
            f"--sampler jump is the exact jump chain of sr and r; --method "
            f"{' '.join(dict.fromkeys(args.method))} is always stepped (drop --sampler jump)"
        )
    check_dim(args.dim)
    check_minibatch(args.noise, args.samples, [args.batch])
    from srchain.spec import problem_from_args

    problem = problem_from_args(args)
    check_lattice_size(problem.domain, args.delta)
    options = spec_options(args)
    spec = spec_from_args(args)  # (the grid options checked as given)
    lat = spec.lattice
    from srchain.resolvable import check_args_noise_range

    check_args_noise_range(args, problem, lat, exact=False)  # simulations draw the noise: only its scale matters
    if args.sampler == "jump" and any(m in ("sgd", "bc") for m, _ in runs) and not args.quiet:
        sys.stderr.write("srchain: note: --sampler jump applies to sr and r; sgd and bc are stepped\n")
    # writing the results: states, counts (and latent counts for sgd, bc) per run; the plot's bars
    nbins = (max(lat.shape) - 1) * LATENT_BINS_PER_CELL
    if args.start is None:
        start = (0.5 * (np.asarray(lat.lo) + lat.hi)).tolist()
    else:
        start = (np.full(lat.dim, args.start[0]) if len(args.start) == 1 else np.asarray(args.start)).tolist()
    distributed = is_distributed(args)
    mem = max_memory_bytes(args)
    # every refusal the tasks could make, made here before any of them (or a progress bar) starts
    from srchain.toy.commands._limits import as_flags

    from srchain.simulate import _check, _start_units, check_work

    with as_flags(
        {"steps + burn_in": "--steps + --burn-in", "chains × steps": "--chains × --steps", "start": "--start"}
    ):
        _start_units(args.start, lat)
        for _, a in runs:
            _check(args.steps, args.chains, args.burn_in, a)
        if args.sampler == "step":
            check_work(
                estimate_simulation(
                    spec.problem,
                    spec.noise,
                    lat,
                    runs,
                    args.steps,
                    chains=args.chains,
                    burn_in=args.burn_in,
                    sampler="step",
                ),
                mem,
                args.max_hours,
            )
    settings = {
        **spec.to_dict(),
        "coupling": args.coupling,
        "steps": args.steps,
        "chains": args.chains,
        "start": None if args.start is None else list(args.start),
        "seed": args.seed,
        "burn_in": args.burn_in,
        "sampler": args.sampler,
        "bc_quantizer": args.bc_quantizer,
    }
    latent = any(m in ("sgd", "bc") for m, _ in runs)
    store = None
    if args.out:
        variables: dict[str, tuple] = {
            "counts": (("method", "alpha", "state"), "i8"),
            "mass_at_minimizer": (("method", "alpha"), "f8"),
        }
        coords = {
            "method": list(dict.fromkeys(args.method)),
            "alpha": list(dict.fromkeys(args.alpha)),
            **state_coords(lat),
        }
        if latent:
            variables["latent_counts"] = (("method", "alpha", "coordinate", "bin"), "i8")
            variables["latent_edges"] = (("bin_edge",), lat.delta * np.arange(nbins + 1) / LATENT_BINS_PER_CELL)
            coords["coordinate"] = np.arange(lat.dim)
            coords["bin"] = np.arange(nbins)
        attrs = run_attrs(args, spec, settings)
        attrs["notes"] = (
            "counts: visits of the quantized state summed over chains; latent_counts (BC: w_r, SGD: w) "
            "per coordinate in bins whose edges are latent_edges + that coordinate's lo (zero for r, sr)"
        )
        attrs["minimizer_cells"] = spec.minimizer_cells().tolist()
        store = open_store(args, args.out, coords, variables, attrs, settings, ["method", "alpha"])
    tasks = []
    for m, a in runs:
        numbers = (lat.size * (lat.dim + 1) + (lat.dim * nbins if m in ("sgd", "bc") else 0)) if args.json else 0
        extra = output_cost(numbers=numbers, bars=lat.shape[0] if args.plot else 0)
        need = estimate_simulation(
            spec.problem,
            spec.noise,
            lat,
            [(m, a)],
            args.steps,
            chains=args.chains,
            burn_in=args.burn_in,
            sampler=args.sampler,
        ).bytes
        if args.sampler == "jump" and m in ("r", "sr"):
            need += estimate_operator(spec.problem, spec.noise, lat, a).bytes
        kwargs = {
            "options": options,
            "method": m,
            "alpha": float(a),
            "steps": args.steps,
            "chains": args.chains,
            "start": args.start,
            "burn_in": args.burn_in,
            "sampler": args.sampler,
            "bc_quantizer": args.bc_quantizer,
            "max_memory": mem,
            "max_hours": args.max_hours,
            "threads": args.threads,
            "extra": extra,
            "on_estimate": None if distributed else announcer(args, "simulate"),
        }
        tasks.append(Task({"method": m, "alpha": float(a)}, simulate_run, kwargs, {"memory": float(need)}))
    t0 = time.perf_counter()
    try:
        out = run_sweep(
            tasks, store=store, resume=args.resume, return_arrays=store is None, desc="simulate", **sweep_kwargs(args)
        )
    finally:
        if store is not None:
            store.close()
    read = region_reader(args.out) if store is not None and (args.json or args.plot) else None
    results = []
    for t, r in zip(tasks, out, strict=True):
        row, arrays = r if isinstance(r, tuple) else (r, None)
        if arrays is None and read is not None:
            arrays = read(dict(t.key), ["counts"] + (["latent_counts"] if latent else []))
        results.append((row, arrays))
    seconds = time.perf_counter() - t0
    cells = spec.minimizer_cells()
    if True:  # the table is the command's output (--quiet only silences progress)
        print(f"{'method':6s} {'alpha':>8s} {'mass@min':>9s}  mode")
        for row, _ in results:
            print(f"{row['method']:6s} {row['alpha']:8.3g} {_num(row['mass_at_minimizer']):9.4f}  {row['mode']}")
        print(
            f"{len(runs)} runs x {args.chains} chains x {args.steps} steps in {seconds:.3f} s "
            f"({len(runs) * args.chains * args.steps / seconds / 1e6:.1f} M steps/s; noise {spec.noise.describe()})"
        )
    if args.out:
        print(f"# results store: {args.out} (srchain.open_results({str(args.out)!r}))")
    if args.json:
        edges = lat.delta * np.arange(nbins + 1) / LATENT_BINS_PER_CELL
        rows = [_json_row(row, arrays, lat, edges) for row, arrays in results]
        header = {
            "command": "simulate",
            **spec.to_dict(),
            "steps": args.steps,
            "chains": args.chains,
            "start": start,
            "seed": args.seed,
            "burn_in": args.burn_in,
            "sampler": args.sampler,
            "minimizer_cells": cells.tolist(),
            "seconds": seconds,
            "results": rows,
        }
        write_json_fast(args.json, header)
    if args.plot:
        _plot(
            [(row["method"], row["alpha"], np.asarray(arrays["counts"])) for row, arrays in results],
            lat,
            spec,
            args.plot,
        )
    return 0


def _num(x) -> float:
    return float("nan") if x is None else float(x)


def _json_row(row: dict, arrays: dict, lat, edges) -> dict:
    """A result of the JSON contract (the keys and order of ``SimulationResult.to_dict`` plus the mass)."""
    import numpy as np

    d = {
        "method": row["method"],
        "alpha": row["alpha"],
        "sampler": row["sampler"],
        "states": lat.points,
        "counts": np.asarray(arrays["counts"], dtype=np.int64),
    }
    if "quantizer" in row:
        d["quantizer"] = row["quantizer"]
    if row["method"] in ("sgd", "bc"):
        d["latent"] = {"edges": edges, "counts": np.asarray(arrays["latent_counts"], dtype=np.int64)}
    d.update({k: v for k, v in row.items() if k not in d and k not in ("mode", "mass_at_minimizer")})
    d["mass_at_minimizer"] = row["mass_at_minimizer"]
    return d


def _plot(results, lat, spec, path):
    """``results``: ``(method, alpha, counts)`` per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(results)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 2.8), squeeze=False)
    x = lat.axis(0)
    for ax, (method, alpha, counts) in zip(axes[0], results, strict=True):
        freq = counts / max(1, int(counts.sum()))
        if lat.dim > 1:  # marginal of the first coordinate
            freq = freq.reshape(lat.shape).sum(axis=tuple(range(1, lat.dim)))
        ax.bar(x, freq, width=0.8 * lat.delta)
        ax.set_title(f"{method.upper()}, α={alpha:g}", fontsize=9)
        ax.set_xlabel("quantized w" + (" (coordinate 1)" if lat.dim > 1 else ""))
    fig.suptitle(f"{spec.problem.name}: noise {spec.noise.describe()}", fontsize=9)
    fig.tight_layout()
    from srchain.toy.commands.convex import save_figure_atomic

    save_figure_atomic(fig, path, dpi=120)
