"""The ``srchain`` command line: parses, validates, dispatches lazily, prints, writes JSON and plots.

Each subcommand lives in its own module (the core's in :data:`CORE_COMMANDS`, the others registered through the
entry-point group ``srchain.commands``) exposing

* ``HELP`` -- one line for ``srchain --help``;
* ``configure(parser)`` -- adds the command's options (the module must import nothing heavy at top level:
  ``srchain stationary`` never imports torch, and ``srchain --help`` stays fast);
* ``run(args) -> int`` -- does the work and returns the exit status;
* optionally ``OUTPUTS`` -- ``{option: kind}`` of the paths it writes (default :data:`DEFAULT_OUTPUTS`); each given
  path is checked (:func:`srchain.io.check_output_path`) before any work starts.

Mistakes the user can fix raise :class:`srchain.SrchainError`; they are printed as one line,
``srchain: error: <message>``, and the exit status is 2. Anything else is a bug (status 1, with a traceback).
"""

from __future__ import annotations

import argparse
import importlib
import math
import re
import sys
import warnings
from collections.abc import Sequence

from srchain.errors import SrchainError

#: The core's own subcommands; every other one (``srchain.toy``'s, ``srchain.cnn``'s, a plug-in's) is registered
#: through the entry-point group ``srchain.commands`` (``name = "package.module"``), see :func:`commands`.
CORE_COMMANDS = {
    "stationary": "srchain.commands.stationary",
    "mixing": "srchain.commands.mixing",
}
#: Where the packaged commands live when the entry points are not installed (running from a source tree).
_FALLBACK = {
    "simulate": "srchain.toy.commands.simulate",
    "figure2": "srchain.toy.commands.figure2",
    "bigbatch": "srchain.toy.commands.bigbatch",
    "formats": "srchain.toy.commands.formats",
    "convex": "srchain.toy.commands.convex",
    "train": "srchain.cnn.commands.train",
    "table1": "srchain.cnn.commands.table1",
    "plot": "srchain.cnn.commands.plot",
    "explore": "srchain.toy.commands.explore",
}


def commands() -> dict[str, str]:
    """Subcommand -> module: the core's, then those of the entry-point group ``srchain.commands``."""
    from importlib import metadata

    found = {ep.name: ep.value for ep in metadata.entry_points(group="srchain.commands")}
    return {**CORE_COMMANDS, **(found or _FALLBACK)}


#: Output options every command is assumed to have unless it declares its own ``OUTPUTS``.
DEFAULT_OUTPUTS = {"json": "file", "plot": "image"}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless its help text already mentions one."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit status 2, and which reads ``-1e-3`` (a negative
    number in exponent form) as a value, as it reads ``-0.001``: argparse's own pattern (Python ≤ 3.12) took it for
    an option, so ``--domain -6e-5 3e-5`` failed with "expected 2 arguments"."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE_NUMBER

    def error(self, message):  # noqa: D401 - argparse API
        prog = self.prog.split()[0] if self.prog else "srchain"
        sys.stderr.write(f"{prog}: error: {message}\n")
        raise SystemExit(2)


#: A negative number as a command-line value: ``-4``, ``-0.5``, ``-.5``, ``-6e-5``, ``-1.5E+3``, ``-inf``, ``-nan``.
_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|nan)$", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------------------------
# Validating option types (argparse calls them; a ValueError/ArgumentTypeError becomes a one-line error).
# ---------------------------------------------------------------------------------------------------------------
def positive_float(text: str) -> float:
    """A finite number > 0."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(x) or x <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return x


def finite_float(text: str) -> float:
    """Any finite number."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(x):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return x


def nonneg_float(text: str) -> float:
    """A finite number >= 0."""
    x = finite_float(text)
    if x < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return x


def positive_int(text: str) -> int:
    """An integer >= 1 (accepts 1e6-style input when it is an exact integer)."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not math.isfinite(x) or x != int(x) or x < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return int(x)


def nonneg_int(text: str) -> int:
    """An integer >= 0."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not math.isfinite(x) or x != int(x) or x < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return int(x)


