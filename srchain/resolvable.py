"""Noise scales float64 can compute with: one-line refusals, naming the parameter and its limit, before any work.

Two computations overflow for extreme but legal numbers:

* the Student-t law's partial moments :math:`E[(a - T)^+]` square the standardized argument :math:`a`, which
  reaches :math:`(\\mathrm{span}/\\alpha + \\max|\\nabla f|)/\\sigma` on a lattice of width ``span`` (the farthest move
  of one step, Eq. 4, in units of the noise scale); beyond :data:`ARGUMENT_MAX` its square overflows and the
  transition matrix would hold NaN;
* the minibatch model's per-sample perturbations, drawn :math:`N(0, \\sigma^2)`, are squared and summed; beyond
  :data:`SIGMA_MAX` that overflows.

Examples
--------
>>> check_noise_range("student-t", 2.0, [0.1], span=9.0, grad_max=5.0)  # fine
>>> check_noise_range("student-t", 1e-300, [0.1], span=9.0, grad_max=5.0)
Traceback (most recent call last):
...
srchain.errors.SrchainError: --noise student-t: (span/alpha + max|grad f|)/sigma = 9.5e+301 ...
"""

from __future__ import annotations

import math

import numpy as np

from srchain.errors import SrchainError

__all__ = ["ARGUMENT_MAX", "SIGMA_MAX", "check_noise_range", "check_args_noise_range"]

#: The largest standardized argument of the Student-t partial moments srchain evaluates (its square, up to
#: 1e300, stays below float64's largest number 1.8e308 with room for the factor ν + a²).
ARGUMENT_MAX = 1e150
#: The largest --sigma of the minibatch model (the squares of its perturbations stay finite).
SIGMA_MAX = 1e150


def check_noise_range(noise: str, sigma: float, alphas, span: float, grad_max: float, exact: bool = True) -> None:
    """Refuse noise settings whose computation overflows float64, in one line naming the parameter and the limit.

    Parameters
    ----------
    noise : str
        The noise model's name (``gaussian``, ``laplace``, ``student-t``, ``minibatch``).
    sigma : float
        Its scale (``--sigma``).
    alphas : sequence of float or None
        The learning rates of the exact chains (``None``: only the α → 0 limit, Eq. 9, or no exact chain).
    span : float
        The lattice's widest side (the farthest one step can move).
    grad_max : float
        :math:`\\max |\\nabla f|` over the lattice.
    exact : bool
        Whether exact laws are computed (simulations never evaluate the partial moments).

    Raises
    ------
    SrchainError
    """
    sigma = float(sigma)
    if noise == "minibatch" and sigma > SIGMA_MAX:
        raise SrchainError(
            f"--sigma {sigma:g} with --noise minibatch exceeds {SIGMA_MAX:g}: float64 cannot hold the squares of "
            f"its per-sample perturbations; use --sigma <= {SIGMA_MAX:g}"
        )
    if noise != "student-t" or not exact:
        return
    alpha = min(alphas) if alphas else 1.0  # the limit chain moves at most one cell: as α = 1 with span ≥ Δ
    reach = (span / alpha + grad_max) / sigma
    if math.isfinite(reach) and reach <= ARGUMENT_MAX:
        return
    need_sigma = (span / alpha + grad_max) / ARGUMENT_MAX
    hint = f"use --sigma >= {need_sigma:.3g}"
    if alphas and sigma * ARGUMENT_MAX > grad_max:
        hint += f" or --alpha >= {span / (sigma * ARGUMENT_MAX - grad_max):.3g}"
    raise SrchainError(
        f"--noise student-t: (span/alpha + max|grad f|)/sigma = {reach:.3g} at --alpha {alpha:g} and --sigma "
        f"{sigma:g} exceeds {ARGUMENT_MAX:g}, beyond which float64 cannot evaluate the t law's partial moments "
        f"(Eq. 4's move probabilities); {hint}"
    )


def check_args_noise_range(args, problem, lattice, alphas=None, exact: bool = True) -> None:
    """:func:`check_noise_range` for the shared options ``--noise --sigma`` on ``problem`` and ``lattice``."""
    noise = getattr(args, "noise", None)
    if noise not in ("student-t", "minibatch"):
        return
    lo, hi = np.asarray(lattice.lo, dtype=float), np.asarray(lattice.hi, dtype=float)
    span = float(np.max(hi - lo)) if lo.size else 0.0
    grad_max = 0.0
    if noise == "student-t" and exact:
        with np.errstate(all="ignore"):
            g = np.abs(np.asarray(problem.gradient(lattice.points), dtype=float))
        grad_max = float(np.nanmax(g)) if g.size else 0.0
    check_noise_range(noise, args.sigma, alphas, span, grad_max, exact=exact)
