"""SGD, R, SR and BC on the convex problems of Section 4, with the paper's step-size schedules, and the
measured-versus-bound comparison of Lemma 1, Theorems 1–4 and Corollary 1.

Algorithms (one stochastic gradient ``∇f̃`` per step: the mean of ``batch`` sampled ``∇f_i``, indices uniform
with replacement), every iterate clipped into the box:

* ``sgd``: ``w ← Π(w − α_t ∇f̃(w))``;
* ``r``: ``w ← Π(Qd(w − α_t ∇f̃(w)))`` (deterministic rounding, Eq. 3);
* ``sr``: ``w ← Π(Qs(w − α_t ∇f̃(w)))`` (Eq. 6);
* ``bc``: ``w_r ← Π(w_r − α_t ∇f̃(Qd(w_r)))`` (Eq. 7 with deterministic rounding, the common choice);
* ``bc-qs``: the same with stochastic rounding ``Qs`` (the rounding Theorem 4's proof needs: ``E[r_t] = 0``).

Quantized iterates live on the largest box with corners on ΔZ^d inside the domain
(:meth:`ConvexProblem.grid_box`), so clipping keeps them on the grid; iterates start at ``w_0 = 0``.

Schedules (``t = 1 … T`` counts the gradient steps): ``strong``: ``α_t = 1/(μ t)`` — the paper's
``1/(μ(t'+1))`` with ``t' = t − 1 = 0 … T−1`` (Theorems 1, 4, Corollary 1); ``sqrt``: ``α_t = c/√t``
(Theorems 2, 3). The ergodic average is over the T iterates at which gradients were taken,
``w̄_T = (1/T) Σ_{t=1}^T w_t`` (for BC of ``w_r``, as the paper does, and separately of ``Q(w_r)``); the
schedules do not depend on T, so averages saved at checkpoints t are exactly the runs of length t.

Randomness: each seed ``k`` of a run owns the stream ``SeedSequence(seed).spawn(n)[k]``, which seeds a
xoshiro256** generator inside the Numba kernel (:mod:`srchain.toy.convex_kernels`); every method and Δ uses the
same streams (common random numbers), and the same seed gives the same result on any number of threads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from srchain.toy.convex_kernels import (
    SCHEDULE_SQRT,
    SCHEDULE_STRONG,
    Method,
    Objective,
    Outputs,
    Run,
    XoshiroPy,
    seed_states,
)
from srchain.toy.convex_kernels import simulate as _simulate  # the name tests patch to stop before the kernel
from srchain.toy.convex_problems import KIND_LOGISTIC, ConvexProblem

from srchain import bounds as bnd
from srchain.errors import SrchainError
from srchain.quantize import check_delta, qd, qs
from srchain.rules import Rule, parse_rule

__all__ = [
    "METHODS",
    "SCHEDULES",
    "THEOREM_SCHEDULE",
    "Schedule",
    "RunResult",
    "run_convex",
    "run_python",
    "seed_states",
    "checkpoints",
    "bounds_for",
    "summarize",
    "sweep",
    "floor_slope",
    "XoshiroPy",
    "estimate_sweep",
    "check_counts",
]

#: the rules of Section 4 (:class:`srchain.rules.Rule` labels)
METHODS = tuple(r.label for r in (Rule.SGD, Rule.R, Rule.SR, Rule.BC, Rule.BC_QS))
SCHEDULES = ("strong", "sqrt")
#: the schedule each result of Section 4 assumes
THEOREM_SCHEDULE = {
    "theorem1": "strong",
    "theorem2": "sqrt",
    "theorem3": "sqrt",
    "theorem4": "strong",
    "corollary1": "strong",
}
BOUND_KEYS = ("theorem1", "theorem2", "theorem3", "theorem4", "corollary1")


# ---------------------------------------------------------------------------------------------------------------
# Schedules
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Schedule:
    """A step-size schedule: ``strong`` (α_t = 1/(μ t), t = 1…T) or ``sqrt`` (α_t = c/√t)."""

    kind: str
    mu: float = 0.0
    c: float = 0.0

    def __post_init__(self):
        if self.kind not in SCHEDULES:
            raise SrchainError(f"unknown schedule {self.kind!r}; choose one of {', '.join(SCHEDULES)}")
        if self.kind == "strong" and not self.mu > 0:
            raise SrchainError(
                "the schedule α_t = 1/(μ(t+1)) of Theorems 1 and 4 needs a strongly convex problem "
                "(μ > 0); use --schedule sqrt (Theorems 2, 3) for this problem"
            )
        if self.kind == "sqrt" and not (self.c > 0 and math.isfinite(self.c)):
            raise SrchainError(f"the schedule α_t = c/√t needs c > 0, got {self.c!r}")

    def alpha(self, t):
        """α_t for t = 1, 2, … (array or scalar)."""
        t = np.asarray(t, dtype=np.float64)
        return 1.0 / (self.mu * t) if self.kind == "strong" else self.c / np.sqrt(t)

    def to_dict(self) -> dict:
        if self.kind == "strong":
            return {"kind": "strong", "formula": "alpha_t = 1/(mu (t+1)), t = 0..T-1", "mu": self.mu}
        return {"kind": "sqrt", "formula": "alpha_t = c/sqrt(t), t = 1..T", "c": self.c}


def default_c(problem: ConvexProblem, G: float) -> float:
    """``c = D/G``: balances the two T-dependent terms ``D²/(c√T)`` and ``c G²/√T`` of Theorems 2, 3."""
    return problem.diameter / G


def checkpoints(steps: int, n: int = 25) -> np.ndarray:
    """About ``n`` log-spaced step counts from 1 to ``steps`` (always including ``steps``)."""
    pts = np.unique(np.round(np.logspace(0, np.log10(steps), n)).astype(np.int64))
    pts = pts[(pts >= 1) & (pts <= steps)]
    return np.unique(np.append(pts, steps)).astype(np.int64)


@dataclass(frozen=True)
class RunResult:
    """One (method, Δ) run over ``seeds`` independent seeds.

    Attributes
    ----------
    errors : ndarray (seeds,)
        ``F(w̄_T) − F(w*)`` per seed (for BC, w̄ of the real-valued ``w_r``).
    errors_q : ndarray (seeds,)
        The same for the average of the points where gradients were taken (BC: ``Q(w_r)``; otherwise = errors).
    ck_steps, ck_errors, ck_errors_q : checkpoints t and the errors of the averages up to t, (seeds, n_ck).
    lemma_ratio : ndarray (seeds,)
        SR only: ``(1/T) Σ_t ‖r_t‖²/α_t``; Lemma 1 says its expectation is ≤ √d Δ G.
    traces : dict or None
        SR with ``trace > 0``: per-step arrays (seeds, trace) ``r2`` = ‖r_t‖², ``g1`` = Δ α_t ‖∇f̃‖₁ (Eq. 11),
        ``qq`` = Σ_i Δ² q_i(1 − q_i) = E_p‖r_t‖² given the past; and ``alpha`` (trace,).
    """

    method: str
    delta: float | None
    steps: int
    schedule: Schedule
    batch: int
    errors: np.ndarray
    errors_q: np.ndarray
    ck_steps: np.ndarray
    ck_errors: np.ndarray
    ck_errors_q: np.ndarray
    lemma_ratio: np.ndarray
    final: np.ndarray
    average: np.ndarray
    average_q: np.ndarray
    traces: dict | None = field(default=None, repr=False)


def _validate(problem, method, delta, steps, batch):
    if method not in METHODS:
        raise SrchainError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if int(steps) < 1:
        raise SrchainError(f"the number of steps T must be >= 1, got {steps!r}")
    if int(batch) < 1:
        raise SrchainError(f"the batch size must be >= 1, got {batch!r}")
    if method != "sgd":
        check_delta(delta)


# ---------------------------------------------------------------------------------------------------------------
# The kernel's records (:mod:`srchain.toy.convex_kernels`) and the front end that builds them
# ---------------------------------------------------------------------------------------------------------------
def _objective(problem: ConvexProblem, box: np.ndarray) -> Objective:
    """``F(w) = (1/m) Σ_i f_i(w)`` (loss kind, ``A``, ``b``, ``λ``) and the box ``[lo, hi]`` that Π clips to."""
    return Objective(
        kind=int(problem.kind),
        A=np.ascontiguousarray(problem.A),
        b=np.ascontiguousarray(problem.b),
        lam=float(problem.lam),
        lo=np.ascontiguousarray(box[:, 0]),
        hi=np.ascontiguousarray(box[:, 1]),
    )


def _method(method: str, delta: float, schedule: Schedule, batch: int) -> Method:
    """The rule (Eq. 2, 4, 6, 7), Δ, the schedule ``α_t`` and the batch size B of ``∇f̃``."""
    kind = SCHEDULE_STRONG if schedule.kind == "strong" else SCHEDULE_SQRT
    return Method(
        rule=int(parse_rule(method)),
        delta=float(delta),
        schedule=kind,
        mu=float(schedule.mu),
        c=float(schedule.c),
        batch=int(batch),
    )


def _run(objective: Objective, steps: int, states: np.ndarray, ckpts: np.ndarray, trace_len: int) -> Run:
    """T steps from ``w_0 = Π(0)`` on the seeds' streams ``states``, saving the sums at the steps ``ckpts`` and
    tracing SR's first ``trace_len`` steps."""
    w0 = np.clip(np.zeros(objective.lo.shape[0]), objective.lo, objective.hi)
    return Run(w0=w0, steps=int(steps), states=states, checkpoints=ckpts, trace_len=int(trace_len))


