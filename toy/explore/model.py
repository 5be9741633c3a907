"""The model of ``srchain explore``: the computations behind every number the app shows (pure, memoised).

No Panel, Bokeh or param here: :mod:`srchain.toy.explore.app` is the view. Each computation is memoised on its
parameters (a hashable :class:`Setting`, the method and α); errors the user can cause (a reducible chain, a lattice
too large) are memoised too, as a :class:`Law` holding the message. A refusal for lack of memory
(:class:`~srchain.errors.MemoryRefusal`) is not: it depends on the memory free at that moment, so neither it nor any
result computed from it (a curve's point, a mixing time) is kept, and the next request computes it again.

The grid is the fixed lattice ΔZ (``format="fixed"``, the Δ control) or a number format's values
(:class:`srchain.grids.Grid`: bf16, fp16, fp8-e4m3, fp8-e5m2, fp4-e2m1 with its block scale), whose chains are
those of :mod:`srchain.grid_chains`, the same as ``srchain stationary --format NAME``. A format's grid on the
problem's box can hold tens of thousands of values (bf16 on [−4, 10]); the explorer then shows the
:data:`MAX_GRID_STATES` consecutive values around the minimiser (:func:`format_grid`, with a note in the page).
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace

import numpy as np
from srchain.toy.explore.params import (
    ALPHAS,
    DELTAS,
    FORMAT_CHOICES,
    METHODS,
    MIXING_ALPHAS,
    NOISES,
    PARAMS,
    SCALES,
    ParamSpec,
    nearest_alpha,
    problem_options,
)

from srchain.errors import MemoryRefusal, SrchainError

__all__ = [
    "ALPHAS",
    "MIXING_ALPHAS",
    "DELTAS",
    "FORMAT_CHOICES",
    "SCALES",
    "MAX_GRID_STATES",
    "NOISES",
    "METHODS",
    "MAX_STATES",
    "MAX_EXACT_MIXING_STATES",
    "MAX_MIXING_STEPS",
    "BC_MAX_WORK",
    "BC_MAX_SECONDS",
    "BC_MAX_BYTES",
    "Setting",
    "Law",
    "problem_options",
    "chain",
    "format_grid",
    "grid_note",
    "grid_text",
    "bar_widths",
    "minimizer_cells",
    "operator",
    "law",
    "limit_law",
    "alpha0_of",
    "curve_point",
    "mixing",
    "histogram",
    "clear_caches",
    "PARAMS",
    "ParamSpec",
    "nearest_alpha",
    "tv_floor",
    "tv_label",
    "start_state",
]

#: Largest lattice the app builds (10³ states in 1-D, 33² in 2-D).
MAX_STATES = 1100
#: Largest format grid the app builds: more values (bf16 or fp16 on a wide box) are clamped to this many around
#: the minimiser. Near 0 a format's values are so dense that a step reaches hundreds of them: T_α's rows fill up.
MAX_GRID_STATES = 400
#: The exact mixing time is computed up to this many states (spectral bounds above).
MAX_EXACT_MIXING_STATES = 300
#: Give up the exact mixing time beyond this many steps (the bounds are still shown).
MAX_MIXING_STEPS = 10**7
#: BC's transfer operator: refuse when its banded elimination would cost more than this many multiply-adds.
BC_MAX_WORK = 3e9
#: BC's transfer operator on a format's grid: refuse a refinement level estimated to take longer, or more memory.
BC_MAX_SECONDS = 2.0
BC_MAX_BYTES = 1e9


@dataclass(frozen=True)
class Setting:
    """Everything but the rule and α that a law depends on (hashable: the key of every cache)."""

    problem: str = "toy"
    dim: int | None = None
    delta: float = 0.5
    noise: str = "gaussian"
    sigma: float = 2.0
    nu: float = 3.0
    batch: int = 1
    samples: int = 16
    seed: int = 0
    #: start point of the long-run law of a reducible chain (``None``: a reducible chain is an error). The view sets
    #: it only for the minibatch noise, whose chains can be reducible at any α (as ``srchain bigbatch`` does).
    start: float | None = None
    #: the grid: ``fixed`` (lo + ΔZ, ``delta``) or a format of :data:`FORMAT_CHOICES` (``delta`` is then unused)
    format: str = "fixed"
    #: the block scale of the format's values (a power of two; the view sets it for fp4-e2m1 only)
    scale: float = 1.0

    def to_dict(self) -> dict:
        return {
            "problem": self.problem,
            "dim": self.dim,
            "delta": self.delta if self.format == "fixed" else None,
            "noise": self.noise,
            "sigma": self.sigma,
            "nu": self.nu,
            "batch": self.batch,
            "samples": self.samples,
            "seed": self.seed,
            "start": self.start,
            "format": self.format,
            "scale": self.scale,
        }


@dataclass(frozen=True)
class Law:
    """A law on the lattice (or the reason there is none)."""

    pi: np.ndarray | None
    solver: str = ""
    seconds: float = 0.0
    error: str | None = None
    note: str = ""


@functools.lru_cache(maxsize=64)
def chain(setting: Setting):
    """``(problem, noise, lattice)`` of a setting (raises :class:`SrchainError` for one the app cannot show)."""
    from srchain.lattice import Lattice
    from srchain.noise import make_noise
    from srchain.problems import get_problem

    problem = get_problem(setting.problem, dim=setting.dim)
    if problem.dim > 2:
        raise SrchainError(f"the explorer shows 1-D and 2-D problems; {setting.problem!r} is {problem.dim}-D")
    noise = make_noise(
        setting.noise,
        sigma=setting.sigma,
        nu=setting.nu,
        batch=setting.batch,
        samples=setting.samples,
        seed=setting.seed,
    )
    if setting.format == "fixed":
        lattice = Lattice.from_domain(setting.delta, problem.domain, dim=problem.dim, max_states=MAX_STATES)
        return problem, noise, lattice
    problem, grid, _ = format_grid(setting)
    return problem, noise, grid


@functools.lru_cache(maxsize=64)
def format_grid(setting: Setting):
    """``(problem, grid, note)``: the grid of ``setting.format`` on the problem's box, or, when that holds more than
    :data:`MAX_GRID_STATES` values, the :data:`MAX_GRID_STATES` consecutive values around the minimiser (the box's
    centre without one) and the problem on their span; ``note`` says so ("" when nothing was clamped).

    The chains on the clamped grid are exactly ``srchain stationary --format NAME --domain LO HI`` with the span
    ``[LO, HI]`` the note gives.

    Raises
    ------
    SrchainError
        A 2-D problem (a format's grid is shown for 1-D problems), or the box reaches beyond the format's range
        (fp4-e2m1: a larger scale covers it).
    """
    from srchain.grids import Grid
    from srchain.problems import get_problem

    problem = get_problem(setting.problem, dim=setting.dim)
    name = setting.format
    if problem.dim != 1:
        raise SrchainError(
            f"the explorer shows a number format's grid for 1-D problems; {setting.problem!r} here is "
            f"{problem.dim}-D: pick grid 'fixed' or a 1-D problem"
        )
    try:  # slices of the format's sorted values: no array of states is made before the count is known
        grid = Grid.of(name, problem.domain, scale=setting.scale)
    except SrchainError as exc:
        raise SrchainError(str(exc).replace("--scale", "fp4 scale s")) from None
    if grid.size <= MAX_GRID_STATES:
        return problem, grid, ""
    v = grid.axis(0)
    centre = float(problem.minimizer[0]) if problem.minimizer is not None else 0.5 * float(v[0] + v[-1])
    i = int(np.clip(np.searchsorted(v, centre), 0, v.size - 1))
    a = int(np.clip(i - MAX_GRID_STATES // 2, 0, v.size - MAX_GRID_STATES))
    lo, hi = float(v[a]), float(v[a + MAX_GRID_STATES - 1])
    clamped = problem.with_domain((lo, hi))
    sub = Grid.of(name, clamped.domain, scale=setting.scale)
    note = (
        f"the {name} grid of [{v[0]:g}, {v[-1]:g}] has {grid.size} values, more than the explorer's "
        f"{MAX_GRID_STATES}: showing the {sub.size} values in [{lo:.6g}, {hi:.6g}] around "
        f"{'the minimiser' if problem.minimizer is not None else 'the centre'} {centre:g} "
        f"(srchain stationary --format {name} --domain {lo!r} {hi!r} computes the same chain)"
    )
    return clamped, sub, note


def grid_note(setting: Setting) -> str:
    """Why the format's grid shown is smaller than the problem's box ("" for the fixed grid or no clamping)."""
    return "" if setting.format == "fixed" else format_grid(setting)[2]


def grid_text(lattice) -> str:
    """The grid in the page's words: ``Δ = 0.5`` or ``bf16 grid`` (``fp4-e2m1×2 grid`` with a scale)."""
    from srchain.grids import grid_label, is_uniform

    return f"Δ = {lattice.delta:g}" if is_uniform(lattice) else grid_label(lattice)


def bar_widths(lattice) -> np.ndarray:
    """Width of each state's histogram bar on a 1-D grid: 0.8 of the smaller gap to a neighbour (Δ on ΔZ)."""
    v = np.asarray(lattice.points[:, 0], dtype=np.float64)
    if v.size < 2:
        return np.ones(v.size)
    gaps = np.diff(v)
    return 0.8 * np.minimum(np.append(gaps, gaps[-1]), np.insert(gaps, 0, gaps[0]))


def minimizer_cells(setting: Setting) -> np.ndarray:
    """Lattice states within Δ of the global minimiser (the paper's "mass on the minimiser")."""
    problem, _, lattice = chain(setting)
    if problem.minimizer is None:
        return np.zeros(0, dtype=np.int64)
    return lattice.cells(problem.minimizer)


_refusals = threading.local()  # .now: a memory refusal was met in the computation under way (in this thread)


def _refused(exc: SrchainError) -> str:
    """The message of ``exc``, an error turned into a result; a memory refusal marks that result (and every result
    computed from it) as one to forget (:func:`_memo`)."""
    if isinstance(exc, MemoryRefusal):
        _refusals.now = True
    return str(exc)


def _memo(maxsize: int):
    """:func:`functools.lru_cache` for the model's computations, except that a result computed while a memory refusal
    was met (:func:`_refused`, at any depth of memoised calls) is returned but not kept. ``cache_clear`` as
    lru_cache's."""

    def deco(fn):
        cache: OrderedDict = OrderedDict()
        lock = threading.Lock()

        @functools.wraps(fn)
        def wrapped(*args):
            with lock:
                if args in cache:
                    cache.move_to_end(args)
                    return cache[args]
            outer = getattr(_refusals, "now", False)
            _refusals.now = False
            try:
                out = fn(*args)
                keep = not _refusals.now
            finally:
                _refusals.now = outer or _refusals.now
            if keep:
                with lock:
                    cache[args] = out
                    while len(cache) > maxsize:
                        cache.popitem(last=False)
            return out

        wrapped.cache_clear = cache.clear  # type: ignore[attr-defined]
        return wrapped

    return deco


def _memo_errors(fn):
    """:func:`_memo` of ``fn`` with :class:`SrchainError` turned into a :class:`Law` holding the message."""

    @_memo(maxsize=4096)
    @functools.wraps(fn)
    def wrapped(*args):
        t0 = time.perf_counter()
        try:
            out = fn(*args)
        except SrchainError as exc:
            return Law(pi=None, error=_refused(exc), seconds=time.perf_counter() - t0)
        return replace(out, seconds=time.perf_counter() - t0) if isinstance(out, Law) else out

    return wrapped


@functools.lru_cache(maxsize=16)
def operator(setting: Setting, method: str, alpha: float):
    """T_αᵀ of SR or R (:func:`srchain.operators.transition_matrix`)."""
    from srchain.operators import transition_matrix

    problem, noise, lattice = chain(setting)
    return transition_matrix(problem, noise, lattice, alpha, method=method)


def _banded_stationary(P, window: int) -> np.ndarray:
    """π of a 1-D chain whose moves span at most ``window`` states, by banded GTH (O(n·window²))."""
    from srchain.gth import banded_law

    return banded_law(P, window)


@_memo_errors
def law(setting: Setting, method: str, alpha: float) -> Law:
    """The stationary law of ``method`` at ``alpha``: π_α for SR/R, the law of Qd(w_r) for BC.

    A reducible chain (no unique π_α) is an error, unless ``setting.start`` is set: then the law is the long-run law
    from the start state (:func:`srchain.toy.bigbatch.limit_law_from`), as ``srchain bigbatch`` reports it.
    """
    problem, noise, lattice = chain(setting)
    if method == "bc":
        return _bc_law(setting, alpha)
    from srchain.stationary import check_ergodic, is_birth_death, stationary

    op = operator(setting, method, alpha)
    if setting.start is not None and _reducible(op.P):
        return _law_from_start(setting, op.P)
    if setting.format != "fixed":  # the solver of ``srchain stationary --format`` (auto)
        res = stationary(op)
        return Law(pi=res.pi, solver=res.method)
    if lattice.dim == 1 and op.window < lattice.size // 3 and not is_birth_death(op.P):
        check_ergodic(op.P)
        return Law(pi=_banded_stationary(op.P, op.window), solver="banded-gth")
    res = stationary(op.P, shape=lattice.shape)
    return Law(pi=res.pi, solver=res.method)


def _reducible(P) -> bool:
    """Whether the chain ``P`` has more than one strongly connected class (O(nnz), SciPy)."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    G = sp.csr_matrix(P, copy=True)
    G.setdiag(0)
    G.eliminate_zeros()
    return connected_components(G, directed=True, connection="strong")[0] > 1


def start_state(setting: Setting) -> int:
    """Index of the lattice state nearest to ``setting.start`` (clipped to the domain)."""
    _, _, lattice = chain(setting)
    w = np.clip(np.full(lattice.dim, float(setting.start)), lattice.domain[:, 0], lattice.domain[:, 1])
    return int(lattice.nearest(w).item())


def _law_from_start(setting: Setting, P) -> Law:
    """The long-run law of a reducible chain from the start state, as ``srchain bigbatch`` reports it
    (:func:`srchain.toy.bigbatch.limit_law_from`: the closed classes' laws weighted by their absorption
    probabilities from the start)."""
    from srchain.toy.bigbatch import limit_law_from

    pi, note = limit_law_from(P, start_state(setting))
    return Law(
        pi=pi, solver="long-run law from the start (reducible chain)", note=f"from w₀ = {setting.start:g}: {note}"
    )


def _bc_work(setting: Setting, alpha: float) -> float:
    """Multiply-adds of :func:`srchain.toy.bc_law.bc_law`'s first level (its banded GTH, O(N·b²))."""
    _, noise, lattice = chain(setting)
    std = noise.std if math.isfinite(noise.std) else noise.quantile_width(0.3)
    cells2 = 2 * (lattice.size - 1)
    r0 = min(max(1, math.ceil(lattice.delta / 2 / (alpha * std))), max(1, 400_000 // (4 * cells2)))
    N = cells2 * r0
    h = lattice.delta / (2 * r0)
    b = min(N, alpha * noise.quantile_width(1e-14) / h + 2 + alpha * 30 / h)
    return float(N) * b * b


def _bc_law(setting: Setting, alpha: float) -> Law:
    from srchain.toy.bc_law import bc_law

    problem, noise, lattice = chain(setting)
    if lattice.dim != 1:
        raise SrchainError("BC's exact law (transfer operator) is 1-D only; tick 'simulate' for its histogram")
    if setting.format != "fixed":  # bins of variable width in Qd's cells (srchain.toy.bc_grid), refused by its
        # own estimate of one level's cost before anything large is built
        res = bc_law(problem, noise, lattice, alpha, max_seconds=BC_MAX_SECONDS, max_memory=BC_MAX_BYTES)
        note = "" if res.converged else f"refinement stopped at {res.latent.size} bins (change {res.tv_change:.2g})"
        return Law(pi=res.pi, solver=f"bc-transfer on the {setting.format} grid ({res.latent.size} bins)", note=note)
    work = _bc_work(setting, alpha)
    if work > BC_MAX_WORK:
        raise SrchainError(
            f"BC's transfer operator at alpha = {alpha:g} on {lattice.size} states would take about "
            f"{work:.1e} operations; use a larger delta or a smaller alpha (or tick 'simulate')"
        )
    res = bc_law(problem, noise, lattice, alpha)
    note = "" if res.converged else f"refinement stopped at {res.latent.size} bins (change {res.tv_change:.2g})"
    return Law(pi=res.pi, solver=f"bc-transfer ({res.latent.size} bins)", note=note)


@_memo_errors
def limit_law(setting: Setting) -> Law:
    """π̃ of Eq. 9 (the α → 0 limit of SR's π_α, Theorem 5); ``note`` holds α0. A reducible T̃ gives the long-run
    law from ``setting.start`` when it is set (as :func:`law` does)."""
    from srchain.operators import alpha0, t_tilde, u_tilde
    from srchain.stationary import stationary

    problem, noise, lattice = chain(setting)
    U = u_tilde(problem, noise, lattice)
    a0 = alpha0(U)
    T = t_tilde(U)
    if setting.start is not None and _reducible(T):
        return replace(_law_from_start(setting, T), note=repr(a0))
    res = stationary(T, shape=lattice.shape)
    return Law(pi=res.pi, solver=res.method, note=repr(a0))


def alpha0_of(setting: Setting) -> float | None:
    lim = limit_law(setting)
    return None if lim.error else float(lim.note)


def _tv(p, q) -> float:
    from srchain.stationary import tv

    return tv(p, q)


#: TV between two laws each accurate to ``c·n·u`` relative to every entry (GTH, subtraction-free) is accurate to
#: ``½ Σ c·n·u (π_i + π̃_i) = c·n·u`` absolutely; with a safety factor c = 8 this is the smallest TV shown as data.
TV_FLOOR_FACTOR = 8.0


def tv_floor(setting: Setting) -> float:
    """The solver's accuracy for TV(law, π̃) on this lattice (``8·n·u``, u the float64 unit roundoff): TV values
    below it are rounding noise (Theorem 5 makes TV exactly 0 below α0 up to the Gaussian tail), shown as a floor."""
    _, _, lattice = chain(setting)
    return TV_FLOOR_FACTOR * lattice.size * float(np.finfo(np.float64).eps) / 2


def tv_label(method: str) -> str:
    """How the page names TV to π̃ for ``method`` (the same in the numbers line, the plot title and the export)."""
    return "TV(π_α, π̃)" if method == "sr" else f"TV(law of {method.upper()}, π̃)"


@_memo(maxsize=4096)
def curve_point(setting: Setting, method: str, alpha: float) -> tuple[float, float, float]:
    """``(TV(law, π̃), mass on the minimiser, entropy)`` at one α (NaN where undefined)."""
    from srchain.spec import entropy

    res = law(setting, method, alpha)
    if res.pi is None:
        return (math.nan, math.nan, math.nan)
    lim = limit_law(setting)
    t = _tv(res.pi, lim.pi) if lim.pi is not None else math.nan
    cells = minimizer_cells(setting)
    m = float(res.pi[cells].sum()) if cells.size else math.nan
    return (t, m, entropy(res.pi))


@_memo(maxsize=1024)
def mixing(setting: Setting, method: str, alpha: float, eps: float) -> dict:
    """M_ε(α) (exact up to :data:`MAX_EXACT_MIXING_STATES` states) and the spectral bounds of the chain."""
    from srchain.mixing import mixing_time, spectral_bounds

    out = {
        "alpha": alpha,
        "mixing_time": None,
        "relaxation_time": None,
        "lower_bound": None,
        "upper_bound": None,
        "note": "",
    }
    if method == "bc":
        out["note"] = "BC's state is continuous: no lattice chain to mix"
        return out
    res = law(setting, method, alpha)
    if res.pi is None:
        out["note"] = res.error
        return out
    try:
        P = operator(setting, method, alpha).P
        t_rel, lo, hi, note = spectral_bounds(P, res.pi, eps)
        out.update(relaxation_time=t_rel, lower_bound=lo, upper_bound=hi, note=note)
        if P.shape[0] <= MAX_EXACT_MIXING_STATES:
            m = mixing_time(P, eps, pi=res.pi, max_exact_states=MAX_EXACT_MIXING_STATES, max_steps=MAX_MIXING_STEPS)
            out["mixing_time"] = m.mixing_time
        else:
            out["note"] = (
                note + "; " if note else ""
            ) + f"exact M_eps above {MAX_EXACT_MIXING_STATES} states: bounds only"
    except SrchainError as exc:
        out["note"] = _refused(exc)
    return out


@_memo(maxsize=64)
def histogram(setting: Setting, method: str, alpha: float, steps: int, start: float, seed: int) -> Law:
    """Empirical law of the quantized weight over ``steps`` steps from ``start`` (jump sampler for SR/R)."""
    from srchain.simulate import jump_chain, simulate

    t0 = time.perf_counter()
    problem, noise, lattice = chain(setting)
    x0 = np.full(lattice.dim, float(start))
    x0 = np.clip(x0, lattice.domain[:, 0], lattice.domain[:, 1])
    try:
        if setting.format != "fixed":  # the grid simulators (Numba; SR and R step by step, BC with its latent)
            from srchain.simulate.grid import simulate_grid

            g = simulate_grid(problem, noise, lattice, method, alpha, steps, start=x0, seed=seed)
            return Law(pi=g.occupation(), solver="grid step sampler", seconds=time.perf_counter() - t0)
        if method == "bc":
            r = simulate(problem, noise, lattice, "bc", alpha, steps, start=x0, seed=seed)
            how = "BC step sampler"
        else:
            r = jump_chain(
                problem,
                noise,
                lattice,
                method,
                alpha,
                steps,
                start=x0,
                seed=seed,
                operator=operator(setting, method, alpha),
            )
            how = "jump sampler"
    except SrchainError as exc:
        return Law(pi=None, error=_refused(exc))
    return Law(pi=r.freq, solver=how, seconds=time.perf_counter() - t0)


def clear_caches() -> None:
    """Forget every memoised result (tests and benchmarks)."""
    for f in (chain, format_grid, operator, law, limit_law, curve_point, mixing, histogram):
        f.cache_clear()


# ---------------------------------------------------------------------------------------------------------------
# formatting (shared by the view and the exports)
# ---------------------------------------------------------------------------------------------------------------
def _nan(x):
    return math.nan if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)


def _fmt(x, spec=".4g") -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(float(x), spec)
