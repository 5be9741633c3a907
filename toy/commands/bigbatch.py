"""``srchain bigbatch``: SR's limiting law π̃ and its mass on the global minimiser as the batch grows (Section 6.1)."""

from __future__ import annotations

import argparse

OUTPUTS = {"json": "file", "out": "store"}
HELP = "tabulate SR's small-α law π̃ and its mass on the global minimiser as the batch size grows (Section 6.1)"


def configure(parser: argparse.ArgumentParser) -> None:
    from srchain.toy.commands._limits import add_limit_options

    from srchain.cli import NOISE_NAMES, finite_float, nonneg_int, positive_float, positive_int

    g = parser.add_argument_group("big batch")
    g.add_argument("--problem", default="toy", metavar="NAME", help="registered problem (default toy)")
    g.add_argument("--dim", type=positive_int, default=None, metavar="D", help="dimension (separable, coupled)")
    g.add_argument("--delta", type=positive_float, default=0.5, metavar="Δ", help="quantization step (default 0.5)")
    g.add_argument(
        "--noise",
        default="gaussian",
        choices=NOISE_NAMES,
        help="per-sample noise: gaussian (batch mean σ/√B) or minibatch (exact, without replacement)",
    )
    g.add_argument(
        "--sigma", type=positive_float, default=4.0, metavar="S", help="per-sample noise scale (default 4, as figure2)"
    )
    g.add_argument("--nu", type=positive_float, default=3.0, metavar="NU", help="student-t degrees of freedom")
    g.add_argument("--samples", type=positive_int, default=16, metavar="M", help="minibatch: per-sample perturbations")
    g.add_argument(
        "--batch",
        type=positive_int,
        nargs="+",
        default=None,
        metavar="B",
        help="batch sizes (default gaussian 1 4 16 64 256 1024; minibatch 1 2 4 8 12 15 16)",
    )
    g.add_argument(
        "--start",
        type=finite_float,
        default=4.0,
        metavar="X",
        help="start, inside the domain (matters only when the chain is reducible; default 4.0)",
    )
    g.add_argument(
        "--max-states",
        type=positive_int,
        default=20_000_000,
        metavar="N",
        help="refuse lattices with more states than this",
    )
    add_limit_options(g, "the table")
    o = parser.add_argument_group("output")
    o.add_argument("--seed", type=nonneg_int, default=0, metavar="N", help="seed of the minibatch perturbations")
    o.add_argument("--json", default=None, metavar="PATH", help="write the table here")
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    from srchain.toy.commands._sweep import add_toy_sweep_options

    add_toy_sweep_options(parser)
    parser.epilog = (
        "example: srchain bigbatch --batch 1 4 16 64 --json bb.json; one task per batch size on 2 local "
        "workers into a Zarr store: ... --workers 2 --out bb.zarr"
    )


def bigbatch_task(
    problem: str,
    dim,
    delta: float,
    start: float,
    max_states: int,
    batch: int,
    noise: str,
    sigma: float,
    samples: int,
    seed: int,
    nu: float,
):
    """One task of ``srchain bigbatch``: the row of batch size ``batch``; ``(summary, arrays)`` (π̃ to the store)."""
    import math

    import numpy as np
    from srchain.toy.bigbatch import bigbatch_lattice, bigbatch_row
    from srchain.toy.commands._limits import as_flags

    from srchain.problems import get_problem

    prob = get_problem(problem, dim=dim)
    with as_flags({"start": "--start"}):
        lat, w = bigbatch_lattice(prob, delta, start, max_states)
    row = bigbatch_row(prob, lat, w, batch, noise=noise, sigma=sigma, samples=samples, seed=seed, nu=nu)
    summary = {k: v for k, v in row.to_dict().items() if k != "pi_limit"}

    def num(v):
        return math.nan if v is None else float(v)

    arrays = {k: num(getattr(row, k)) for k in _SCALARS}
    arrays["pi_limit"] = np.full(lat.size, np.nan) if row.pi_limit is None else row.pi_limit
    return summary, arrays