def _outputs(run: Run, d: int) -> Outputs:
    """Zeroed outputs for the seeds of ``run`` in dimension ``d`` (the traces at least one step long)."""
    seeds, nck = run.states.shape[0], run.checkpoints.shape[0]
    trace = max(run.trace_len, 1)
    return Outputs(
        sum_w=np.zeros((seeds, d)),
        sum_q=np.zeros((seeds, d)),
        ck_w=np.zeros((seeds, nck, d)),
        ck_q=np.zeros((seeds, nck, d)),
        lemma=np.zeros(seeds),
        tr_r2=np.zeros((seeds, trace)),
        tr_g1=np.zeros((seeds, trace)),
        tr_qq=np.zeros((seeds, trace)),
        last=np.zeros((seeds, d)),
    )


def run_convex(
    problem: ConvexProblem,
    method: str,
    delta: float | None,
    steps: int,
    seeds: int,
    schedule: Schedule,
    seed: int = 0,
    batch: int = 1,
    n_checkpoints: int = 25,
    trace: int = 0,
) -> RunResult:
    """Run ``method`` for ``steps`` steps on ``seeds`` independent seeds (Numba, parallel over seeds).

    Parameters
    ----------
    problem : ConvexProblem
    method : {'sgd', 'r', 'sr', 'bc', 'bc-qs'}
    delta : float
        Grid spacing Δ (ignored by ``sgd``).
    steps : int
        T ≥ 1.
    seeds : int
        Number of independent runs.
    schedule : Schedule
    seed : int
        Root of ``SeedSequence(seed).spawn(seeds)``.
    batch : int
        Samples per stochastic gradient.
    trace : int
        For ``sr``: record per-step rounding statistics for the first ``trace`` steps (Lemma 1).

    Returns
    -------
    RunResult
    """
    _validate(problem, method, delta, steps, batch)
    steps, seeds, batch = int(steps), int(seeds), int(batch)
    if seeds < 1:
        raise SrchainError(f"seeds must be >= 1, got {seeds}")
    check_counts(steps, seeds, batch)
    dlt = 1.0 if method == "sgd" else check_delta(delta)
    objective = _objective(problem, problem.domain if method == "sgd" else problem.grid_box(dlt))
    run = _run(
        objective,
        steps,
        seed_states(seed, seeds),
        checkpoints(steps, n_checkpoints),
        min(int(trace), steps) if method == "sr" else 0,
    )
    out = _outputs(run, problem.dim)
    _simulate(objective, _method(method, dlt, schedule, batch), run, out)
    ck, tl = run.checkpoints, run.trace_len
    avg = out.sum_w / steps
    avg_q = out.sum_q / steps
    traces = None
    if tl > 0:
        traces = {
            "r2": out.tr_r2[:, :tl],
            "g1": out.tr_g1[:, :tl],
            "qq": out.tr_qq[:, :tl],
            "alpha": schedule.alpha(np.arange(1, tl + 1)),
        }
    return RunResult(
        method=method,
        delta=None if method == "sgd" else dlt,
        steps=steps,
        schedule=schedule,
        batch=batch,
        errors=problem.excess(avg),
        errors_q=problem.excess(avg_q),
        ck_steps=ck,
        ck_errors=problem.excess(out.ck_w / ck[None, :, None]),
        ck_errors_q=problem.excess(out.ck_q / ck[None, :, None]),
        lemma_ratio=out.lemma / steps,
        final=out.last,
        average=avg,
        average_q=avg_q,
        traces=traces,
    )


