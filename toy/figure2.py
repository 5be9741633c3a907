"""Figure 2 of the paper (Section 5.1): SR vs BC on objective (8) as the learning rate shrinks.

Start ``w = 4.0``, ``Δ = 0.5``, ``10⁶`` iterations, ``α ∈ {1, 0.1, 0.01, 0.001}``; histograms of the quantized
weights (BC: ``Qd(w_r)``). Beside each simulated histogram this module puts the exact law it estimates:

* SR: π_α, the stationary law of the exact transition matrix (:func:`srchain.operators.transition_matrix` and
  :func:`srchain.stationary.stationary`), and its small-α limit π̃ (Theorem 5: ``T̃_α`` from Ũ);
* BC: the stationary law of ``Qd(w_r)`` from the refined transfer operator (:mod:`srchain.toy.bc_law`).

Noise. The paper does not say what noise its stochastic gradients carry. The default here is Gaussian with standard
deviation σ = 4 per sample (batch 1): the same order as the gradient of (8) across the basins (|f'| ≤ 2.5 between
0 and 5), so SR can cross the barriers while BC's latent weight, whose steps shrink with α, settles. Under it SR's
law stops changing below α0 ≈ 0.048 (π_0.01 = π_0.001 = π̃ to 4 decimals) with about half its mass on the global
minimiser's cells {4.5, 5.0}, while BC puts more than 0.999 there at α = 0.001 — the paper's picture. Any noise
model, scale and batch can be chosen instead (``--noise --sigma --batch``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from srchain.errors import SrchainError
from srchain.lattice import Lattice
from srchain.noise import NoiseModel, make_noise
from srchain.problems import Problem, get_problem

__all__ = [
    "estimate_figure2",
    "FIG2_ALPHAS",
    "FIG2_START",
    "FIG2_STEPS",
    "FIG2_DELTA",
    "DEFAULT_NOISE",
    "Figure2",
    "figure2_data",
    "plot_figure2",
    "default_noise",
    "figure2_from_dict",
]

FIG2_ALPHAS = (1.0, 0.1, 0.01, 0.001)
FIG2_START = 4.0
FIG2_STEPS = 1_000_000
FIG2_DELTA = 0.5
#: The documented default noise of Figure 2 (see the module docstring).
DEFAULT_NOISE = {"name": "gaussian", "sigma": 4.0, "batch": 1}


def default_noise() -> NoiseModel:
    return make_noise(DEFAULT_NOISE["name"], sigma=DEFAULT_NOISE["sigma"], batch=DEFAULT_NOISE["batch"])


@dataclass(frozen=True)
class Figure2:
    """Everything Figure 2 shows, plus the exact laws.

    ``sim[(method, alpha)]`` are :class:`srchain.simulate.SimulationResult`; ``exact_sr[alpha]`` the π_α of SR,
    ``pi_limit`` π̃; ``bc[alpha]`` :class:`srchain.toy.bc_law.BCLaw`; ``cells`` the minimiser's cells.
    """

    problem: Problem
    noise: NoiseModel
    lattice: Lattice
    alphas: tuple
    steps: int
    chains: int
    start: float
    seed: int
    sim: dict
    exact_sr: dict = field(default_factory=dict)
    pi_limit: np.ndarray | None = None
    alpha0: float | None = None
    bc: dict = field(default_factory=dict)
    cells: np.ndarray | None = None
    seconds: dict = field(default_factory=dict)

    def masses(self) -> list[dict]:
        """Mass on the global minimiser's cells per α: simulated and exact, for BC and SR."""
        rows = []
        for a in self.alphas:
            row = {"alpha": a}
            for m in ("bc", "sr"):
                if (m, a) in self.sim:
                    row[f"{m}_sim"] = self.sim[(m, a)].mass(self.cells)
            if a in self.bc:
                row["bc_exact"] = float(self.bc[a].pi[self.cells].sum())
            if a in self.exact_sr:
                row["sr_exact"] = float(self.exact_sr[a][self.cells].sum())
            rows.append(row)
        return rows

    def to_dict(self) -> dict:
        from srchain.stationary import tv

        results = []
        for a in self.alphas:
            for m in ("bc", "sr"):
                if (m, a) not in self.sim:
                    continue
                r = self.sim[(m, a)]
                d = {
                    "method": m,
                    "alpha": a,
                    "states": self.lattice.points.tolist(),
                    "counts": r.counts.tolist(),
                    "mass_at_minimizer": r.mass(self.cells),
                }
                if m == "sr" and a in self.exact_sr:
                    d["exact"] = {
                        "pi": self.exact_sr[a].tolist(),
                        "tv_sim_exact": tv(r.freq, self.exact_sr[a]),
                        "mass_at_minimizer": float(self.exact_sr[a][self.cells].sum()),
                    }
                if m == "bc" and a in self.bc:
                    law = self.bc[a]
                    d["exact"] = {
                        **law.to_dict(),
                        "tv_sim_exact": tv(r.freq, law.pi),
                        "mass_at_minimizer": float(law.pi[self.cells].sum()),
                    }
                    d["latent"] = {
                        "edges": (self.lattice.lo[0] + r.latent_edges).tolist(),
                        "counts": r.latent_counts[0].tolist(),
                    }
                results.append(d)
        return {
            "command": "figure2",
            "problem": self.problem.name,
            "delta": self.lattice.delta,
            "noise": {**self.noise.to_dict(), "description": self.noise.describe()},
            "domain": self.lattice.domain.tolist(),
            "steps": self.steps,
            "chains": self.chains,
            "start": [self.start],
            "seed": self.seed,
            "minimizer_cells": self.cells.tolist(),
            "limit": None if self.pi_limit is None else {"alpha0": self.alpha0, "pi": self.pi_limit.tolist()},
            "masses": self.masses(),
            "seconds": self.seconds,
            "results": results,
        }