#: per-batch scalars stored beside π̃
_SCALARS = ("noise_std", "alpha0", "mass_at_minimizer", "expected_f", "entropy")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from srchain.toy.bigbatch import DEFAULT_BATCHES, BigBatchRow, bigbatch_lattice, estimate_bigbatch
    from srchain.toy.commands._limits import (
        announcer,
        as_flags,
        check_dim,
        check_lattice_size,
        check_minibatch,
        max_memory_bytes,
    )
    from srchain.toy.commands._sweep import check_resume, open_store

    from srchain.commands.common import run_attrs, state_coords, sweep_kwargs
    from srchain.noise import make_noise
    from srchain.problems import get_problem
    from srchain.results import region_reader, write_json_fast
    from srchain.simulate import check_work
    from srchain.spec import ChainSpec
    from srchain.sweep import Task, run_sweep

    check_resume(args)
    check_dim(args.dim)
    batches = list(dict.fromkeys(args.batch or DEFAULT_BATCHES.get(args.noise, (1, 4, 16, 64))))
    from srchain.commands.common import check_sweep_resources

    check_sweep_resources(args, len(batches))  # --workers: within the CPUs, the tasks, the memory
    check_minibatch(args.noise, args.samples, batches)
    problem = get_problem(args.problem, dim=args.dim)
    check_lattice_size(problem.domain, args.delta, args.max_states)
    with as_flags({"start": "--start"}):
        lat, _ = bigbatch_lattice(problem, args.delta, args.start, args.max_states)
        from srchain.resolvable import check_args_noise_range

        check_args_noise_range(args, problem, lat)  # the α → 0 limit chain (Eq. 9): no alpha
        est = estimate_bigbatch(lat, len(batches))
        check_work(
            est,
            max_memory_bytes(args),
            args.max_hours,
            what="the big-batch table",
            hint="use a larger delta or fewer batch sizes",
        )
    announcer(args, "bigbatch")(est)
    settings = {
        "problem": problem.name,
        "dim": problem.dim,
        "delta": args.delta,
        "domain": lat.domain.tolist(),
        "noise": args.noise,
        "sigma": args.sigma,
        "nu": args.nu,
        "samples": args.samples,
        "seed": args.seed,
        "start": args.start,
    }
    store = None
    if args.out:
        spec = ChainSpec(
            problem=problem,
            noise=make_noise(args.noise, sigma=args.sigma, nu=args.nu, batch=1, samples=args.samples, seed=args.seed),
            lattice=lat,
        )
        attrs = run_attrs(args, spec, settings)
        attrs["noise"] = {
            "name": args.noise,
            "sigma": args.sigma,
            "nu": args.nu,
            "samples": args.samples,
            "seed": args.seed,
            "batch": "the batch dimension",
        }
        variables = {
            "pi_limit": (("batch", "state"), "f8"),
            **{k: (("batch",), "f8") for k in _SCALARS},
            "f": (("state",), np.asarray(problem.value(lat.points), dtype=np.float64)),
        }
        store = open_store(
            args,
            args.out,
            {"batch": [int(b) for b in batches], **state_coords(lat)},
            variables,
            attrs,
            settings,
            ["batch"],
        )
    need = float(estimate_bigbatch(lat, 1).bytes)
    common = {
        "problem": args.problem,
        "dim": args.dim,
        "delta": args.delta,
        "start": args.start,
        "max_states": args.max_states,
        "noise": args.noise,
        "sigma": args.sigma,
        "samples": args.samples,
        "seed": args.seed,
        "nu": args.nu,
    }
    tasks = [Task({"batch": int(b)}, bigbatch_task, {**common, "batch": int(b)}, {"memory": need}) for b in batches]
    want_pi = bool(args.json)
    try:
        out = run_sweep(
            tasks,
            store=store,
            resume=args.resume,
            return_arrays=store is None and want_pi,
            desc="bigbatch",
            **sweep_kwargs(args),
        )
    finally:
        if store is not None:
            store.close()
    read = region_reader(args.out) if store is not None and want_pi else None
    rows = []
    for t, r in zip(tasks, out, strict=True):
        summary, arrays = r if isinstance(r, tuple) else (r, None)
        if arrays is None and read is not None:
            arrays = read(dict(t.key), ["pi_limit"])
        pi = None
        if arrays is not None and summary.get("mass_at_minimizer") is not None:
            pi = np.asarray(arrays["pi_limit"], dtype=np.float64)
        rows.append(
            BigBatchRow(
                **{
                    k: summary.get(k)
                    for k in ("batch", "noise", "noise_std", "alpha0", "mass_at_minimizer", "expected_f", "entropy")
                },
                pi_limit=pi,
                note=summary.get("note", ""),
            )
        )
    print(
        f"SR's limit law π̃ on {problem.name} (Δ = {args.delta:g}), {args.noise} noise, per-sample scale {args.sigma:g}"
    )
    print(f"{'batch':>6s} {'std(ξ̄)':>9s} {'alpha0':>9s} {'mass@min':>9s} {'E[f]':>8s} {'entropy':>8s}")
    for r in rows:
        if r.mass_at_minimizer is None:
            print(f"{r.batch:6d} {r.noise_std:9.4f} {'-':>9s} {'-':>9s} {'-':>8s} {'-':>8s}  {r.note}")
        else:
            print(
                f"{r.batch:6d} {r.noise_std:9.4f} {r.alpha0:9.4g} {r.mass_at_minimizer:9.4f} "
                f"{r.expected_f:8.4f} {r.entropy:8.4f}" + (f"  {r.note}" if r.note else "")
            )
    if args.json:
        write_json_fast(
            args.json,
            {
                "command": "bigbatch",
                "problem": problem.name,
                "delta": args.delta,
                "noise": args.noise,
                "sigma": args.sigma,
                "samples": args.samples,
                "seed": args.seed,
                "rows": [r.to_dict() for r in rows],
            },
        )
    if args.out:
        print(f"# results store: {args.out} (srchain.open_results({str(args.out)!r}))")
    return 0
