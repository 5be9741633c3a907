"""``srchain convex``: measured E[F(w̄_T) − F(w*)] of SGD, R, SR, BC beside the bounds of Section 4."""

from __future__ import annotations

import argparse

OUTPUTS = {"json": "file", "plot": "image", "out": "store"}
HELP = "convex problems: measured error of SGD/R/SR/BC beside Lemma 1, Theorems 1-4 and Corollary 1"

#: --theorem value -> bound key
THEOREMS = {"1": "theorem1", "2": "theorem2", "3": "theorem3", "4": "theorem4", "corollary1": "corollary1"}


def configure(parser: argparse.ArgumentParser) -> None:
    from srchain.cli import add_output_options, add_problem_options, nonneg_int, positive_float, positive_int

    methods = ["sgd", "r", "sr", "bc", "bc-qs"]
    add_problem_options(
        parser, default_problem="quadratic", methods=methods, default_method=["sr", "bc", "r", "sgd"], multi_method=True
    )
    for action in parser._actions:  # several grid spacings at once
        if action.dest == "delta":
            action.nargs = "+"
            action.default = [0.5, 0.25, 0.125]
            action.help = "quantization steps Δ (each > 0; default 0.5 0.25 0.125)"
    g = parser.add_argument_group("experiment")
    g.add_argument("--steps", type=positive_int, default=100_000, metavar="T", help="iterations T (>= 1)")
    g.add_argument("--seeds", type=positive_int, default=50, metavar="N", help="independent runs per (method, Δ)")
    g.add_argument(
        "--schedule",
        default="auto",
        choices=["auto", "strong", "sqrt"],
        help="strong: α_t = 1/(μ(t+1)) (Theorems 1, 4, Corollary 1); sqrt: α_t = c/√t (Theorems 2, "
        "3); auto: strong if the problem is strongly convex, else sqrt",
    )
    g.add_argument(
        "--c",
        type=positive_float,
        default=None,
        metavar="C",
        help="constant of the sqrt schedule (default D/G, which balances its two T-terms)",
    )
    g.add_argument("--batch", type=positive_int, default=1, metavar="B", help="samples per stochastic gradient")
    g.add_argument(
        "--theorem",
        default=None,
        choices=list(THEOREMS),
        metavar="N",
        help="check one result (1, 2, 3, 4, corollary1): uses its schedule and refuses others",
    )
    g.add_argument("--data-seed", type=nonneg_int, default=0, metavar="N", help="seed of the problem's data")
    from srchain.toy.commands._limits import add_limit_options

    add_limit_options(g, "the sweep")
    add_output_options(parser)
    from srchain.toy.commands._sweep import add_toy_sweep_options

    add_toy_sweep_options(parser)
    parser.epilog = (
        "example: srchain convex --problem quadratic --method sr bc r sgd --delta 0.5 0.25 0.125 "
        "--steps 100000 --seeds 50 --json convex.json --plot convex.png; one task per (method, Δ) on 2 "
        "local workers into a Zarr store: ... --workers 2 --out convex.zarr"
    )


def _schedule_for(args, problem, G):
    from srchain.toy.convex import THEOREM_SCHEDULE, Schedule, default_c

    from srchain.errors import SrchainError

    kind = args.schedule
    if args.theorem is not None:
        want = THEOREM_SCHEDULE[THEOREMS[args.theorem]]
        if kind not in ("auto", want):
            formula = "α_t = 1/(μ(t+1))" if want == "strong" else "α_t = c/√t"
            raise SrchainError(
                f"Theorem {args.theorem} assumes the schedule {formula} (--schedule {want}), not --schedule {kind}"
            )
        kind = want
        if args.theorem == "corollary1" and problem.L2 != 0:
            raise SrchainError(
                f"Corollary 1 is for quadratic problems (L2 = 0); {problem.name!r} has "
                f"L2 = {problem.L2:.3g}: use --theorem 4"
            )
    if kind == "auto":
        kind = "strong" if problem.strongly_convex else "sqrt"
    if kind == "strong" and args.c is not None:
        raise SrchainError("--c sets the sqrt schedule α_t = c/√t; the strong schedule α_t = 1/(μ(t+1)) has none")
    if kind == "strong":
        return Schedule("strong", mu=problem.mu)
    return Schedule("sqrt", c=args.c if args.c is not None else default_c(problem, G))