# ---------------------------------------------------------------------------------------------------------------
# The straightforward reference: one seed, a Python loop over steps (the benchmark's baseline, and a check)
# ---------------------------------------------------------------------------------------------------------------
def run_python(
    problem: ConvexProblem, method: str, delta: float | None, steps: int, schedule: Schedule, rng, batch: int = 1
) -> np.ndarray:
    """One seed, one step at a time in Python/NumPy; returns ``(w̄_T, w̄_T of Q(w_r))``.

    ``rng`` has ``random()`` and ``random(k)``: a :class:`XoshiroPy` reproduces the Numba kernel's stream
    (same draws in the same order), a ``numpy.random.Generator`` gives the plain baseline.
    """
    _validate(problem, method, delta, steps, batch)
    A, b, lam, m, d = problem.A, problem.b, problem.lam, problem.m, problem.dim
    if method == "sgd":
        box = problem.domain
    else:
        box = problem.grid_box(float(delta))
    lo, hi = box[:, 0], box[:, 1]
    w = np.clip(np.zeros(d), lo, hi)
    sw = np.zeros(d)
    sq = np.zeros(d)
    for t in range(1, steps + 1):
        alpha = 1.0 / (schedule.mu * t) if schedule.kind == "strong" else schedule.c / math.sqrt(t)
        if method == "bc":
            x = np.clip(qd(w, delta), lo, hi)
        elif method == "bc-qs":
            x = np.clip(qs(w, delta, p=rng.random(d)), lo, hi)
        else:
            x = w
        sw += w
        sq += x
        g = np.zeros(d)
        for _ in range(batch):
            i = min(int(rng.random() * m), m - 1)
            z = A[i] @ x
            sc = z - b[i] if problem.kind != KIND_LOGISTIC else -b[i] / (1.0 + math.exp(b[i] * z))
            g += sc * A[i]
        g = g / batch + lam * x
        y = w - alpha * g
        if method == "sr":
            w = np.clip(qs(y, delta, p=rng.random(d)), lo, hi)
        elif method == "r":
            w = np.clip(qd(y, delta), lo, hi)
        else:
            w = np.clip(y, lo, hi)
    return sw / steps, sq / steps


