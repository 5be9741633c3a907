"""Pieces shared by the core subcommands: lattice options, resuming a sweep, printing tables, marginal plots."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from srchain.budget import GIB, default_max_memory
from srchain.cli import add_noise_options, add_output_options, add_problem_options, positive_float, positive_int
from srchain.errors import SrchainError


def add_chain_options(parser, default_alpha):
    """Options of every exact-chain command."""
    add_problem_options(parser, methods=["sr", "r"], default_method="sr", formats=True)
    add_noise_options(parser)
    g = parser.add_argument_group("chain")
    g.add_argument(
        "--alpha",
        type=positive_float,
        nargs="+",
        default=list(default_alpha),
        metavar="A",
        help="learning rates α (each > 0)",
    )
    g.add_argument(
        "--tol",
        type=probability_threshold,
        default=1e-14,
        help="transition probabilities below this may be dropped (rows are renormalised and the "
        "dropped mass reported); 0 < TOL < 1",
    )
    g.add_argument(
        "--max-states",
        type=positive_int,
        default=20_000_000,
        metavar="N",
        help="refuse lattices with more states than this",
    )
    g.add_argument(
        "--max-memory",
        type=positive_float,
        default=None,
        metavar="GIB",
        help="refuse work whose estimated memory (operator, solver fill, mixing powers) exceeds this many "
        "GiB (default: 80%% of the memory available when the command starts)",
    )
    g.add_argument(
        "--resume",
        action="store_true",
        help="skip the α values already present in the --json file and keep its results (every "
        "setting that changes a result must be the same as when it was written)",
    )
    g.add_argument("--list-problems", action="store_true", help="list the registered problems and exit")
    add_output_options(parser)
    add_sweep_options(parser)


def add_max_steps(parser, default: int, then: str) -> None:
    """``--max-steps``: the steps after which an exact mixing time is given up; ``then``, what the row gives."""
    parser.add_argument(
        "--max-steps",
        type=positive_int,
        default=default,
        metavar="N",
        help=f"give up the exact mixing time when the chain has not mixed within this many steps ({then})",
    )


def add_sweep_options(parser) -> None:
    """``--out --workers --scheduler --memory-per-worker`` (the sweep engine, :mod:`srchain.sweep`)."""
    g = parser.add_argument_group("sweep")
    g.add_argument(
        "--out",
        default=None,
        metavar="PATH",
        help="results store: PATH.zarr (Zarr, each task writes its own region; --resume reruns only the "
        "unfinished tasks) or PATH.nc (netCDF); read back with srchain.open_results(PATH)",
    )
    g.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        metavar="N",
        help="run the tasks on a local Dask cluster of N worker processes (default: in this process)",
    )
    g.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run the tasks on an existing Dask cluster, e.g. tcp://head-node:8786",
    )
    g.add_argument(
        "--memory-per-worker",
        type=positive_float,
        default=None,
        metavar="GIB",
        help="memory of each local worker (default: the machine's memory divided by --workers)",
    )


#: Output kinds of the exact-chain commands (checked before any work by srchain.cli).
CHAIN_OUTPUTS = {"json": "file", "plot": "image", "out": "store"}


def check_sweep_args(args) -> None:
    """One-line refusals for sweep options that cannot work together."""
    if args.workers is not None and args.scheduler is not None:
        raise SrchainError("give --workers or --scheduler, not both")
    if args.out is not None and not str(args.out).lower().endswith((".zarr", ".nc")):
        raise SrchainError(f"--out {args.out!r} needs the suffix .zarr (Zarr store) or .nc (netCDF)")
    if args.resume and not (args.out or args.json):
        raise SrchainError("--resume needs --out PATH (a results store) or --json PATH (the earlier results)")
    check_sweep_resources(args)


def check_sweep_resources(args, n_tasks: int | None = None) -> None:
    """``--workers`` within the CPUs, the sweep's ``n_tasks`` and the memory; ``--scheduler`` answering: checked
    before anything is created (see :func:`srchain.sweep.check_workers`, :func:`srchain.sweep.check_scheduler`)."""
    from srchain.sweep import check_scheduler, check_workers

    mem = None if args.memory_per_worker is None else int(args.memory_per_worker * GIB)
    check_workers(args.workers, mem, n_tasks)
    if args.scheduler is not None and n_tasks is None:
        check_scheduler(args.scheduler)


def run_attrs(args, spec, settings: dict) -> dict:
    """The configuration a results store keeps in ``attrs``: command line, versions, problem, noise, lattice."""
    import platform
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for pkg in ("srchain", "numpy", "scipy", "numba", "xarray", "zarr"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "command": " ".join(["srchain", *sys.argv[1:]]) if sys.argv else "srchain",
        "versions": versions,
        "python": platform.python_version(),
        "problem": spec.problem.to_dict(),
        "noise": spec.noise.to_dict(),
        "lattice": spec.lattice.to_dict(),
        "settings": settings,
    }


def state_coords(lattice) -> dict:
    """``x0 … x{d-1}`` on the ``state`` dimension (the lattice points)."""
    pts = lattice.points
    return {f"x{k}": ("state", pts[:, k]) for k in range(pts.shape[1])}


def sweep_kwargs(args) -> dict:
    """The :func:`srchain.sweep.run_sweep` arguments the shared options set."""
    mem = None if args.memory_per_worker is None else int(args.memory_per_worker * GIB)
    return {"workers": args.workers, "scheduler": args.scheduler, "progress": not args.quiet, "memory_limit": mem}


def probability_threshold(text: str) -> float:
    """A number in (0, 1): a probability below which entries may be dropped."""
    import argparse

    x = positive_float(text)
    if x >= 1:
        raise argparse.ArgumentTypeError(f"expected a probability threshold in (0, 1), got {text!r}")
    return x


def max_bytes(args) -> float:
    """``--max-memory`` in bytes (default: :func:`srchain.budget.default_max_memory`)."""
    return default_max_memory() if args.max_memory is None else args.max_memory * GIB


def unique_alphas(alphas) -> list[float]:
    """The α values in the order given, each once (a repeated value is computed once)."""
    return list(dict.fromkeys(float(a) for a in alphas))


def chain_settings(args, spec, **extra) -> dict:
    """Every setting of an exact-chain command that changes its results (stored in its outputs, compared on
    ``--resume``)."""
    lat = spec.lattice
    return {
        "problem": spec.problem.name,
        "dim": spec.problem.dim,
        "coupling": getattr(args, "coupling", None),
        "method": args.method,
        "delta": lat.delta,
        "domain": lat.domain.tolist(),
        "noise": spec.noise.to_dict(),
        "tol": args.tol,
        **grid_settings(args),
        **extra,
    }


def grid_settings(args) -> dict:
    """``format``, ``scale`` and ``sr_bits`` where they differ from the defaults (older files keep matching)."""
    out = {}
    if getattr(args, "format", "fixed") not in (None, "fixed"):
        out["format"] = args.format
        out["scale"] = float(args.scale)
    if getattr(args, "sr_bits", None) is not None:
        out["sr_bits"] = int(args.sr_bits)
    return out


def list_problems_and_exit(args) -> bool:
    if not getattr(args, "list_problems", False):
        return False
    from srchain.problems import available_problems

    for name, text in available_problems().items():
        print(f"{name:12s} {text}")
    return True


def previous_results(args, header: dict, states: np.ndarray, check_row) -> list[dict]:
    """Validated results of an earlier run of the same computation, for ``--resume`` (empty if none).

    ``header["settings"]`` must equal the file's, key by key (a mismatch names the setting); the file's states
    must be this lattice's; every result row is checked by ``check_row(row)`` (which raises ``ValueError`` with a
    reason). Anything else is refused with one line: a broken file is never mixed into new results.
    """
    if not args.resume:
        return []
    if not args.json:
        raise SrchainError("--resume needs --json PATH (the file holding the earlier results)")
    if not Path(args.json).exists():
        return []
    from srchain.io import read_json

    old = read_json(args.json)
    where = f"--resume: {args.json}"
    if not isinstance(old, dict) or old.get("command") != header["command"]:
        raise SrchainError(f"{where} is not the output of `srchain {header['command']}`; use another --json path")
    saved = old.get("settings")
    if not isinstance(saved, dict):
        raise SrchainError(f"{where} records no settings (written by an older srchain?); use another --json path")
    for key, value in header["settings"].items():
        if key not in saved or saved[key] != _jsonish(value):
            raise SrchainError(
                f"{where} was computed with {_flag(key)} {_show(saved.get(key))}, not "
                f"{_show(_jsonish(value))}; use the same settings or another --json path"
            )
    for key in saved:
        if key not in header["settings"]:
            raise SrchainError(f"{where} has a setting this srchain does not know ({key}); use another --json path")
    pts = old.get("states")
    try:
        ok = np.array_equal(np.asarray(pts, dtype=np.float64).reshape(states.shape), states)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise SrchainError(f"{where}: its states are not this lattice's; use another --json path")
    rows = old.get("results")
    if not isinstance(rows, list):
        raise SrchainError(f"{where}: 'results' is not a list; use another --json path")
    seen = set()
    for i, row in enumerate(rows):
        try:
            if not isinstance(row, dict):
                raise ValueError("not an object")
            a = row.get("alpha")
            if isinstance(a, bool) or not isinstance(a, (int, float)) or not math.isfinite(a) or a <= 0:
                raise ValueError(f"alpha {a!r} is not a positive number")
            if float(a) in seen:
                raise ValueError(f"alpha {a!r} appears twice")
            seen.add(float(a))
            check_row(row)
        except ValueError as exc:
            raise SrchainError(f"{where}: result {i} is invalid ({exc}); use another --json path") from None
    return rows


def check_law(row: dict, key: str, n: int) -> None:
    """``row[key]`` is a probability vector of ``n`` finite non-negative entries summing to 1 (to 1e-9)."""
    v = row.get(key)
    if not isinstance(v, list) or len(v) != n:
        raise ValueError(f"{key} has {len(v) if isinstance(v, list) else 'no'} entries, the lattice {n}")
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{key} holds non-numbers") from None
    if not np.all(np.isfinite(a)) or a.min() < 0 or abs(a.sum() - 1) > 1e-9:
        raise ValueError(f"{key} is not a probability vector")


def check_numbers(row: dict, keys, allow_null=True) -> None:
    """Each ``row[key]`` is a finite number (or null when ``allow_null``)."""
    for k in keys:
        v = row.get(k)
        if v is None and allow_null:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{k} = {v!r} is not a finite number")


def _jsonish(x):
    """``x`` as it reads back from a JSON file (tuples become lists, NaN becomes null, …)."""
    import json

    from srchain.io import to_jsonable

    return json.loads(json.dumps(to_jsonable(x)))


def _flag(key: str) -> str:
    return {
        "problem": "--problem",
        "dim": "--dim",
        "coupling": "--coupling",
        "method": "--method",
        "delta": "--delta",
        "domain": "--domain",
        "noise": "noise (--noise/--sigma/--nu/--batch/--samples/--seed)",
    }.get(key, "--" + key.replace("_", "-"))


def _show(v) -> str:
    import json

    return json.dumps(v, ensure_ascii=False)


def fmt(x, spec=".3g") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return str(int(x))
    return format(float(x), spec)


def print_table(header: list[str], rows: list[list], out=None) -> None:
    out = sys.stdout if out is None else out
    cells = [[str(h) for h in header]] + [[fmt(v) if not isinstance(v, str) else v for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for j, r in enumerate(cells):
        out.write("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + "\n")
        if j == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")


def marginal(pi: np.ndarray, shape: tuple, axis: int = 0) -> np.ndarray:
    """Marginal law of coordinate ``axis`` of a law on a box lattice."""
    p = np.asarray(pi).reshape(shape)
    other = tuple(k for k in range(len(shape)) if k != axis)
    return p.sum(axis=other) if other else p


def progress(iterable, args, desc: str, total=None):
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, disable=args.quiet, leave=False, file=sys.stderr)


def new_figure(figsize=(7, 4)):
    """A figure and axes on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)


def save_figure(fig, ax, path, title: str) -> None:
    """Title, legend, tight layout, PNG at 120 dpi written atomically (never through a link), and close."""
    import matplotlib.pyplot as plt

    from srchain.io import write_figure

    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        write_figure(fig, path, dpi=120, name="--plot")  # atomic, never through a symbolic link
    finally:
        plt.close(fig)