#: SGD does not quantize: its task sits at Δ = 0 in the results store (the JSON keeps "delta": null).
SGD_DELTA = 0.0


def convex_task(
    problem: str,
    dim,
    data_seed: int,
    domain,
    max_memory: float,
    method: str,
    delta,
    steps: int,
    seeds: int,
    schedule,
    seed: int,
    batch: int,
    G: float,
):
    """One task of ``srchain convex``: ``method`` at ``delta`` over ``seeds`` seeds (``SeedSequence(seed)``'s
    children, the same for every task); ``(record, arrays)`` with the per-seed errors for the results store."""
    import numpy as np
    from srchain.toy.convex import BOUND_KEYS, run_convex, summarize
    from srchain.toy.convex_problems import get_convex_problem

    prob = get_convex_problem(problem, dim=dim, data_seed=data_seed, domain=domain, max_memory=max_memory)
    run = run_convex(prob, method, delta, steps, seeds, schedule, seed=seed, batch=batch)
    rec = summarize(prob, run, G)

    def num(v):
        return np.nan if v is None else float(v)

    arrays = {
        "error": run.errors,
        "error_mean": rec["error_mean"],
        "error_ci": np.asarray(rec["error_ci"], float),
        "bound": np.array([num(rec["bounds"][k]) for k in BOUND_KEYS]),
        "bound_proved": np.array([num(rec["bounds_proved"][k]) for k in BOUND_KEYS]),
        "checkpoint_error": np.asarray(rec["checkpoints"]["error_mean"], dtype=np.float64),
    }
    if method in ("bc", "bc-qs"):
        arrays["error_q"] = run.errors_q
        arrays["checkpoint_error_q"] = np.asarray(rec["checkpoints_q"]["error_mean"], dtype=np.float64)
    if method == "sr":
        arrays["lemma_ratio"] = run.lemma_ratio
    return rec, arrays