# ---------------------------------------------------------------------------------------------------------------
# Bounds and summaries
# ---------------------------------------------------------------------------------------------------------------
def bounds_for(
    problem: ConvexProblem, method: str, delta: float | None, steps: int, schedule: Schedule, G: float
) -> tuple[dict, dict]:
    """The bounds of Section 4 that apply to ``method`` under ``schedule`` (others ``None``).

    Returns ``(stated, proved)``: the theorems as printed, and as their proofs establish them (see
    :mod:`srchain.bounds`). SGD gets Theorems 1, 2 with Δ = 0 (their proofs with r_t = 0). R gets none.
    For ``bc`` (deterministic rounding) Theorem 4 and Corollary 1 are the paper's claim ("the results hold for
    both stochastic and uniform rounding"), though their proof needs E[r_t] = 0; ``proved`` leaves them ``None``.
    """
    stated = dict.fromkeys(BOUND_KEYS)
    proved = dict.fromkeys(BOUND_KEYS)
    d, D, T = problem.dim, problem.diameter, steps
    dl = 0.0 if method == "sgd" else float(delta)
    strong = schedule.kind == "strong"
    if method in ("sr", "sgd"):
        if strong:
            stated["theorem1"] = proved["theorem1"] = float(bnd.theorem1(T, d, dl, G, problem.mu))
        else:
            stated["theorem2"] = float(bnd.theorem2(T, d, dl, G, D, schedule.c))
            proved["theorem2"] = float(bnd.theorem2_proved(T, d, dl, G, D, schedule.c))
    elif method in ("bc", "bc-qs"):
        if strong:
            stated["theorem4"] = float(bnd.theorem4(T, d, dl, G, D, problem.mu, problem.L2))
            if method == "bc-qs":
                proved["theorem4"] = float(bnd.theorem4_proved(T, d, dl, G, D, problem.mu, problem.L2))
            if problem.L2 == 0:
                stated["corollary1"] = float(bnd.corollary1(T, G, problem.mu))
                if method == "bc-qs":
                    proved["corollary1"] = stated["corollary1"]
        else:
            stated["theorem3"] = float(bnd.theorem3(T, d, dl, G, D, schedule.c, problem.L))
            proved["theorem3"] = float(bnd.theorem3_proved(T, d, dl, G, D, schedule.c, problem.L))
    return stated, proved


