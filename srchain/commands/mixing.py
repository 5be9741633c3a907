"""``srchain mixing``: the ε-mixing time M_ε(α) of the SR chain (Eq. 10), exact or bounded (Theorem 6)."""
from __future__ import annotations

HELP = "ε-mixing time M_ε(α) of the SR/R chain (Eq. 10): exact up to 10⁴ states, spectral bounds beyond (Theorem 6)"


def configure(parser) -> None:
    from srchain.cli import positive_float, positive_int
    from srchain.commands.common import add_chain_options

    add_chain_options(parser, default_alpha=[0.1, 0.01, 0.001])
    parser.add_argument("--eps", type=positive_float, default=0.25, help="ε of Eq. 10 (0 < ε < 1)")
    parser.add_argument("--max-exact-states", type=positive_int, default=10_000, metavar="N",
                        help="compute the exact mixing time up to this many states; spectral bounds beyond")
    parser.add_argument("--max-steps", type=positive_int, default=10**9, metavar="N",
                        help="give up when the chain has not mixed within this many steps")
    parser.epilog = "example: srchain mixing --problem toy --method sr --delta 0.5 --alpha 0.1 0.01 0.001 --eps 0.25"


def run(args) -> int:
    import numpy as np

    from srchain.budget import check_memory
    from srchain.commands.common import (chain_settings, check_numbers, list_problems_and_exit, max_bytes,
                                         previous_results, print_table, progress, unique_alphas)
    from srchain.errors import SrchainError
    from srchain.io import write_json
    from srchain.mixing import mixing_time
    from srchain.operators import estimate, transition_matrix
    from srchain.spec import spec_from_args
    from srchain.stationary import solver_bytes, stationary

    if list_problems_and_exit(args):
        return 0
    if not 0 < args.eps < 1:
        raise SrchainError(f"--eps must be between 0 and 1, got {args.eps:g}")
    spec = spec_from_args(args, max_states=args.max_states)
    lat = spec.lattice
    limit_bytes = max_bytes(args)
    settings = chain_settings(args, spec, eps=args.eps, max_exact_states=args.max_exact_states,
                              max_steps=args.max_steps)
    header = {"command": "mixing", "problem": spec.problem.name, "dim": spec.problem.dim, "method": args.method,
              "delta": lat.delta, "noise": spec.noise.to_dict(), "domain": lat.domain.tolist(), "eps": args.eps,
              "settings": settings}

    def check_row(row):
        check_numbers(row, ["mixing_time", "relaxation_time", "lower_bound", "upper_bound"])
        if not isinstance(row.get("exact"), bool):
            raise ValueError("exact is not true/false")
        if row["exact"] and not (isinstance(row.get("mixing_time"), int) and row["mixing_time"] >= 0):
            raise ValueError("an exact result without an integer mixing_time")

    results = previous_results(args, header, lat.points, check_row)
    done = {float(r["alpha"]) for r in results}
    todo = [a for a in unique_alphas(args.alpha) if a not in done]
    if todo:
        op_bytes, nnz = estimate(spec.problem, spec.noise, lat, max(todo), args.method, args.tol)
        powers = 3 * 8.0 * lat.size**2 if lat.size <= args.max_exact_states else 0.0
        check_memory(op_bytes + solver_bytes(lat.size, nnz) + powers, limit_bytes,
                     f"the mixing time at alpha = {max(todo):g} on {lat.size:.3g} states (operator, stationary law"
                     f"{' and dense powers' if powers else ''})",
                     "use a coarser lattice, or fewer --max-exact-states for spectral bounds")
    for a in progress(todo, args, "mixing", total=len(todo)):
        op = transition_matrix(spec.problem, spec.noise, lat, a, method=args.method, tol=args.tol,
                               max_bytes=limit_bytes)
        held = float(op.P.data.nbytes + op.P.indices.nbytes + op.P.indptr.nbytes)
        pi = stationary(op.P, shape=lat.shape, max_bytes=limit_bytes - held).pi
        m = mixing_time(op.P, eps=args.eps, pi=pi, max_exact_states=args.max_exact_states,
                        max_steps=args.max_steps, max_bytes=limit_bytes - held)
        results.append({"alpha": float(a), **{k: v for k, v in m.to_dict().items() if k != "eps"}})
        if args.json:
            write_json(args.json, {**header, "states": lat.points, "results": results})
    results.sort(key=lambda r: -r["alpha"])

    print(f"# {spec.problem.name}: {args.method.upper()} chain on {lat.size} states (Δ={lat.delta:g}), "
          f"noise {spec.noise.describe()}, ε={args.eps:g}")
    print_table(["alpha", "mixing_time", "exact", "relaxation_time", "lower_bound", "upper_bound"],
                [[r["alpha"], r["mixing_time"], "yes" if r["exact"] else "no (bounds)", r["relaxation_time"],
                  r["lower_bound"], r["upper_bound"]] for r in results])
    exact = [(r["alpha"], r["mixing_time"]) for r in results if r["exact"] and r["mixing_time"]]
    if len(exact) >= 2:
        la = np.log([e[0] for e in exact])
        lm = np.log([e[1] for e in exact])
        slope = float(np.polyfit(la, lm, 1)[0])
        print(f"# log-log slope of M_eps against alpha: {slope:.3f} (Theorem 6: M_eps -> inf; ~1/alpha gives -1)")
    if args.json:
        write_json(args.json, {**header, "states": lat.points, "results": results})
    if args.plot:
        _plot(args.plot, spec, results, args.eps)
    return 0


def _plot(path, spec, results, eps):
    from srchain.commands.common import new_figure, save_figure

    fig, ax = new_figure((6, 4))
    ex = [(r["alpha"], r["mixing_time"]) for r in results if r["exact"] and r["mixing_time"]]
    if ex:
        ax.loglog(*zip(*ex), "o-", label=f"exact M_ε (ε={eps:g})")
    lb = [(r["alpha"], r["lower_bound"]) for r in results if r["lower_bound"]]
    ub = [(r["alpha"], r["upper_bound"]) for r in results if r["upper_bound"]]
    if lb:
        ax.loglog(*zip(*lb), "v--", label="spectral lower bound")
    if ub:
        ax.loglog(*zip(*ub), "^--", label="spectral upper bound")
    ax.set_xlabel("α")
    ax.set_ylabel("steps")
    save_figure(fig, ax, path, f"{spec.problem.name}: mixing time grows as α → 0 (Theorem 6)")
