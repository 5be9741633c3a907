"""``srchain explore``: an interactive Panel app that shows the SR chain stall and BC concentrate as the knobs turn.

:func:`build_app` returns the layout (serve it, or display it in a notebook); :class:`Explorer` holds the state
and the views. Every number it shows comes from the library:

* π_α of SR (Eq. 6) and R (Eq. 4): :func:`srchain.operators.transition_matrix` solved by subtraction-free GTH
  (:func:`srchain.toy.bc_law.banded_gth` on 1-D chains that are not birth-death chains and whose moves span less
  than a third of the lattice, where it costs O(n·J²) instead of O(n³); :func:`srchain.stationary.stationary`
  otherwise, which solves birth-death chains by detailed balance);
* π̃ (Eq. 9) and α0: :func:`srchain.operators.u_tilde`, :func:`~srchain.operators.alpha0`,
  :func:`~srchain.operators.t_tilde` and :func:`~srchain.stationary.stationary`;
* BC's law of ``Qd(w_r)``: :func:`srchain.toy.bc_law.bc_law` (1-D);
* M_ε(α) and its spectral bounds: :func:`srchain.mixing.mixing_time` and :func:`~srchain.mixing.spectral_bounds`;
* the simulated histogram: :func:`srchain.simulate.jump_chain` (SR, R) and :func:`srchain.simulate.simulate` (BC).

The α slider moves over a fixed grid (:data:`ALPHAS`, ten per decade): the curves over α are computed on the same
grid in a background thread, so once they are drawn every α is a cache hit. Each computation is memoised with
:func:`functools.lru_cache` on its parameters (a hashable :class:`Setting`, the method and α); errors the user can
cause (a reducible chain, a lattice too large) are memoised too and shown in the page instead of raised.
"""
from __future__ import annotations

import functools
import html
import io
import json
import math
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout  # not the builtin before Python 3.11
from dataclasses import dataclass, replace

import numpy as np

from srchain.errors import SrchainError

__all__ = ["ALPHAS", "DELTAS", "Setting", "Explorer", "build_app", "problem_options", "law", "limit_law",
           "mixing", "histogram", "curve_point", "clear_caches"]

#: The α grid of the slider and of the curves: ten values per decade from 1e-4 to 1 (3 significant digits).
ALPHAS = tuple(float(f"{a:.3g}") for a in np.logspace(-4, 0, 41))
#: α values of the mixing-time curve (two per decade: the exact method is expensive at small α).
MIXING_ALPHAS = ALPHAS[::5]
#: Quantization steps offered (states of the toy problem on [-4, 10]: 15, 29, 57, 141, 281, 561, 1001).
DELTAS = (1.0, 0.5, 0.25, 0.1, 0.05, 0.025, 0.014)
NOISES = ("gaussian", "laplace", "student-t", "minibatch")
METHODS = ("sr", "r", "bc")
#: Largest lattice the app builds (10³ states in 1-D, 33² in 2-D).
MAX_STATES = 1100
#: The exact mixing time is computed up to this many states (spectral bounds above).
MAX_EXACT_MIXING_STATES = 300
#: Give up the exact mixing time beyond this many steps (the bounds are still shown).
MAX_MIXING_STEPS = 10**7
#: BC's transfer operator: refuse when its banded elimination would cost more than this many multiply-adds.
BC_MAX_WORK = 3e9
#: An update waits this long for its computation before it shows a spinner and finishes in the background.
WAIT_S = 0.15


# ---------------------------------------------------------------------------------------------------------------
# the computations (pure, memoised)
# ---------------------------------------------------------------------------------------------------------------
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

    def to_dict(self) -> dict:
        return {"problem": self.problem, "dim": self.dim, "delta": self.delta, "noise": self.noise,
                "sigma": self.sigma, "nu": self.nu, "batch": self.batch, "samples": self.samples, "seed": self.seed}


@dataclass(frozen=True)
class Law:
    """A law on the lattice (or the reason there is none)."""

    pi: np.ndarray | None
    solver: str = ""
    seconds: float = 0.0
    error: str | None = None
    note: str = ""


@functools.lru_cache(maxsize=None)
def problem_options() -> dict:
    """Label -> (registered name, dim) of the problems the app can show: 1-D ones, and 2-D ones as heat maps."""
    from srchain.problems import available_problems, get_problem

    out = {}
    for name in available_problems():
        for dim, label in ((None, name), (1, name), (2, f"{name}-2d")):
            if label in out:
                continue
            try:
                p = get_problem(name, dim=dim)
            except SrchainError:
                continue
            if p.dim == 1 and label == name:
                out[label] = (name, None if dim is None else 1)
            elif p.dim == 2 and dim == 2:
                out[label] = (name, 2)
    return out


@functools.lru_cache(maxsize=64)
def chain(setting: Setting):
    """``(problem, noise, lattice)`` of a setting (raises :class:`SrchainError` for one the app cannot show)."""
    from srchain.lattice import Lattice
    from srchain.noise import make_noise
    from srchain.problems import get_problem

    problem = get_problem(setting.problem, dim=setting.dim)
    if problem.dim > 2:
        raise SrchainError(f"the explorer shows 1-D and 2-D problems; {setting.problem!r} is {problem.dim}-D")
    noise = make_noise(setting.noise, sigma=setting.sigma, nu=setting.nu, batch=setting.batch,
                       samples=setting.samples, seed=setting.seed)
    lattice = Lattice.from_domain(setting.delta, problem.domain, dim=problem.dim, max_states=MAX_STATES)
    return problem, noise, lattice


