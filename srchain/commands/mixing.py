"""``srchain mixing``: the ε-mixing time M_ε(α) of the SR chain (Eq. 10), exact or bounded (Theorem 6)."""

from __future__ import annotations

import argparse

OUTPUTS = {"json": "file", "plot": "image", "out": "store"}
HELP = "ε-mixing time M_ε(α) of the SR/R chain (Eq. 10): exact up to 10⁴ states, spectral bounds beyond (Theorem 6)"


def configure(parser: argparse.ArgumentParser) -> None:
    from srchain.cli import positive_float, positive_int
    from srchain.commands.common import add_chain_options, add_max_steps

    add_chain_options(parser, default_alpha=[0.1, 0.01, 0.001])
    parser.add_argument("--eps", type=positive_float, default=0.25, help="ε of Eq. 10 (0 < ε < 1)")
    parser.add_argument(
        "--max-exact-states",
        type=positive_int,
        default=10_000,
        metavar="N",
        help="compute the exact mixing time up to this many states; spectral bounds beyond",
    )
    add_max_steps(parser, 10**9, "that alpha's row then gives the steps certified unmixed as a lower bound, beside "
                  "the spectral bounds")  # fmt: skip
    parser.add_argument(
        "--bound",
        action="store_true",
        help="also a certified bracket on M_eps from the two extreme starts (monotone coupling; 1-D and product "
        "chains, monotonicity checked on the operator); beyond --max-exact-states, the bracket alone (no n x n "
        "operator is built)",
    )
    parser.add_argument(
        "--device",
        default=None,
        metavar="DEV",
        help="run the exact path as dense float64 doubling with torch on DEV (cuda, cuda:1, cpu); default: NumPy",
    )
    parser.epilog = "example: srchain mixing --problem toy --method sr --delta 0.5 --alpha 0.1 0.01 0.001 --eps 0.25"


_SCALARS = ("mixing_time", "relaxation_time", "lower_bound", "upper_bound")


def mixing_alpha(
    options: dict,
    alpha: float,
    method: str,
    tol: float,
    eps: float,
    max_exact_states: int,
    max_steps: int,
    max_states: int,
    max_bytes: float,
    device: str | None = None,
    bound: bool = False,
):
    """One task: M_ε(α) (exact, or spectral bounds) on the lattice of ``options``; ``(summary, arrays)``."""
    import math

    from srchain.errors import NotMixed
    from srchain.mixing import mixing_time
    from srchain.operators import transition_matrix
    from srchain.spec import spec_from_options
    from srchain.stationary import stationary

    spec = spec_from_options(options, max_states=max_states)
    extra = {}
    if bound:
        from srchain.mixing_bounds import lattice_bracket

        br = lattice_bracket(
            spec.problem, spec.noise, spec.lattice, alpha, eps=eps, method=method, tol=tol, max_steps=max_steps
        )
        extra = br.to_dict()
        if spec.lattice.size > max_exact_states:
            row = {
                "alpha": float(alpha),
                "mixing_time": None,
                "exact": False,
                "relaxation_time": None,
                "lower_bound": float(br.lower),
                "upper_bound": float(br.upper),
                "method": "monotone-coupling-bracket",
                "seconds": br.seconds,
                "note": br.reason,
                **extra,
            }
            arrays = {k: math.nan if row[k] is None else float(row[k]) for k in _SCALARS}
            arrays["exact"] = False
            return row, arrays
    op = transition_matrix(
        spec.problem, spec.noise, spec.lattice, alpha, method=method, tol=tol, max_bytes=max_bytes, sr_bits=spec.sr_bits
    )
    held = float(op.P.data.nbytes + op.P.indices.nbytes + op.P.indptr.nbytes)
    pi = stationary(op, max_bytes=max_bytes - held).pi
    try:
        m = mixing_time(
            op,  # with its lattice: a symmetry of it splits the exact path's powers (srchain.mixing_symmetry)
            eps=eps,
            pi=pi,
            max_exact_states=max_exact_states,
            max_steps=max_steps,
            max_bytes=max_bytes - held,
            device=device,
        )
    except NotMixed as exc:  # (a metastable chain at small alpha): what is certified, not an error for the sweep
        m = _unmixed(op, pi, eps, max_steps, exc.steps)
    row = {"alpha": float(alpha), **{k: v for k, v in m.to_dict().items() if k != "eps"}, **extra}

    def num(v):
        return math.nan if v is None or isinstance(v, str) else float(v)

    arrays = {k: (math.inf if row[k] == "inf" else num(row[k])) for k in _SCALARS}
    arrays["exact"] = bool(row["exact"])
    return row, arrays


