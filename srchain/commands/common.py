"""Pieces shared by the core subcommands: lattice options, resuming a sweep, printing tables, marginal plots."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from srchain.cli import add_noise_options, add_output_options, add_problem_options, positive_float, positive_int
from srchain.errors import SrchainError

GIB = 2**30


def add_chain_options(parser, default_alpha):
    """Options of every exact-chain command."""
    add_problem_options(parser, methods=["sr", "r"], default_method="sr")
    add_noise_options(parser)
    g = parser.add_argument_group("chain")
    g.add_argument("--alpha", type=positive_float, nargs="+", default=list(default_alpha), metavar="A",
                   help="learning rates α (each > 0)")
    g.add_argument("--tol", type=positive_float, default=1e-14,
                   help="transition probabilities below this may be dropped (rows are renormalised and the "
                        "dropped mass reported)")
    g.add_argument("--max-states", type=positive_int, default=20_000_000, metavar="N",
                   help="refuse lattices with more states than this")
    g.add_argument("--max-memory", type=positive_float, default=8.0, metavar="GIB",
                   help="refuse operators whose estimated memory exceeds this many GiB")
    g.add_argument("--resume", action="store_true",
                   help="skip the α values already present in the --json file and keep its results")
    g.add_argument("--list-problems", action="store_true", help="list the registered problems and exit")
    add_output_options(parser)


def list_problems_and_exit(args) -> bool:
    if not getattr(args, "list_problems", False):
        return False
    from srchain.problems import available_problems

    for name, text in available_problems().items():
        print(f"{name:12s} {text}")
    return True


def previous_results(args, command: str, header: dict) -> list[dict]:
    """Results of an earlier run of the same computation, for ``--resume`` (empty if none)."""
    if not args.resume:
        return []
    if not args.json:
        raise SrchainError("--resume needs --json PATH (the file holding the earlier results)")
    if not Path(args.json).exists():
        return []
    from srchain.io import read_json

    old = read_json(args.json)
    for key in ("command", "problem", "method", "delta", "noise", "domain"):
        if key in header and old.get(key) != _jsonish(header[key]):
            raise SrchainError(f"--resume: {args.json} holds a different computation ({key} differs); "
                               f"use another --json path")
    return list(old.get("results", []))


def _jsonish(x):
    from srchain.io import to_jsonable
    import json

    return json.loads(json.dumps(to_jsonable(x)))


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
        out.write("  ".join(c.rjust(w) for c, w in zip(r, widths)) + "\n")
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
    """Title, legend, tight layout, PNG at 120 dpi, and close."""
    import matplotlib.pyplot as plt

    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