def minimizer_cells(setting: Setting) -> np.ndarray:
    """Lattice states within Δ of the global minimiser (the paper's "mass on the minimiser")."""
    problem, _, lattice = chain(setting)
    if problem.minimizer is None:
        return np.zeros(0, dtype=np.int64)
    return lattice.cells(problem.minimizer)


def _memo_errors(fn):
    """Memoise ``fn`` (lru_cache) with :class:`SrchainError` turned into a :class:`Law` holding the message."""

    @functools.lru_cache(maxsize=4096)
    @functools.wraps(fn)
    def wrapped(*args):
        t0 = time.perf_counter()
        try:
            out = fn(*args)
        except SrchainError as exc:
            return Law(pi=None, error=str(exc), seconds=time.perf_counter() - t0)
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
    from srchain.toy.bc_law import banded_gth

    n = P.shape[0]
    b = int(max(1, min(window, n - 1)))
    rows = np.repeat(np.arange(n), np.diff(P.indptr))
    cols = P.indices.astype(np.int64)
    B = np.zeros((n, 2 * b + 1))
    B[rows, cols - rows + b] = P.data
    mant, frame = banded_gth(B, b)
    with np.errstate(divide="ignore"):
        logp = np.log(mant) + frame * 600 * math.log(2.0)
    logp -= logp.max()
    p = np.exp(logp)
    return p / p.sum()


@_memo_errors
def law(setting: Setting, method: str, alpha: float) -> Law:
    """The stationary law of ``method`` at ``alpha``: π_α for SR/R, the law of Qd(w_r) for BC."""
    problem, noise, lattice = chain(setting)
    if method == "bc":
        return _bc_law(setting, alpha)
    from srchain.stationary import check_ergodic, is_birth_death, stationary

    op = operator(setting, method, alpha)
    if lattice.dim == 1 and op.window < lattice.size // 3 and not is_birth_death(op.P):
        check_ergodic(op.P)
        return Law(pi=_banded_stationary(op.P, op.window), solver="banded-gth")
    res = stationary(op.P, shape=lattice.shape)
    return Law(pi=res.pi, solver=res.method)


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
    work = _bc_work(setting, alpha)
    if work > BC_MAX_WORK:
        raise SrchainError(f"BC's transfer operator at alpha = {alpha:g} on {lattice.size} states would take about "
                           f"{work:.1e} operations; use a larger delta or a smaller alpha (or tick 'simulate')")
    res = bc_law(problem, noise, lattice, alpha)
    note = "" if res.converged else f"refinement stopped at {res.latent.size} bins (change {res.tv_change:.2g})"
    return Law(pi=res.pi, solver=f"bc-transfer ({res.latent.size} bins)", note=note)


@_memo_errors
def limit_law(setting: Setting) -> Law:
    """π̃ of Eq. 9 (the α → 0 limit of SR's π_α, Theorem 5); ``note`` holds α0."""
    from srchain.operators import alpha0, t_tilde, u_tilde
    from srchain.stationary import stationary

    problem, noise, lattice = chain(setting)
    U = u_tilde(problem, noise, lattice)
    a0 = alpha0(U)
    res = stationary(t_tilde(U), shape=lattice.shape)
    return Law(pi=res.pi, solver=res.method, note=repr(a0))


def alpha0_of(setting: Setting) -> float | None:
    lim = limit_law(setting)
    return None if lim.error else float(lim.note)


def _tv(p, q) -> float:
    from srchain.stationary import tv

    return tv(p, q)


@functools.lru_cache(maxsize=4096)
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


@functools.lru_cache(maxsize=1024)
def mixing(setting: Setting, method: str, alpha: float, eps: float) -> dict:
    """M_ε(α) (exact up to :data:`MAX_EXACT_MIXING_STATES` states) and the spectral bounds of the chain."""
    from srchain.mixing import mixing_time, spectral_bounds

    out = {"alpha": alpha, "mixing_time": None, "relaxation_time": None, "lower_bound": None, "upper_bound": None,
           "note": ""}
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
            out["note"] = (note + "; " if note else "") + f"exact M_eps above {MAX_EXACT_MIXING_STATES} states: bounds only"
    except SrchainError as exc:
        out["note"] = str(exc)
    return out


@functools.lru_cache(maxsize=64)
def histogram(setting: Setting, method: str, alpha: float, steps: int, start: float, seed: int) -> Law:
    """Empirical law of the quantized weight over ``steps`` steps from ``start`` (jump sampler for SR/R)."""
    from srchain.simulate import jump_chain, simulate

    t0 = time.perf_counter()
    problem, noise, lattice = chain(setting)
    x0 = np.full(lattice.dim, float(start))
    x0 = np.clip(x0, lattice.domain[:, 0], lattice.domain[:, 1])
    try:
        if method == "bc":
            r = simulate(problem, noise, lattice, "bc", alpha, steps, start=x0, seed=seed)
            how = "BC step sampler"
        else:
            r = jump_chain(problem, noise, lattice, method, alpha, steps, start=x0, seed=seed,
                           operator=operator(setting, method, alpha))
            how = "jump sampler"
    except SrchainError as exc:
        return Law(pi=None, error=str(exc))
    return Law(pi=r.freq, solver=how, seconds=time.perf_counter() - t0)


def clear_caches() -> None:
    """Forget every memoised result (tests and benchmarks)."""
    for f in (chain, operator, law, limit_law, curve_point, mixing, histogram):
        f.cache_clear()


# ---------------------------------------------------------------------------------------------------------------
# the app
# ---------------------------------------------------------------------------------------------------------------
def _nan(x):
    return math.nan if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)


