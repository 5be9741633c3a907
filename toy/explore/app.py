"""The view of ``srchain explore``: :class:`Explorer` (a ``param.Parameterized`` that holds the state, the Bokeh
views and the background computations) and :func:`build_app` (see :mod:`srchain.toy.explore`).

Importing this module imports param (Panel's parameter library) and builds the class; Panel and Bokeh themselves
are imported when the views are built. :mod:`srchain.toy.explore` imports this module on first use of
``Explorer`` or ``build_app``, so that importing the model does not import Panel.
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

import numpy as np
import param
from srchain.toy.explore import export
from srchain.toy.explore.model import (
    ALPHAS,
    DELTAS,
    METHODS,
    MIXING_ALPHAS,
    NOISES,
    Setting,
    _fmt,
    _nan,
    alpha0_of,
    chain,
    curve_point,
    histogram,
    law,
    limit_law,
    minimizer_cells,
    mixing,
    problem_options,
)

from srchain.errors import SrchainError

__all__ = ["Explorer", "build_app", "URL_PARAMS", "WAIT_S"]

#: An update waits this long for its computation before it shows a spinner and finishes in the background.
WAIT_S = 0.15

#: Parameters kept in the URL's query string.
URL_PARAMS = (
    "problem",
    "method",
    "alpha",
    "delta",
    "noise",
    "sigma",
    "nu",
    "batch",
    "samples",
    "eps",
    "start",
    "simulate",
    "steps",
    "seed",
    "show_mixing",
)


class Explorer(param.Parameterized):
    """State, computations and views of the explorer (see :mod:`srchain.toy.explore`)."""

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
        self.param.watch(
            self._on_setting, ["problem", "method", "delta", "noise", "sigma", "nu", "batch", "samples", "seed"]
        )
        self.param.watch(self._on_extras, ["simulate", "steps", "start", "eps", "show_mixing"])
        self._on_setting()

    # --- what is being looked at ---------------------------------------------------------------------------
    @property
    def setting(self) -> Setting:
        name, dim = problem_options()[self.problem]
        # the noise seed only matters for the minibatch noise: keep it out of the key otherwise
        seed = self.seed if self.noise == "minibatch" else 0
        return Setting(
            problem=name,
            dim=dim,
            delta=float(self.delta),
            noise=self.noise,
            sigma=float(self.sigma),
            nu=float(self.nu),
            batch=int(self.batch),
            samples=int(self.samples),
            seed=int(seed),
        )

    # --- views ---------------------------------------------------------------------------------------------
    def _build_views(self):
        import panel as pn
        from bokeh.models import ColumnDataSource, LinearAxis, LinearColorMapper, Range1d, Span
        from bokeh.plotting import figure

        tools = "pan,wheel_zoom,box_zoom,reset,hover"
        self.src_law = ColumnDataSource(dict(x=[], pi=[], limit=[], f=[]), name="srchain-law")
        self.src_sim = ColumnDataSource(dict(x=[], sim=[]))
        p = figure(
            height=330,
            sizing_mode="stretch_width",
            tools=tools,
            x_axis_label="w",
            y_axis_label="probability",
            title="stationary law",
        )
        p.extra_y_ranges = {"f": Range1d(0, 1)}
        p.add_layout(LinearAxis(y_range_name="f", axis_label="f(w)"), "right")
        p.line(
            "x",
            "f",
            source=self.src_law,
            y_range_name="f",
            color="#aaaaaa",
            line_dash="dotted",
            legend_label="objective f",
        )
        p.vbar(x="x", top="sim", width=0.5, source=self.src_sim, color="#ff7f0e", alpha=0.35, legend_label="simulated")
        p.step(
            "x",
            "pi",
            source=self.src_law,
            mode="center",
            color="#1f77b4",
            line_width=2,
            legend_label="law of the rule at α",
        )
        p.step(
            "x",
            "limit",
            source=self.src_law,
            mode="center",
            color="black",
            line_dash="dashed",
            legend_label="π̃ (SR limit, Eq. 9)",
        )
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
            q = figure(
                height=330, width=360, tools=tools, title=title, x_axis_label="w₁", y_axis_label="w₂", match_aspect=True
            )
            q.image(image="image", x="x", y="y", dw="dw", dh="dh", source=src, color_mapper=self.cmap)
            figs.append(q)
        self.fig_heat = figs

        self.src_curve = ColumnDataSource(
            dict(alpha=list(ALPHAS), tv=[math.nan] * len(ALPHAS), mass=[math.nan] * len(ALPHAS)), name="srchain-curves"
        )
        self.alpha_spans = []
        cv = []
        for key, label, ytype in (("tv", "TV(law, π̃)", "log"), ("mass", "mass on the global minimiser", "linear")):
            q = figure(
                height=260,
                sizing_mode="stretch_width",
                x_axis_type="log",
                y_axis_type=ytype,
                tools=tools,
                x_axis_label="α",
                y_axis_label=label,
                title=label + " over α",
            )
            q.line("alpha", key, source=self.src_curve, line_width=2)
            q.scatter("alpha", key, source=self.src_curve, size=4)
            s = Span(location=self.alpha, dimension="height", line_color="red")
            q.add_layout(s)
            self.alpha_spans.append(s)
            cv.append(q)
        self.limit_mass_span = Span(location=math.nan, dimension="width", line_color="black", line_dash="dashed")
        cv[1].add_layout(self.limit_mass_span)
        self.alpha0_spans = []
        for q in cv:
            s = Span(location=math.nan, dimension="height", line_color="gray", line_dash="dashed")
            q.add_layout(s)
            self.alpha0_spans.append(s)
        self.fig_curves = cv

        self.src_mix = ColumnDataSource(dict(alpha=[], exact=[], lower=[], upper=[]))
        q = figure(
            height=260,
            sizing_mode="stretch_width",
            x_axis_type="log",
            y_axis_type="log",
            tools=tools,
            x_axis_label="α",
            y_axis_label="steps",
            title="mixing time M_ε(α) and spectral bounds",
        )
        q.scatter("alpha", "exact", source=self.src_mix, size=7, legend_label="M_ε exact")
        q.line("alpha", "exact", source=self.src_mix)
        q.line("alpha", "lower", source=self.src_mix, line_dash="dashed", color="green", legend_label="lower bound")
        q.line("alpha", "upper", source=self.src_mix, line_dash="dashed", color="purple", legend_label="upper bound")
        s = Span(location=self.alpha, dimension="height", line_color="red")
        q.add_layout(s)
        self.alpha_spans.append(s)
        q.legend.location = "top_right"
        self.fig_mix = q

        # (a Bokeh pane's own ``visible`` does not come back once set False: toggle a Column around it)
        self.pane_law = pn.Column(pn.pane.Bokeh(self.fig_law, sizing_mode="stretch_width"), sizing_mode="stretch_width")
        self.pane_heat = pn.Row(*[pn.pane.Bokeh(f) for f in self.fig_heat], visible=False)
        self.pane_curves = pn.Row(
            *[pn.pane.Bokeh(f, sizing_mode="stretch_width") for f in self.fig_curves], sizing_mode="stretch_width"
        )
        self.pane_mix = pn.Column(
            pn.pane.Bokeh(self.fig_mix, sizing_mode="stretch_width"), visible=False, sizing_mode="stretch_width"
        )
        self.numbers = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["srchain-numbers"])
        self.data_tag = pn.pane.HTML("", margin=0)
        self.message = pn.pane.Alert("", alert_type="warning", visible=False, sizing_mode="stretch_width")
        self.progress = pn.indicators.Progress(value=0, max=len(ALPHAS), width=260, visible=False)
        self.progress_text = pn.pane.Str("", styles={"font-size": "9pt"})
        self.spinner = pn.indicators.LoadingSpinner(value=False, size=24)

    def widgets(self):
        import panel as pn

        w = pn.Param(
            self.param,
            parameters=list(URL_PARAMS),
            show_name=False,
            widgets={
                "alpha": {"type": pn.widgets.DiscreteSlider, "name": "α (log scale)", "formatter": "%.3g"},
                "delta": {"type": pn.widgets.Select, "name": "Δ"},
                "problem": {"name": "problem"},
                "sigma": {
                    "type": pn.widgets.FloatInput,
                    "name": "σ (gaussian std / laplace b / student-t scale)",
                    "step": 0.5,
                },
                "nu": {"type": pn.widgets.FloatInput, "name": "ν (student-t)", "step": 0.5},
                "batch": {"type": pn.widgets.IntInput, "name": "batch B"},
                "samples": {"type": pn.widgets.IntInput, "name": "samples m (minibatch noise)"},
                "eps": {"type": pn.widgets.FloatInput, "name": "ε (mixing time)", "step": 0.05},
                "start": {"type": pn.widgets.FloatInput, "name": "start point (simulation)"},
                "steps": {"type": pn.widgets.IntInput, "name": "steps (simulation)", "step": 10000},
                "seed": {"type": pn.widgets.IntInput, "name": "seed"},
                "simulate": {"name": "overlay simulated histogram"},
                "show_mixing": {"name": "M_ε(α) and spectral bounds"},
            },
        )
        return w

    def panel(self):
        """The whole app: controls on the left, views on the right."""
        import panel as pn

        png = pn.widgets.FileDownload(
            callback=self.png_bytes, filename="srchain-explore.png", label="export PNG", embed=False
        )
        nc = pn.widgets.FileDownload(
            callback=self.netcdf_bytes, filename="srchain-explore.nc", label="export data (.nc)", embed=False
        )
        js = pn.widgets.FileDownload(
            callback=self.json_bytes, filename="srchain-explore.json", label="export data (.json)", embed=False
        )
        side = pn.Column(
            "## srchain explore",
            self.widgets(),
            pn.Row(self.spinner, self.progress),
            self.progress_text,
            png,
            nc,
            js,
            width=320,
        )
        main = pn.Column(
            self.message,
            self.numbers,
            self.pane_law,
            self.pane_heat,
            self.pane_curves,
            self.pane_mix,
            self.data_tag,
            sizing_mode="stretch_width",
        )
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
        extras = (
            bool(self.simulate),
            int(self.steps),
            float(self.start),
            int(self.seed),
            float(self.eps),
            bool(self.show_mixing),
        )
        gen = self._gen

        def compute():
            return self._compute_current(s, method, alpha, extras)

        fut = self._submit(self._now, compute)
        try:
            fut.result(timeout=WAIT_S if self.background else None)
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
        self.state = {
            "alpha": alpha,
            "method": method,
            "setting": s.to_dict(),
            "tv_to_limit": _nan(tv_),
            "mass_at_minimizer": _nan(mass),
            "entropy": _nan(ent),
            "alpha0": a0,
            "limit_mass_at_minimizer": _nan(lim_mass),
            "solver": L.solver,
            "states": lattice.size,
            "pi": None if pi is None else pi,
            "pi_limit": lim.pi,
            "sim": None if sim is None else sim.pi,
            "mixing": res.get("mixing"),
            "points": lattice.points,
        }
        # the law's view
        nan_vec = [math.nan] * lattice.size
        if lattice.dim == 1:
            x = lattice.points[:, 0]
            f = np.asarray(problem.value(lattice.points), dtype=np.float64)
            self.fig_law.extra_y_ranges["f"].start = float(f.min())
            self.fig_law.extra_y_ranges["f"].end = float(f.max())
            self.src_law.data = dict(
                x=x, pi=nan_vec if pi is None else pi, limit=nan_vec if lim.pi is None else lim.pi, f=f
            )
            self.src_sim.data = dict(x=x, sim=nan_vec if sim is None or sim.pi is None else sim.pi)
            self._sim_bars.glyph.width = 0.8 * lattice.delta
            self.min_span.location = math.nan if problem.minimizer is None else float(problem.minimizer[0])
            self.fig_law.title.text = (
                f"{problem.name}: {method.upper()} at α = {alpha:g}, Δ = {lattice.delta:g}, noise {noise.describe()}"
            )
        else:
            lo, hi = lattice.domain[0]
            lo2, hi2 = lattice.domain[1]
            frame = dict(
                x=[lo - lattice.delta / 2],
                y=[lo2 - lattice.delta / 2],
                dw=[hi - lo + lattice.delta],
                dh=[hi2 - lo2 + lattice.delta],
            )
            img = (np.full(lattice.shape, math.nan) if pi is None else pi.reshape(lattice.shape)).T
            limg = (np.full(lattice.shape, math.nan) if lim.pi is None else lim.pi.reshape(lattice.shape)).T
            self.src_img.data = dict(image=[img], **frame)
            self.src_img_lim.data = dict(image=[limg], **frame)
            top = np.nanmax(
                [np.nanmax(img) if np.isfinite(img).any() else 0, np.nanmax(limg) if np.isfinite(limg).any() else 0]
            )
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
            lines.append(
                f"- M_ε(α), ε = {self.eps:g}: {mix.get('mixing_time') or '–'} (spectral bounds "
                f"{_fmt(mix.get('lower_bound'), '.3g')} … {_fmt(mix.get('upper_bound'), '.3g')})"
                + (f" — {mix['note']}" if mix.get("note") else "")
            )
        if st.get("sim") is not None:
            lines.append(f"- simulated: {self.steps} steps from w = {self.start:g}, seed {self.seed}")
        self.numbers.object = "\n".join(lines)
        law_list = [] if st["pi"] is None else [float(v) for v in st["pi"]]
        attrs = {
            "alpha": repr(alpha),
            "method": method,
            "tv": repr(st["tv_to_limit"]),
            "mass": repr(st["mass_at_minimizer"]),
            "states": str(lattice.size),
            "law": json.dumps(law_list),
        }
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
        self.src_mix.data = dict(
            alpha=[r["alpha"] for r in rows],
            exact=[_nan(r["mixing_time"]) for r in rows],
            lower=[_nan(r["lower_bound"]) if (r["lower_bound"] or 0) > 0 else math.nan for r in rows],
            upper=[_nan(r["upper_bound"]) for r in rows],
        )
        self.progress.value = min(done, self.progress.max)

    def _sweep_done(self, gen):
        if gen != self._gen:
            return
        self.progress.visible = False
        self.progress_text.object = ""

    # --- export (the formats are :mod:`srchain.toy.explore.export`'s) ---------------------------------------
    def curves(self) -> dict:
        """The curves over α computed so far (NaN where not yet computed)."""
        d = self.src_curve.data
        return {
            "alpha": np.asarray(d["alpha"], dtype=float),
            "tv": np.asarray(d["tv"], dtype=float),
            "mass": np.asarray(d["mass"], dtype=float),
        }

    def to_xarray(self):
        """The current view as an :class:`xarray.Dataset` (the results store's names: ``alpha``, ``state``
        with coords ``x0 …``, ``pi``, ``pi_limit``, ``tv_to_limit``, ``mass_at_minimizer``, ``counts`` …)."""
        return export.to_xarray(self.state, self.curves(), self.src_mix.data, self.eps)

    def netcdf_bytes(self) -> io.BytesIO:
        return export.netcdf_bytes(self.to_xarray())

    def to_dict(self) -> dict:
        """The ``srchain stationary --json`` layout for the current view (plus the curves over α)."""
        return export.to_dict(self.state, self.curves())

    def json_bytes(self) -> io.BytesIO:
        return export.json_bytes(self.to_dict())

    def png_bytes(self) -> io.BytesIO:
        """The current view drawn by matplotlib (law, curves over α and, when shown, the mixing times)."""
        return export.png_bytes(self.state, self.curves(), self.src_mix.data)


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

    ex = Explorer(background=background, doc=pn.state.curdoc, **params)
    layout = ex.panel()
    if location and pn.state.location is not None and ex._doc is not None and ex._doc.session_context is not None:
        pn.state.location.sync(ex, {name: name for name in URL_PARAMS})
    if ex._doc is not None and ex._doc.session_context is not None:
        pn.state.on_session_destroyed(lambda ctx: ex.close())
    layout.explorer = ex
    return layout