def _ci(x, level=0.95):
    """Mean and Student-t confidence interval of the mean of ``x``."""
    from scipy import stats

    x = np.asarray(x, dtype=np.float64)
    mean = float(x.mean())
    if x.size < 2:
        return mean, [mean, mean]
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, [mean - half, mean + half]


def summarize(problem: ConvexProblem, run: RunResult, G: float) -> dict:
    """The JSON record of one run: measured error with a 95% CI, the bounds, whether each holds.

    ``holds[k]`` is ``error_mean <= bound`` (the theorems bound the expectation; ``error_ci`` shows the
    sampling error); ``tightness[k]`` is ``bound / error_mean``.
    """
    stated, proved = bounds_for(problem, run.method, run.delta, run.steps, run.schedule, G)
    mean, ci = _ci(run.errors)
    holds = {k: (None if v is None else bool(mean <= v)) for k, v in stated.items()}
    rec = {
        "method": run.method,
        "delta": run.delta,
        "steps": run.steps,
        "seeds": int(run.errors.size),
        "error_mean": mean,
        "error_ci": ci,
        "bounds": stated,
        "holds": holds,
        "bounds_proved": proved,
        "holds_proved": {k: (None if v is None else bool(mean <= v)) for k, v in proved.items()},
        "tightness": {k: (None if v is None or mean <= 0 else v / mean) for k, v in stated.items()},
        "checkpoints": {"steps": run.ck_steps.tolist(), "error_mean": run.ck_errors.mean(axis=0).tolist()},
    }
    if run.method in ("bc", "bc-qs"):
        qm, qci = _ci(run.errors_q)
        rec.update(
            {
                "error_q_mean": qm,
                "error_q_ci": qci,
                "checkpoints_q": {"steps": run.ck_steps.tolist(), "error_mean": run.ck_errors_q.mean(axis=0).tolist()},
            }
        )
    if run.method == "sr":
        lm, lci = _ci(run.lemma_ratio)
        b = float(bnd.lemma1(problem.dim, run.delta, 1.0, G))
        rec["lemma1"] = {
            "quantity": "mean over t of ‖r_t‖²/α_t",
            "measured": lm,
            "measured_ci": lci,
            "bound": b,
            "holds": bool(lm <= b),
        }
    return rec


def floor_slope(deltas, errors) -> float | None:
    """Least-squares slope of log(error) against log(Δ) (None with fewer than two positive points)."""
    x = np.asarray(deltas, dtype=np.float64)
    y = np.asarray(errors, dtype=np.float64)
    ok = (x > 0) & (y > 0)
    if ok.sum() < 2:
        return None
    slope = float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])
    return 0.0 if abs(slope) < 1e-9 else slope


#: Largest steps, seeds or batch accepted (the kernel's loop counters are int64).
MAX_COUNT = 2**62
#: Conservative seconds per seed-step of the kernel on one thread: a base, per coordinate, per sample and
#: coordinate of the batch, and per sample for the logistic loss's exp (measured on the build machine: 100 ns for
#: quadratic d = 10, B = 1; 880 ns for B = 50; 410 ns for d = 50; logistic 175 ns, 2 µs for B = 50).
SECONDS_PER_SEED_STEP = {"base": 4e-8, "coordinate": 1e-8, "sample-coordinate": 3e-9, "logistic-sample": 4e-8}
#: Seconds and bytes per seed to spawn its stream (``SeedSequence.spawn`` in Python; measured 25 µs).
SECONDS_PER_SEED = 4e-5
BYTES_PER_SEED = 2000.0