def _fmt(x, spec=".4g") -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(float(x), spec)


#: Parameters kept in the URL's query string.
URL_PARAMS = ("problem", "method", "alpha", "delta", "noise", "sigma", "nu", "batch", "samples", "eps", "start",
              "simulate", "steps", "seed", "show_mixing")


def _explorer_class():
    import param

    class Explorer(param.Parameterized):
        """State, computations and views of the explorer (see the module docstring)."""

        problem = param.Selector(default="toy", objects=list(problem_options()), doc="registered problem")
        method = param.Selector(default="sr", objects=list(METHODS), doc="training rule")
        alpha = param.Selector(default=0.01, objects=list(ALPHAS), doc="learning rate α")
        delta = param.Selector(default=0.5, objects=list(DELTAS), doc="quantization step Δ")
        noise = param.Selector(default="gaussian", objects=list(NOISES), doc="gradient noise")
        sigma = param.Number(default=2.0, bounds=(0.05, 50.0), doc="noise scale (σ, or b for laplace)")
        nu = param.Number(default=3.0, bounds=(2.05, 100.0), doc="student-t degrees of freedom ν")
        batch = param.Integer(default=1, bounds=(1, 64), doc="batch size B")
        samples = param.Integer(default=16, bounds=(2, 64), doc="minibatch noise: number of samples m")
        eps = param.Number(default=0.25, bounds=(0.01, 0.99), doc="ε of the mixing time M_ε")
        start = param.Number(default=4.0, bounds=(-1e3, 1e3), doc="start point of the simulated chain")
        simulate = param.Boolean(default=False, doc="overlay a simulated histogram")
        steps = param.Integer(default=100_000, bounds=(100, 10**7), doc="steps of the simulated chain")
        seed = param.Integer(default=0, bounds=(0, 2**31 - 1), doc="seed (simulation, minibatch noise)")
        show_mixing = param.Boolean(default=False, doc="compute M_ε(α) and its spectral bounds over α")

        def __init__(self, background: bool = True, doc=None, **params):
            super().__init__(**params)
            self.background = background
            self._now = ThreadPoolExecutor(1, thread_name_prefix="explore-now")
            self._sweep_pool = ThreadPoolExecutor(1, thread_name_prefix="explore-sweep")
            self._pending: list[Future] = []
            self._lock = threading.RLock()
            self._gen = 0  # bumped when anything but α changes: stale sweeps stop
            self._doc = doc
            self.last_update_s = math.nan
            self.state: dict = {}
            self._build_views()
            self.param.watch(self._on_alpha, ["alpha"])
            self.param.watch(self._on_setting, ["problem", "method", "delta", "noise", "sigma", "nu", "batch",
                                                "samples", "seed"])
            self.param.watch(self._on_extras, ["simulate", "steps", "start", "eps", "show_mixing"])
            self._on_setting()

        # --- what is being looked at ---------------------------------------------------------------------------
        @property
        def setting(self) -> Setting:
            name, dim = problem_options()[self.problem]
            # the noise seed only matters for the minibatch noise: keep it out of the key otherwise
            seed = self.seed if self.noise == "minibatch" else 0
            return Setting(problem=name, dim=dim, delta=float(self.delta), noise=self.noise, sigma=float(self.sigma),
                           nu=float(self.nu), batch=int(self.batch), samples=int(self.samples), seed=int(seed))

        # --- views ---------------------------------------------------------------------------------------------
        def _build_views(self):
            import panel as pn
            from bokeh.models import ColumnDataSource, LinearAxis, LinearColorMapper, Range1d, Span
            from bokeh.plotting import figure

            tools = "pan,wheel_zoom,box_zoom,reset,hover"
            self.src_law = ColumnDataSource(dict(x=[], pi=[], limit=[], f=[]), name="srchain-law")
            self.src_sim = ColumnDataSource(dict(x=[], sim=[]))
            p = figure(height=330, sizing_mode="stretch_width", tools=tools, x_axis_label="w",
                       y_axis_label="probability", title="stationary law")
            p.extra_y_ranges = {"f": Range1d(0, 1)}
            p.add_layout(LinearAxis(y_range_name="f", axis_label="f(w)"), "right")
            p.line("x", "f", source=self.src_law, y_range_name="f", color="#aaaaaa", line_dash="dotted",
                   legend_label="objective f")
            p.vbar(x="x", top="sim", width=0.5, source=self.src_sim, color="#ff7f0e", alpha=0.35,
                   legend_label="simulated")
            p.step("x", "pi", source=self.src_law, mode="center", color="#1f77b4", line_width=2,
                   legend_label="law of the rule at α")
            p.step("x", "limit", source=self.src_law, mode="center", color="black", line_dash="dashed",
                   legend_label="π̃ (SR limit, Eq. 9)")
            self.min_span = Span(location=0, dimension="height", line_color="red", line_dash="dotted")
            p.add_layout(self.min_span)
            p.legend.location = "top_left"
            p.legend.click_policy = "hide"
            p.legend.label_text_font_size = "9pt"
            self.fig_law = p
            self._sim_bars = p.renderers[1]

            self.src_img = ColumnDataSource(dict(image=[], x=[], y=[], dw=[], dh=[]))
            self.src_img_lim = ColumnDataSource(dict(image=[], x=[], y=[], dw=[], dh=[]))
            self.cmap = LinearColorMapper(palette="Viridis256", low=0, high=1)
            figs = []
            for src, title in ((self.src_img, "law of the rule at α"), (self.src_img_lim, "π̃ (SR limit, Eq. 9)")):
                q = figure(height=330, width=360, tools=tools, title=title, x_axis_label="w₁", y_axis_label="w₂",
                           match_aspect=True)
                q.image(image="image", x="x", y="y", dw="dw", dh="dh", source=src, color_mapper=self.cmap)
                figs.append(q)
            self.fig_heat = figs

            self.src_curve = ColumnDataSource(dict(alpha=list(ALPHAS), tv=[math.nan] * len(ALPHAS),
                                                   mass=[math.nan] * len(ALPHAS)), name="srchain-curves")
            self.alpha_spans = []
            cv = []
            for key, label, ytype in (("tv", "TV(law, π̃)", "log"), ("mass", "mass on the global minimiser",
                                                                      "linear")):
                q = figure(height=260, sizing_mode="stretch_width", x_axis_type="log", y_axis_type=ytype,
                           tools=tools, x_axis_label="α", y_axis_label=label, title=label + " over α")
                q.line("alpha", key, source=self.src_curve, line_width=2)
                q.scatter("alpha", key, source=self.src_curve, size=4)
                s = Span(location=self.alpha, dimension="height", line_color="red")
                q.add_layout(s)
                self.alpha_spans.append(s)
                cv.append(q)
            self.limit_mass_span = Span(location=math.nan, dimension="width", line_color="black",
                                        line_dash="dashed")
            cv[1].add_layout(self.limit_mass_span)
            self.alpha0_spans = []
            for q in cv:
                s = Span(location=math.nan, dimension="height", line_color="gray", line_dash="dashed")
                q.add_layout(s)
                self.alpha0_spans.append(s)
            self.fig_curves = cv

            self.src_mix = ColumnDataSource(dict(alpha=[], exact=[], lower=[], upper=[]))
            q = figure(height=260, sizing_mode="stretch_width", x_axis_type="log", y_axis_type="log", tools=tools,
                       x_axis_label="α", y_axis_label="steps", title="mixing time M_ε(α) and spectral bounds")
            q.scatter("alpha", "exact", source=self.src_mix, size=7, legend_label="M_ε exact")
            q.line("alpha", "exact", source=self.src_mix)
            q.line("alpha", "lower", source=self.src_mix, line_dash="dashed", color="green",
                   legend_label="lower bound")
            q.line("alpha", "upper", source=self.src_mix, line_dash="dashed", color="purple",
                   legend_label="upper bound")
            s = Span(location=self.alpha, dimension="height", line_color="red")
            q.add_layout(s)
            self.alpha_spans.append(s)
            q.legend.location = "top_right"
            self.fig_mix = q

            # (a Bokeh pane's own ``visible`` does not come back once set False: toggle a Column around it)
            self.pane_law = pn.Column(pn.pane.Bokeh(self.fig_law, sizing_mode="stretch_width"),
                                      sizing_mode="stretch_width")
            self.pane_heat = pn.Row(*[pn.pane.Bokeh(f) for f in self.fig_heat], visible=False)
            self.pane_curves = pn.Row(*[pn.pane.Bokeh(f, sizing_mode="stretch_width") for f in self.fig_curves],
                                      sizing_mode="stretch_width")
            self.pane_mix = pn.Column(pn.pane.Bokeh(self.fig_mix, sizing_mode="stretch_width"), visible=False,
                                      sizing_mode="stretch_width")
            self.numbers = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["srchain-numbers"])
            self.data_tag = pn.pane.HTML("", margin=0)
            self.message = pn.pane.Alert("", alert_type="warning", visible=False, sizing_mode="stretch_width")
            self.progress = pn.indicators.Progress(value=0, max=len(ALPHAS), width=260, visible=False)
            self.progress_text = pn.pane.Str("", styles={"font-size": "9pt"})
            self.spinner = pn.indicators.LoadingSpinner(value=False, size=24)

        def widgets(self):
            import panel as pn

            w = pn.Param(self.param, parameters=list(URL_PARAMS), show_name=False, widgets={
                "alpha": {"type": pn.widgets.DiscreteSlider, "name": "α (log scale)",
                          "formatter": "%.3g"},
                "delta": {"type": pn.widgets.Select, "name": "Δ"},
                "problem": {"name": "problem"},
                "sigma": {"type": pn.widgets.FloatInput, "name": "σ (gaussian std / laplace b / student-t scale)",
                          "step": 0.5},
                "nu": {"type": pn.widgets.FloatInput, "name": "ν (student-t)", "step": 0.5},
                "batch": {"type": pn.widgets.IntInput, "name": "batch B"},
                "samples": {"type": pn.widgets.IntInput, "name": "samples m (minibatch noise)"},
                "eps": {"type": pn.widgets.FloatInput, "name": "ε (mixing time)", "step": 0.05},
                "start": {"type": pn.widgets.FloatInput, "name": "start point (simulation)"},
                "steps": {"type": pn.widgets.IntInput, "name": "steps (simulation)", "step": 10000},
                "seed": {"type": pn.widgets.IntInput, "name": "seed"},
                "simulate": {"name": "overlay simulated histogram"},
                "show_mixing": {"name": "M_ε(α) and spectral bounds"},
            })
            return w

        def panel(self):
            """The whole app: controls on the left, views on the right."""
            import panel as pn

            png = pn.widgets.FileDownload(callback=self.png_bytes, filename="srchain-explore.png",
                                          label="export PNG", embed=False)
            nc = pn.widgets.FileDownload(callback=self.netcdf_bytes, filename="srchain-explore.nc",
                                         label="export data (.nc)", embed=False)
            js = pn.widgets.FileDownload(callback=self.json_bytes, filename="srchain-explore.json",
                                         label="export data (.json)", embed=False)
            side = pn.Column("## srchain explore", self.widgets(), pn.Row(self.spinner, self.progress),
                             self.progress_text, png, nc, js, width=320)
            main = pn.Column(self.message, self.numbers, self.pane_law, self.pane_heat, self.pane_curves,
                             self.pane_mix, self.data_tag, sizing_mode="stretch_width")
            return pn.Row(side, main, sizing_mode="stretch_width")

        # --- threading -----------------------------------------------------------------------------------------
        def _dispatch(self, fn):
            """Run ``fn`` where it may touch the document: directly outside a server, else on its event loop."""
            doc = self._doc
            if doc is None or doc.session_context is None or not self.background:
                fn()
            else:
                doc.add_next_tick_callback(fn)

        def _submit(self, pool, fn, *args):
            if not self.background:
                f = Future()
                try:
                    f.set_result(fn(*args))
                except Exception as exc:  # noqa: BLE001 - shown in the page by the caller
                    f.set_exception(exc)
                return f
            f = pool.submit(fn, *args)
            with self._lock:
                self._pending = [p for p in self._pending if not p.done()] + [f]
            return f

        def wait(self, timeout: float = 60.0) -> bool:
            """Wait (at most ``timeout`` s) until no computation is pending; True if none is left."""
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                with self._lock:
                    pending = [p for p in self._pending if not p.done()]
                if not pending:
                    return True
                try:
                    pending[0].result(timeout=max(0.01, end - time.monotonic()))
                except Exception:  # noqa: BLE001
                    pass
            return False

        def close(self):
            self._gen += 1
            self._now.shutdown(wait=False, cancel_futures=True)
            self._sweep_pool.shutdown(wait=False, cancel_futures=True)

        # --- updates -------------------------------------------------------------------------------------------
        def _on_alpha(self, *_):
            self._update_current()

        def _on_setting(self, *_):
            with self._lock:
                self._gen += 1
            self._update_static()
            self._update_current()
            self._start_sweep()

        def _on_extras(self, *events):
            names = {e.name for e in events}
            if names & {"eps", "show_mixing"}:
                with self._lock:
                    self._gen += 1
                self._start_sweep()
            self._update_current()

        def _update_static(self):
            """Parts that depend on the setting but not on α: objective, π̃, the heat map's frame."""
            s = self.setting
            try:
                problem, noise, lattice = chain(s)
            except SrchainError as exc:
                self._show_error(str(exc))
                return
            self._show_error(None)
            two_d = lattice.dim == 2
            self.pane_law.visible = not two_d
            self.pane_heat.visible = two_d
            for src in (self.src_curve,):
                src.data = dict(alpha=list(ALPHAS), tv=[math.nan] * len(ALPHAS), mass=[math.nan] * len(ALPHAS))
            self.src_mix.data = dict(alpha=[], exact=[], lower=[], upper=[])
            if self.method != "sr":
                self.fig_curves[0].title.text = "TV(law of the rule, SR's π̃) over α"
            else:
                self.fig_curves[0].title.text = "TV(π_α, π̃) over α"

        def _update_current(self):
            """Recompute what depends on α (waits up to WAIT_S, then finishes in the background)."""
            t0 = time.perf_counter()
            s, method, alpha = self.setting if self._setting_ok() else None, self.method, float(self.alpha)
            if s is None:
                return
            extras = (bool(self.simulate), int(self.steps), float(self.start), int(self.seed), float(self.eps),
                      bool(self.show_mixing))
            gen = self._gen

            def compute():
                return self._compute_current(s, method, alpha, extras)

            fut = self._submit(self._now, compute)
            try:
                result = fut.result(timeout=WAIT_S if self.background else None)
            except FutureTimeout:
                self.spinner.value = True
                self.pane_law.loading = True

                def done(f):
                    self._dispatch(lambda: self._render_current(f, s, method, alpha, gen, t0))

                fut.add_done_callback(done)
                return
            self._render_current(fut, s, method, alpha, gen, t0)

        def _setting_ok(self) -> bool:
            try:
                chain(self.setting)
            except SrchainError as exc:
                self._show_error(str(exc))
                return False
            return True

        def _compute_current(self, s, method, alpha, extras):
            simulate, steps, start, seed, eps, show_mixing = extras
            out = {"law": law(s, method, alpha), "limit": limit_law(s), "point": curve_point(s, method, alpha)}
            if simulate:
                out["sim"] = histogram(s, method, alpha, steps, start, seed)
            if show_mixing and method != "bc":
                out["mixing"] = mixing(s, method, alpha, eps)
            return out

        def _render_current(self, fut, s, method, alpha, gen, t0):
            if (s, method, alpha) != (self.setting, self.method, float(self.alpha)):
                return  # a newer request supersedes this one
            self.spinner.value = False
            self.pane_law.loading = False
            try:
                res = fut.result()
            except Exception as exc:  # noqa: BLE001 - a bug: show it rather than freeze
                self._show_error(f"internal error: {exc!r}")
                return
            problem, noise, lattice = chain(s)
            L, lim = res["law"], res["limit"]
            pi = L.pi
            tv_, mass, ent = res["point"]
            a0 = alpha0_of(s)
            errors = [e for e in (L.error, lim.error if method == "sr" else None) if e]
            sim = res.get("sim")
            if sim is not None and sim.error:
                errors.append(sim.error)
            self._show_error("; ".join(errors) if errors else None)
            cells = minimizer_cells(s)
            lim_mass = float(lim.pi[cells].sum()) if lim.pi is not None and cells.size else math.nan
            self.state = {"alpha": alpha, "method": method, "setting": s.to_dict(), "tv_to_limit": _nan(tv_),
                          "mass_at_minimizer": _nan(mass), "entropy": _nan(ent), "alpha0": a0,
                          "limit_mass_at_minimizer": _nan(lim_mass), "solver": L.solver, "states": lattice.size,
                          "pi": None if pi is None else pi, "pi_limit": lim.pi,
                          "sim": None if sim is None else sim.pi, "mixing": res.get("mixing"),
                          "points": lattice.points}
            # the law's view
            nan_vec = [math.nan] * lattice.size
            if lattice.dim == 1:
                x = lattice.points[:, 0]
                f = np.asarray(problem.value(lattice.points), dtype=np.float64)
                self.fig_law.extra_y_ranges["f"].start = float(f.min())
                self.fig_law.extra_y_ranges["f"].end = float(f.max())
                self.src_law.data = dict(x=x, pi=nan_vec if pi is None else pi,
                                         limit=nan_vec if lim.pi is None else lim.pi, f=f)
                self.src_sim.data = dict(x=x, sim=nan_vec if sim is None or sim.pi is None else sim.pi)
                self._sim_bars.glyph.width = 0.8 * lattice.delta
                self.min_span.location = math.nan if problem.minimizer is None else float(problem.minimizer[0])
                self.fig_law.title.text = (f"{problem.name}: {method.upper()} at α = {alpha:g}, Δ = {lattice.delta:g}, "
                                           f"noise {noise.describe()}")
            else:
                lo, hi = lattice.domain[0]
                lo2, hi2 = lattice.domain[1]
                frame = dict(x=[lo - lattice.delta / 2], y=[lo2 - lattice.delta / 2],
                             dw=[hi - lo + lattice.delta], dh=[hi2 - lo2 + lattice.delta])
                img = (np.full(lattice.shape, math.nan) if pi is None else pi.reshape(lattice.shape)).T
                limg = (np.full(lattice.shape, math.nan) if lim.pi is None else lim.pi.reshape(lattice.shape)).T
                self.src_img.data = dict(image=[img], **frame)
                self.src_img_lim.data = dict(image=[limg], **frame)
                top = np.nanmax([np.nanmax(img) if np.isfinite(img).any() else 0,
                                 np.nanmax(limg) if np.isfinite(limg).any() else 0])
                self.cmap.high = float(top) if top > 0 else 1.0
                self.fig_heat[0].title.text = f"{method.upper()} at α = {alpha:g} (Δ = {lattice.delta:g})"
            # markers on the curves
            for sp_ in self.alpha_spans:
                sp_.location = alpha
            for sp_ in self.alpha0_spans:
                sp_.location = math.nan if a0 is None else a0
            self.limit_mass_span.location = lim_mass
            i = ALPHAS.index(alpha) if alpha in ALPHAS else None
            if i is not None and gen == self._gen:
                self.src_curve.patch({"tv": [(i, _nan(tv_))], "mass": [(i, _nan(mass))]})
            self._write_numbers(s, method, alpha, L, lim, a0, lattice, noise)
            self.last_update_s = time.perf_counter() - t0

        def _write_numbers(self, s, method, alpha, L, lim, a0, lattice, noise):
            st = self.state
            mix = st.get("mixing") or {}
            lines = [
                f"**{method.upper()} at α = {alpha:g}**, Δ = {lattice.delta:g}, {lattice.size} states, noise "
                f"{noise.describe()}",
                f"- TV(π_α, π̃) = **{_fmt(st['tv_to_limit'])}**; mass on the global minimiser "
                f"**{_fmt(st['mass_at_minimizer'])}** (π̃: {_fmt(st['limit_mass_at_minimizer'])}); "
                f"entropy {_fmt(st['entropy'])} nats",
                f"- α0 = {_fmt(a0)} (π_α → π̃ as α → 0, Theorem 5); law solver: {L.solver or '–'}"
                + (f"; {L.note}" if L.note else ""),
            ]
            if mix:
                lines.append(f"- M_ε(α), ε = {self.eps:g}: {mix.get('mixing_time') or '–'} (spectral bounds "
                             f"{_fmt(mix.get('lower_bound'), '.3g')} … {_fmt(mix.get('upper_bound'), '.3g')})"
                             + (f" — {mix['note']}" if mix.get("note") else ""))
            if st.get("sim") is not None:
                lines.append(f"- simulated: {self.steps} steps from w = {self.start:g}, seed {self.seed}")
            self.numbers.object = "\n".join(lines)
            law_list = [] if st["pi"] is None else [float(v) for v in st["pi"]]
            attrs = {"alpha": repr(alpha), "method": method, "tv": repr(st["tv_to_limit"]),
                     "mass": repr(st["mass_at_minimizer"]), "states": str(lattice.size),
                     "law": json.dumps(law_list)}
            body = " ".join(f'data-{k}="{html.escape(v, quote=True)}"' for k, v in attrs.items())
            self.data_tag.object = f'<div id="srchain-state" {body} style="display:none"></div>'

        def _show_error(self, text):
            self.message.object = text or ""
            self.message.visible = bool(text)

        # --- the curves over α (background) ------------------------------------------------------------------
        def _start_sweep(self):
            if not self._setting_ok():
                return
            s, method, eps, gen = self.setting, self.method, float(self.eps), self._gen
            want_mix = bool(self.show_mixing) and method != "bc"
            self.pane_mix.visible = bool(self.show_mixing)
            total = len(ALPHAS) + (len(MIXING_ALPHAS) if want_mix else 0)
            self.progress.max = total
            self.progress.value = 0
            self.progress.visible = True
            self.progress_text.object = "computing the curves over α…"
            self._submit(self._sweep_pool, self._sweep, s, method, eps, want_mix, gen)

        def _sweep(self, s, method, eps, want_mix, gen):
            # the current α's neighbours first, so the slider's next steps are cache hits soonest
            here = float(self.alpha)
            order = sorted(range(len(ALPHAS)), key=lambda i: abs(math.log(ALPHAS[i] / here)))
            done = 0
            batch = {"tv": [], "mass": []}
            last = time.monotonic()
            for i in order:
                if gen != self._gen:
                    return
                t, m, _ = curve_point(s, method, ALPHAS[i])
                batch["tv"].append((i, _nan(t)))
                batch["mass"].append((i, _nan(m)))
                done += 1
                if time.monotonic() - last > 0.25 or done == len(ALPHAS):
                    patch, batch, last = batch, {"tv": [], "mass": []}, time.monotonic()
                    self._dispatch(functools.partial(self._apply_curve, patch, done, gen))
            if want_mix:
                rows = []
                for a in MIXING_ALPHAS:
                    if gen != self._gen:
                        return
                    rows.append(mixing(s, method, a, eps))
                    done += 1
                    self._dispatch(functools.partial(self._apply_mix, list(rows), done, gen))
            self._dispatch(functools.partial(self._sweep_done, gen))

        def _apply_curve(self, patch, done, gen):
            if gen != self._gen:
                return
            if patch["tv"]:
                self.src_curve.patch(patch)
            self.progress.value = min(done, self.progress.max)

        def _apply_mix(self, rows, done, gen):
            if gen != self._gen:
                return
            self.src_mix.data = dict(alpha=[r["alpha"] for r in rows],
                                     exact=[_nan(r["mixing_time"]) for r in rows],
                                     lower=[_nan(r["lower_bound"]) if (r["lower_bound"] or 0) > 0 else math.nan
                                            for r in rows],
                                     upper=[_nan(r["upper_bound"]) for r in rows])
            self.progress.value = min(done, self.progress.max)

        def _sweep_done(self, gen):
            if gen != self._gen:
                return
            self.progress.visible = False
            self.progress_text.object = ""

        # --- export --------------------------------------------------------------------------------------------
        def curves(self) -> dict:
            """The curves over α computed so far (NaN where not yet computed)."""
            d = self.src_curve.data
            return {"alpha": np.asarray(d["alpha"], dtype=float), "tv": np.asarray(d["tv"], dtype=float),
                    "mass": np.asarray(d["mass"], dtype=float)}

        def to_xarray(self):
            """The current view as an :class:`xarray.Dataset` (the results store's names: ``alpha``, ``state``
            with coords ``x0 …``, ``pi``, ``pi_limit``, ``tv_to_limit``, ``mass_at_minimizer``, ``counts`` …)."""
            import xarray as xr

            st = self.state
            pts = np.asarray(st["points"])
            n = pts.shape[0]
            cur = self.curves()
            nanv = np.full(n, math.nan)
            ds = xr.Dataset(
                {"pi": ("state", nanv if st["pi"] is None else np.asarray(st["pi"])),
                 "pi_limit": ("state", nanv if st["pi_limit"] is None else np.asarray(st["pi_limit"])),
                 "sim_freq": ("state", nanv if st["sim"] is None else np.asarray(st["sim"])),
                 "tv_to_limit": ("alpha", cur["tv"]), "mass_at_minimizer": ("alpha", cur["mass"])},
                coords={"alpha": cur["alpha"], **{f"x{k}": ("state", pts[:, k]) for k in range(pts.shape[1])}})
            mix = self.src_mix.data
            if len(mix["alpha"]):
                ds = ds.assign(mixing_time=("alpha_mixing", np.asarray(mix["exact"], dtype=float)),
                               mixing_lower_bound=("alpha_mixing", np.asarray(mix["lower"], dtype=float)),
                               mixing_upper_bound=("alpha_mixing", np.asarray(mix["upper"], dtype=float)))
                ds = ds.assign_coords(alpha_mixing=np.asarray(mix["alpha"], dtype=float))
            settings = {**st["setting"], "method": st["method"], "alpha": st["alpha"], "eps": float(self.eps)}
            ds.attrs = {"command": "explore", "current_alpha": st["alpha"], "method": st["method"],
                        "alpha0": math.nan if st["alpha0"] is None else st["alpha0"],
                        "tv_at_current_alpha": st["tv_to_limit"], "solver": st["solver"],
                        "settings": json.dumps(settings), "srchain_json_attrs": "settings"}
            return ds

        def netcdf_bytes(self) -> io.BytesIO:
            import os
            import tempfile

            ds = self.to_xarray()
            fd, path = tempfile.mkstemp(suffix=".nc")
            os.close(fd)
            try:
                ds.to_netcdf(path, engine="h5netcdf")
                with open(path, "rb") as fh:
                    return io.BytesIO(fh.read())
            finally:
                os.unlink(path)

        def to_dict(self) -> dict:
            """The ``srchain stationary --json`` layout for the current view (plus the curves over α)."""
            st = self.state
            cur = self.curves()
            return {"command": "explore", **st["setting"], "method": st["method"],
                    "states": np.asarray(st["points"]).tolist(),
                    "limit": None if st["pi_limit"] is None else {"alpha0": st["alpha0"],
                                                                  "pi": np.asarray(st["pi_limit"]).tolist()},
                    "results": [{"alpha": st["alpha"], "pi": None if st["pi"] is None else np.asarray(st["pi"]).tolist(),
                                 "tv_to_limit": st["tv_to_limit"], "mass_at_minimizer": st["mass_at_minimizer"],
                                 "entropy": st["entropy"], "solver": st["solver"]}],
                    "curves": [{"alpha": float(a), "tv_to_limit": None if not math.isfinite(t) else float(t),
                                "mass_at_minimizer": None if not math.isfinite(m) else float(m)}
                               for a, t, m in zip(cur["alpha"], cur["tv"], cur["mass"])],
                    "mixing": st.get("mixing"),
                    "simulated": None if st["sim"] is None else np.asarray(st["sim"]).tolist()}

        def json_bytes(self) -> io.BytesIO:
            from srchain.io import to_jsonable

            return io.BytesIO(json.dumps(to_jsonable(self.to_dict()), indent=1).encode())

        def png_bytes(self) -> io.BytesIO:
            """The current view drawn by matplotlib (law, curves over α and, when shown, the mixing times)."""
            from matplotlib.figure import Figure

            st = self.state
            pts = np.asarray(st["points"])
            mix = self.src_mix.data
            rows = 3 if len(mix["alpha"]) else 2
            fig = Figure(figsize=(9, 3.2 * rows), dpi=110)
            axs = fig.subplots(rows, 1)
            ax = axs[0]
            if pts.shape[1] == 1:
                x = pts[:, 0]
                if st["sim"] is not None:
                    ax.bar(x, st["sim"], width=0.8 * (x[1] - x[0]), color="#ff7f0e", alpha=0.35, label="simulated")
                if st["pi"] is not None:
                    ax.step(x, st["pi"], where="mid", lw=2, label=f"{st['method'].upper()} law at α={st['alpha']:g}")
                if st["pi_limit"] is not None:
                    ax.step(x, st["pi_limit"], "k--", where="mid", label="π̃ (SR limit, Eq. 9)")
                ax.set_xlabel("w")
                ax.set_ylabel("probability")
                ax.legend(fontsize=8)
            else:
                n1 = len(np.unique(pts[:, 0]))
                img = np.asarray(st["pi"] if st["pi"] is not None else np.zeros(len(pts))).reshape(n1, -1).T
                ax.imshow(img, origin="lower", extent=[pts[:, 0].min(), pts[:, 0].max(), pts[:, 1].min(),
                                                       pts[:, 1].max()], aspect="auto")
                ax.set_xlabel("w₁")
                ax.set_ylabel("w₂")
            ax.set_title(f"{st['setting']['problem']}: {st['method'].upper()}, α = {st['alpha']:g}, "
                         f"Δ = {st['setting']['delta']:g}; TV(π_α, π̃) = {_fmt(st['tv_to_limit'])}", fontsize=9)
            cur = self.curves()
            ax = axs[1]
            ax.loglog(cur["alpha"], cur["tv"], "o-", ms=3, label="TV(law, π̃)")
            ax2 = ax.twinx()
            ax2.semilogx(cur["alpha"], cur["mass"], "s-", ms=3, color="C2", label="mass on minimiser")
            ax.axvline(st["alpha"], color="r")
            ax.set_xlabel("α")
            ax.set_ylabel("TV(law, π̃)")
            ax2.set_ylabel("mass on minimiser", color="C2")
            if rows == 3:
                ax = axs[2]
                ax.loglog(mix["alpha"], mix["exact"], "o-", label="M_ε exact")
                ax.loglog(mix["alpha"], mix["lower"], "g--", label="lower bound")
                ax.loglog(mix["alpha"], mix["upper"], "m--", label="upper bound")
                ax.axvline(st["alpha"], color="r")
                ax.set_xlabel("α")
                ax.set_ylabel("steps")
                ax.legend(fontsize=8)
            fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format="png")
            buf.seek(0)
            return buf

    return Explorer


