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
    add_output_options(parser)


def run(args) -> int:
    import sys
    import time

    import numpy as np

    from srchain.errors import SrchainError
    from srchain.io import write_json
    from srchain.simulate import simulate_many
    from srchain.spec import spec_from_args

    if args.threads is not None:
        import numba

        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    spec = spec_from_args(args)
    lat = spec.lattice
    runs = [(m, a) for m in args.method for a in args.alpha]
    if args.sampler == "jump" and any(m in ("sgd", "bc") for m, _ in runs) and not args.quiet:
        sys.stderr.write("srchain: note: --sampler jump applies to sr and r; sgd and bc are stepped\n")
    t0 = time.perf_counter()
    results = simulate_many(spec.problem, spec.noise, lat, runs, args.steps, chains=args.chains, start=args.start,
                            seed=args.seed, burn_in=args.burn_in, sampler=args.sampler,
                            bc_quantizer=args.bc_quantizer)
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
    import os

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
