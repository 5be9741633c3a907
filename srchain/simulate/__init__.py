"""Numba simulators of SGD (Eq. 2), R (Eq. 4), SR (Eq. 6) and BC (Eq. 7) on any registered problem.

One step of each rule, with ``∇f̃(w) = ∇f(w) + ξ̄`` (ξ̄ the batch-mean noise of :mod:`srchain.noise`, drawn
independently per coordinate) and ``Π`` the projection onto the box (the paper's bounded domain):

* SGD: ``w ← Π(w − α∇f̃(w))``                               (Eq. 2, full precision)
* R:   ``w ← Π(Qd(w − α∇f̃(w)))``                           (Eq. 4, deterministic rounding)
* SR:  ``w ← Π(Qs(w − α∇f̃(w)))``                           (Eq. 6, stochastic rounding)
* BC:  ``w_r ← Π(w_r − α∇f̃(Q(w_r)))``, ``Q = Qd`` (or Qs)    (Eq. 7, latent real weights)

Rounding is onto the lattice ``lo + ΔZ^d`` of :class:`srchain.lattice.Lattice` (ties of Qd round up; they have
probability zero under continuous noise).

How it is fast
--------------
* SR, R and BC only ever evaluate the gradient at lattice points (BC at ``Q(w_r)``), so the gradient is tabulated
  once on the lattice (``problem.gradient(lattice.points)``) and the kernels are plain, cached Numba code with no
  call-back. In 1-D the table holds ``q − (α/Δ)∇f(q)`` in fixed point and a step of SR is one normal, one
  uniform, an integer look-up, add, shift and clamp (``Qs(x) = ⌊x + U⌋``; see the comment in
  :mod:`srchain.simulate.kernels_1d`). The state of SR/R is kept as integer lattice coordinates (no drift in floats).
* Random numbers come from :mod:`srchain.pcg`: NumPy's PCG64 and its ziggurat normal, inlined, with the state in
  registers (calling ``Generator`` methods from Numba costs an indirect call into NumPy per draw). The numbers are
  bit for bit those of ``Generator(PCG64(SeedSequence(seed).spawn(...)[c]))`` for chain ``c`` (see
  :func:`make_generators`); the spawn key does not depend on the number of chains or threads, so the same seed
  gives the same histogram whatever the thread count.
* Chains run in parallel (a thread pool of ``numba.get_num_threads()`` workers calling the ``nogil`` kernels;
  a ``prange`` driver was measured 2x slower per chain), and in 1-D two chains step in lockstep in one kernel, so
  the CPU fills one chain's dependency latency with the other's work.
* Histograms are accumulated inside the kernel (``counts[chain, state]``; for BC and SGD also a binned
  histogram of the latent ``w_r`` per coordinate), so memory does not grow with the number of steps.
* SGD needs the gradient off the lattice and calls ``problem.grad_kernel`` (compiled per process: Numba cannot
  cache a kernel that takes another function as an argument).
* :func:`jump_chain` samples SR and R exactly from the rows of ``P = T_αᵀ`` (:mod:`srchain.operators`): a
  geometric holding time, then a jump drawn from the off-diagonal part of the row. At small α the chain rarely
  moves and this is orders of magnitude faster than stepping; the law of the visited path is the same.

Counting convention: with ``burn_in = b`` the chain makes ``b + steps`` steps from ``start`` and the histogram
counts the quantized state after each of the last ``steps`` steps (for BC: ``Q(w_r)`` after the step, the value
the next gradient is taken at).

The package, one concern per module: :mod:`~srchain.simulate.draws` (the noise switch and the latent histogram),
:mod:`~srchain.simulate.kernels_1d` (1-D fixed-point fast paths), :mod:`~srchain.simulate.kernels_nd`
(d-dimensional lattice chains), :mod:`~srchain.simulate.kernel_sgd`, :mod:`~srchain.simulate.jump` (the exact jump
sampler), :mod:`~srchain.simulate.pool` (threads), :mod:`~srchain.simulate.estimate` (time and memory before any
work), :mod:`~srchain.simulate.result`, :mod:`~srchain.simulate.batch` (the kernels' tasks); this module holds the
public functions.
``srchain.simulate`` is also callable: ``sc.simulate(...)`` is :func:`simulate`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from srchain import pcg
from srchain.budget import check_memory, default_max_memory
from srchain.errors import SrchainError
from srchain.lattice import Lattice
from srchain.noise import NoiseModel
from srchain.problems import Problem
from srchain.quantize import check_alpha
from srchain.rules import Rule, parse_rule
from srchain.simulate.batch import MAX_1D_STATES as MAX_1D_STATES
from srchain.simulate.batch import MAX_MEAN_STEP_CELLS as MAX_MEAN_STEP_CELLS
from srchain.simulate.batch import _jump_task, _lattice_tasks, _make_batch, _results, _sgd_tasks
from srchain.simulate.draws import draw_noise
from srchain.simulate.estimate import (
    LATENT_BINS_PER_CELL,
    MAX_TOTAL_STEPS,
    NOTE_SECONDS,
    SECONDS_PER_DRAW,
    SECONDS_PER_STEP,
    WorkEstimate,
    _check_counts,
    check_work,
    estimate_operator,
    estimate_simulation,
    format_duration,
    operator_bytes_floor,
)
from srchain.simulate.jump import jump_tables
from srchain.simulate.pool import n_threads
from srchain.simulate.pool import run_parallel as _parallel  # (tests replace srchain.simulate._parallel)
from srchain.simulate.result import SimulationResult, make_generators

if TYPE_CHECKING:
    from srchain.operators import Operator

__all__ = [
    "SimulationResult",
    "simulate",
    "simulate_many",
    "jump_chain",
    "METHODS",
    "SAMPLERS",
    "n_threads",
    "make_generators",
    "draw_noise",
    "WorkEstimate",
    "estimate_simulation",
    "operator_bytes_floor",
    "estimate_operator",
    "check_work",
    "format_duration",
    "MAX_TOTAL_STEPS",
    "SECONDS_PER_STEP",
    "SECONDS_PER_DRAW",
    "NOTE_SECONDS",
    "LATENT_BINS_PER_CELL",
]

#: The rules the simulators run (BC with Qs is ``method="bc", bc_quantizer="qs"``).
METHODS = ("sgd", "r", "sr", "bc")
SAMPLERS = ("step", "jump")
#: Refuse per-chain histograms larger than this many entries in all (chains × states).
MAX_HIST_ENTRIES = 200_000_000


def _check(steps, chains, burn_in, alpha):
    for name, v, least in (("steps", steps, 1), ("chains", chains, 1), ("burn_in", burn_in, 0)):
        try:
            ok = int(v) == v and v >= least
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok:
            raise SrchainError(f"{name} must be an integer >= {least}, got {v!r}")
    a = check_alpha(alpha)
    _check_counts(int(steps), int(chains), int(burn_in))
    return int(steps), int(chains), int(burn_in), a


def _start_units(start, lattice: Lattice) -> np.ndarray:
    """``start`` (scalar or d numbers, real units; ``None``: the domain's centre) -> lattice units, validated."""
    lo = np.asarray(lattice.lo)
    if start is None:
        w = 0.5 * (lo + lattice.hi)
    else:
        w = np.asarray(start, dtype=np.float64).ravel()
        if w.size == 1:
            w = np.full(lattice.dim, w[0])
        if w.size != lattice.dim:
            raise SrchainError(f"start needs 1 number{'' if lattice.dim == 1 else f' or {lattice.dim}'}, got {w.size}")
        if not np.all(np.isfinite(w)):
            raise SrchainError(f"start must be finite numbers, got {w.tolist()}")
        if not lattice.contains(w):
            raise SrchainError(
                f"the start {w.tolist()} is outside the domain {lattice.domain.tolist()}; "
                f"pick a start inside it or widen the domain"
            )
    return (w - lo) / lattice.delta


def _jump_operators(problem, noise, lattice, runs, operators, max_memory, max_hours):
    """Build (after checking each one's memory and the total time) the transition matrices the jump runs need;
    returns ``(operators, leave, build_estimate)`` with ``leave[(m, a)] = max_i (1 − P[i, i])``."""
    from srchain.operators import transition_matrix

    n = lattice.size
    mem = default_max_memory() if max_memory is None else float(max_memory)
    hint = "use a coarser lattice (larger delta), a smaller alpha or the step sampler"
    build = WorkEstimate()
    for m, a in runs:
        if m in ("r", "sr") and (m, a) not in operators:
            op_est = estimate_operator(problem, noise, lattice, a)
            check_memory(
                op_est.bytes, mem, f"the jump sampler's transition matrix at alpha={a:g} on {n:.3g} states", hint
            )
            build = build + WorkEstimate(seconds=op_est.seconds)
    check_work(build, math.inf, max_hours, what="building the jump sampler's transition matrices", hint=hint)
    leave = {}
    for m, a in runs:
        if m in ("r", "sr"):
            if (m, a) not in operators:
                operators[(m, a)] = transition_matrix(
                    problem, noise, lattice, a, method=m, max_bytes=mem if math.isfinite(mem) else None
                )
            diag = operators[(m, a)].P.diagonal()
            leave[(m, a)] = float(np.max(1.0 - diag)) if diag.size else 0.0
    return operators, leave, build


def _kernel_rule(method: str, bc_quantizer: str) -> Rule:
    """The kernels' :class:`Rule` of a run: BC with ``bc_quantizer="qs"`` is :attr:`Rule.BC_QS`."""
    rule = parse_rule(method)
    return Rule.BC_QS if rule == Rule.BC and bc_quantizer == "qs" else rule


# ---------------------------------------------------------------------------------------------------------------
# The public functions
# ---------------------------------------------------------------------------------------------------------------
def simulate_many(
    problem: Problem,
    noise: NoiseModel,
    lattice: Lattice,
    runs: Sequence[tuple[str, float]],
    steps: int,
    chains: int = 1,
    start: ArrayLike | None = None,
    seed: int = 0,
    burn_in: int = 0,
    sampler: str = "step",
    bc_quantizer: str = "qd",
    latent_bins_per_cell: int = LATENT_BINS_PER_CELL,
    operators: Mapping[tuple[str, float], Operator] | None = None,
    max_memory: float | None = None,
    max_hours: float | None = None,
    extra: WorkEstimate | None = None,
    on_estimate: Callable[[WorkEstimate], object] | None = None,
) -> list[SimulationResult]:
    """Simulate several ``(method, alpha)`` runs, each with ``chains`` chains, in one parallel kernel call.

    Chain ``c`` of every run uses the same stream (``SeedSequence(seed).spawn(chains)[c]``): a run's histogram
    is the same whether it is simulated alone or with others (common random numbers across runs).

    Parameters
    ----------
    problem, noise, lattice
        Objective, gradient noise (any model, any batch) and lattice ``lo + ΔZ^d`` (its box is the domain).
    runs : list of (method, alpha)
        ``method`` in ``sgd, r, sr, bc``; ``alpha > 0``.
    steps : int
        Steps counted per chain (after ``burn_in`` uncounted ones).
    chains : int
        Independent chains per run.
    start : float or sequence of d floats, optional
        Starting point (rounded to the nearest lattice point for R and SR); default the domain's centre.
    sampler : {"step", "jump"}
        ``"jump"`` uses the exact jump chain for SR and R (see :func:`jump_chain`); BC and SGD always step.
    bc_quantizer : {"qd", "qs"}
        The quantizer BC takes the gradient at.
    operators : dict, optional
        ``(method, alpha) -> Operator`` already built, for the jump sampler.
    max_memory : float, optional
        Refuse (before allocating anything) when the estimated peak memory exceeds this many bytes (default
        :func:`srchain.budget.default_max_memory`; ``math.inf`` for no limit).
    max_hours : float, optional
        Refuse when the estimated time exceeds this many hours (default: no limit). See
        :func:`estimate_simulation` for both estimates.
    extra : WorkEstimate, optional
        The caller's own costs (writing the results, plots), added to the estimate before it is checked.
    on_estimate : callable, optional
        ``on_estimate(estimate)`` is called with the checked :class:`WorkEstimate` just before the kernels run
        (the command line prints it when it is over :data:`NOTE_SECONDS`).

    Returns
    -------
    list of SimulationResult, in the order of ``runs``.

    Raises
    ------
    SrchainError
        Bad steps, chains, burn-in, α, start, method, counts the kernels' int64 counters cannot hold, or work
        estimated over ``max_memory`` or ``max_hours``.
    """
    if sampler not in SAMPLERS:
        raise SrchainError(f"unknown sampler {sampler!r}; choose step or jump")
    if bc_quantizer not in ("qd", "qs"):
        raise SrchainError(f"unknown BC quantizer {bc_quantizer!r}; choose qd or qs")
    runs = [(str(m), float(a)) for m, a in runs]
    for m, a in runs:
        if m not in METHODS:
            raise SrchainError(f"unknown method {m!r}; choose one of {', '.join(METHODS)}")
        _check(steps, chains, burn_in, a)
    steps, chains, burn_in, _ = _check(steps, chains, burn_in, runs[0][1] if runs else 1.0)
    if problem.dim != lattice.dim:
        raise SrchainError(f"the problem is {problem.dim}-dimensional but the lattice is {lattice.dim}-dimensional")
    n, d = lattice.size, lattice.dim
    if chains * n * max(1, len(runs)) > MAX_HIST_ENTRIES:
        raise SrchainError(
            f"{chains} chains × {n} states is too many histogram entries to hold; use fewer chains or a coarser lattice"
        )
    u0 = _start_units(start, lattice)
    # Jump runs need their transition matrices (each checked against max_memory as it is built): built here, so
    # that their leaving probabilities enter the time estimate and no kernel starts before every check passed.
    operators = dict(operators or {})
    leave, build = {}, WorkEstimate()
    if sampler == "jump":
        operators, leave, build = _jump_operators(problem, noise, lattice, runs, operators, max_memory, max_hours)
    est = (
        estimate_simulation(
            problem,
            noise,
            lattice,
            runs,
            steps,
            chains=chains,
            burn_in=burn_in,
            sampler=sampler,
            latent_bins_per_cell=latent_bins_per_cell,
            leave=leave,
        )
        + build
    )
    if extra is not None:
        est = est + extra
    check_work(est, max_memory, max_hours)
    if on_estimate is not None:
        on_estimate(est)

    bpc = int(latent_bins_per_cell)
    nbins = int((max(lattice.shape) - 1) * bpc)
    noise_rec = (int(noise.numba_code), np.ascontiguousarray(noise.numba_params, dtype=np.float64))
    run_rec = (steps, burn_in, bpc)
    jump_idx = [r for r, (m, _) in enumerate(runs) if m in ("r", "sr") and sampler == "jump"]
    lat_idx = [r for r, (m, _) in enumerate(runs) if m in ("r", "sr", "bc") and r not in jump_idx]
    sgd_idx = [r for r, (m, _) in enumerate(runs) if m == "sgd"]
    results: dict[int, SimulationResult] = {}
    if lat_idx:
        G = np.ascontiguousarray(np.asarray(problem.gradient(lattice.points), dtype=np.float64).reshape(n, d))
        # latent histograms only where BC runs (R and SR never touch theirs: one bin keeps the kernels' types)
        b = _make_batch(
            lat_idx,
            [_kernel_rule(runs[r][0], bc_quantizer) for r in lat_idx],
            [runs[r][1] for r in lat_idx],
            seed,
            chains,
            n,
            d,
            nbins if any(runs[r][0] == "bc" for r in lat_idx) else 1,
        )
        _parallel(_lattice_tasks(b, lattice, G, u0, noise_rec, run_rec))
        results.update(_results(b, runs, lattice, steps, burn_in, chains, seed, bpc, bc_quantizer))
    if sgd_idx:
        b = _make_batch(sgd_idx, [Rule.SGD] * len(sgd_idx), [runs[r][1] for r in sgd_idx], seed, chains, n, d, nbins)
        _parallel(_sgd_tasks(b, problem, lattice, u0, noise_rec, run_rec))
        results.update(_results(b, runs, lattice, steps, burn_in, chains, seed, bpc, bc_quantizer))
    for r in jump_idx:
        m, a = runs[r]
        results[r] = jump_chain(
            problem,
            noise,
            lattice,
            m,
            a,
            steps,
            chains=chains,
            start=np.asarray(lattice.lo) + lattice.delta * u0,
            seed=seed,
            burn_in=burn_in,
            operator=operators.get((m, a)),
        )
    return [results[r] for r in range(len(runs))]


def simulate(
    problem: Problem,
    noise: NoiseModel,
    lattice: Lattice,
    method: str,
    alpha: float,
    steps: int,
    chains: int = 1,
    start: ArrayLike | None = None,
    seed: int = 0,
    burn_in: int = 0,
    sampler: str = "step",
    bc_quantizer: str = "qd",
    latent_bins_per_cell: int = LATENT_BINS_PER_CELL,
    max_memory: float | None = None,
    max_hours: float | None = None,
) -> SimulationResult:
    """Simulate one rule (SGD, R, SR or BC) at one learning rate; see :func:`simulate_many`.

    Examples
    --------
    >>> from srchain.problems import get_problem
    >>> from srchain.noise import make_noise
    >>> from srchain.lattice import Lattice
    >>> p = get_problem("toy"); lat = Lattice.from_domain(0.5, p.domain)
    >>> r = simulate(p, make_noise("gaussian", sigma=2.0), lat, "sr", 0.1, steps=1000, chains=2, start=4.0)
    >>> int(r.counts.sum())
    2000
    """
    return simulate_many(
        problem,
        noise,
        lattice,
        [(method, alpha)],
        steps,
        chains=chains,
        start=start,
        seed=seed,
        burn_in=burn_in,
        sampler=sampler,
        bc_quantizer=bc_quantizer,
        latent_bins_per_cell=latent_bins_per_cell,
        max_memory=max_memory,
        max_hours=max_hours,
    )[0]


def jump_chain(
    problem: Problem,
    noise: NoiseModel,
    lattice: Lattice,
    method: str,
    alpha: float,
    steps: int,
    chains: int = 1,
    start: ArrayLike | None = None,
    seed: int = 0,
    burn_in: int = 0,
    operator: Operator | None = None,
) -> SimulationResult:
    """Exact jump-chain sampler for SR and R: same law of the path as stepping, far fewer draws at small α.

    From the exact row ``P[i, :]`` of ``T_αᵀ`` (:func:`srchain.operators.transition_matrix`), the number of
    steps ``H`` until the chain leaves ``i`` is Geometric(``q_i``) with ``q_i = Σ_{j≠i} P[i, j]``
    (``Pr(H = h) = (1 − q_i)^{h−1} q_i``), and the state it jumps to is ``j`` with probability ``P[i, j]/q_i``.
    Sampling ``H`` as ``⌈E/λ_i⌉`` (``E`` exponential, ``λ_i = −log(1 − q_i)``) and ``j`` by a search of the
    cumulative off-diagonal row costs two draws per jump instead of two per step; at α = 0.001 on the toy problem a
    chain moves about once every few hundred steps.

    The histogram counts the state after each step, exactly as the step-by-step kernel does; the streams differ,
    so the two agree in law, not draw by draw.
    """
    from srchain.operators import transition_matrix

    if method not in ("sr", "r"):
        raise SrchainError(f"the jump sampler is for the lattice chains sr and r, not {method!r}")
    steps, chains, burn_in, alpha = _check(steps, chains, burn_in, alpha)
    u0 = _start_units(start, lattice)
    k0 = np.clip(np.floor(u0 + 0.5).astype(np.int64), 0, np.asarray(lattice.shape) - 1)
    i0 = int(lattice.index(k0))
    op = operator if operator is not None else transition_matrix(problem, noise, lattice, alpha, method=method)
    tables = jump_tables(op.P)
    leave = tables[3]
    n = lattice.size
    counts = np.zeros((chains, n), dtype=np.int64)
    finals = np.zeros(chains, dtype=np.int64)
    states = pcg.states_from_seed(seed, chains)

    tasks = [partial(_jump_task, states, c, tables, i0, steps, burn_in, counts, finals) for c in range(chains)]
    # At most chains·(steps + burn-in)·max_i q_i jumps in all: below ~10⁵ the whole run takes well under a
    # millisecond, less than starting a thread pool, so it runs in this thread (the result is the same).
    expected_jumps = chains * (steps + burn_in) * (float(leave.max()) if leave.size else 0.0)
    if expected_jumps < 1e5:
        for t in tasks:
            t()
    else:
        _parallel(tasks)
    return SimulationResult(
        method=method,
        alpha=alpha,
        steps=steps,
        burn_in=burn_in,
        chains=chains,
        seed=int(seed),
        states=lattice.points,
        counts=counts.sum(axis=0),
        chain_counts=counts,
        final=lattice.points[finals],
        sampler="jump",
        extra={"dropped_mass": float(op.dropped_mass)},
    )


from srchain._callable import make_callable  # noqa: E402  (sc.simulate(...) calls simulate(...))

make_callable(__name__, simulate)
