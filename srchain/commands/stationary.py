"""``srchain stationary``: exact stationary laws π_α of the SR (or R) chain and their limit π̃ (Theorem 5).

Each α is one task of the sweep engine (:mod:`srchain.sweep`): in this process by default, on a Dask cluster with
``--workers``/``--scheduler``. A task builds T_α where it runs, solves for π_α, writes its region of the results
store (``--out``) and returns a small summary; π̃ is computed once, here, and read by the tasks from the store.
"""

from __future__ import annotations

import argparse

HELP = "exact stationary laws π_α of the SR/R chain and their α→0 limit π̃ (Theorem 5)"
OUTPUTS = {"json": "file", "plot": "image", "out": "store"}

#: per-α scalars stored beside π_α (name -> dtype)
_SCALARS = {
    "tv_to_limit": "f8",
    "residual": "f8",
    "mass_at_minimizer": "f8",
    "entropy": "f8",
    "dropped_mass": "f8",
    "nnz": "i8",
    "underflow": "i8",
}


def configure(parser: argparse.ArgumentParser) -> None:
    from srchain.commands.common import add_chain_options

    add_chain_options(parser, default_alpha=[1.0, 0.1, 0.01, 0.001])
    parser.add_argument(
        "--solver",
        default="auto",
        choices=["auto", "gth", "dense", "banded", "splu"],
        help="stationary solver (auto picks an exact one for the chain's size; on a format's 1-D grid whose rows span "
        "nearly every state, e.g. bf16 holding 0, dense GTH on an n x n array of rates, which 'dense' also forces)",
    )
    parser.epilog = (
        "example: srchain stationary --problem toy --method sr --delta 0.5 --noise gaussian --sigma 2 "
        "--alpha 1 0.1 0.01 0.001 --json out.json --plot out.png; a sweep on 2 local workers into a "
        "Zarr store: ... --workers 2 --out sweep.zarr"
    )


