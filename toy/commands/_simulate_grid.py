"""``srchain simulate --format NAME`` (or ``--sr-bits K``): the simulators on a format's grid
(:mod:`srchain.simulate.grid`), one run per (method, α), in this process."""

from __future__ import annotations


def run_grid(args) -> int:
    import numpy as np

    from srchain.commands.common import print_table, progress
    from srchain.errors import SrchainError
    from srchain.grids import grid_label
    from srchain.results import write_json_fast
    from srchain.simulate.grid import simulate_grid
    from srchain.spec import spec_from_args

    for flag, value in (("--out", args.out), ("--workers", args.workers), ("--scheduler", args.scheduler)):
        if value is not None:
            raise SrchainError(f"{flag} is for the fixed grid; with --format/--sr-bits use --json and --plot")
    if args.sampler != "step":
        raise SrchainError("--sampler jump is for the fixed grid; with --format/--sr-bits the chains are stepped")
    spec = spec_from_args(args, max_states=args.max_states if hasattr(args, "max_states") else None)
    grid = spec.lattice
    start = None if args.start is None else np.asarray(args.start, dtype=np.float64)
    if start is not None and not grid.contains(np.broadcast_to(start, (grid.dim,))):
        raise SrchainError(f"--start {args.start} is outside the grid's box {grid.domain.tolist()}")
    if start is None:
        start = 0.5 * (np.asarray(grid.lo) + grid.hi)
    runs = [(m, a) for m in dict.fromkeys(args.method) for a in dict.fromkeys(args.alpha)]
    results = []
    for m, a in progress(runs, args, "simulate", total=len(runs)):
        bits = spec.sr_bits if m == "sr" else None
        r = simulate_grid(
            spec.problem,
            spec.noise,
            grid,
            m,
            a,
            steps=args.steps,
            chains=args.chains,
            start=start,
            seed=args.seed,
            burn=args.burn_in,
            sr_bits=bits,
        )
        label = m if bits is None else f"sr{bits}"
        results.append({"method": label, "alpha": a, "counts": r.counts.tolist(), "final": r.final.tolist()})
    pts = grid.points
    wstar = spec.problem.minimizer
    print(f"# {spec.problem.name} on the {grid_label(grid)} ({grid.size} states), noise {spec.noise.describe()}")
    rows = []
    for r in results:
        c = np.asarray(r["counts"], dtype=np.float64)
        law = c / max(c.sum(), 1)
        mean = law @ pts
        row = [r["method"], r["alpha"], float(mean[0])]
        if wstar is not None:
            row.append(float(law @ np.linalg.norm(pts - wstar, axis=1)))
        rows.append(row)
    print_table(["rule", "alpha", "mean w0", "E|w-w*|"][: len(rows[0])], rows)
    if args.json:
        write_json_fast(
            args.json,
            {
                "command": "simulate",
                "problem": spec.problem.name,
                "grid": grid.to_dict(),
                "noise": spec.noise.to_dict(),
                "steps": args.steps,
                "chains": args.chains,
                "start": np.broadcast_to(start, (grid.dim,)).tolist(),
                "seed": args.seed,
                "states": pts.tolist(),
                "results": [{k: v for k, v in r.items() if k != "final"} for r in results],
            },
        )
    if args.plot:
        from srchain.commands.common import new_figure, save_figure

        fig, ax = new_figure()
        x = grid.axis(0)
        for r in results:
            c = np.asarray(r["counts"], dtype=np.float64).reshape(grid.shape)
            marg = c.sum(axis=tuple(range(1, grid.dim))) if grid.dim > 1 else c
            ax.step(x, marg / max(marg.sum(), 1), where="mid", label=f"{r['method'].upper()}, α={r['alpha']:g}")
        ax.set_xlabel("w")
        save_figure(fig, ax, args.plot, f"{spec.problem.name}: visited states on the {grid_label(grid)}")
    return 0