def _unmixed(op, pi, eps, max_steps, steps):
    """The result where the exact doubling gave up at ``max_steps``: ``d(steps) > ε`` was certified, so
    ``M_ε > steps``; the spectral bounds (:func:`srchain.mixing.spectral_bounds`) beside it."""
    import math
    import time

    from srchain.mixing import MixingResult, spectral_bounds

    t0 = time.perf_counter()
    t_rel, lo, hi, note = spectral_bounds(op.P, pi, eps)
    return MixingResult(
        mixing_time=None,
        exact=False,
        relaxation_time=t_rel,
        # (a spectral gap below float64's resolution gives an infinite "bound", which certifies nothing)
        lower_bound=max(float(lo), steps + 1.0) if math.isfinite(lo) else steps + 1.0,
        upper_bound=hi,
        eps=float(eps),
        method="spectral-bounds",
        seconds=time.perf_counter() - t0,
        note=f"not mixed within --max-steps {max_steps}: d({steps}) > eps (certified by the exact doubling), so "
        f"M_eps > {steps}; {note}",
    )


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from srchain.budget import check_memory
    from srchain.commands.common import (
        chain_settings,
        check_numbers,
        check_sweep_args,
        list_problems_and_exit,
        max_bytes,
        previous_results,
        print_table,
        progress,
        run_attrs,
        sweep_kwargs,
        unique_alphas,
    )
    from srchain.errors import SrchainError
    from srchain.grids import grid_label
    from srchain.operators import estimate
    from srchain.results import write_json_fast
    from srchain.spec import spec_from_args, spec_options
    from srchain.stationary import solver_bytes
    from srchain.sweep import Task, run_sweep

    if list_problems_and_exit(args):
        return 0
    if not 0 < args.eps < 1:
        raise SrchainError(f"--eps must be between 0 and 1, got {args.eps:g}")
    check_sweep_args(args)
    spec = spec_from_args(args, max_states=args.max_states)
    lat = spec.lattice
    limit_bytes = max_bytes(args)
    settings = chain_settings(
        args, spec, eps=args.eps, max_exact_states=args.max_exact_states, max_steps=args.max_steps
    )
    header = {
        "command": "mixing",
        "problem": spec.problem.name,
        "dim": spec.problem.dim,
        "method": args.method,
        "delta": lat.delta,
        "noise": spec.noise.to_dict(),
        "domain": lat.domain.tolist(),
        "eps": args.eps,
        "settings": settings,
    }

    def check_row(row):
        check_numbers(row, ["mixing_time", "relaxation_time", "lower_bound", "upper_bound"])
        if not isinstance(row.get("exact"), bool):
            raise ValueError("exact is not true/false")
        if row["exact"] and not (isinstance(row.get("mixing_time"), int) and row["mixing_time"] >= 0):
            raise ValueError("an exact result without an integer mixing_time")

    alphas = unique_alphas(args.alpha)
    from srchain.commands.common import check_sweep_resources

    check_sweep_resources(args, len(alphas))  # --workers: within the CPUs, the tasks, the memory
    results = previous_results(args, header, lat.points, check_row) if args.resume and not args.out else []
    done = {float(r["alpha"]) for r in results}
    todo = [a for a in alphas if a not in done]
    need = 0.0
    bracket_only = args.bound and lat.size > args.max_exact_states
    if todo and not bracket_only:
        op_bytes, nnz = estimate(spec.problem, spec.noise, lat, max(todo), args.method, args.tol)
        powers = 3 * 8.0 * lat.size**2 if lat.size <= args.max_exact_states else 0.0
        need = op_bytes + solver_bytes(lat.size, nnz) + powers
        check_memory(
            need,
            limit_bytes,
            f"the mixing time at alpha = {max(todo):g} on {lat.size:.3g} states (operator, stationary law"
            f"{' and dense powers' if powers else ''})",
            "use a coarser lattice, or fewer --max-exact-states for spectral bounds",
        )
    store = None
    if args.out:
        from srchain.results import ResultStore, make_template

        variables = {**{k: (("alpha",), "f8") for k in _SCALARS}, "exact": (("alpha",), "bool")}
        template = make_template({"alpha": alphas}, variables, run_attrs(args, spec, settings))
        store = ResultStore.open_or_create(args.out, template, settings, resume=args.resume, sweep_dims=["alpha"])
    common = {
        "options": spec_options(args),
        "method": args.method,
        "tol": args.tol,
        "eps": args.eps,
        "max_exact_states": args.max_exact_states,
        "max_steps": args.max_steps,
        "max_states": args.max_states,
        "max_bytes": limit_bytes,
        "device": args.device,
        "bound": args.bound,
    }
    tasks = [Task({"alpha": a}, mixing_alpha, {**common, "alpha": a}, {"memory": need}) for a in todo]
    distributed = args.workers is not None or args.scheduler is not None
    try:
        if args.json and not distributed and store is None:
            for t in progress(tasks, args, "mixing", total=len(tasks)):  # JSON after every α: nothing lost
                results.extend(run_sweep([t], progress=False))
                write_json_fast(args.json, {**header, "states": lat.points, "results": results})
        else:
            results.extend(run_sweep(tasks, store=store, resume=args.resume, desc="mixing", **sweep_kwargs(args)))
    finally:
        if store is not None:
            store.close()
    results.sort(key=lambda r: -r["alpha"])

    print(
        f"# {spec.problem.name}: {args.method.upper()} chain on {lat.size} states ({grid_label(lat)}), "
        f"noise {spec.noise.describe()}, ε={args.eps:g}"
    )
    print_table(
        ["alpha", "mixing_time", "exact", "relaxation_time", "lower_bound", "upper_bound"],
        [
            [
                r["alpha"],
                r["mixing_time"],
                "yes" if r["exact"] else "no (bounds)",
                r["relaxation_time"],
                r["lower_bound"],
                r["upper_bound"],
            ]
            for r in results
        ],
    )
    for r in results:
        if str(r.get("note", "")).startswith("not mixed"):
            print(f"# alpha={r['alpha']:g}: {r['note']}")
        if "bracket_lower" in r:
            print(
                f"# alpha={r['alpha']:g}: {r['bracket_lower']} <= M_eps <= {r['bracket_upper']} "
                f"(certified bracket; valid because {r['bracket_reason']})"
            )
    exact = [(r["alpha"], r["mixing_time"]) for r in results if r["exact"] and r["mixing_time"]]
    if len(exact) >= 2:
        la = np.log([e[0] for e in exact])
        lm = np.log([e[1] for e in exact])
        slope = float(np.polyfit(la, lm, 1)[0])
        print(f"# log-log slope of M_eps against alpha: {slope:.3f} (Theorem 6: M_eps -> inf; ~1/alpha gives -1)")
    if args.out:
        print(f"# results store: {args.out} (srchain.open_results({str(args.out)!r}))")
    if args.json:
        write_json_fast(args.json, {**header, "states": lat.points, "results": results})
    if args.plot:
        _plot(args.plot, spec, results, args.eps)
    return 0


def _plot(path, spec, results, eps):
    from srchain.commands.common import new_figure, save_figure

    fig, ax = new_figure((6, 4))
    ex = [(r["alpha"], r["mixing_time"]) for r in results if r["exact"] and r["mixing_time"]]
    if ex:
        ax.loglog(*zip(*ex, strict=True), "o-", label=f"exact M_ε (ε={eps:g})")
    lb = [(r["alpha"], r["lower_bound"]) for r in results if r["lower_bound"]]
    ub = [(r["alpha"], r["upper_bound"]) for r in results if r["upper_bound"]]
    if lb:
        ax.loglog(*zip(*lb, strict=True), "v--", label="spectral lower bound")
    if ub:
        ax.loglog(*zip(*ub, strict=True), "^--", label="spectral upper bound")
    ax.set_xlabel("α")
    ax.set_ylabel("steps")
    save_figure(fig, ax, path, f"{spec.problem.name}: mixing time grows as α → 0 (Theorem 6)")