def solve_alpha(
    options: dict,
    alpha: float,
    method: str,
    tol: float,
    solver: str,
    max_states: int,
    max_bytes: float,
    pi_limit=None,
    limit_store=None,
):
    """One task: π_α on the lattice of ``options`` (see :func:`srchain.spec.spec_options`).

    ``pi_limit`` (the array) or ``limit_store`` (a results store holding ``pi_limit``) gives π̃ for the TV; with
    neither (R has no limit) the TV is ``None``. Returns ``(summary, arrays)`` for :func:`srchain.sweep.run_sweep`.
    """
    import numpy as np

    from srchain.operators import transition_matrix
    from srchain.spec import entropy, spec_from_options
    from srchain.stationary import stationary, tv

    spec = spec_from_options(options, max_states=max_states)
    lat = spec.lattice
    from srchain.grid_dense import law_route

    # rows spanning nearly every state (a grid holding 0 in bf16/fp16): the n × n rates and dense GTH
    if law_route(spec.problem, spec.noise, lat, alpha, method, tol, spec.sr_bits, solver)[0] == "dense":
        from srchain.grid_dense import grid_law_dense
        from srchain.grids import Grid

        assert isinstance(lat, Grid)  # (the dense route is taken on a format's grid only)
        res, nnz, dropped = grid_law_dense(
            spec.problem, spec.noise, lat, alpha, method, tol, spec.sr_bits, max_bytes=max_bytes
        )
    else:
        op = transition_matrix(
            spec.problem, spec.noise, lat, alpha, method=method, tol=tol, max_bytes=max_bytes, sr_bits=spec.sr_bits
        )
        held = float(op.P.data.nbytes + op.P.indices.nbytes + op.P.indptr.nbytes)
        res = stationary(op, method=solver, max_bytes=max_bytes - held)
        nnz, dropped = int(op.P.nnz), float(op.dropped_mass)
    if pi_limit is None and limit_store is not None:
        from srchain.results import open_results

        pi_limit = np.asarray(open_results(limit_store, mask=False, chunks=None)["pi_limit"].values)
    row = {
        "alpha": float(alpha),
        "tv_to_limit": None if pi_limit is None else tv(res.pi, pi_limit),
        "residual": res.residual,
        "mass_at_minimizer": float(res.pi[spec.minimizer_cells()].sum()),
        "entropy": entropy(res.pi),
        "solver": res.method,
        "underflow": int(res.underflow),
        "dropped_mass": float(dropped),
        "nnz": int(nnz),
    }
    arrays = {"pi": res.pi, **{k: (np.nan if row[k] is None else row[k]) for k in _SCALARS}}
    return row, arrays


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from srchain.budget import check_memory
    from srchain.commands.common import (
        chain_settings,
        check_law,
        check_numbers,
        check_sweep_args,
        list_problems_and_exit,
        max_bytes,
        previous_results,
        print_table,
        run_attrs,
        state_coords,
        sweep_kwargs,
        unique_alphas,
    )
    from srchain.grid_dense import law_route
    from srchain.grids import grid_label
    from srchain.operators import estimate, limit_chain
    from srchain.results import region_reader
    from srchain.spec import entropy, spec_from_args, spec_options
    from srchain.stationary import solver_bytes, stationary
    from srchain.sweep import Task, run_sweep

    if list_problems_and_exit(args):
        return 0
    check_sweep_args(args)
    spec = spec_from_args(args, max_states=args.max_states)
    lat = spec.lattice
    cells = spec.minimizer_cells()
    limit_bytes = max_bytes(args)
    settings = chain_settings(args, spec, solver=args.solver)
    header = {
        "command": "stationary",
        "problem": spec.problem.name,
        "dim": spec.problem.dim,
        "method": args.method,
        "delta": lat.delta,
        "noise": spec.noise.to_dict(),
        "domain": lat.domain.tolist(),
        "settings": settings,
    }
    alphas = unique_alphas(args.alpha)
    from srchain.commands.common import check_sweep_resources

    check_sweep_resources(args, len(alphas))  # --workers: within the CPUs, the tasks, the memory

    def check_row(row):
        check_law(row, "pi", lat.size)
        check_numbers(row, ["tv_to_limit", "residual", "mass_at_minimizer", "entropy"])

    use_json_resume = args.resume and not args.out
    done = previous_results(args, header, lat.points, check_row) if use_json_resume else []
    done_alphas = {float(r["alpha"]) for r in done}
    todo = [a for a in alphas if a not in done_alphas]
    # everything that grows with the problem, estimated before any of it is allocated: the largest α's operator
    # (the widest window) with its solver, and Ũ with T̃ and their solver for the limit
    need = 0.0
    route, dense_need = ("sparse", 0.0)
    if todo:
        route, dense_need = law_route(
            spec.problem, spec.noise, lat, max(todo), args.method, args.tol, spec.sr_bits, args.solver
        )
    if route == "dense":  # rows spanning nearly every state (a grid holding 0 in bf16/fp16): n × n rates, dense GTH
        need = dense_need
        check_memory(
            need,
            limit_bytes,
            f"the dense rates of T_alpha at alpha = {max(todo):g} on {lat.size:.3g} states with dense GTH",
            _coarser(lat) + " or a smaller alpha",
        )
    elif todo:
        op_bytes, nnz = estimate(spec.problem, spec.noise, lat, max(todo), args.method, args.tol)
        need = op_bytes + solver_bytes(lat.size, nnz, args.solver)
        check_memory(
            need,
            limit_bytes,
            f"T_alpha at alpha = {max(todo):g} on {lat.size:.3g} states with its stationary solve ({nnz:.3g} entries)",
            _coarser(lat) + ", a smaller alpha or a larger tol",
        )
    limit = None
    pi_limit = None
    if args.method == "sr":
        n_u = (2 * lat.dim + 1) * lat.size
        check_memory(
            3 * 12.0 * n_u + solver_bytes(lat.size, n_u, args.solver),
            limit_bytes,
            f"Ũ and T̃ (Eq. 9) on {lat.size:.3g} states with their stationary solve",
            _coarser(lat),
        )
        lc = limit_chain(spec.problem, spec.noise, lat)
        lim = stationary(lc.t_tilde, method=args.solver, shape=lat.shape, max_bytes=limit_bytes)
        pi_limit = lim.pi
        limit = {
            "alpha0": lc.alpha0,
            "pi": pi_limit,
            "residual": lim.residual,
            "solver": lim.method,
            "mass_at_minimizer": float(pi_limit[cells].sum()),
            "entropy": entropy(pi_limit),
        }
        del lc

    store = None
    if args.out:
        from srchain.results import ResultStore, make_template

        variables: dict[str, tuple] = {
            "pi": (("alpha", "state"), "f8"),
            **{k: (("alpha",), t) for k, t in _SCALARS.items()},
        }
        attrs = run_attrs(args, spec, settings)
        if limit is not None:
            variables["pi_limit"] = (("state",), pi_limit)
            attrs["limit"] = {k: v for k, v in limit.items() if k != "pi"}
        template = make_template({"alpha": alphas, **state_coords(lat)}, variables, attrs)
        store = ResultStore.open_or_create(args.out, template, settings, resume=args.resume, sweep_dims=["alpha"])
    try:
        distributed = args.workers is not None or args.scheduler is not None
        common = {
            "options": spec_options(args),
            "method": args.method,
            "tol": args.tol,
            "solver": args.solver,
            "max_states": args.max_states,
            "max_bytes": limit_bytes,
        }
        if distributed and store is not None and pi_limit is not None:
            common["limit_store"] = str(args.out)  # workers read π̃ from the store: it never travels
        else:
            common["pi_limit"] = pi_limit
        tasks = [Task({"alpha": a}, solve_alpha, {**common, "alpha": a}, {"memory": need}) for a in todo]
        results = list(done)
        if args.json and not distributed and store is None:
            # one task at a time, the JSON rewritten after each: an interruption loses nothing
            from srchain.commands.common import progress

            for t in progress(tasks, args, "stationary", total=len(tasks)):
                ((row, arrays),) = run_sweep([t], progress=False, return_arrays=True)
                results.append({**row, "pi": arrays["pi"]})
                _write(args, header, lat, limit, spec, results)
        else:
            out = run_sweep(
                tasks,
                store=store,
                resume=args.resume,
                return_arrays=store is None and bool(args.json or args.plot),
                desc="stationary",
                **sweep_kwargs(args),
            )
            read = region_reader(args.out) if store is not None and (args.json or args.plot) else None
            for t, r in zip(tasks, out, strict=True):
                row, arrays = r if isinstance(r, tuple) else (r, None)
                if arrays is None and read is not None:
                    arrays = read(dict(t.key), ["pi"])
                results.append({**row, **({"pi": np.asarray(arrays["pi"])} if arrays else {})})
    finally:
        if store is not None:
            store.close()
    results.sort(key=lambda r: -r["alpha"])

    print(
        f"# {spec.problem.description or spec.problem.name}; {args.method.upper()} on {lat.size} states "
        f"({grid_label(lat)}); noise {spec.noise.describe()}"
    )
    if limit is not None:
        print(
            f"# limit π̃ of T̃ (Eq. 9): alpha0 = {limit['alpha0']:.6g}, mass at minimiser "
            f"{limit['mass_at_minimizer']:.4g}, entropy {limit['entropy']:.4g}, min π̃ = {float(pi_limit.min()):.3g}"  # type: ignore[union-attr]
        )
    print_table(
        ["alpha", "TV(pi_a, pi~)", "mass@min", "entropy", "residual", "solver"],
        [
            [r["alpha"], r["tv_to_limit"], r["mass_at_minimizer"], r["entropy"], r["residual"], r.get("solver", "-")]
            for r in results
        ],
    )
    if args.out:
        print(f"# results store: {args.out} (srchain.open_results({str(args.out)!r}))")
    if args.json and (todo or not done):
        _write(args, header, lat, limit, spec, results)
    if args.plot:
        _plot(args.plot, spec, results, pi_limit)
    return 0


