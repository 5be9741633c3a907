"""``srchain figure2``: Figure 2 of the paper (SR vs BC on objective (8)) with the exact laws overlaid."""
from __future__ import annotations

OUTPUTS = {"json": "file", "out": "image"}
HELP = "reproduce Figure 2 (BC vs SR histograms on objective (8), exact laws overlaid) into a PNG"


def configure(parser):
    from srchain.cli import add_noise_options, finite_float, nonneg_int, positive_float, positive_int

    g = parser.add_argument_group("figure")
    g.add_argument("--out", default="figure2.png", metavar="PNG", help="where to write the figure")
    g.add_argument("--problem", default="toy", metavar="NAME", help="a registered 1-D problem (default toy)")
    g.add_argument("--delta", type=positive_float, default=0.5, metavar="Δ", help="quantization step (default 0.5)")
    g.add_argument("--alpha", type=positive_float, nargs="+", default=[1.0, 0.1, 0.01, 0.001], metavar="A",
                   help="learning rates, one column each")
    g.add_argument("--steps", type=positive_int, default=1_000_000, metavar="N", help="iterations per histogram")
    g.add_argument("--chains", type=positive_int, default=1, metavar="C", help="chains per histogram (paper: 1)")
    g.add_argument("--start", type=finite_float, default=4.0, metavar="X", help="starting point (default 4.0)")
    g.add_argument("--sampler", choices=["step", "jump"], default="step", help="SR sampler (default step)")
    g.add_argument("--bc-tol", type=positive_float, default=1e-3, metavar="TV",
                   help="refine BC's transfer operator until the law of Qd(w_r) moves by less than this "
                        "(1e-12 <= TV < 1; default 1e-3)")
    g.add_argument("--no-exact", action="store_true", help="skip the exact laws (histograms only)")
    from srchain.toy.commands._limits import add_limit_options

    add_limit_options(g, "the figure")
    add_noise_options(parser, default_sigma=4.0)
    o = parser.add_argument_group("output")
    o.add_argument("--seed", type=nonneg_int, default=0, metavar="N", help="random seed (default 0)")
    o.add_argument("--json", default=None, metavar="PATH", help="write the data and exact laws here")
    o.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    import sys
    import time

    from srchain.errors import SrchainError
    from srchain.io import write_json
    from srchain.noise import make_noise
    from srchain.problems import get_problem
    from srchain.toy.figure2 import figure2_data, plot_figure2

    from srchain.toy.bc_law import TOL_MIN
    from srchain.toy.commands._limits import (announcer, as_flags, check_lattice_size, check_minibatch,
                                              max_memory_bytes, output_cost)

    t0 = time.perf_counter()
    if not args.no_exact and not TOL_MIN <= args.bc_tol < 1:
        raise SrchainError(f"--bc-tol must be in [{TOL_MIN:g}, 1), got {args.bc_tol:g}: BC's discretised transfer "
                           f"operator does not resolve changes below {TOL_MIN:g} (each row drops up to 1e-14 of its "
                           f"mass)")
    problem = get_problem(args.problem)
    if problem.dim != 1:
        raise SrchainError(f"figure2 needs a 1-D problem; {args.problem!r} is {problem.dim}-dimensional "
                           f"(use `srchain simulate` for it)")
    lo, hi = problem.domain[0]
    if not (lo <= args.start <= hi):
        raise SrchainError(f"the start {args.start:g} is outside the domain [{lo:g}, {hi:g}]")
    check_minibatch(args.noise, args.samples, [args.batch])
    noise = make_noise(args.noise, sigma=args.sigma, nu=args.nu, batch=args.batch, samples=args.samples,
                       seed=args.seed)
    n = check_lattice_size(problem.domain, args.delta)
    alphas = list(dict.fromkeys(args.alpha))
    # the figure: 2 × len(alpha) histograms of n bars; the JSON: states, counts, exact laws, BC's latent bins
    extra = output_cost(numbers=(len(alphas) * n * 8 if args.json else 0), bars=2 * len(alphas) * n)
    stages = 1 + (0 if args.no_exact else 1 + len(alphas))
    bar = None
    if not args.quiet:
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

    try:
        with as_flags({"bc_tol": "--bc-tol", "steps + burn_in": "--steps", "chains × steps": "--chains × --steps"}):
            fig2 = figure2_data(noise=noise, alphas=alphas, steps=args.steps, chains=args.chains, start=args.start,
                                seed=args.seed, delta=args.delta, problem=problem, exact=not args.no_exact,
                                bc_tol=args.bc_tol, sampler=args.sampler, progress=tick,
                                max_memory=max_memory_bytes(args), max_hours=args.max_hours, extra=extra,
                                on_estimate=note)
    finally:
        if bar is not None:
            bar.close()
            bar = None
    for a, law in fig2.bc.items():
        if not law.converged and law.stopped and not args.quiet:
            sys.stderr.write(f"srchain: note: BC's law at α={a:g} stopped refining before --bc-tol "
                             f"{args.bc_tol:g} (last change {law.tv_change:.2g}): {law.stopped}\n")
    plot_figure2(fig2, args.out)
    print(f"noise: {noise.describe()}; start {args.start:g}; Δ = {args.delta:g}; {args.steps} steps; "
          f"mass on the global minimiser's cells {fig2.lattice.points[fig2.cells, 0].tolist()}:")
    print(f"{'alpha':>8s} {'BC sim':>8s} {'BC exact':>9s} {'SR sim':>8s} {'SR exact':>9s}")
    for row in fig2.masses():
        print(f"{row['alpha']:8g} {row.get('bc_sim', float('nan')):8.4f} {row.get('bc_exact', float('nan')):9.4f} "
              f"{row.get('sr_sim', float('nan')):8.4f} {row.get('sr_exact', float('nan')):9.4f}")
    if fig2.pi_limit is not None:
        print(f"SR limit π̃ (α ≤ α0 = {fig2.alpha0:.4g}): mass {float(fig2.pi_limit[fig2.cells].sum()):.4f}")
    print(f"wrote {args.out} in {time.perf_counter() - t0:.2f} s")
    if args.json:
        write_json(args.json, fig2.to_dict())
    return 0
