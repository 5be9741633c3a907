"""Up-front estimates of a simulation's time and memory, and the limits checked before any kernel runs."""

from __future__ import annotations

import math

import numpy as np

from srchain.budget import WorkEstimate, check_work, format_duration  # noqa: F401 (their home; re-exported)
from srchain.errors import SrchainError
from srchain.lattice import Lattice
from srchain.noise import NoiseModel
from srchain.problems import Problem
from srchain.simulate.pool import n_threads

__all__ = [
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

#: Latent-histogram bins per lattice cell (BC and SGD).
LATENT_BINS_PER_CELL = 20


# ---------------------------------------------------------------------------------------------------------------
# Up-front estimates of time and memory (checked before any kernel runs; the kernels themselves are untouched)
# ---------------------------------------------------------------------------------------------------------------
#: Largest ``burn_in + steps`` (and ``chains × steps``) the kernels accept: their step counters and histogram
#: counts are int64, and the jump sampler adds holding times of up to 4e18 to its clock.
MAX_TOTAL_STEPS = 2**62

#: Conservative seconds per chain-step on one thread, by kernel. Measured on a 2-core x86-64 build machine
#: (benchmarks/ and ``tests/test_simulate_limits.py`` document the figures): SR/R/BC 1-D under Gaussian noise
#: 9–13 ns, 1-D with other noise about 35 ns plus the draws, d-dim lattice chains 29 ns per coordinate, SGD about
#: 45 ns per coordinate, the jump sampler about 30 ns per jump. The constants are 2–3 times those figures, so the
#: estimate errs on the long side on a slower or busier machine.
SECONDS_PER_STEP = {
    "lattice-1d-gaussian": 2.5e-8,  # SR, R, BC in 1-D, Gaussian noise (fixed-point loops)
    "lattice-1d": 5e-8,  # SR, R, BC in 1-D, other noise (plus SECONDS_PER_DRAW per draw)
    "lattice-coordinate": 8e-8,  # SR, R, BC in d dimensions, per coordinate (plus the draws)
    "sgd-coordinate": 1.5e-7,  # SGD (the problem's own Numba gradient), per coordinate (plus the draws)
    "jump": 1e-7,  # one jump of the exact jump sampler
}
#: Conservative seconds per per-sample noise draw (batch B means B draws per coordinate-step); Gaussian noise is
#: one draw whatever the batch (its batch mean is drawn directly) and is included in SECONDS_PER_STEP.
SECONDS_PER_DRAW = {1: 4e-8, 2: 2e-7, 3: 3e-8}  # laplace, student-t, minibatch
#: Runs estimated to take longer than this many seconds announce their estimate (the command line prints it).
NOTE_SECONDS = 30.0


def _noise_draws(noise: NoiseModel) -> tuple[int, float]:
    """``(code, draws)``: the Numba noise code and the per-sample draws one coordinate-step makes (Gaussian: 1)."""
    code = int(noise.numba_code)
    return code, (1.0 if code == 0 else float(getattr(noise, "batch", 1)))


def _chain_step_seconds(method: str, d: int, code: int, draws: float, sampler: str) -> float:
    """Seconds one chain-step takes on one thread (see :data:`SECONDS_PER_STEP`)."""
    extra = 0.0 if code == 0 else d * draws * SECONDS_PER_DRAW.get(code, 2e-7)
    if method == "sgd":
        return d * SECONDS_PER_STEP["sgd-coordinate"] + extra
    if d == 1:
        return (SECONDS_PER_STEP["lattice-1d-gaussian"] if code == 0 else SECONDS_PER_STEP["lattice-1d"]) + extra
    return d * SECONDS_PER_STEP["lattice-coordinate"] + extra


def _check_counts(steps: int, chains: int, burn_in: int) -> None:
    """Refuse step counts the kernels' int64 counters cannot hold (before Numba sees them)."""
    if not steps + burn_in <= MAX_TOTAL_STEPS:
        raise SrchainError(
            f"steps + burn_in = {float(steps + burn_in):.3g} is more than the simulators' int64 "
            f"step counters hold (at most 2^62 = {float(MAX_TOTAL_STEPS):.3g})"
        )
    if not chains * steps <= MAX_TOTAL_STEPS:
        raise SrchainError(
            f"chains × steps = {float(chains * steps):.3g} visits would overflow the int64 "
            f"histogram counts (at most 2^62 = {float(MAX_TOTAL_STEPS):.3g}); use fewer steps or "
            f"chains"
        )


def operator_bytes_floor(noise: NoiseModel, lattice: Lattice, alpha: float) -> float:
    """A lower bound on the bytes of SR's (or R's) transition matrix at ``alpha``, from sizes alone.

    One step moves each coordinate by the noise's ``s = α·std(ξ̄)/Δ`` lattice cells: every target within ``s``
    cells has probability at least about ``0.24/s``, far above the matrix's drop tolerance, so a row keeps at least
    ``min(n_k, 2s + 1)`` entries per coordinate (12 bytes each in CSR). Cheap: it refuses a hopeless matrix
    before :func:`srchain.operators.transition_matrix` samples rows to estimate it precisely.
    """
    std = float(noise.std)
    s = float(alpha) * std / lattice.delta if math.isfinite(std) else math.inf
    per_row = 1.0
    for nk in lattice.shape:
        per_row *= min(float(nk), 2.0 * s + 1.0)
    return float(lattice.size) * per_row * 12.0


#: Conservative seconds per move-table entry (state × coordinate × window offset) and per kept entry while
#: :func:`srchain.operators.transition_matrix` builds a matrix (measured about 1e-7 and 3e-8 on the build machine).
OPERATOR_SECONDS_PER_ENTRY = 3e-7
OPERATOR_SECONDS_PER_KEPT = 1e-7


def estimate_operator(
    problem: Problem, noise: NoiseModel, lattice: Lattice, alpha: float, tol: float = 1e-14
) -> WorkEstimate:
    """Time and (a lower bound on the) memory of building SR's transition matrix at ``alpha``, from sizes alone.

    The move tables span ``J = min(⌈α(max|∇f| + q)/Δ⌉ + 1, n_k − 1)`` cells on each side (``q`` the noise's
    ``tol`` quantile width), costed at :data:`OPERATOR_SECONDS_PER_ENTRY`; the kept entries are at least
    :func:`operator_bytes_floor`'s count, costed at :data:`OPERATOR_SECONDS_PER_KEPT`.
    """
    n, d = float(lattice.size), lattice.dim
    g = np.asarray(problem.gradient(lattice.points), dtype=np.float64)
    gmax = float(np.max(np.abs(g))) if g.size else 0.0
    with np.errstate(over="ignore"):
        reach = float(alpha) * (gmax + float(noise.quantile_width(tol))) / lattice.delta
    far = float(max(lattice.shape) - 1)
    J = min(math.ceil(reach) + 1.0, far) if math.isfinite(reach) else far
    floor = operator_bytes_floor(noise, lattice, alpha)
    kept = floor / 12.0
    return WorkEstimate(
        seconds=n * d * (2 * J + 1) * OPERATOR_SECONDS_PER_ENTRY + kept * OPERATOR_SECONDS_PER_KEPT, bytes=floor
    )


def estimate_simulation(
    problem: Problem,
    noise: NoiseModel,
    lattice: Lattice,
    runs,
    steps: int,
    chains: int = 1,
    burn_in: int = 0,
    sampler: str = "step",
    latent_bins_per_cell: int = LATENT_BINS_PER_CELL,
    leave=None,
    threads: int | None = None,
) -> WorkEstimate:
    """Time and peak memory of :func:`simulate_many` with these arguments, before anything is allocated.

    Time: every chain-step costs :data:`SECONDS_PER_STEP` for its kernel (plus :data:`SECONDS_PER_DRAW` per
    per-sample noise draw), and the chains share ``threads`` workers (default :func:`n_threads`). The jump sampler
    costs per jump: ``leave[(method, alpha)]`` is the largest leaving probability ``max_i (1 − P[i, i])`` of that
    run's chain (every step at most one jump; without it every step is counted as a jump).

    Memory: the lattice's points and coordinates, the gradient table, the per-chain histograms (``chains × states``
    counts and, for BC and SGD, ``chains × d × bins`` latent counts), the 1-D kernels' per-chain tables and the
    results. Not included: the transition matrices of the jump sampler (:func:`srchain.operators.transition_matrix`
    checks its own).
    """
    steps, chains, burn_in = int(steps), int(chains), int(burn_in)
    runs = [(str(m), float(a)) for m, a in runs]
    n, d = int(lattice.size), int(lattice.dim)
    threads = max(1, int(threads if threads is not None else n_threads()))
    code, draws = _noise_draws(noise)
    nbins = float((max(lattice.shape) - 1) * int(latent_bins_per_cell))
    total = float(steps + burn_in)
    jump = [(m, a) for m, a in runs if m in ("r", "sr") and sampler == "jump"]
    lat = [(m, a) for m, a in runs if m in ("r", "sr", "bc") and (m, a) not in jump]
    sgd = [(m, a) for m, a in runs if m == "sgd"]
    seconds = 0.0
    work = float(len(runs)) * chains * total
    nbytes = 2.0 * n * d * 8 + 8.0 * n * d * 8 if lat or sgd else 2.0 * n * d * 8  # points, coords; gradient table
    for group in (lat, sgd):
        if not group:
            continue
        rows = float(len(group) * chains)
        cost = sum(_chain_step_seconds(m, d, code, draws, sampler) for m, _ in group) * chains * total
        units = min(threads, math.ceil(rows / 2) if (d == 1 and group is lat) else rows)
        seconds += cost / units
        latent = any(m in ("bc", "sgd") for m, _ in group)
        nbytes += rows * n * 8 + (rows * d * nbins * 8 if latent else rows * d * 8)  # counts, latent counts
        if d == 1 and group is lat:
            nbytes += min(rows, 2 * threads) * n * 16  # each running chain's float and fixed-point tables
        nbytes += len(group) * (n * 8 + (d * nbins * 8 if latent else 0))  # summed results
    for m, a in jump:
        q = 1.0 if leave is None else float(leave.get((m, a), 1.0))
        seconds += chains * total * min(1.0, max(q, 0.0)) * SECONDS_PER_STEP["jump"] / min(threads, chains)
        nbytes += chains * n * 8 * 2 + n * 8 * 6  # counts, results; the jump tables beside the operator
    return WorkEstimate(seconds=seconds, bytes=nbytes, work=work, unit="steps")
