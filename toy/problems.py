"""Registration of the toy problems (entry point ``srchain.problems: toy``).

``toy`` is objective (8) (1-D); ``separable`` and ``coupled`` are its d-dimensional forms (see
:mod:`srchain.toy.objective`). The convex problems of Section 4 register themselves from
:mod:`srchain.toy.convex_problems` when that module exists.
"""

from __future__ import annotations

import numpy as np
from srchain.toy import objective as obj

from srchain.errors import SrchainError
from srchain.problems import Problem, register


def _no_coupling(name, coupling):
    if coupling is not None:
        raise SrchainError(f"--coupling applies to the `coupled` problem, not {name!r}")


def toy(dim=None, coupling=None) -> Problem:
    """Objective (8) on [−4, 10]."""
    _no_coupling("toy", coupling)
    if dim not in (None, 1):
        raise SrchainError("the `toy` problem is 1-dimensional; use `separable` or `coupled` for --dim > 1")
    return Problem(
        name="toy",
        dim=1,
        domain=np.array([obj.TOY_DOMAIN]),
        value=obj.separable_value,
        gradient=obj.separable_gradient,
        grad_kernel=obj.toy_grad_kernel,
        minimizer=np.array([obj.TOY_MINIMIZER]),
        description="objective (8) of the paper",
        extra={"local_minimizers": list(obj.TOY_LOCAL_MINIMIZERS)},
    )


def separable(dim=None, coupling=None) -> Problem:
    """Σ_k f(w_k), objective (8) in every coordinate."""
    _no_coupling("separable", coupling)
    d = 2 if dim is None else int(dim)
    return Problem(
        name="separable",
        dim=d,
        domain=np.tile(obj.TOY_DOMAIN, (d, 1)),
        value=obj.separable_value,
        gradient=obj.separable_gradient,
        grad_kernel=obj.separable_grad_kernel,
        minimizer=np.full(d, obj.TOY_MINIMIZER),
        description=f"Σ_k f(w_k), d={d}",
    )


def coupled(dim=None, coupling=None) -> Problem:
    """Σ_k f(w_k) + (c/2) Σ_k (w_k − w_{k+1})²."""
    d = 2 if dim is None else int(dim)
    c = 1.0 if coupling is None else float(coupling)
    if d < 2:
        raise SrchainError("the `coupled` problem needs --dim >= 2")
    return Problem(
        name="coupled",
        dim=d,
        domain=np.tile(obj.TOY_DOMAIN, (d, 1)),
        value=lambda w: obj.coupled_value(w, c),
        gradient=lambda w: obj.coupled_gradient(w, c),
        grad_kernel=obj.coupled_grad_kernel,
        params=np.array([c]),
        minimizer=np.full(d, obj.TOY_MINIMIZER),
        description=f"Σ_k f(w_k) + ({c:g}/2)·Σ(w_k − w_(k+1))², d={d}",
        extra={"coupling": c},
    )


def register_all() -> None:
    """Entry point: register ``toy``, ``separable``, ``coupled`` (and the convex problems if present)."""
    register("toy", toy, "objective (8) of the paper, 1-D, domain [-4, 10]")
    register("separable", separable, "Σ_k f(w_k) over --dim coordinates (product of 1-D chains)")
    register("coupled", coupled, "Σ_k f(w_k) + (c/2)·Σ(w_k − w_{k+1})², --dim D --coupling C")
    try:
        from srchain.toy import convex_problems
    except ImportError:
        return
    convex_problems.register_all()