def _write(args, header, lat, limit, spec, results):
    from srchain.results import write_json_fast

    write_json_fast(
        args.json,
        {
            **header,
            "theorem5": spec.noise.theorem5_assumptions(spec.problem.gradient(lat.points)),
            "states": lat.points,
            "limit": limit,
            "results": sorted(results, key=lambda r: -r["alpha"]),
        },
    )


def _plot(path, spec, results, pi_limit):
    import matplotlib.pyplot as plt
    import numpy as np

    from srchain.commands.common import marginal, new_figure, save_figure
    from srchain.grids import grid_label

    lat = spec.lattice
    x = lat.axis(0)
    fig, ax = new_figure()
    colors = plt.cm.viridis(np.linspace(0, 0.85, max(1, len(results))))
    for r, c in zip(results, colors, strict=False):  # one colour even for no results
        ax.step(x, marginal(np.asarray(r["pi"]), lat.shape), where="mid", color=c, label=f"π_α, α={r['alpha']:g}")
    if pi_limit is not None:
        ax.step(x, marginal(pi_limit, lat.shape), "k--", where="mid", lw=1.5, label="π̃ (limit, Eq. 9)")
    if spec.problem.minimizer is not None:
        ax.axvline(spec.problem.minimizer[0], color="r", lw=0.8, ls=":", label="global minimiser")
    ax.set_xlabel("w" if lat.dim == 1 else "w₁ (marginal)")
    ax.set_ylabel("probability")
    title = f"{spec.problem.name}: stationary laws, noise {spec.noise.describe()}, {grid_label(lat)}"
    save_figure(fig, ax, path, title)


def _coarser(lat) -> str:
    """The advice that shrinks the state space: a larger Δ on the fixed grid, a smaller domain on a format's grid."""
    from srchain.grids import is_uniform

    if is_uniform(lat):
        return "use a coarser lattice (larger delta)"
    return "use a smaller --domain (a format's grid holds every representable value inside it)"