def estimate_figure2(
    problem: Problem,
    noise: NoiseModel,
    lattice: Lattice,
    alphas,
    steps: int,
    chains: int = 1,
    exact: bool = True,
    sampler: str = "step",
    operators=None,
    bc_tol_drop: float = 1e-14,
):
    """:class:`~srchain.simulate.WorkEstimate` of :func:`figure2_data` before any work: the simulation
    (:func:`srchain.simulate.estimate_simulation`; with ``operators`` the jump sampler's leaving probabilities),
    and for the exact laws the SR matrices' stationary solves (about 8 bytes and 1e-8 s per stored entry, times
    the band for the solve) and BC's first transfer-operator level (:func:`srchain.toy.bc_law.level_cost`;
    later levels are checked as refinement goes, see :func:`srchain.toy.bc_law.bc_law`)."""
    from srchain.toy.bc_law import first_level, level_cost

    from srchain.simulate import WorkEstimate, estimate_simulation

    runs = [(m, a) for m in ("bc", "sr") for a in alphas]
    leave = None
    if operators and sampler == "jump":
        leave = {}
        for (m, a), op in operators.items():
            diag = op.P.diagonal()
            leave[(m, a)] = float(np.max(1.0 - diag)) if diag.size else 0.0
    est = estimate_simulation(problem, noise, lattice, runs, steps, chains=chains, sampler=sampler, leave=leave)
    if exact:
        for a in alphas:
            op = (operators or {}).get(("sr", a))
            nnz = float(op.P.nnz) if op is not None else 3.0 * lattice.size
            band = nnz / max(1, lattice.size)
            est = est + WorkEstimate(seconds=nnz * band * 1e-8, bytes=nnz * 8 * 6)
            if lattice.dim == 1:
                need, took = level_cost(problem, noise, lattice, a, first_level(noise, lattice, a), bc_tol_drop)
                est = est + WorkEstimate(seconds=took, bytes=need)
    return est


