"""``srchain simulate``: histograms of SGD, R, SR and BC iterates on any registered problem (Numba, many chains)."""
from __future__ import annotations

HELP = "simulate SGD, R, SR and BC (histograms of the quantized iterates; many chains in parallel)"


def configure(parser):
    from srchain.cli import (add_noise_options, add_output_options, add_problem_options, finite_float, nonneg_int,
                             positive_float, positive_int)

    add_problem_options(parser, methods=["sgd", "r", "sr", "bc"], default_method="sr", multi_method=True)
    add_noise_options(parser)
    g = parser.add_argument_group("simulation")
    g.add_argument("--alpha", type=positive_float, nargs="+", default=[0.1], metavar="A",
                   help="learning rates α (each > 0)")
    g.add_argument("--steps", type=positive_int, default=1_000_000, metavar="N", help="counted steps per chain")
    g.add_argument("--chains", type=positive_int, default=4, metavar="C", help="independent chains per (method, α)")
    g.add_argument("--start", type=finite_float, nargs="+", default=None, metavar="X",
                   help="starting point (1 or d numbers, inside the domain; default the domain's centre)")
    g.add_argument("--burn-in", type=nonneg_int, default=0, metavar="N",
                   help="uncounted steps before the counted ones")
    g.add_argument("--sampler", choices=["step", "jump"], default="step",
                   help="step: the paper's step-by-step iteration; jump: exact jump chain for sr and r "
                        "(geometric holding times, far faster at small α)")
    g.add_argument("--bc-quantizer", choices=["qd", "qs"], default="qd",
                   help="quantizer BC takes the gradient at (Eq. 7 uses Qd)")
    g.add_argument("--threads", type=positive_int, default=None, metavar="T",
                   help="Numba threads (results do not depend on it)")
    from srchain.toy.commands._limits import add_limit_options

    add_limit_options(g, "the simulation")
    add_output_options(parser)


def run(args) -> int:
    import sys
    import time

    import numpy as np

    from srchain.errors import SrchainError
    from srchain.io import write_json
    from srchain.lattice import Lattice
    from srchain.simulate import LATENT_BINS_PER_CELL, simulate_many
    from srchain.spec import ChainSpec, noise_from_args, problem_from_args
    from srchain.toy.commands._limits import (announcer, as_flags, check_dim, check_lattice_size, check_minibatch,
                                              max_memory_bytes, output_cost)

    if args.threads is not None:
        import numba

        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    runs = [(m, a) for m in dict.fromkeys(args.method) for a in dict.fromkeys(args.alpha)]
    if args.sampler == "jump" and not any(m in ("sr", "r") for m, _ in runs):
        raise SrchainError(f"--sampler jump is the exact jump chain of sr and r; --method "
                           f"{' '.join(dict.fromkeys(args.method))} is always stepped (drop --sampler jump)")
    check_dim(args.dim)
    check_minibatch(args.noise, args.samples, [args.batch])
    problem = problem_from_args(args)
    noise = noise_from_args(args)
    check_lattice_size(problem.domain, args.delta)
    lat = Lattice.from_domain(args.delta, problem.domain, dim=problem.dim)
    spec = ChainSpec(problem=problem, noise=noise, lattice=lat)
    if args.sampler == "jump" and any(m in ("sgd", "bc") for m, _ in runs) and not args.quiet:
        sys.stderr.write("srchain: note: --sampler jump applies to sr and r; sgd and bc are stepped\n")
    # writing the results: states, counts (and latent counts for sgd, bc) per run; the plot's bars
    nbins = (max(lat.shape) - 1) * LATENT_BINS_PER_CELL
    numbers = 0.0
    if args.json:
        numbers = sum(lat.size * (lat.dim + 1) + (lat.dim * nbins if m in ("sgd", "bc") else 0) for m, _ in runs)
    extra = output_cost(numbers=numbers, bars=len(runs) * lat.shape[0] if args.plot else 0)
    t0 = time.perf_counter()
    with as_flags({"steps + burn_in": "--steps + --burn-in", "chains × steps": "--chains × --steps",
                   "start": "--start"}):
        results = simulate_many(spec.problem, spec.noise, lat, runs, args.steps, chains=args.chains,
                                start=args.start, seed=args.seed, burn_in=args.burn_in, sampler=args.sampler,
                                bc_quantizer=args.bc_quantizer, max_memory=max_memory_bytes(args),
                                max_hours=args.max_hours, extra=extra, on_estimate=announcer(args, "simulate"))
    seconds = time.perf_counter() - t0
    cells = spec.minimizer_cells()
    if args.start is None:
        start = (0.5 * (np.asarray(lat.lo) + lat.hi)).tolist()
    else:
        start = (np.full(lat.dim, args.start[0]) if len(args.start) == 1 else np.asarray(args.start)).tolist()
    rows = []
    out = []
    for r in results:
        m = r.mass(cells) if cells.size else float("nan")
        mode = lat.points[int(np.argmax(r.counts))].tolist()
        rows.append((r.method, r.alpha, m, mode))
        d = r.to_dict()
        d["mass_at_minimizer"] = m
        out.append(d)
    if True:  # the table is the command's output (--quiet only silences progress)
        print(f"{'method':6s} {'alpha':>8s} {'mass@min':>9s}  mode")
        for meth, a, m, mode in rows:
            print(f"{meth:6s} {a:8.3g} {m:9.4f}  {mode}")
        print(f"{len(runs)} runs x {args.chains} chains x {args.steps} steps in {seconds:.3f} s "
              f"({len(runs) * args.chains * args.steps / seconds / 1e6:.1f} M steps/s; noise {spec.noise.describe()})")
    if args.json:
        header = {"command": "simulate", **spec.to_dict(), "steps": args.steps, "chains": args.chains,
                  "start": start, "seed": args.seed, "burn_in": args.burn_in, "sampler": args.sampler,
                  "minimizer_cells": cells.tolist(), "seconds": seconds, "results": out}
        write_json(args.json, header)
    if args.plot:
        _plot(results, lat, spec, args.plot)
    return 0


def _plot(results, lat, spec, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    n = len(results)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 2.8), squeeze=False)
    x = lat.axis(0)
    for ax, r in zip(axes[0], results):
        freq = r.freq
        if lat.dim > 1:  # marginal of the first coordinate
            freq = freq.reshape(lat.shape).sum(axis=tuple(range(1, lat.dim)))
        ax.bar(x, freq, width=0.8 * lat.delta)
        ax.set_title(f"{r.method.upper()}, α={r.alpha:g}", fontsize=9)
        ax.set_xlabel("quantized w" + (" (coordinate 1)" if lat.dim > 1 else ""))
    fig.suptitle(f"{spec.problem.name}: noise {spec.noise.describe()}", fontsize=9)
    fig.tight_layout()
    from srchain.toy.commands.convex import save_figure_atomic

    save_figure_atomic(fig, path, dpi=120)
