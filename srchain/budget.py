"""Up-front resource checks: refuse work whose memory (or size) cannot fit, before allocating any of it.

Every allocation that grows with a problem (operators, Ũ, the solver's fill, mixing powers, simulators' tables,
minibatch enumeration) is estimated by the module that makes it and passed to :func:`check_memory`, which raises
one :class:`~srchain.errors.SrchainError` naming what was estimated, the limit and what to change. The default
limit is the memory the machine has available now (``MemAvailable`` of ``/proc/meminfo``, or the physical memory
where that file does not exist), so a run is refused instead of being killed by the kernel.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from srchain.errors import MemoryRefusal, SrchainError

__all__ = [
    "GIB",
    "available_memory",
    "default_max_memory",
    "check_memory",
    "format_bytes",
    "check_count",
    "WorkEstimate",
    "check_work",
    "format_duration",
]

GIB = 2**30

#: Share of the available memory a single computation may plan to use by default (the rest is headroom for the
#: interpreter, the page cache and estimates that are a little low).
DEFAULT_SHARE = 0.8


def available_memory() -> int:
    """Bytes of memory available to a new allocation now (Linux ``MemAvailable``; physical memory elsewhere)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - exotic platforms
        return 8 * GIB


def default_max_memory() -> float:
    """The default memory limit in bytes: :data:`DEFAULT_SHARE` of :func:`available_memory`."""
    return DEFAULT_SHARE * available_memory()


def format_bytes(n: float) -> str:
    """``n`` bytes with a unit and enough digits that two different sizes never print alike (``0.0 GiB``)."""
    n = float(n)
    for unit, size in (("GiB", GIB), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.3g} bytes"


def check_memory(need: float, limit: float | None, what: str, hint: str = "", parameter: str = "max_memory") -> None:
    """Raise :class:`~srchain.errors.MemoryRefusal` (a :class:`SrchainError`) when the estimate ``need`` (bytes)
    exceeds ``limit`` (bytes; ``None``: no limit).

    The message reads ``<what> needs about 37 GiB, max_memory is 8 GiB; <hint>``; the command line replaces the
    parameter name by its flag.
    """
    if limit is None:
        return
    if not need <= limit:  # also refuses a NaN or infinite estimate
        raise MemoryRefusal(
            f"{what} needs about {format_bytes(need)}, {parameter} is {format_bytes(limit)}"
            + (f"; {hint}" if hint else "")
        )


def check_count(value: float, limit: float, name: str, hint: str = "") -> None:
    """Raise :class:`SrchainError` when a count that sets the work (steps, seeds, states) exceeds ``limit``."""
    if not value <= limit:
        raise SrchainError(
            f"{name} = {value:.3g} is more than this machine can do (at most {limit:.3g})"
            + (f"; {hint}" if hint else "")
        )


def format_duration(seconds: float) -> str:
    """``seconds`` as a short human duration: ``45 s``, ``12 minutes``, ``1.4 hours``, ``3.2 days``, ``2e+06 years``."""
    s = float(seconds)
    if not math.isfinite(s):
        return "forever"
    if s < 120:
        return f"{s:.2g} s"
    for unit, size, below in (
        ("minutes", 60.0, 3600.0),
        ("hours", 3600.0, 48 * 3600.0),
        ("days", 86400.0, 730 * 86400.0),
    ):
        if s < below:
            return f"{s / size:.3g} {unit}" if unit == "days" else f"{s / size:.2g} {unit}"
    return f"{s / (365.25 * 86400):.2g} years"


@dataclass(frozen=True)
class WorkEstimate:
    """Up-front estimate of a computation: wall time (seconds), peak memory (bytes) and the work it does.

    ``work`` counts ``unit`` (chain-steps, seed-steps, …); ``rate = work / seconds`` is the throughput the
    estimate assumes, quoted in messages ("about 1.4 hours at 2e+08 steps/s"). Estimates add with ``+``.
    """

    seconds: float = 0.0
    bytes: float = 0.0
    work: float = 0.0
    unit: str = "steps"

    def __add__(self, other: WorkEstimate) -> WorkEstimate:
        return WorkEstimate(
            self.seconds + other.seconds,
            self.bytes + other.bytes,
            self.work + other.work,
            self.unit if self.work >= other.work else other.unit,
        )

    @property
    def rate(self) -> float:
        return self.work / self.seconds if self.seconds > 0 else math.inf

    def describe(self) -> str:
        """``about 1.4 hours at 2e+08 steps/s, 3.1 GiB``."""
        at = f" at {self.rate:.2g} {self.unit}/s" if self.work > 0 and self.seconds > 0 else ""
        return f"about {format_duration(self.seconds)}{at}, {format_bytes(self.bytes)}"


def check_work(
    est: WorkEstimate,
    max_memory: float | None = None,
    max_hours: float | None = None,
    what: str = "the simulation",
    hint: str = "use fewer steps or chains",
) -> None:
    """Refuse (:class:`SrchainError`, one line naming the parameters) an estimate over either limit.

    ``max_memory`` in bytes (``None``: :func:`srchain.budget.default_max_memory`, ``math.inf``: no limit);
    ``max_hours`` in hours (``None``: no limit).
    """
    limit = default_max_memory() if max_memory is None else float(max_memory)
    if math.isfinite(limit):
        check_memory(est.bytes, limit, what, hint + " or raise max_memory")
    if max_hours is not None and not est.seconds <= float(max_hours) * 3600.0:
        at = f" at {est.rate:.2g} {est.unit}/s" if est.work > 0 else ""
        raise SrchainError(
            f"{what} would take about {format_duration(est.seconds)}{at}, max_hours is "
            f"{float(max_hours):g}; {hint} or raise max_hours"
        )