def figure2_data(
    noise: NoiseModel | None = None,
    alphas=FIG2_ALPHAS,
    steps: int = FIG2_STEPS,
    chains: int = 1,
    start: float = FIG2_START,
    seed: int = 0,
    delta: float = FIG2_DELTA,
    problem: Problem | None = None,
    exact: bool = True,
    bc_tol: float = 1e-3,
    sampler: str = "step",
    progress=None,
    max_memory: float | None = None,
    max_hours: float | None = None,
    extra=None,
    on_estimate=None,
) -> Figure2:
    """Simulate BC and SR at each α (one parallel kernel call) and compute the exact laws.

    Parameters
    ----------
    noise : NoiseModel, optional
        Default :func:`default_noise` (Gaussian, σ = 4, batch 1).
    exact : bool
        Also compute SR's π_α and π̃ and BC's transfer-operator law (1-D problems only).
    bc_tol : float
        BC's refinement tolerance (:func:`srchain.toy.bc_law.bc_law`; at least ``TOL_MIN``, below 1).
    progress : callable, optional
        ``progress(label)`` called as each stage finishes (the CLI passes a tqdm update).
    max_memory, max_hours : float, optional
        Limits on the estimate (:func:`estimate_figure2`), checked before anything runs: bytes (default
        :func:`srchain.budget.default_max_memory`) and hours (default none). SR's transition matrices are built
        first (each checked as it is built), then the estimate, then the simulation and the laws.
    extra : WorkEstimate, optional
        The caller's costs (plotting, writing), added before the check.
    on_estimate : callable, optional
        Called with the checked estimate before the simulation starts.
    """
    from srchain.toy.bc_law import TOL_MIN

    from srchain.budget import check_memory, default_max_memory
    from srchain.simulate import WorkEstimate, _check, check_work, estimate_operator, simulate_many

    tick = progress or (lambda label: None)
    problem = problem or get_problem("toy")
    noise = noise or default_noise()
    lat = Lattice.from_domain(delta, problem.domain, dim=problem.dim)
    cells = lat.cells(problem.minimizer) if problem.minimizer is not None else np.zeros(0, dtype=np.int64)
    alphas = tuple(dict.fromkeys(float(a) for a in alphas))
    for a in alphas:
        _check(steps, chains, 0, a)
    if exact and not TOL_MIN <= float(bc_tol) < 1:
        raise SrchainError(
            f"bc_tol must be in [{TOL_MIN:g}, 1), got {float(bc_tol):g}: changes below {TOL_MIN:g} "
            f"are not resolved by BC's discretised transfer operator"
        )
    runs = [(m, a) for m in ("bc", "sr") for a in alphas]
    mem = default_max_memory() if max_memory is None else float(max_memory)
    ops = {}
    build = WorkEstimate()
    if exact or sampler == "jump":
        from srchain.operators import transition_matrix

        for a in alphas:
            op_est = estimate_operator(problem, noise, lat, a)
            check_memory(
                op_est.bytes,
                mem,
                f"SR's transition matrix at alpha={a:g} on {lat.size:.3g} states",
                "use a larger delta or fewer/smaller alphas" + ("" if exact else " or the step sampler"),
            )
            build = build + WorkEstimate(seconds=op_est.seconds)
        check_work(
            build,
            math.inf,
            max_hours,
            what="building SR's transition matrices",
            hint="use a larger delta or fewer/smaller alphas",
        )
        for a in alphas:
            ops[("sr", a)] = transition_matrix(
                problem, noise, lat, a, method="sr", max_bytes=mem if np.isfinite(mem) else None
            )
    est = (
        estimate_figure2(problem, noise, lat, alphas, steps, chains, exact=exact, sampler=sampler, operators=ops)
        + build
    )
    if extra is not None:
        est = est + extra
    check_work(
        est,
        mem,
        max_hours,
        what="figure2",
        hint="use fewer steps or chains, a larger delta or smaller alphas" + (", a larger bc_tol" if exact else ""),
    )
    if on_estimate is not None:
        on_estimate(est)
    seconds = {}
    t0 = time.perf_counter()
    res = simulate_many(
        problem,
        noise,
        lat,
        runs,
        steps,
        chains=chains,
        start=start,
        seed=seed,
        sampler=sampler,
        operators=ops,
        max_memory=np.inf,
    )
    seconds["simulate"] = time.perf_counter() - t0
    tick("simulate")
    sim = {(r.method, r.alpha): r for r in res}
    exact_sr, bc, pi_limit, a0 = {}, {}, None, None
    if exact:
        from concurrent.futures import ThreadPoolExecutor

        from srchain.toy.bc_law import bc_law

        from srchain.operators import alpha0, t_tilde, u_tilde
        from srchain.stationary import stationary

        # The exact laws are independent: run them on a thread pool (the GTH kernels release the GIL).
        t0 = time.perf_counter()
        max_seconds = None if max_hours is None else float(max_hours) * 3600.0

        def sr_law(a):
            return stationary(ops[("sr", a)].P).pi

        def bc_one(a):
            law = bc_law(problem, noise, lat, a, tol=bc_tol, max_memory=mem, max_seconds=max_seconds)
            tick(f"BC law α={a:g}")
            return law

        with ThreadPoolExecutor(max_workers=2) as pool:
            bc_jobs = {a: pool.submit(bc_one, a) for a in alphas} if lat.dim == 1 else {}
            sr_jobs = {a: pool.submit(sr_law, a) for a in alphas}
            U = u_tilde(problem, noise, lat)
            a0 = alpha0(U)
            pi_limit = stationary(t_tilde(U)).pi
            exact_sr = {a: f.result() for a, f in sr_jobs.items()}
            tick("exact SR laws")
            bc = {a: f.result() for a, f in bc_jobs.items()}
        seconds["exact"] = time.perf_counter() - t0
    return Figure2(
        problem=problem,
        noise=noise,
        lattice=lat,
        alphas=alphas,
        steps=int(steps),
        chains=int(chains),
        start=float(start),
        seed=int(seed),
        sim=sim,
        exact_sr=exact_sr,
        pi_limit=pi_limit,
        alpha0=a0,
        bc=bc,
        cells=cells,
        seconds=seconds,
    )


