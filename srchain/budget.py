"""Up-front resource checks: refuse work whose memory (or size) cannot fit, before allocating any of it.

Every allocation that grows with a problem (operators, Ũ, the solver's fill, mixing powers, simulators' tables,
minibatch enumeration) is estimated by the module that makes it and passed to :func:`check_memory`, which raises
one :class:`~srchain.errors.SrchainError` naming what was estimated, the limit and what to change. The default
limit is the memory the machine has available now (``MemAvailable`` of ``/proc/meminfo``, or the physical memory
where that file does not exist), so a run is refused instead of being killed by the kernel.
"""
from __future__ import annotations

import os

from srchain.errors import SrchainError

__all__ = ["GIB", "available_memory", "default_max_memory", "check_memory", "format_bytes", "check_count"]

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
    """Raise :class:`SrchainError` when the estimate ``need`` (bytes) exceeds ``limit`` (bytes; ``None``: no limit).

    The message reads ``<what> needs about 37 GiB, max_memory is 8 GiB; <hint>``; the command line replaces the
    parameter name by its flag.
    """
    if limit is None:
        return
    if not need <= limit:  # also refuses a NaN or infinite estimate
        raise SrchainError(f"{what} needs about {format_bytes(need)}, {parameter} is {format_bytes(limit)}"
                           + (f"; {hint}" if hint else ""))


def check_count(value: float, limit: float, name: str, hint: str = "") -> None:
    """Raise :class:`SrchainError` when a count that sets the work (steps, seeds, states) exceeds ``limit``."""
    if not value <= limit:
        raise SrchainError(f"{name} = {value:.3g} is more than this machine can do (at most {limit:.3g})"
                           + (f"; {hint}" if hint else ""))
