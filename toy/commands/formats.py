"""``srchain formats``: SR against R (and SR with k random bits) on bf16, fp16, fp8 and fp4 grids, exactly."""

from __future__ import annotations

HELP = (
    "does stochastic rounding help on bf16/fp16/fp8/fp4 grids? exact laws (SR, R, BC), stall sets, mixing, k-bit bias"
)
OUTPUTS = {"json": "file", "plot": "dir", "out": "store"}


def configure(parser) -> None:
    from srchain.toy.formats import DEFAULT_DOMAIN, DEFAULT_FORMATS

    from srchain.cli import add_noise_options, add_output_options, finite_float, positive_float, positive_int
    from srchain.commands.common import add_max_steps
    from srchain.grids import format_arg

    g = parser.add_argument_group("formats")
    g.add_argument(
        "--formats",
        nargs="+",
        default=list(DEFAULT_FORMATS),
        type=format_arg,
        metavar="NAME",
        help="formats to compare: bf16 fp16 fp8-e4m3 fp8-e5m2 fp4-e2m1 fixed",
    )
    g.add_argument("--problem", default="toy", metavar="NAME", help="registered problem (default toy: objective (8))")
    g.add_argument(
        "--domain",
        type=finite_float,
        nargs=2,
        default=list(DEFAULT_DOMAIN),
        metavar=("LO", "HI"),
        help="box [LO, HI] (default 1 8: bf16/fp16 near 0 make T_α dense, see the docs)",
    )
    g.add_argument("--delta", type=positive_float, default=0.25, metavar="Δ", help="spacing of the fixed grid")
    g.add_argument(
        "--scale",
        type=positive_float,
        default=None,
        metavar="S",
        help="block scale, a power of two (default 1; fp4-e2m1: the smallest covering the domain)",
    )
    g.add_argument("--sr-bits", type=int, default=4, metavar="K", help="also SR with K random bits (1…32; default 4)")
    g.add_argument(
        "--alpha",
        type=positive_float,
        nargs="+",
        default=[0.1, 0.01, 0.001],
        metavar="A",
        help="learning rates α",
    )
    g.add_argument("--eps", type=positive_float, default=0.25, help="ε of the mixing time (Eq. 10)")
    add_max_steps(g, 10**8, "the row then gives the steps certified unmixed, '>S' in the table")
    g.add_argument("--no-bc", action="store_true", help="leave BC out (by default its law is computed per α)")
    g.add_argument(
        "--bc-tol",
        type=positive_float,
        default=1e-3,
        metavar="TOL",
        help="BC's transfer operator is refined until its law moves less than TOL in TV (default 1e-3)",
    )
    g.add_argument(
        "--bc-steps",
        type=positive_int,
        default=10**6,
        metavar="N",
        help="steps per chain (4 chains) of BC's simulation where its operator does not fit in memory",
    )
    g.add_argument(
        "--max-exact-states", type=positive_int, default=2000, metavar="N", help="exact mixing times up to N states"
    )
    g.add_argument("--max-states", type=positive_int, default=200_000, metavar="N", help="refuse larger grids")
    g.add_argument(
        "--max-memory", type=positive_float, default=None, metavar="GIB", help="refuse work estimated above this"
    )
    g.add_argument("--out", default=None, metavar="PATH", help="results store: PATH.nc or PATH.zarr")
    add_noise_options(parser)
    add_output_options(parser, plot=False)
    parser.add_argument("--plot", default=None, metavar="DIR", help="write formats-<format>.png figures into DIR")
    parser.epilog = (
        "example: srchain formats --formats bf16 fp8-e4m3 fp4-e2m1 --sigma 2 --alpha 0.1 0.01 --json f.json "
        "--plot figs/"
    )


def _check(args):
    from srchain.errors import SrchainError
    from srchain.grids import canonical_format
    from srchain.rounding import check_sr_bits

    args.formats = list(dict.fromkeys(canonical_format(name) for name in args.formats))
    check_sr_bits(args.sr_bits)
    if args.domain[0] >= args.domain[1]:
        raise SrchainError(f"--domain {args.domain[0]:g} {args.domain[1]:g} is empty; give LO < HI")
    if not 0 < args.eps < 1:
        raise SrchainError("--eps must be in (0, 1)")
    from srchain.toy.bc_law import TOL_MIN

    if not TOL_MIN <= args.bc_tol < 1:
        raise SrchainError(f"--bc-tol must be in [{TOL_MIN:g}, 1), got {args.bc_tol:g}")


