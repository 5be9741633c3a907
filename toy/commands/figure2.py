"""``srchain figure2``: Figure 2 of the paper (SR vs BC on objective (8)) with the exact laws overlaid."""

from __future__ import annotations

import argparse

#: --out is the PNG (a stable flag of the command line); the results store is --store.
OUTPUTS = {"json": "file", "out": "image", "store": "store"}
HELP = "reproduce Figure 2 (BC vs SR histograms on objective (8), exact laws overlaid) into a PNG"


def configure(parser: argparse.ArgumentParser) -> None:
    from srchain.cli import add_noise_options, finite_float, nonneg_int, positive_float, positive_int

    g = parser.add_argument_group("figure")
    g.add_argument("--out", default="figure2.png", metavar="PNG", help="where to write the figure")
    g.add_argument("--problem", default="toy", metavar="NAME", help="a registered 1-D problem (default toy)")
    g.add_argument("--delta", type=positive_float, default=0.5, metavar="Δ", help="quantization step (default 0.5)")
    g.add_argument(
        "--alpha",
        type=positive_float,
        nargs="+",
        default=[1.0, 0.1, 0.01, 0.001],
        metavar="A",
        help="learning rates, one column each",
    )
    g.add_argument("--steps", type=positive_int, default=1_000_000, metavar="N", help="iterations per histogram")
    g.add_argument("--chains", type=positive_int, default=1, metavar="C", help="chains per histogram (paper: 1)")
    g.add_argument("--start", type=finite_float, default=4.0, metavar="X", help="starting point (default 4.0)")
    g.add_argument("--sampler", choices=["step", "jump"], default="step", help="SR sampler (default step)")
    g.add_argument(
        "--bc-tol",
        type=positive_float,
        default=1e-3,
        metavar="TV",
        help="refine BC's transfer operator until the law of Qd(w_r) moves by less than this "
        "(1e-12 <= TV < 1; default 1e-3)",
    )
    g.add_argument("--no-exact", action="store_true", help="skip the exact laws (histograms only)")
    from srchain.toy.commands._limits import add_limit_options

    add_limit_options(g, "the figure")
    add_noise_options(parser, default_sigma=4.0)
    o = parser.add_argument_group("output")
    o.add_argument("--seed", type=nonneg_int, default=0, metavar="N", help="random seed (default 0)")
    o.add_argument("--json", default=None, metavar="PATH", help="write the data and exact laws here")
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    from srchain.toy.commands._sweep import add_toy_sweep_options

    add_toy_sweep_options(parser, store_flag="--store")
    parser.epilog = (
        "example: srchain figure2 --out figure2.png --json figure2.json --store figure2.zarr "
        "(--out is the PNG here; the results store is --store)"
    )


def figure2_task(
    problem: str,
    noise: dict,
    alphas,
    steps: int,
    chains: int,
    start: float,
    seed: int,
    delta: float,
    exact: bool,
    bc_tol: float,
    sampler: str,
    max_memory: float,
    max_hours: float,
    extra=None,
    progress=None,
    on_estimate=None,
):
    """The one task of ``srchain figure2``: :func:`srchain.toy.figure2.figure2_data`; ``(to_dict(), arrays)``."""
    import numpy as np
    from srchain.toy.commands._limits import as_flags
    from srchain.toy.figure2 import figure2_data

    from srchain.noise import make_noise
    from srchain.problems import get_problem
    from srchain.stationary import tv

    prob = get_problem(problem)
    nz = make_noise(**noise)
    with as_flags({"bc_tol": "--bc-tol", "steps + burn_in": "--steps", "chains × steps": "--chains × --steps"}):
        fig2 = figure2_data(
            noise=nz,
            alphas=alphas,
            steps=steps,
            chains=chains,
            start=start,
            seed=seed,
            delta=delta,
            problem=prob,
            exact=exact,
            bc_tol=bc_tol,
            sampler=sampler,
            progress=progress,
            max_memory=max_memory,
            max_hours=max_hours,
            extra=extra,
            on_estimate=on_estimate,
        )
    lat, als = fig2.lattice, fig2.alphas
    n, na = lat.size, len(als)
    counts = np.zeros((2, na, n), dtype=np.int64)
    law = np.full((2, na, n), np.nan)
    mass = np.full((2, na), np.nan)
    mass_exact = np.full((2, na), np.nan)
    tv_se = np.full((2, na), np.nan)
    nb = (max(lat.shape) - 1) * 20
    latent = np.zeros((na, nb), dtype=np.int64)
    for i, m in enumerate(("bc", "sr")):
        for j, a in enumerate(als):
            r = fig2.sim.get((m, a))
            if r is None:
                continue
            counts[i, j] = r.counts
            mass[i, j] = r.mass(fig2.cells)
            pi = fig2.bc[a].pi if (m == "bc" and a in fig2.bc) else fig2.exact_sr.get(a) if m == "sr" else None
            if pi is not None:
                law[i, j] = pi
                mass_exact[i, j] = float(pi[fig2.cells].sum())
                tv_se[i, j] = tv(r.freq, pi)
            if m == "bc" and r.latent_counts is not None and r.latent_counts.shape[1] == nb:
                latent[j] = r.latent_counts[0]
    arrays = {
        "counts": counts,
        "exact": law,
        "mass_at_minimizer": mass,
        "exact_mass_at_minimizer": mass_exact,
        "tv_sim_exact": tv_se,
        "latent_counts": latent,
        "pi_limit": np.full(n, np.nan) if fig2.pi_limit is None else fig2.pi_limit,
        "alpha0": np.array([np.nan if fig2.alpha0 is None else float(fig2.alpha0)]),
    }
    return fig2.to_dict(), arrays


