r"""Does stochastic rounding help on the formats people train in? Objective (8) on bf16, fp16, fp8 and fp4 grids.

For one format's grid (:class:`srchain.grids.Grid`) and a gradient noise, per rule (SR, R, SR with k random bits)
and learning rate α, everything is computed exactly from the chains of :mod:`srchain.grid_chains`:

* ``mass_at_minimizer``: π_α's mass on the grid cell(s) of the global minimiser (4.75 for objective (8));
* ``expected_distance``: :math:`\mathbb{E}_{\pi_\alpha}|w - w^*|` (Euclidean in d > 1);
* ``tv_to_limit`` (SR): TV(π_α, π̃), π̃ the α → 0 law of Ũ with the position-dependent Δ (Theorem 5's analogue);
* ``mixing_time``: the exact ε-mixing time (Eq. 10) where the grid is small enough and the chain mixes within
  ``max_steps`` steps, else ``None`` (with a ``note``); ``mixing_time_above``: where it has not mixed by then, the
  steps ``s`` (a power of 2) after which it is certified unmixed, ``M_ε > s`` (objective (8)'s three basins make
  the chain metastable as α shrinks);
* R: its stall set at α (the fixed points of the mean step, :func:`srchain.grid_chains.stall_set`), how many
  states it holds and π_α's mass on it;
* SR with k bits: the exact bias of its mean step against SR's, :math:`\sum_x \pi(x)(\mathrm{drift}_k(x) -
  \mathrm{drift}(x))` with :math:`\mathrm{drift}(x) = \sum_y P(x, y)\,y - x`, and that bias relative to SR's mean
  :math:`|\mathrm{drift}|`;
* BC (``bc=True``; 1-D): the law of :math:`Q_d(w^r)` from its refined transfer operator on the grid
  (:func:`srchain.toy.bc_law.bc_law`, Ulam bins inside the cells between midpoints of neighbouring values), with
  ``mass_at_minimizer`` and ``expected_distance``; ``residual`` holds the refinement's last change in total
  variation. Where that operator does not fit ``max_bytes`` (a grid holding 0 in bf16/fp16: the bins near 0 are
  too fine for the noise's reach) BC is simulated instead (:func:`srchain.simulate.grid.simulate_grid`, the
  occupation of ``bc_steps`` steps of 4 chains started at the minimiser, after a tenth as many burn-in steps, seed
  0) and the row says so.

Every row's ``law`` is ``"exact"`` (the stationary vector of an exact chain or operator), ``"simulated"``, or
``None`` (a chain without a unique stationary law: its numbers are ``None`` and ``note`` says why).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["FormatStudy", "study_format", "default_scale", "DEFAULT_FORMATS", "DEFAULT_DOMAIN"]

DEFAULT_FORMATS = ("bf16", "fp8-e4m3", "fp8-e5m2", "fp4-e2m1")
#: The default box leaves 0 out: bf16's and fp16's values within 1 of zero (about 16,000 of bf16's, down to its
#: subnormals) are each a state reachable from every state near 0, so T_α near 0 is dense (about 10,000 entries per
#: row on [−4, 10] at every α from 1 to 1e-4): solved by :func:`srchain.grid_dense.grid_law_dense` (2–5 s per rule
#: and α on 2 cores). [1, 8] holds objective (8)'s minimisers 2.5, 4.75.
DEFAULT_DOMAIN = (1.0, 8.0)


def default_scale(name: str, domain) -> float:
    """1, or for fp4-e2m1 the smallest power of two whose range (±6·s) covers the domain."""
    if not str(name).startswith("fp4"):
        return 1.0
    top = float(np.max(np.abs(np.asarray(domain, dtype=np.float64))))
    return float(2.0 ** max(0, math.ceil(math.log2(top / 6.0))))


@dataclass
class FormatStudy:
    """The exact results of one format: the grid, SR's limit law, and a row per (rule, α)."""

    name: str
    grid: object
    limit: dict
    rows: list = field(default_factory=list)

    def to_dict(self) -> dict:
        g = self.grid
        return {
            "format": self.name,
            "scale": getattr(g, "scale", None),
            "delta": getattr(g, "delta", None),
            "states": g.points.tolist(),
            "limit": self.limit,
            "results": self.rows,
        }


def _no_law(label, alpha, note) -> dict:
    """A row for a chain without a unique stationary law (reducible): every law-derived number is None."""
    keys = (
        "pi",
        "mass_at_minimizer",
        "expected_distance",
        "tv_to_limit",
        "residual",
        "mixing_time",
        "mixing_time_above",
        "stall_count",
        "stall_mass",
        "stall_values",
        "kbit_bias",
        "kbit_bias_relative",
    )
    return {"method": label, "alpha": float(alpha), "law": None, "note": note, **dict.fromkeys(keys)}