def run(args) -> int:
    import math

    import numpy as np
    from srchain.toy.formats import default_scale, study_format

    from srchain.budget import GIB, check_memory, default_max_memory
    from srchain.commands.common import print_table, progress
    from srchain.grid_chains import grid_estimate
    from srchain.grid_dense import law_route
    from srchain.grids import Grid, grid_label
    from srchain.noise import make_noise
    from srchain.problems import get_problem
    from srchain.results import write_json_fast

    _check(args)
    problem = get_problem(args.problem, domain=tuple(args.domain))
    if problem.dim != 1:
        from srchain.errors import SrchainError

        raise SrchainError("srchain formats compares 1-D problems; use --problem toy (or a 1-D problem)")
    noise = make_noise(args.noise, sigma=args.sigma, nu=args.nu, batch=args.batch, samples=args.samples, seed=0)
    limit = default_max_memory() if args.max_memory is None else args.max_memory * GIB
    grids = []
    for name in args.formats:  # every grid and its memory are checked before any work
        scale = args.scale if args.scale is not None else default_scale(name, args.domain)
        grid = Grid.of(name, problem.domain, delta=args.delta, scale=scale, max_states=args.max_states)
        # a grid holding 0 in bf16/fp16 (rows spanning nearly every state) takes the dense route: n × n rates
        route, need = law_route(problem, noise, grid, max(args.alpha))
        what = f"the {route} route's T_alpha on the {grid_label(grid)} ({grid.size} states)"
        if route == "sparse" and not math.isfinite(need):  # the fixed grid: T_alpha in CSR and its solve
            need, nnz = grid_estimate(problem, noise, grid, max(args.alpha), "sr", 1e-14)
            need += 12.0 * nnz
        check_memory(
            need,
            limit,
            f"{what} with its solve",
            "use a smaller --domain (a format's grid is finest near 0) or smaller --alpha",
        )
        grids.append((name, grid))
    total = len(grids) * len(args.alpha) * ((3 if args.sr_bits else 2) + (0 if args.no_bc else 1))
    bar = progress(range(total), args, "formats", total=total)
    studies = []
    for name, grid in grids:
        studies.append(
            study_format(
                problem,
                noise,
                grid,
                args.alpha,
                sr_bits=args.sr_bits,
                eps=args.eps,
                max_bytes=limit,
                max_exact_states=args.max_exact_states,
                name=name,
                tick=lambda: bar.update(1),
                bc=not args.no_bc,
                bc_tol=args.bc_tol,
                bc_steps=args.bc_steps,
                max_steps=args.max_steps,
            )
        )
    bar.close()
    print(f"# {problem.name} on [{args.domain[0]:g}, {args.domain[1]:g}], noise {noise.describe()}")
    for st in studies:
        lim = st.limit
        print(
            f"\n## {grid_label(st.grid)}: {st.grid.size} states; SR's limit π̃ (α→0): alpha0 {lim['alpha0']:.3g}, "
            f"mass@min {lim['mass_at_minimizer']:.3g}, E|w−w*| {lim['expected_distance']:.3g}"
        )
        rows = [
            [
                r["method"],
                r["law"],
                r["alpha"],
                r["mass_at_minimizer"],
                r["expected_distance"],
                r["tv_to_limit"],
                r["mixing_time"] if r.get("mixing_time_above") is None else f">{r['mixing_time_above']:.2g}",
                r["stall_count"],
                r["stall_mass"],
                r["kbit_bias"],
            ]
            for r in st.rows
        ]
        print_table(
            ["rule", "law", "alpha", "mass@min", "E|w-w*|", "TV(pi,pi~)", "t_mix", "stalls", "stall mass", "bias"], rows
        )
        for r in st.rows:
            if r.get("note"):
                print(f"#   {r['method']} at alpha={r['alpha']:g}: {' '.join(r['note'].split())}")  # (whole, one line)
    doc = {
        "command": "formats",
        "problem": problem.name,
        "domain": [list(map(float, args.domain))],
        "noise": noise.to_dict(),
        "sr_bits": args.sr_bits,
        "eps": args.eps,
        "bc_tol": None if args.no_bc else args.bc_tol,
        "minimizer": np.asarray(problem.minimizer).tolist(),
        "formats": [st.to_dict() for st in studies],
    }
    if args.json:
        write_json_fast(args.json, doc)
    if args.out:
        _store(args.out, doc, studies)
        print(f"# results store: {args.out} (srchain.open_results({str(args.out)!r}))")
    if args.plot:
        from pathlib import Path

        Path(args.plot).mkdir(parents=True, exist_ok=True)
        for st in studies:
            _figure(Path(args.plot) / f"formats-{st.name}.png", st, problem, noise)
        print(f"# figures: {Path(args.plot) / 'formats-<format>.png'}")
    return 0