class GivenAction(argparse.Action):
    """Store the option's value and note its name in ``args.given``: a grid option that does not apply to the grid
    chosen (``--delta`` with a format, ``--scale`` with the fixed grid) is refused by
    :func:`srchain.spec.spec_from_args`."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.given = {*getattr(namespace, "given", ()), self.dest}


# ---------------------------------------------------------------------------------------------------------------
# Shared option groups (design.md: these names are a stable contract).
# ---------------------------------------------------------------------------------------------------------------
NOISE_NAMES = ("gaussian", "laplace", "student-t", "minibatch")


def add_problem_options(
    parser, default_problem="toy", methods=None, default_method="sr", multi_method=False, formats=False
):
    """``--problem --dim --coupling --method --delta --domain`` (and ``--format --scale --sr-bits`` with
    ``formats``)."""
    g = parser.add_argument_group("problem")
    g.add_argument(
        "--problem",
        default=default_problem,
        metavar="NAME",
        help=f"registered problem (default: {default_problem}); see `srchain stationary --list-problems`",
    )
    g.add_argument(
        "--dim",
        type=positive_int,
        default=None,
        metavar="D",
        help="dimension for d-dimensional problems (separable, coupled; default 2)",
    )
    g.add_argument(
        "--coupling",
        type=nonneg_float,
        default=None,
        metavar="C",
        help="coupling c of the `coupled` problem, (c/2)·Σ(w_k − w_{k+1})² (default 1)",
    )
    if methods is not None:
        if multi_method:
            g.add_argument(
                "--method",
                nargs="+",
                default=[default_method] if isinstance(default_method, str) else list(default_method),
                choices=methods,
                metavar="M",
                help=f"training rule(s): {', '.join(methods)}",
            )
        else:
            g.add_argument(
                "--method",
                default=default_method,
                choices=methods,
                metavar="M",
                help=f"training rule: {', '.join(methods)} (default {default_method})",
            )
    g.add_argument(
        "--delta",
        type=positive_float,
        action=GivenAction,
        default=0.5,
        metavar="Δ",
        help="quantization step Δ of the grid lo + ΔZ (default 0.5)",
    )
    g.add_argument(
        "--domain",
        type=finite_float,
        nargs=2,
        default=None,
        metavar=("LO", "HI"),
        help="box [LO, HI]^d holding the lattice (default: the problem's own)",
    )
    if formats:
        add_format_options(g)
    return g


def add_format_options(g) -> None:
    """``--format --scale --sr-bits``: the grid of a number format (srchain.grids) and SR with k random bits."""
    from srchain.grids import format_arg

    g.add_argument(
        "--format",
        default="fixed",
        type=format_arg,
        metavar="NAME",
        help="grid of the weights: fixed (lo + ΔZ, --delta), bf16, fp16, fp8-e4m3 (fp8), fp8-e5m2 (e5m2), "
        "fp4-e2m1 (fp4) (the format's values in the domain; default fixed)",
    )
    g.add_argument(
        "--scale",
        type=positive_float,
        action=GivenAction,
        default=1.0,
        metavar="S",
        help="block scale of the format's values, a power of two (fp4-e2m1 covers ±6·S; default 1)",
    )
    g.add_argument(
        "--sr-bits",
        type=int,
        default=None,
        metavar="K",
        help="SR with K random bits (1…32: the rounding probability truncated to K bits, as hardware SR); "
        "default: exact SR",
    )


def add_noise_options(parser, default_sigma=2.0):
    """``--noise --sigma --nu --batch --samples``."""
    g = parser.add_argument_group("gradient noise")
    g.add_argument(
        "--noise", default="gaussian", choices=NOISE_NAMES, help="noise added to the true gradient (default gaussian)"
    )
    g.add_argument(
        "--sigma",
        type=positive_float,
        default=default_sigma,
        metavar="S",
        help=f"scale of one sample's noise: gaussian std, laplace b, student-t scale; the minibatch "
        f"model's per-sample perturbations are drawn N(0, S²) and centred (default {default_sigma})",
    )
    g.add_argument(
        "--nu",
        type=positive_float,
        default=3.0,
        metavar="NU",
        help="degrees of freedom of the student-t noise (default 3)",
    )
    g.add_argument(
        "--batch",
        type=positive_int,
        default=1,
        metavar="B",
        help="batch size: the gradient noise is the mean of B samples (default 1)",
    )
    g.add_argument(
        "--samples",
        type=positive_int,
        default=16,
        metavar="M",
        help="minibatch noise: number m of per-sample perturbations (default 16)",
    )
    return g


def add_output_options(parser, plot=True):
    """``--seed --json --plot --quiet``."""
    g = parser.add_argument_group("output")
    g.add_argument("--seed", type=nonneg_int, default=0, metavar="N", help="random seed (default 0)")
    g.add_argument("--json", default=None, metavar="PATH", help="write the machine-readable result here")
    if plot:
        g.add_argument("--plot", default=None, metavar="PATH", help="write a PNG figure here")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    return g


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every subcommand configured by its module."""
    from srchain import __version__

    parser = _Parser(
        prog="srchain",
        description="Stochastic rounding as a Markov chain: exact stationary laws, mixing times, simulators and "
        "the CNN benchmark of 'Training Quantized Nets: A Deeper Understanding' (Li et al., 2017).",
    )
    parser.add_argument("--version", action="version", version=f"srchain {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, modname in commands().items():
        module = importlib.import_module(modname)  # light: command modules import their work lazily
        p = sub.add_parser(name, help=module.HELP, description=module.HELP, formatter_class=_HelpFormatter)
        module.configure(p)
        p.set_defaults(_run=module.run, _outputs=dict(getattr(module, "OUTPUTS", DEFAULT_OUTPUTS)))
    return parser


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """srchain's own notes (``UserWarning``) as one line on stderr, ``srchain: warning: …``; others as Python prints
    them."""
    if issubclass(category, UserWarning):
        return f"srchain: warning: {' '.join(str(message).split())}\n"
    return _PYTHON_FORMATWARNING(message, category, filename, lineno, line)


_PYTHON_FORMATWARNING = warnings.formatwarning


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``srchain`` console script."""
    previous, warnings.formatwarning = warnings.formatwarning, _one_line_warning
    try:
        return _main(argv)
    finally:
        warnings.formatwarning = previous


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    try:
        check_outputs(args)
        return int(args._run(args) or 0)
    except SrchainError as exc:
        sys.stderr.write(f"srchain: error: {_as_flags(str(exc), args)}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("srchain: interrupted (results written so far are kept)\n")
        return 130


def _as_flags(message: str, args) -> str:
    """A library message speaks of parameters (``max_memory``, or any name in backticks such as `resume`); on the
    command line they are flags (``--max-memory``): rename every option of this command that the message names,
    and keep it on one line."""
    import re

    known = {k for k in vars(args) if not k.startswith("_")}
    message = re.sub(
        r"`(\w+)`", lambda m: "--" + m.group(1).replace("_", "-") if m.group(1) in known else m.group(1), message
    )  # `name` marks a parameter explicitly
    for name in sorted(vars(args), key=len, reverse=True):
        if "_" in name.strip("_") and not name.startswith("_"):
            message = re.sub(rf"(?<![\w-]){re.escape(name)}(?!\w)", "--" + name.replace("_", "-"), message)
    return " ".join(message.split())


def check_outputs(args) -> None:
    """Check every output path the user gave (writable, not a directory, a known image suffix) before any work."""
    from srchain.io import check_output_path

    for option, kind in getattr(args, "_outputs", {}).items():
        value = getattr(args, option, None)
        if value is None:
            continue
        for v in value if isinstance(value, (list, tuple)) else [value]:
            check_output_path(v, kind, name="--" + option.replace("_", "-"))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
