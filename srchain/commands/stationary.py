"""``srchain stationary``: exact stationary laws π_α of the SR (or R) chain and their limit π̃ (Theorem 5)."""
from __future__ import annotations

HELP = "exact stationary laws π_α of the SR/R chain and their α→0 limit π̃ (Theorem 5)"


def configure(parser) -> None:
    from srchain.commands.common import add_chain_options

    add_chain_options(parser, default_alpha=[1.0, 0.1, 0.01, 0.001])
    parser.add_argument("--solver", default="auto", choices=["auto", "gth", "dense", "splu"],
                        help="stationary solver (auto picks an exact one for the chain's size)")
    parser.epilog = ("example: srchain stationary --problem toy --method sr --delta 0.5 --noise gaussian --sigma 2 "
                     "--alpha 1 0.1 0.01 0.001 --json out.json --plot out.png")


def run(args) -> int:
    from srchain.budget import check_memory
    from srchain.commands.common import (chain_settings, check_law, check_numbers, list_problems_and_exit, max_bytes,
                                         previous_results, print_table, progress, unique_alphas)
    from srchain.operators import alpha0, estimate, t_tilde, transition_matrix, u_tilde
    from srchain.spec import entropy, spec_from_args
    from srchain.stationary import solver_bytes, stationary, tv

    if list_problems_and_exit(args):
        return 0
    spec = spec_from_args(args, max_states=args.max_states)
    lat = spec.lattice
    cells = spec.minimizer_cells()
    limit_bytes = max_bytes(args)
    header = {"command": "stationary", "problem": spec.problem.name, "dim": spec.problem.dim,
              "method": args.method, "delta": lat.delta, "noise": spec.noise.to_dict(),
              "domain": lat.domain.tolist(), "settings": chain_settings(args, spec, solver=args.solver)}

    def check_row(row):
        check_law(row, "pi", lat.size)
        check_numbers(row, ["tv_to_limit", "residual", "mass_at_minimizer", "entropy"])

    done = previous_results(args, header, lat.points, check_row)
    done_alphas = {float(r["alpha"]) for r in done}
    todo = [a for a in unique_alphas(args.alpha) if a not in done_alphas]
    # everything that grows with the problem, estimated before any of it is allocated: the largest α's operator
    # (the widest window) with its solver, and Ũ with T̃ and their solver for the limit
    if todo:
        op_bytes, nnz = estimate(spec.problem, spec.noise, lat, max(todo), args.method, args.tol)
        check_memory(op_bytes + solver_bytes(lat.size, nnz, args.solver), limit_bytes,
                     f"T_alpha at alpha = {max(todo):g} on {lat.size:.3g} states with its stationary solve "
                     f"({nnz:.3g} entries)", "use a coarser lattice (larger delta), a smaller alpha or a larger tol")
    limit = None
    pi_limit = None
    if args.method == "sr":
        n_u = (2 * lat.dim + 1) * lat.size
        check_memory(3 * 12.0 * n_u + solver_bytes(lat.size, n_u, args.solver), limit_bytes,
                     f"Ũ and T̃ (Eq. 9) on {lat.size:.3g} states with their stationary solve",
                     "use a coarser lattice (larger delta)")
        U = u_tilde(spec.problem, spec.noise, lat)
        a0 = alpha0(U)
        T = t_tilde(U)
        del U
        lim = stationary(T, method=args.solver, shape=lat.shape, max_bytes=limit_bytes - _csr_bytes(T))
        del T
        pi_limit = lim.pi
        limit = {"alpha0": a0, "pi": pi_limit, "residual": lim.residual, "solver": lim.method,
                 "mass_at_minimizer": float(pi_limit[cells].sum()), "entropy": entropy(pi_limit)}

    results = list(done)
    for a in progress(todo, args, "stationary", total=len(todo)):
        op = transition_matrix(spec.problem, spec.noise, lat, a, method=args.method, tol=args.tol,
                               max_bytes=limit_bytes)
        res = stationary(op.P, method=args.solver, shape=lat.shape, max_bytes=limit_bytes - _csr_bytes(op.P))
        results.append({"alpha": float(a), "pi": res.pi,
                        "tv_to_limit": None if pi_limit is None else tv(res.pi, pi_limit),
                        "residual": res.residual, "mass_at_minimizer": float(res.pi[cells].sum()),
                        "entropy": entropy(res.pi), "solver": res.method, "underflow": res.underflow,
                        "dropped_mass": op.dropped_mass, "nnz": int(op.P.nnz)})
        del op
        if args.json:  # write after every α, so an interruption loses nothing
            _write(args, header, lat, limit, spec, results)
    results.sort(key=lambda r: -r["alpha"])

    print(f"# {spec.problem.description or spec.problem.name}; {args.method.upper()} on {lat.size} states "
          f"(Δ={lat.delta:g}); noise {spec.noise.describe()}")
    if limit is not None:
        print(f"# limit π̃ of T̃ (Eq. 9): alpha0 = {limit['alpha0']:.6g}, mass at minimiser "
              f"{limit['mass_at_minimizer']:.4g}, entropy {limit['entropy']:.4g}, min π̃ = {float(pi_limit.min()):.3g}")
    print_table(["alpha", "TV(pi_a, pi~)", "mass@min", "entropy", "residual", "solver"],
                [[r["alpha"], r["tv_to_limit"], r["mass_at_minimizer"], r["entropy"], r["residual"],
                  r.get("solver", "-")] for r in results])
    if args.json and (todo or not done):
        _write(args, header, lat, limit, spec, results)
    if args.plot:
        _plot(args.plot, spec, results, pi_limit)
    return 0


def _csr_bytes(A) -> float:
    return float(A.data.nbytes + A.indices.nbytes + A.indptr.nbytes)


def _write(args, header, lat, limit, spec, results):
    from srchain.io import write_json

    write_json(args.json, {**header, "theorem5": spec.noise.theorem5_assumptions(spec.problem.gradient(lat.points)),
                           "states": lat.points, "limit": limit,
                           "results": sorted(results, key=lambda r: -r["alpha"])})


def _plot(path, spec, results, pi_limit):
    import matplotlib.pyplot as plt
    import numpy as np

    from srchain.commands.common import marginal, new_figure, save_figure

    lat = spec.lattice
    x = lat.axis(0)
    fig, ax = new_figure()
    colors = plt.cm.viridis(np.linspace(0, 0.85, max(1, len(results))))
    for r, c in zip(results, colors):
        ax.step(x, marginal(np.asarray(r["pi"]), lat.shape), where="mid", color=c, label=f"π_α, α={r['alpha']:g}")
    if pi_limit is not None:
        ax.step(x, marginal(pi_limit, lat.shape), "k--", where="mid", lw=1.5, label="π̃ (limit, Eq. 9)")
    if spec.problem.minimizer is not None:
        ax.axvline(spec.problem.minimizer[0], color="r", lw=0.8, ls=":", label="global minimiser")
    ax.set_xlabel("w" if lat.dim == 1 else "w₁ (marginal)")
    ax.set_ylabel("probability")
    save_figure(fig, ax, path, f"{spec.problem.name}: stationary laws, noise {spec.noise.describe()}, Δ={lat.delta:g}")