class _StoredLaw:
    """BC's law read back from :meth:`Figure2.to_dict` (what :func:`plot_figure2` and ``masses`` use)."""

    def __init__(self, d: dict):
        self.pi = np.asarray(d["pi"], dtype=np.float64)
        self.converged = bool(d.get("converged", True))
        self.stopped = d.get("stopped") or ""
        self.tv_change = d.get("tv_change")
        self._d = {k: v for k, v in d.items() if k not in ("tv_sim_exact", "mass_at_minimizer")}

    def to_dict(self) -> dict:
        return dict(self._d)


def figure2_from_dict(d: dict, problem: Problem | None = None, noise: NoiseModel | None = None) -> Figure2:
    """A :class:`Figure2` rebuilt from its :meth:`Figure2.to_dict` (e.g. computed on a Dask worker): enough for
    :func:`plot_figure2` and :meth:`Figure2.masses` (the simulations keep their summed counts, one chain row)."""
    from srchain.simulate import SimulationResult

    problem = problem or get_problem(d["problem"])
    noise = noise or make_noise(
        d["noise"]["name"], **{k: v for k, v in d["noise"].items() if k in ("sigma", "nu", "batch", "samples", "seed")}
    )
    lat = Lattice.from_domain(d["delta"], problem.domain, dim=problem.dim)
    sim, exact_sr, bc = {}, {}, {}
    alphas = []
    for r in d["results"]:
        m, a = r["method"], float(r["alpha"])
        alphas.append(a)
        counts = np.asarray(r["counts"], dtype=np.int64)
        lat_edges = lat_counts = None
        if "latent" in r:
            lat_edges = np.asarray(r["latent"]["edges"], dtype=np.float64) - lat.lo[0]
            lat_counts = np.asarray(r["latent"]["counts"], dtype=np.int64)[None, :]
        sim[(m, a)] = SimulationResult(
            method=m,
            alpha=a,
            steps=int(d["steps"]),
            burn_in=0,
            chains=int(d["chains"]),
            seed=int(d["seed"]),
            states=lat.points,
            counts=counts,
            chain_counts=counts[None, :],
            latent_edges=lat_edges,
            latent_counts=lat_counts,
        )
        if "exact" in r and m == "sr":
            exact_sr[a] = np.asarray(r["exact"]["pi"], dtype=np.float64)
        elif "exact" in r and m == "bc":
            bc[a] = _StoredLaw(r["exact"])
    limit = d.get("limit")
    return Figure2(
        problem=problem,
        noise=noise,
        lattice=lat,
        alphas=tuple(dict.fromkeys(alphas)),
        steps=int(d["steps"]),
        chains=int(d["chains"]),
        start=float(d["start"][0]),
        seed=int(d["seed"]),
        sim=sim,
        exact_sr=exact_sr,
        bc=bc,
        cells=np.asarray(d["minimizer_cells"], dtype=np.int64),
        pi_limit=None if limit is None else np.asarray(limit["pi"], dtype=np.float64),
        alpha0=None if limit is None else limit["alpha0"],
        seconds=dict(d.get("seconds", {})),
    )