def _drift(P, x):
    return np.asarray(P @ x).ravel() - x


def _gaussian(noise) -> bool:
    from srchain.noise import GaussianNoise

    return type(noise).pdf is GaussianNoise.pdf


def _kbit_bias_of_steps(problem, noise, grid, alpha, bits, pi) -> tuple[float, float]:
    """The k-bit row's ``(bias, relative bias)`` without T_α (the dense and lifted routes keep none): each row's drift
    gap and SR's drift from the step's law (:func:`srchain.grid_kbit.kbit_drift_gap`,
    :func:`~srchain.grid_kbit.sr_drift`), weighed by π_k; the rows of least π are left out while their mass sums to
    at most 2^-60 (a drift is at most the grid's span, so the sums move by less than 2^-60 of it). T_α's own rows
    (where kept) give the same to ~1e-13 (its entries below tol dropped, its drifts differences of sums)."""
    from srchain.grid_kbit import kbit_drift_gap, sr_drift

    order = np.argsort(pi, kind="stable")
    rows = np.sort(order[np.cumsum(pi[order]) > 2.0**-60])
    v = grid.points[:, 0]
    g = np.asarray(problem.gradient(grid.points[rows]), dtype=np.float64)[:, 0]
    gap = kbit_drift_gap(noise, v[rows], g, alpha, v, bits)
    sr = sr_drift(noise, v[rows], g, alpha, v)
    bias = float(pi[rows] @ gap)
    return bias, bias / max(float(pi[rows] @ np.abs(sr)), 1e-300)