def _store(path, doc, studies) -> None:
    """One Dataset: scalars over (format, method, alpha); π over (format, method, alpha, state) padded with NaN;
    the grid's values as the coordinate ``x0`` (format, state)."""
    import numpy as np
    import xarray as xr

    fmts = [st.name for st in studies]
    methods = list(dict.fromkeys(r["method"] for st in studies for r in st.rows))
    alphas = list(dict.fromkeys(r["alpha"] for st in studies for r in st.rows))
    n = max(st.grid.size for st in studies)
    shape = (len(fmts), len(methods), len(alphas))
    keys = [
        "mass_at_minimizer",
        "expected_distance",
        "tv_to_limit",
        "mixing_time",
        "mixing_time_above",
        "stall_count",
        "stall_mass",
        "kbit_bias",
        "kbit_bias_relative",
        "residual",
    ]
    scal = {k: np.full(shape, np.nan) for k in keys}
    pi = np.full(shape + (n,), np.nan)
    x0 = np.full((len(fmts), n), np.nan)
    pi_lim = np.full((len(fmts), n), np.nan)
    simulated = np.full(shape, np.nan)  # 1: the row's law was simulated (BC where its operator did not fit)
    for f, st in enumerate(studies):
        m = st.grid.size
        x0[f, :m] = st.grid.points[:, 0]
        pi_lim[f, :m] = st.limit["pi"]
        for r in st.rows:
            i, j = methods.index(r["method"]), alphas.index(r["alpha"])
            simulated[f, i, j] = float(r["law"] == "simulated")
            if r["pi"] is not None:
                pi[f, i, j, :m] = r["pi"]
            for k in keys:
                scal[k][f, i, j] = np.nan if r[k] is None else r[k]
    dims = ("format", "method", "alpha")
    ds = xr.Dataset(
        {
            **{k: (dims, v) for k, v in scal.items()},
            "pi": (dims + ("state",), pi),
            "pi_limit": (("format", "state"), pi_lim),
            "simulated": (dims, simulated),
        },
        coords={"format": fmts, "method": methods, "alpha": alphas, "x0": (("format", "state"), x0)},
        attrs={
            "command": "formats",
            "noise": str(doc["noise"]),
            "problem": doc["problem"],
            "domain": str(doc["domain"]),
            "sr_bits": -1 if doc["sr_bits"] is None else doc["sr_bits"],
        },
    )
    _write_dataset(ds, path)


def _write_dataset(ds, path) -> None:
    import os
    import shutil
    import tempfile
    from pathlib import Path

    from srchain.io import atomic_path
    from srchain.results.regions import write_zarr

    p = Path(path)
    if p.suffix.lower() == ".nc":
        with atomic_path(p) as tmp:
            ds.to_netcdf(tmp, engine="h5netcdf")
        return
    # variable-length strings (the format and method names): Zarr 3 has no stable fixed-width unicode type, as in
    # srchain.results.store
    ds = ds.assign_coords({k: ds[k].astype(object) for k in ds.coords if ds[k].dtype.kind == "U"})
    tmp = Path(tempfile.mkdtemp(prefix=f".{p.name}.", dir=p.parent if str(p.parent) else "."))
    try:
        write_zarr(ds, tmp / "store", None)
        if p.exists():
            shutil.rmtree(p)
        os.replace(tmp / "store", p)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _figure(path, st, problem, noise) -> None:
    """Figure-2-like panels for one format: SR's π_α (top), R's π_α with its stall set (middle), k-bit SR (bottom,
    when computed), with π̃ dashed; the x axis is the weight, bars as wide as the local spacing."""
    import numpy as np

    from srchain.commands.common import new_figure
    from srchain.grids import grid_label

    x = st.grid.points[:, 0]
    edges = np.concatenate([[x[0]], 0.5 * (x[:-1] + x[1:]), [x[-1]]])
    width = np.diff(edges)
    methods = list(dict.fromkeys(r["method"] for r in st.rows))
    import matplotlib.pyplot as plt

    fig, _ = new_figure(figsize=(8, 2.4 * len(methods)))
    plt.close(fig)
    fig, axes = plt.subplots(len(methods), 1, figsize=(8, 2.4 * len(methods)), sharex=True, squeeze=False)
    alphas = list(dict.fromkeys(r["alpha"] for r in st.rows))
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(alphas)))
    for ax, m in zip(axes[:, 0], methods, strict=True):
        for r in st.rows:
            if r["method"] != m or r["pi"] is None:
                continue
            c = colors[alphas.index(r["alpha"])]
            dens = np.asarray(r["pi"]) / width  # mass per unit length: comparable across spacings
            ax.step(x, dens, where="mid", color=c, lw=1.2, label=f"α={r['alpha']:g}")
            if m == "r" and r["alpha"] == alphas[-1] and r["stall_values"]:
                sv = np.asarray(r["stall_values"])[:, 0]
                ax.plot(sv, np.zeros_like(sv), "|", color="crimson", ms=12, label=f"R stalls (α={r['alpha']:g})")
        if m == "sr":
            ax.step(x, np.asarray(st.limit["pi"]) / width, "k--", where="mid", lw=1, label="π̃ (α→0)")
        ax.axvline(float(problem.minimizer[0]), color="grey", lw=0.8, ls=":")
        ax.set_ylabel(f"{m.upper()}: π / spacing")
        ax.legend(fontsize=7, ncol=3)
    axes[-1, 0].set_xlabel("w")
    fig.suptitle(
        f"{problem.name} on the {grid_label(st.grid)} ({st.grid.size} states), noise {noise.describe()}", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