def plot_figure2(fig2: Figure2, path=None):
    """The figure: objective (8) on the left, a 2 × 4 grid of histograms (BC top, SR bottom), exact laws overlaid
    as dots (SR: π_α; BC: transfer-operator law). Returns the matplotlib figure (saved to ``path`` if given)."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.gridspec import GridSpec

    lat = fig2.lattice
    x = lat.axis(0)
    na = len(fig2.alphas)
    fig = plt.figure(figsize=(3.0 + 2.6 * na, 5.2))
    gs = GridSpec(2, na + 1, figure=fig, width_ratios=[1.3] + [1] * na, wspace=0.3, hspace=0.45)
    ax0 = fig.add_subplot(gs[:, 0])
    w = np.linspace(lat.lo[0], lat.hi[0], 800)
    ax0.plot(w, fig2.problem.value(w[:, None]), color="k", lw=1.2)
    ax0.set_title(f"objective ({fig2.problem.name})", fontsize=9)
    ax0.set_xlabel("w")
    ax0.set_ylim(0, min(12, float(np.max(fig2.problem.value(w[:, None])))))
    for row, m in enumerate(("bc", "sr")):
        for col, a in enumerate(fig2.alphas):
            ax = fig.add_subplot(gs[row, col + 1])
            r = fig2.sim.get((m, a))
            if r is not None:
                ax.bar(
                    x,
                    r.freq,
                    width=0.85 * lat.delta,
                    color="tab:blue" if m == "bc" else "tab:orange",
                    alpha=0.8,
                    label="simulated",
                )
            exact = fig2.bc[a].pi if (m == "bc" and a in fig2.bc) else fig2.exact_sr.get(a) if m == "sr" else None
            if exact is not None:
                ax.plot(x, exact, "k.", ms=4, label="exact" if m == "sr" else "transfer op.")
            if r is not None:
                ax.set_title(f"{m.upper()}  α={a:g}\nmass@min {r.mass(fig2.cells):.2f}", fontsize=8)
            ax.set_ylim(0, 1.02)
            ax.set_xlim(lat.lo[0] - lat.delta, lat.hi[0] + lat.delta)
            ax.tick_params(labelsize=7)
            if row == 1:
                ax.set_xlabel("quantized w", fontsize=8)
            if col == 0 and row == 0:
                ax.legend(fontsize=6, loc="upper left")
    fig.suptitle(
        f"Figure 2 (Li et al. 2017): BC (top) vs SR (bottom), start {fig2.start:g}, Δ={lat.delta:g}, "
        f"{fig2.steps:.0e} steps × {fig2.chains} chain(s); noise {fig2.noise.describe()}",
        fontsize=9,
    )
    if path is not None:
        from pathlib import Path

        from srchain.io import atomic_write

        fmt = Path(str(path)).suffix.lower().lstrip(".") or "png"
        try:  # a temporary file renamed into place, with the permissions a plain open would give
            atomic_write(path, lambda fh: fig.savefig(fh, dpi=110, format=fmt), binary=True)
        finally:
            plt.close(fig)
    return fig