def run(args: argparse.Namespace) -> int:
    import math
    import sys

    from srchain.toy.commands._limits import announcer, as_flags, max_memory_bytes
    from srchain.toy.commands._sweep import check_resume
    from srchain.toy.convex import BOUND_KEYS, check_counts, estimate_sweep, slopes_over_delta
    from srchain.toy.convex_problems import CONVEX_PROBLEMS, estimate_problem, get_convex_problem

    from srchain.commands.common import fmt, print_table, sweep_kwargs
    from srchain.errors import SrchainError
    from srchain.results import write_json_fast
    from srchain.simulate import WorkEstimate, check_work
    from srchain.sweep import Task, run_sweep

    check_resume(args)
    if args.coupling is not None:
        raise SrchainError("--coupling does not apply to the convex problems")
    flags = {"steps": "--steps", "seeds": "--seeds", "batch": "--batch", "dim": "--dim"}
    if args.problem in CONVEX_PROBLEMS:
        nbytes, secs = estimate_problem(args.problem, args.dim)
        with as_flags(flags):
            check_counts(args.steps, args.seeds, args.batch)
            check_work(
                WorkEstimate(seconds=secs, bytes=nbytes),
                max_memory_bytes(args),
                args.max_hours,
                what=f"building the {args.problem} problem in dim={args.dim or 10}",
                hint="use a smaller dim",
            )
    with as_flags(flags):
        problem = get_convex_problem(
            args.problem, dim=args.dim, data_seed=args.data_seed, domain=args.domain, max_memory=max_memory_bytes(args)
        )
    deltas = sorted({float(d) for d in args.delta}, reverse=True)
    methods = list(dict.fromkeys(args.method))
    if any(m != "sgd" for m in methods):
        import numpy as np

        scale = float(np.max(np.abs(problem.domain)))
        finest = scale * 2.0**-52
        if deltas[-1] < finest:
            raise SrchainError(
                f"--delta {deltas[-1]:g} is finer than float64 resolves on the box (|w| up to "
                f"{scale:g}: spacing {finest:.2g}); rounding would be the identity. Use --delta >= "
                f"{finest:.2g} or --method sgd"
            )
    G2, how = problem.g_squared(args.batch)
    G = math.sqrt(G2)
    schedule = _schedule_for(args, problem, G)
    for d in deltas:
        if any(m != "sgd" for m in methods):
            problem.grid_box(d)  # refuses a Δ whose grid misses the box or w*
    header = {
        "command": "convex",
        "problem": problem.name,
        "dim": problem.dim,
        "methods": methods,
        "deltas": deltas,
        "steps": args.steps,
        "seeds": args.seeds,
        "seed": args.seed,
        "batch": args.batch,
        "schedule": schedule.to_dict(),
        "domain": problem.domain.tolist(),
        "constants": {**problem.constants(), "G2": G2, "G2_how": how},
    }

    with as_flags(flags):
        check_counts(args.steps, args.seeds, args.batch)
        est = estimate_sweep(problem, methods, deltas, args.steps, args.seeds, args.batch)
        check_work(
            est,
            max_memory_bytes(args),
            args.max_hours,
            what="the convex sweep",
            hint="use fewer steps, seeds or a smaller batch",
        )
    announcer(args, "convex")(est)
    jobs: list = []
    for mth in methods:
        jobs.extend([(mth, None)] if mth == "sgd" else [(mth, float(dl)) for dl in deltas])
    common = {
        "problem": args.problem,
        "dim": args.dim,
        "data_seed": args.data_seed,
        "domain": args.domain,
        "max_memory": max_memory_bytes(args),
        "steps": args.steps,
        "seeds": args.seeds,
        "schedule": schedule,
        "seed": args.seed,
        "batch": args.batch,
        "G": G,
    }
    tasks = []
    for mth, dl in jobs:
        need = float(
            estimate_sweep(
                problem, [mth], [dl if dl is not None else 1.0], args.steps, args.seeds, args.batch, threads=1
            ).bytes
        )
        key = {"method": mth, "delta": SGD_DELTA if dl is None else dl}
        tasks.append(Task(key, convex_task, {**common, "method": mth, "delta": dl}, {"memory": need}))
    from srchain.commands.common import check_sweep_resources

    check_sweep_resources(args, len(tasks))  # --workers: within the CPUs, the tasks, the memory
    store = None
    if args.out:
        store = _open_store(args, problem, header, methods, deltas, jobs, G)
    try:
        with as_flags(flags):
            records = run_sweep(tasks, store=store, resume=args.resume, desc="convex", **sweep_kwargs(args))
    finally:
        if store is not None:
            store.close()
    slopes = slopes_over_delta(records, methods)
    if args.theorem is not None:
        thm = THEOREMS[args.theorem]
        for r in records:
            for k in BOUND_KEYS:
                if k != thm:
                    r["bounds"][k] = r["holds"][k] = r["bounds_proved"][k] = r["holds_proved"][k] = None
                    r["tightness"][k] = None
    out = {**header, "results": records, "slopes": slopes}

    c = header["constants"]
    print(f"{problem.name}: {problem.description}")
    print(
        f"  μ = {fmt(c['mu'])}, L = {fmt(c['L'])}, L2 = {fmt(c['L2'])}, D = {fmt(c['D'])}, d = {c['dim']}, "
        f"G² = {fmt(G2)} ({how})"
    )
    sched = "α_t = 1/(μ(t+1))" if schedule.kind == "strong" else f"α_t = {schedule.c:.4g}/√t"
    print(
        f"  schedule {sched}, T = {args.steps}, {args.seeds} seeds, batch {args.batch}; error = F(w̄_T) − F(w*), "
        f"mean [95% CI]"
    )
    rows = []
    for r in records:
        named = [
            (k, v)
            for k, v in r["bounds"].items()
            if v is not None and not (k == "theorem4" and r["bounds"].get("corollary1") is not None)
        ] or [(None, None)]
        for k, v in named:
            extra = ""
            if "error_q_mean" in r:
                extra = fmt(r["error_q_mean"])
            rows.append(
                [
                    r["method"],
                    "-" if r["delta"] is None else fmt(r["delta"]),
                    fmt(r["error_mean"]),
                    f"[{fmt(r['error_ci'][0])}, {fmt(r['error_ci'][1])}]",
                    extra or "-",
                    k or "-",
                    fmt(v),
                    "-" if k is None else ("yes" if r["holds"][k] else "NO"),
                    "-" if k is None or r["tightness"][k] is None else fmt(r["tightness"][k]),
                    fmt(r["bounds_proved"].get(k)) if k else "-",
                ]
            )
    print_table(
        ["method", "Δ", "error", "95% CI", "error Q(w_r)", "bound", "value", "holds", "bound/error", "as proved"],
        rows,
        out=sys.stdout,
    )
    lem = [r for r in records if "lemma1" in r]
    if lem:
        print("Lemma 1 (mean over t of ‖r_t‖²/α_t ≤ √d·Δ·G):")
        print_table(
            ["Δ", "measured", "bound √dΔG", "holds"],
            [
                [
                    fmt(r["delta"]),
                    fmt(r["lemma1"]["measured"]),
                    fmt(r["lemma1"]["bound"]),
                    "yes" if r["lemma1"]["holds"] else "NO",
                ]
                for r in lem
            ],
            out=sys.stdout,
        )
    if len(deltas) >= 2 and slopes:
        print("slope of log(error) against log(Δ) (every printed floor is linear in Δ: slope 1):")
        srows = []
        for mth, s in slopes.items():
            bs = [f"{k[6:]} {fmt(v, '.2f')}" for k, v in s.items() if k.startswith("bound_") and v is not None]
            srows.append(
                [
                    mth,
                    fmt(s["measured"], ".2f"),
                    fmt(s.get("measured_q"), ".2f") if "measured_q" in s else "-",
                    ", ".join(bs) or "-",
                ]
            )
        print_table(["method", "measured", "measured Q(w_r)", "whole bound"], srows, out=sys.stdout)
    if args.out:
        print(f"# results store: {args.out} (srchain.open_results({str(args.out)!r}))")
    if args.json:
        write_json_fast(args.json, out)
    if args.plot:
        _plot(args.plot, problem, records, deltas)
    sys.stdout.flush()
    return 0