def estimate_sweep(
    problem: ConvexProblem,
    methods,
    deltas,
    steps: int,
    seeds: int,
    batch: int = 1,
    n_checkpoints: int = 25,
    threads: int | None = None,
):
    """:class:`~srchain.simulate.WorkEstimate` of :func:`sweep`, from sizes alone (before any seed is spawned).

    Time: every job (SGD once, every other method per Δ) runs ``steps × seeds`` seed-steps at
    :data:`SECONDS_PER_SEED_STEP` over ``min(threads, seeds)`` threads, after spawning the seeds' streams.
    Memory: the seeds' streams and per-seed sums and checkpoint arrays of one run (``seeds × checkpoints × d``,
    with the temporaries of the errors) plus the summaries every job keeps.
    """
    from srchain.simulate import WorkEstimate, n_threads

    threads = max(1, int(threads if threads is not None else n_threads()))
    jobs = sum(1 if m == "sgd" else len(deltas) for m in dict.fromkeys(methods))
    d, B = float(problem.dim), float(batch)
    c = SECONDS_PER_SEED_STEP
    per = c["base"] + d * c["coordinate"] + B * d * c["sample-coordinate"]
    if problem.kind == KIND_LOGISTIC:
        per += B * c["logistic-sample"]
    work = float(jobs) * float(steps) * float(seeds)
    nck = float(min(n_checkpoints + 1, steps))
    seconds = work * per / min(threads, float(seeds)) + jobs * float(seeds) * SECONDS_PER_SEED
    run_bytes = float(seeds) * (BYTES_PER_SEED + nck * d * 8 * 6 + d * 8 * 8 + 64)
    kept = jobs * float(seeds) * (nck * 2 + d * 3 + 4) * 8
    return WorkEstimate(seconds=seconds, bytes=run_bytes + kept + problem.A.nbytes, work=work, unit="seed-steps")


def check_counts(steps, seeds, batch) -> None:
    """Refuse counts the kernel's int64 loop counters cannot hold (before Numba sees them)."""
    for name, v in (("steps", steps), ("seeds", seeds), ("batch", batch)):
        if not int(v) <= MAX_COUNT:
            raise SrchainError(
                f"{name} = {float(v):.3g} is more than the kernel's int64 counters hold (at most "
                f"2^62 = {float(MAX_COUNT):.3g})"
            )


def sweep(
    problem: ConvexProblem,
    methods,
    deltas,
    steps: int,
    seeds: int,
    schedule: Schedule,
    seed: int = 0,
    batch: int = 1,
    G: float | None = None,
    progress=None,
    max_memory: float | None = None,
    max_hours: float | None = None,
    on_estimate=None,
) -> tuple[list[dict], list[RunResult], dict]:
    """Every method at every Δ (SGD once: it does not depend on Δ).

    ``max_memory`` (bytes; default :func:`srchain.budget.default_max_memory`) and ``max_hours`` (default: no
    limit) bound :func:`estimate_sweep`, checked before anything runs; ``on_estimate(estimate)`` is called then.

    Returns ``(records, runs, slopes)``; ``slopes[method]`` has the measured slope of log error against log Δ
    and the slope of the applicable bound's right-hand side over the same Δ.
    """
    from srchain.simulate import check_work

    check_counts(steps, seeds, batch)
    est = estimate_sweep(problem, methods, deltas, steps, seeds, batch)
    check_work(est, max_memory, max_hours, what="the convex sweep", hint="use fewer steps, seeds or a smaller batch")
    if on_estimate is not None:
        on_estimate(est)
    if G is None:
        G = math.sqrt(problem.g_squared(batch)[0])
    jobs = []
    for mth in methods:
        if mth == "sgd":
            jobs.append((mth, None))
        else:
            jobs.extend((mth, float(dl)) for dl in deltas)
    records, runs = [], []
    it = jobs if progress is None else progress(jobs)
    for mth, dl in it:
        run = run_convex(problem, mth, dl, steps, seeds, schedule, seed=seed, batch=batch)
        runs.append(run)
        records.append(summarize(problem, run, G))
    return records, runs, slopes_over_delta(records, methods)


def slopes_over_delta(records, methods) -> dict:
    """``slopes[method]``: the log-log slope over Δ of the measured error (and of Q(w_r)'s for BC) and of each
    bound, from :func:`summarize`'s records; SGD has no Δ and no slope."""
    slopes = {}
    for mth in methods:
        if mth == "sgd":
            continue
        recs = [r for r in records if r["method"] == mth]
        ds = [r["delta"] for r in recs]
        entry = {"measured": floor_slope(ds, [r["error_mean"] for r in recs])}
        if mth in ("bc", "bc-qs"):
            entry["measured_q"] = floor_slope(ds, [r["error_q_mean"] for r in recs])
        for k in BOUND_KEYS:
            vals = [r["bounds"][k] for r in recs]
            if all(v is not None for v in vals):
                entry[f"bound_{k}"] = floor_slope(ds, vals)
        entry["floor_term"] = 1.0  # every printed floor is linear in Δ
        slopes[mth] = entry
    return slopes