_EXPLORER = None


def __getattr__(name):  # Explorer is built on first use, so that importing this module does not import Panel
    global _EXPLORER
    if name == "Explorer":
        if _EXPLORER is None:
            _EXPLORER = _explorer_class()
        return _EXPLORER
    raise AttributeError(name)


def build_app(background: bool = True, location: bool = True, **params):
    """The explorer's Panel layout (serve it with ``pn.serve(build_app)`` or display it in a notebook).

    Parameters
    ----------
    background : bool
        Run long computations in worker threads (the page never freezes); ``False`` computes everything in the
        calling thread (tests, scripts).
    location : bool
        Keep the state in the URL's query string when served (``pn.state.location``).
    **params
        Initial values of :class:`Explorer`'s parameters (``alpha=0.01``, ``method="bc"`` …).

    Returns
    -------
    panel.Row
        The layout; its ``explorer`` attribute is the :class:`Explorer` behind it.
    """
    import panel as pn

    Explorer = __getattr__("Explorer")
    ex = Explorer(background=background, doc=pn.state.curdoc, **params)
    layout = ex.panel()
    if location and pn.state.location is not None and ex._doc is not None and ex._doc.session_context is not None:
        pn.state.location.sync(ex, {name: name for name in URL_PARAMS})
    if ex._doc is not None and ex._doc.session_context is not None:
        pn.state.on_session_destroyed(lambda ctx: ex.close())
    layout.explorer = ex
    return layout