def _open_store(args, problem, header, methods, deltas, jobs, G):
    """The results store: dims method × delta (SGD at Δ = 0), seed, theorem, ci, step; cells without a run (SGD at
    Δ > 0, the others at Δ = 0) are marked done at once and flagged by ``applicable``."""
    import numpy as np
    from srchain.toy.convex import BOUND_KEYS, checkpoints

    from srchain.commands.common import run_attrs

    delta_values = list(deltas) + ([SGD_DELTA] if "sgd" in methods else [])
    keyed = {(m, SGD_DELTA if d is None else d) for m, d in jobs}
    applicable = np.array([[(m, d) in keyed for d in delta_values] for m in methods])
    ck = checkpoints(args.steps)
    grid = ("method", "delta")
    variables = {
        "error": ((*grid, "seed"), "f8"),
        "error_q": ((*grid, "seed"), "f8"),
        "lemma_ratio": ((*grid, "seed"), "f8"),
        "error_mean": (grid, "f8"),
        "error_ci": ((*grid, "ci"), "f8"),
        "bound": ((*grid, "theorem"), "f8"),
        "bound_proved": ((*grid, "theorem"), "f8"),
        "checkpoint_error": ((*grid, "step"), "f8"),
        "checkpoint_error_q": ((*grid, "step"), "f8"),
        "applicable": (grid, applicable),
    }
    coords = {
        "method": methods,
        "delta": delta_values,
        "seed": np.arange(args.seeds),
        "ci": ["lo", "hi"],
        "theorem": list(BOUND_KEYS),
        "step": ck,
    }
    settings = {
        "problem": problem.name,
        "dim": problem.dim,
        "data_seed": args.data_seed,
        "domain": problem.domain.tolist(),
        "steps": args.steps,
        "seeds": args.seeds,
        "seed": args.seed,
        "batch": args.batch,
        "schedule": header["schedule"],
        "theorem": args.theorem,
    }
    spec = _ConvexSpec(problem)
    attrs = run_attrs(args, spec, settings)
    attrs.update(
        {
            "constants": header["constants"],
            "G": G,
            "notes": "error = F(w̄_T) − F(w*) per seed (BC: of w_r; error_q: of Q(w_r)); SGD is stored at "
            "delta = 0 (no quantization; the JSON has delta null); cells where applicable is false "
            "have no run; bound: the theorems' right-hand sides (NaN where one does not apply)",
        }
    )
    from srchain.toy.commands._sweep import open_store

    store = open_store(args, args.out, coords, variables, attrs, settings, grid)
    for i, m in enumerate(methods):
        for j, d in enumerate(delta_values):
            if not applicable[i, j] and not store.is_done({"method": m, "delta": d}):
                store.mark_done({"method": m, "delta": d}, {"applicable": False})
    return store


