"""Resource options shared by the toy commands: ``--max-memory``, ``--max-hours``, the up-front estimate line.

Not a subcommand (the command line lists its commands in :data:`srchain.cli.COMMANDS`). The library functions
check their estimates against parameters named ``max_memory`` / ``max_hours`` (design.md: library messages name
parameters); :func:`as_flags` turns those names into the flags of the command that called them.
"""

from __future__ import annotations

import contextlib
import math
import re
import sys

#: Default of ``--max-hours``: refuse runs estimated to take longer than a day.
DEFAULT_MAX_HOURS = 24.0
#: Writing results: seconds per JSON number and bytes per number while the document is built and dumped.
JSON_SECONDS_PER_NUMBER = 2e-6
JSON_BYTES_PER_NUMBER = 120.0
#: Matplotlib: seconds and bytes per bar (patch) of a histogram plot.
PLOT_SECONDS_PER_BAR = 1e-4
PLOT_BYTES_PER_BAR = 3000.0

#: library parameter -> command-line flag, for messages raised below the command (word-bounded replacements).
FLAG_NAMES = {
    "max_memory": "--max-memory",
    "max_hours": "--max-hours",
    "burn_in": "--burn-in",
    "max_states": "--max-states",
}


def add_limit_options(group, what: str = "the run") -> None:
    """``--max-memory GIB`` and ``--max-hours H`` (both checked against an estimate before any work)."""
    from srchain.cli import positive_float

    group.add_argument(
        "--max-memory",
        type=positive_float,
        default=None,
        metavar="GIB",
        help=f"refuse {what} when its estimated peak memory exceeds this many GiB (default: 80%% of "
        f"the memory available now)",
    )
    group.add_argument(
        "--max-hours",
        type=positive_float,
        default=DEFAULT_MAX_HOURS,
        metavar="H",
        help=f"refuse {what} when its estimated time exceeds this many hours (default {DEFAULT_MAX_HOURS:g})",
    )


def max_memory_bytes(args) -> float:
    """``--max-memory`` in bytes (its default: :func:`srchain.budget.default_max_memory`)."""
    from srchain.budget import GIB, default_max_memory

    gib = getattr(args, "max_memory", None)
    return default_max_memory() if gib is None else float(gib) * GIB


def announcer(args, label: str):
    """``on_estimate`` callback: one line on stderr when the estimate is over :data:`NOTE_SECONDS` (not with
    ``--quiet``)."""
    from srchain.simulate import NOTE_SECONDS

    def note(est) -> None:
        if not getattr(args, "quiet", False) and est.seconds > NOTE_SECONDS:
            sys.stderr.write(f"srchain: {label}: estimated {est.describe()} (--max-hours {float(args.max_hours):g})\n")
            sys.stderr.flush()

    return note


@contextlib.contextmanager
def as_flags(extra: dict | None = None):
    """Re-raise a :class:`SrchainError` from the library with its parameter names replaced by flags."""
    from srchain.errors import SrchainError

    try:
        yield
    except SrchainError as exc:
        msg = str(exc)
        for name, flag in [*(extra or {}).items(), *FLAG_NAMES.items()]:
            msg = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", flag, msg)
        if msg == str(exc):
            raise
        raise SrchainError(msg) from None


def output_cost(numbers: float = 0.0, bars: float = 0.0):
    """:class:`~srchain.simulate.WorkEstimate` of writing ``numbers`` JSON numbers and plotting ``bars`` bars."""
    from srchain.simulate import WorkEstimate

    return WorkEstimate(
        seconds=numbers * JSON_SECONDS_PER_NUMBER + bars * PLOT_SECONDS_PER_BAR,
        bytes=numbers * JSON_BYTES_PER_NUMBER + bars * PLOT_BYTES_PER_BAR,
    )


def lattice_states(domain, delta: float) -> float:
    """Number of points of the lattice ``lo + ΔZ^d`` in the box ``domain`` (d, 2), as a float (no overflow)."""
    import numpy as np

    dom = np.asarray(domain, dtype=np.float64).reshape(-1, 2)
    with np.errstate(all="ignore"):
        span = (dom[:, 1] - dom[:, 0]) / float(delta)
        per_axis = np.floor(span + 1e-9 * np.maximum(1.0, span)) + 1.0
    return float(np.prod(per_axis)) if np.all(np.isfinite(per_axis)) else math.inf


def check_lattice_size(domain, delta: float, max_states: float | None = None) -> float:
    """Refuse (one line) a lattice too large to index with int64 (or over ``--max-states``) before it is built."""
    from srchain.errors import SrchainError

    n = lattice_states(domain, delta)
    if not n <= 2.0**62:
        raise SrchainError(
            f"the lattice of --delta {delta:g} on the domain would have {n:.3g} states, more than "
            f"can be indexed (2^62); use a larger --delta or a smaller --domain"
        )
    if max_states is not None and n > max_states:
        raise SrchainError(
            f"the lattice has {n:.3g} states, more than the allowed {max_states:.3g}; use a larger "
            f"--delta, a smaller domain, or raise --max-states"
        )
    return n


def check_dim(dim) -> None:
    """Refuse a ``--dim`` whose lattice (at least 2 points per axis) could not be counted, before building it."""
    from srchain.errors import SrchainError

    if dim is not None and dim > 62:
        raise SrchainError(
            f"--dim {dim} is too large: a lattice with at least 2 points per axis has at least 2^{dim} "
            f"states (at most 2^62 can be indexed)"
        )


#: The minibatch noise enumerates every batch (srchain.noise refuses more subsets than this, after drawing the
#: per-sample perturbations): checked first, from the counts alone.
MAX_MINIBATCH_SUBSETS = 2_000_000


def check_minibatch(noise: str, samples: int, batches) -> None:
    """Refuse a minibatch law with more than :data:`MAX_MINIBATCH_SUBSETS` batches before drawing any sample."""
    from srchain.errors import SrchainError

    if noise != "minibatch":
        return
    m = int(samples)
    for b in batches:
        b = int(b)
        if not 1 <= b <= m:
            continue  # the noise model says what is wrong with it
        log_subsets = math.lgamma(m + 1) - math.lgamma(b + 1) - math.lgamma(m - b + 1)
        if log_subsets > math.log(MAX_MINIBATCH_SUBSETS) + 1e-9:
            raise SrchainError(
                f"--noise minibatch enumerates all C({m}, {b}) ≈ {math.exp(min(log_subsets, 700)):.3g} "
                f"batches, more than {MAX_MINIBATCH_SUBSETS:,}; use fewer --samples or a --batch "
                f"nearer 1 or --samples"
            )