def run(args: argparse.Namespace) -> int:
    import sys
    import time

    import numpy as np
    from srchain.toy.bc_law import TOL_MIN
    from srchain.toy.commands._limits import (
        announcer,
        check_lattice_size,
        check_minibatch,
        max_memory_bytes,
        output_cost,
    )
    from srchain.toy.commands._sweep import check_resume, is_distributed, open_store
    from srchain.toy.figure2 import estimate_figure2, figure2_from_dict, plot_figure2

    from srchain.commands.common import run_attrs, state_coords, sweep_kwargs
    from srchain.errors import SrchainError
    from srchain.lattice import Lattice
    from srchain.noise import make_noise
    from srchain.problems import get_problem
    from srchain.results import write_json_fast
    from srchain.spec import ChainSpec
    from srchain.sweep import Task, run_sweep

    t0 = time.perf_counter()
    check_resume(args, store_flag="--store")
    from srchain.commands.common import check_sweep_resources

    check_sweep_resources(args, 1)  # --workers: within the CPUs, the tasks, the memory
    if not args.no_exact and not TOL_MIN <= args.bc_tol < 1:
        raise SrchainError(
            f"--bc-tol must be in [{TOL_MIN:g}, 1), got {args.bc_tol:g}: BC's discretised transfer "
            f"operator does not resolve changes below {TOL_MIN:g} (each row drops up to 1e-14 of its "
            f"mass)"
        )
    problem = get_problem(args.problem)
    if problem.dim != 1:
        raise SrchainError(
            f"figure2 needs a 1-D problem; {args.problem!r} is {problem.dim}-dimensional "
            f"(use `srchain simulate` for it)"
        )
    lo, hi = problem.domain[0]
    if not (lo <= args.start <= hi):
        raise SrchainError(f"the start {args.start:g} is outside the domain [{lo:g}, {hi:g}]")
    check_minibatch(args.noise, args.samples, [args.batch])
    noise_kw = {
        "name": args.noise,
        "sigma": args.sigma,
        "nu": args.nu,
        "batch": args.batch,
        "samples": args.samples,
        "seed": args.seed,
    }
    noise = make_noise(**noise_kw)
    n = check_lattice_size(problem.domain, args.delta)
    alphas = list(dict.fromkeys(args.alpha))
    from srchain.resolvable import check_args_noise_range

    check_args_noise_range(
        args,
        problem,
        Lattice.from_domain(args.delta, problem.domain, dim=problem.dim),
        alphas=[float(a) for a in alphas],
        exact=not args.no_exact,
    )
    # the figure: 2 × len(alpha) histograms of n bars; the JSON: states, counts, exact laws, BC's latent bins
    extra = output_cost(numbers=(len(alphas) * n * 8 if (args.json or args.store) else 0), bars=2 * len(alphas) * n)
    distributed = is_distributed(args)
    stages = 1 + (0 if args.no_exact else 1 + len(alphas))
    bar = None
    if not args.quiet and not distributed:
        from tqdm import tqdm

        bar = tqdm(total=stages, desc="figure2", unit="stage", leave=False)

    def tick(label):
        if bar is not None:
            bar.set_postfix_str(label)
            bar.update(1)

    def note(est):
        if bar is not None:
            bar.clear()
        announcer(args, "figure2")(est)
        if bar is not None:
            bar.refresh()

    settings = {
        "problem": problem.name,
        "delta": args.delta,
        "noise": noise.to_dict(),
        "steps": args.steps,
        "chains": args.chains,
        "start": args.start,
        "seed": args.seed,
        "sampler": args.sampler,
        "exact": not args.no_exact,
        "bc_tol": None if args.no_exact else args.bc_tol,
    }
    store = None
    if args.store:
        lat = Lattice.from_domain(args.delta, problem.domain, dim=problem.dim)
        nb = (max(lat.shape) - 1) * 20
        grid = ("method", "alpha")
        variables = {
            "counts": ((*grid, "state"), "i8"),
            "exact": ((*grid, "state"), "f8"),
            "mass_at_minimizer": (grid, "f8"),
            "exact_mass_at_minimizer": (grid, "f8"),
            "tv_sim_exact": (grid, "f8"),
            "latent_counts": (("alpha", "bin"), "i8"),
            "latent_edges": (("bin_edge",), lat.lo[0] + lat.delta * np.arange(nb + 1) / 20),
            "pi_limit": (("state",), "f8"),
            "alpha0": (("limit",), "f8"),
        }
        attrs = run_attrs(args, ChainSpec(problem=problem, noise=noise, lattice=lat), settings)
        attrs["minimizer_cells"] = lat.cells(problem.minimizer).tolist() if problem.minimizer is not None else []
        attrs["notes"] = (
            "counts: simulated visits (BC: of Qd(w_r)); exact: SR's π_α and BC's transfer-operator law "
            "of Qd(w_r); latent_counts: BC's w_r in bins with edges latent_edges; pi_limit: π̃ (Eq. 9)"
        )
        store = open_store(
            args,
            args.store,
            {
                "method": ["bc", "sr"],
                "alpha": [float(a) for a in alphas],
                "bin": np.arange(nb),
                "limit": ["sr"],
                **state_coords(lat),
            },
            variables,
            attrs,
            settings,
            [],
        )
    kwargs = {
        "problem": args.problem,
        "noise": noise_kw,
        "alphas": alphas,
        "steps": args.steps,
        "chains": args.chains,
        "start": args.start,
        "seed": args.seed,
        "delta": args.delta,
        "exact": not args.no_exact,
        "bc_tol": args.bc_tol,
        "sampler": args.sampler,
        "max_memory": max_memory_bytes(args),
        "max_hours": args.max_hours,
        "extra": extra,
        "progress": None if distributed else tick,
        "on_estimate": None if distributed else note,
    }
    lat0 = Lattice.from_domain(args.delta, problem.domain, dim=problem.dim)
    need = float(
        estimate_figure2(problem, noise, lat0, [float(a) for a in alphas], args.steps, args.chains, exact=False).bytes
    )
    try:
        out = run_sweep(
            [Task({}, figure2_task, kwargs, {"memory": need})],
            store=store,
            resume=args.resume,
            progress=False,
            workers=args.workers,
            scheduler=args.scheduler,
            memory_limit=sweep_kwargs(args)["memory_limit"],
        )
    finally:
        if bar is not None:
            bar.close()
            bar = None
        if store is not None:
            store.close()
    data = out[0]
    fig2 = figure2_from_dict(data, problem, noise)
    for a, law in fig2.bc.items():
        if not law.converged and law.stopped and not args.quiet:
            sys.stderr.write(
                f"srchain: note: BC's law at α={a:g} stopped refining before --bc-tol "
                f"{args.bc_tol:g} (last change {law.tv_change:.2g}): {law.stopped}\n"
            )
    plot_figure2(fig2, args.out)
    print(
        f"noise: {noise.describe()}; start {args.start:g}; Δ = {args.delta:g}; {args.steps} steps; "
        f"mass on the global minimiser's cells {fig2.lattice.points[fig2.cells, 0].tolist()}:"
    )
    print(f"{'alpha':>8s} {'BC sim':>8s} {'BC exact':>9s} {'SR sim':>8s} {'SR exact':>9s}")
    for row in fig2.masses():
        print(
            f"{row['alpha']:8g} {row.get('bc_sim', float('nan')):8.4f} {row.get('bc_exact', float('nan')):9.4f} "
            f"{row.get('sr_sim', float('nan')):8.4f} {row.get('sr_exact', float('nan')):9.4f}"
        )
    if fig2.pi_limit is not None:
        print(f"SR limit π̃ (α ≤ α0 = {fig2.alpha0:.4g}): mass {float(fig2.pi_limit[fig2.cells].sum()):.4f}")
    print(f"wrote {args.out} in {time.perf_counter() - t0:.2f} s")
    if args.store:
        print(f"# results store: {args.store} (srchain.open_results({str(args.store)!r}))")
    if args.json:
        write_json_fast(args.json, data)
    return 0