class _ConvexSpec:
    """What :func:`srchain.commands.common.run_attrs` reads from a spec, for a convex problem (no lattice)."""

    def __init__(self, problem):
        self.problem = _Dict(
            {
                "name": problem.name,
                "dim": problem.dim,
                "description": problem.description,
                **{k: v for k, v in problem.constants().items()},
            }
        )
        self.noise = _Dict({"name": "the problem's own sampling", "batch": None})
        self.lattice = _Dict(
            {"grid": "lo + ΔZ^d per delta (see the delta coordinate)", "domain": problem.domain.tolist()}
        )


class _Dict:
    def __init__(self, d):
        self._d = d

    def to_dict(self):
        return dict(self._d)


def _plot(path, problem, records, deltas):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.6))
    methods = list(dict.fromkeys(r["method"] for r in records))
    colors = {m: f"C{i}" for i, m in enumerate(methods)}
    styles = ["-", "--", ":", "-.", (0, (1, 4)), (0, (5, 2, 1, 2))]
    for r in records:
        ck = r["checkpoints"]
        y = np.maximum(np.array(ck["error_mean"], dtype=float), 1e-16)
        ls = styles[deltas.index(r["delta"]) % len(styles)] if r["delta"] is not None else "-"
        lab = r["method"] if r["delta"] is None else f"{r['method']} Δ={r['delta']:g}"
        ax1.loglog(ck["steps"], y, color=colors[r["method"]], ls=ls, lw=1.2, label=lab)
    ax1.set_xlabel("T")
    ax1.set_ylabel("E[F(w̄_T) − F(w*)]")
    ax1.set_title(f"{problem.name}: error of the ergodic average")
    ax1.legend(fontsize=6, ncol=2)
    for m in methods:
        recs = [r for r in records if r["method"] == m and r["delta"] is not None]
        if not recs:
            continue
        ds = [r["delta"] for r in recs]
        ax2.loglog(ds, [max(r["error_mean"], 1e-16) for r in recs], "o-", color=colors[m], label=f"{m} measured")
        for k in ("theorem1", "theorem2", "theorem3", "theorem4"):
            vals = [r["bounds"][k] for r in recs]
            if all(v is not None and v > 0 for v in vals):
                ax2.loglog(ds, vals, "--", color=colors[m], alpha=0.6, label=f"{m} {k}")
    ax2.set_xlabel("Δ")
    ax2.set_ylabel("error at T / bound")
    ax2.set_title("floor versus Δ (dashed: bounds)")
    ax2.legend(fontsize=6)
    fig.tight_layout()
    save_figure_atomic(fig, path, dpi=120)


def save_figure_atomic(fig, path, dpi: int = 120) -> None:
    """Save ``fig`` to ``path`` through :func:`srchain.io.atomic_write` (a temporary file renamed into place, with
    the permissions a plain ``open`` would give) and close it; the format follows the suffix."""
    from pathlib import Path

    import matplotlib.pyplot as plt

    from srchain.io import atomic_write

    fmt = Path(path).suffix.lower().lstrip(".") or "png"
    try:
        atomic_write(path, lambda fh: fig.savefig(fh, dpi=dpi, format=fmt), binary=True)
    finally:
        plt.close(fig)
