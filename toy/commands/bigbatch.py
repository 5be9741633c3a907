"""``srchain bigbatch``: SR's limiting law π̃ and its mass on the global minimiser as the batch grows (Section 6.1)."""
from __future__ import annotations

HELP = "tabulate SR's small-α law π̃ and its mass on the global minimiser as the batch size grows (Section 6.1)"


def configure(parser):
    from srchain.cli import NOISE_NAMES, finite_float, nonneg_int, positive_float, positive_int
    from srchain.toy.commands._limits import add_limit_options

    g = parser.add_argument_group("big batch")
    g.add_argument("--problem", default="toy", metavar="NAME", help="registered problem (default toy)")
    g.add_argument("--dim", type=positive_int, default=None, metavar="D", help="dimension (separable, coupled)")
    g.add_argument("--delta", type=positive_float, default=0.5, metavar="Δ", help="quantization step (default 0.5)")
    g.add_argument("--noise", default="gaussian", choices=NOISE_NAMES,
                   help="per-sample noise: gaussian (batch mean σ/√B) or minibatch (exact, without replacement)")
    g.add_argument("--sigma", type=positive_float, default=4.0, metavar="S",
                   help="per-sample noise scale (default 4, as figure2)")
    g.add_argument("--nu", type=positive_float, default=3.0, metavar="NU", help="student-t degrees of freedom")
    g.add_argument("--samples", type=positive_int, default=16, metavar="M", help="minibatch: per-sample perturbations")
    g.add_argument("--batch", type=positive_int, nargs="+", default=None, metavar="B",
                   help="batch sizes (default gaussian 1 4 16 64 256 1024; minibatch 1 2 4 8 12 15 16)")
    g.add_argument("--start", type=finite_float, default=4.0, metavar="X",
                   help="start, inside the domain (matters only when the chain is reducible; default 4.0)")
    g.add_argument("--max-states", type=positive_int, default=20_000_000, metavar="N",
                   help="refuse lattices with more states than this")
    add_limit_options(g, "the table")
    o = parser.add_argument_group("output")
    o.add_argument("--seed", type=nonneg_int, default=0, metavar="N", help="seed of the minibatch perturbations")
    o.add_argument("--json", default=None, metavar="PATH", help="write the table here")
    o.add_argument("--quiet", action="store_true", help="(no progress bar to silence; accepted for uniformity)")


def run(args) -> int:
    from srchain.io import write_json
    from srchain.problems import get_problem
    from srchain.toy.bigbatch import DEFAULT_BATCHES, bigbatch_table
    from srchain.toy.commands._limits import announcer, as_flags, check_dim, check_lattice_size, check_minibatch, \
        max_memory_bytes

    check_dim(args.dim)
    batches = list(dict.fromkeys(args.batch or DEFAULT_BATCHES.get(args.noise, (1, 4, 16, 64))))
    check_minibatch(args.noise, args.samples, batches)
    problem = get_problem(args.problem, dim=args.dim)
    check_lattice_size(problem.domain, args.delta, args.max_states)
    with as_flags({"start": "--start"}):
        rows = bigbatch_table(problem, noise=args.noise, sigma=args.sigma, batches=batches, samples=args.samples,
                              delta=args.delta, seed=args.seed, nu=args.nu, start=args.start,
                              max_states=args.max_states, max_memory=max_memory_bytes(args),
                              max_hours=args.max_hours, on_estimate=announcer(args, "bigbatch"))
    print(f"SR's limit law π̃ on {problem.name} (Δ = {args.delta:g}), {args.noise} noise, per-sample scale "
          f"{args.sigma:g}")
    print(f"{'batch':>6s} {'std(ξ̄)':>9s} {'alpha0':>9s} {'mass@min':>9s} {'E[f]':>8s} {'entropy':>8s}")
    for r in rows:
        if r.pi_limit is None:
            print(f"{r.batch:6d} {r.noise_std:9.4f} {'-':>9s} {'-':>9s} {'-':>8s} {'-':>8s}  {r.note}")
        else:
            print(f"{r.batch:6d} {r.noise_std:9.4f} {r.alpha0:9.4g} {r.mass_at_minimizer:9.4f} "
                  f"{r.expected_f:8.4f} {r.entropy:8.4f}" + (f"  {r.note}" if r.note else ""))
    if args.json:
        write_json(args.json, {"command": "bigbatch", "problem": problem.name, "delta": args.delta,
                               "noise": args.noise, "sigma": args.sigma, "samples": args.samples,
                               "seed": args.seed, "rows": [r.to_dict() for r in rows]})
    return 0