def study_format(
    problem,
    noise,
    grid,
    alphas,
    sr_bits=None,
    eps=0.25,
    tol=1e-14,
    max_bytes=None,
    max_exact_states=2000,
    name=None,
    tick=None,
    max_steps=10**8,
    bc=False,
    bc_tol=1e-3,
    bc_steps=10**6,
) -> FormatStudy:
    """Exact comparison of SR, R (and SR with ``sr_bits`` bits, and BC with ``bc``) on ``grid`` at each α (see the
    module docstring).

    ``tick()`` is called after each (rule, α) (a progress bar). ``bc_tol`` is BC's refinement tolerance
    (:func:`srchain.toy.bc_law.bc_law`), ``bc_steps`` the steps of its simulation where the operator does not fit.
    """
    from srchain.errors import NotMixed, SrchainError
    from srchain.grid_chains import grid_limit_chain, stall_set
    from srchain.grid_dense import grid_law_dense, law_route
    from srchain.grids import is_uniform
    from srchain.mixing import mixing_time
    from srchain.operators import limit_chain, transition_matrix
    from srchain.stationary import stationary, tv

    pts = grid.points
    wstar = np.asarray(problem.minimizer, dtype=np.float64)
    dist = np.linalg.norm(pts - wstar, axis=1)
    cells = grid.cells(wstar)
    lim = limit_chain(problem, noise, grid) if is_uniform(grid) else grid_limit_chain(problem, noise, grid)
    pi_lim = stationary(lim.t_tilde, max_bytes=max_bytes).pi
    limit = {
        "alpha0": float(lim.alpha0),
        "pi": pi_lim.tolist(),
        "mass_at_minimizer": float(pi_lim[cells].sum()),
        "expected_distance": float(pi_lim @ dist),
    }
    study = FormatStudy(name=name or getattr(grid, "format", "fixed"), grid=grid, limit=limit)
    x = pts[:, 0] if grid.dim == 1 else None
    rules = [("sr", None), ("r", None)] + ([("sr", sr_bits)] if sr_bits is not None else [])
    for alpha in alphas:
        drift_sr = None
        for method, bits in rules:
            label = method if bits is None else f"sr{bits}"
            op = None
            try:
                # rows spanning nearly every state (a grid holding 0 in bf16/fp16): the dense route, T_α not kept
                if law_route(problem, noise, grid, alpha, method, tol, bits)[0] == "dense":
                    res, _, _ = grid_law_dense(problem, noise, grid, alpha, method, tol, bits, max_bytes=max_bytes)
                else:
                    op = transition_matrix(
                        problem, noise, grid, alpha, method, tol=tol, max_bytes=max_bytes, sr_bits=bits
                    )
                    res = stationary(op, max_bytes=max_bytes)
            except SrchainError as exc:  # e.g. k-bit SR at small α (no up-moves), R on gaps too fine for float64
                row = _no_law(label, alpha, str(exc))
                if method == "r":  # (R's stall set needs no law: the states it keeps at every noise-free step)
                    S = stall_set(problem, grid, alpha, noise)
                    row["stall_count"], row["stall_values"] = int(S.size), pts[S].tolist()
                study.rows.append(row)
                if tick is not None:
                    tick()
                continue
            pi = res.pi
            row = {
                "method": label,
                "alpha": float(alpha),
                "law": "exact",
                "pi": pi.tolist(),
                "note": "",
                "mass_at_minimizer": float(pi[cells].sum()),
                "expected_distance": float(pi @ dist),
                "tv_to_limit": float(tv(pi, pi_lim)) if method == "sr" and bits is None else None,
                "residual": float(res.residual),
                "mixing_time": None,
                "mixing_time_above": None,
                "stall_count": None,
                "stall_mass": None,
                "stall_values": None,
                "kbit_bias": None,
                "kbit_bias_relative": None,
            }
            if op is None:
                route = "the lifted chain (srchain.grid_lifted)" if res.method == "gth-lifted" else "the dense route"
                row["note"] = f"solved by {route}: T_alpha is not kept, so no mixing time"
                if x is not None and method == "sr" and bits is not None and _gaussian(noise):
                    row["kbit_bias"], row["kbit_bias_relative"] = _kbit_bias_of_steps(problem, noise, grid, alpha,
                                                                                      bits, pi)  # fmt: skip
                    row["note"] += "; the k-bit bias from the steps' law (srchain.grid_kbit)"
                elif x is not None and method == "sr":
                    row["note"] += " or drift"
            elif grid.size <= max_exact_states:
                try:  # a metastable chain (R between stall sets) may not mix within max_steps: reported as None
                    mt = mixing_time(
                        op.P,
                        eps=eps,
                        pi=pi,
                        max_exact_states=max_exact_states,
                        max_steps=max_steps,
                        max_bytes=max_bytes,
                    )
                    row["mixing_time"] = mt.mixing_time
                except NotMixed as exc:
                    row["mixing_time_above"] = exc.steps
                    row["note"] = (
                        f"not mixed to eps={eps:g} within max_steps = {max_steps} steps: M_eps > {exc.steps} "
                        "(certified by the exact doubling; a larger max_steps, --max-steps, for the exact value)"
                    )
                except SrchainError as exc:
                    row["note"] = str(exc)
            if method == "r":
                S = stall_set(problem, grid, alpha, noise)
                row["stall_count"] = int(S.size)
                row["stall_mass"] = float(pi[S].sum())
                row["stall_values"] = pts[S].tolist()
            if x is not None and method == "sr" and op is not None:
                d = _drift(op.P, x)
                if bits is None:
                    drift_sr = d
                elif drift_sr is not None:
                    bias = float(pi @ (d - drift_sr))
                    row["kbit_bias"] = bias
                    row["kbit_bias_relative"] = bias / max(float(pi @ np.abs(drift_sr)), 1e-300)
            study.rows.append(row)
            if tick is not None:
                tick()
        if bc and grid.dim == 1:
            study.rows.append(_bc_row(problem, noise, grid, alpha, cells, dist, bc_tol, bc_steps, max_bytes))
            if tick is not None:
                tick()
    return study


def _bc_row(problem, noise, grid, alpha, cells, dist, tol, steps, max_bytes) -> dict:
    """BC's row at ``alpha``: its exact law where the transfer operator fits ``max_bytes``, else simulated."""
    from srchain.toy.bc_law import bc_law

    from srchain.errors import SrchainError
    from srchain.simulate.grid import simulate_grid

    row = _no_law("bc", alpha, "")
    row["law"] = "exact"
    try:
        law = bc_law(problem, noise, grid, alpha, tol=tol, max_memory=max_bytes)
        pi = law.pi
        row["residual"] = float(law.tv_change) if law.levels[1:] else None
        if not law.converged:
            row["note"] = f"BC's refinement stopped before tol={tol:g}: {law.stopped}"
    except SrchainError as exc:  # the operator does not fit: simulate
        run = simulate_grid(problem, noise, grid, "bc", alpha, int(steps), chains=4, seed=0, burn=int(steps) // 10)
        pi = run.occupation()
        row["law"] = "simulated"
        row["note"] = f"simulated ({4 * int(steps):.3g} steps of 4 chains): {exc}"
    row.update(
        pi=pi.tolist(),
        mass_at_minimizer=float(pi[cells].sum()),
        expected_distance=float(pi @ dist),
    )
    return row
