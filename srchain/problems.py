"""Objectives on a box of R^d: the :class:`Problem` record and the registry of named problems.

A problem knows its value and gradient (vectorised NumPy over points of shape ``(..., d)``), a Numba kernel of the
gradient for the simulators (``grad_kernel(w, params, out)`` writing ``∇f(w)`` into ``out``), its default box
domain and, when known, its global minimiser.

The registry maps names to factories ``factory(dim=None, coupling=None) -> Problem``. The core registers nothing
itself; packages register problems through the entry-point group ``srchain.problems`` (each entry point is a
callable that calls :func:`register`). ``srchain.toy`` registers objective (8) as ``toy``, its d-dimensional forms
``separable`` and ``coupled``, and the convex problems of Section 4. Your own package can do the same, or call
:func:`register` directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata

import numpy as np
from numpy.typing import ArrayLike

from srchain.errors import SrchainError

__all__ = ["Problem", "register", "get_problem", "available_problems"]


@dataclass(frozen=True)
class Problem:
    """An objective ``f`` on the box ``domain`` of R^d.

    Attributes
    ----------
    name : str
    dim : int
    domain : ndarray, shape (d, 2)
        Default box ``[lo_k, hi_k]`` for lattices and clipping.
    value : callable
        ``value(w)`` for ``w`` of shape ``(..., d)`` returns shape ``(...)``.
    gradient : callable
        ``gradient(w)`` for ``w`` of shape ``(..., d)`` returns shape ``(..., d)``.
    grad_kernel : numba dispatcher or None
        ``grad_kernel(w, params, out)``: writes ``∇f(w)`` for one point ``w`` (shape ``(d,)``) into ``out``.
    params : ndarray
        Parameters passed to ``grad_kernel``.
    minimizer : ndarray or None
        The global minimiser, shape ``(d,)``.
    description : str
    """

    name: str
    dim: int
    domain: np.ndarray
    value: Callable
    gradient: Callable
    grad_kernel: Callable | None = None
    params: np.ndarray = field(default_factory=lambda: np.zeros(0))
    minimizer: np.ndarray | None = None
    description: str = ""
    extra: dict = field(default_factory=dict)

    def with_domain(self, domain: ArrayLike) -> Problem:
        """A copy on another box; ``domain`` is ``(lo, hi)`` (same for every coordinate) or shape ``(d, 2)``."""
        return _replace_domain(self, domain)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "dim": self.dim,
            "domain": np.asarray(self.domain).tolist(),
            "minimizer": None if self.minimizer is None else np.asarray(self.minimizer).tolist(),
            **{k: v for k, v in self.extra.items() if isinstance(v, (int, float, str))},
        }


def as_domain(domain, dim: int) -> np.ndarray:
    """Validate a box: ``(lo, hi)`` or ``[(lo_1, hi_1), ...]`` -> array of shape ``(dim, 2)``."""
    arr = np.asarray(domain, dtype=np.float64)
    if arr.shape == (2,):
        arr = np.tile(arr, (dim, 1))
    if arr.shape != (dim, 2):
        raise SrchainError(f"a domain is LO HI (or one pair per coordinate), got {np.asarray(domain).tolist()}")
    if not np.all(np.isfinite(arr)):
        raise SrchainError("the domain's bounds must be finite numbers")
    if np.any(arr[:, 1] <= arr[:, 0]):
        raise SrchainError(f"the domain is empty or inverted (need LO < HI), got {arr.tolist()}")
    return arr


def _replace_domain(problem: Problem, domain) -> Problem:
    from dataclasses import replace

    return replace(problem, domain=as_domain(domain, problem.dim))


_REGISTRY: dict[str, Callable[..., Problem]] = {}
_HELP: dict[str, str] = {}
_PLUGINS_LOADED = False


def register(name: str, factory: Callable[..., Problem], help: str = "") -> None:
    """Register ``factory(dim=None, coupling=None) -> Problem`` under ``name`` (replacing any earlier one)."""
    _REGISTRY[name] = factory
    _HELP[name] = help


def _load_plugins() -> None:
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    for ep in metadata.entry_points(group="srchain.problems"):
        ep.load()()


def available_problems() -> dict[str, str]:
    """Name -> one-line description of every registered problem."""
    _load_plugins()
    return dict(sorted(_HELP.items()))


def get_problem(
    name: str, dim: int | None = None, coupling: float | None = None, domain: ArrayLike | None = None
) -> Problem:
    """Build a registered problem.

    Raises
    ------
    SrchainError
        Unknown name, or options the problem does not take.
    """
    _load_plugins()
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY)) or "(none registered)"
        raise SrchainError(f"unknown problem {name!r}; choose one of {known}")
    problem = _REGISTRY[name](dim=dim, coupling=coupling)
    if domain is not None:
        problem = problem.with_domain(domain)
    return problem
