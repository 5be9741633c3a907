"""The view of ``srchain explore``: :class:`Explorer` (a ``param.Parameterized`` that holds the state, the Bokeh
views and the background computations) and :func:`build_app` (see :mod:`srchain.toy.explore`).

Importing this module imports param (Panel's parameter library) and builds the class; Panel and Bokeh themselves
are imported when the views are built. :mod:`srchain.toy.explore` imports this module on first use of
``Explorer`` or ``build_app``, so that importing the model does not import Panel.
"""

from __future__ import annotations

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
from srchain.toy.explore.background import Background
from srchain.toy.explore.controls import URL_PARAMS, Controls, _sync_url, url_box
from srchain.toy.explore.model import (
    ALPHAS,
    DELTAS,
    FORMAT_CHOICES,
    METHODS,
    NOISES,
    PARAMS,
    SCALES,
    Setting,
    _fmt,
    _nan,
    alpha0_of,
    bar_widths,
    chain,
    curve_point,
    grid_note,
    grid_text,
    histogram,
    law,
    limit_law,
    minimizer_cells,
    mixing,
    problem_options,
    tv_floor,
    tv_label,
)
from srchain.toy.explore.views import build_views, empty_curves

from srchain.errors import SrchainError

__all__ = ["Explorer", "build_app", "URL_PARAMS", "WAIT_S"]

#: An update waits this long for its computation before it shows a spinner and finishes in the background.
WAIT_S = 0.15


class Explorer(Background, Controls, param.Parameterized):
    """State, computations and views of the explorer (see :mod:`srchain.toy.explore`)."""

    problem = param.Selector(default="toy", objects=list(problem_options()), doc=PARAMS["problem"].doc)
    method = param.Selector(default="sr", objects=list(METHODS), doc=PARAMS["method"].doc)
    alpha = param.Selector(default=0.01, objects=list(ALPHAS), doc=PARAMS["alpha"].doc)
    delta = param.Selector(default=0.5, objects=list(DELTAS), doc=PARAMS["delta"].doc)
    format = param.Selector(default="fixed", objects=list(FORMAT_CHOICES), doc=PARAMS["format"].doc)
    scale = param.Selector(default=2.0, objects=list(SCALES), doc=PARAMS["scale"].doc)
    noise = param.Selector(default="gaussian", objects=list(NOISES), doc=PARAMS["noise"].doc)
    sigma = param.Number(default=2.0, bounds=(PARAMS["sigma"].lo, PARAMS["sigma"].hi), doc=PARAMS["sigma"].doc)
    nu = param.Number(default=3.0, bounds=(PARAMS["nu"].lo, PARAMS["nu"].hi), doc=PARAMS["nu"].doc)
    batch = param.Integer(default=1, bounds=(PARAMS["batch"].lo, PARAMS["batch"].hi), doc=PARAMS["batch"].doc)
    samples = param.Integer(default=16, bounds=(PARAMS["samples"].lo, PARAMS["samples"].hi), doc=PARAMS["samples"].doc)
    eps = param.Number(default=0.25, bounds=(PARAMS["eps"].lo, PARAMS["eps"].hi), doc=PARAMS["eps"].doc)
    start = param.Number(default=4.0, bounds=(PARAMS["start"].lo, PARAMS["start"].hi), doc=PARAMS["start"].doc)
    simulate = param.Boolean(default=False, doc=PARAMS["simulate"].doc)
    steps = param.Integer(default=100_000, bounds=(PARAMS["steps"].lo, PARAMS["steps"].hi), doc=PARAMS["steps"].doc)
    seed = param.Integer(default=0, bounds=(PARAMS["seed"].lo, PARAMS["seed"].hi), doc=PARAMS["seed"].doc)
    show_mixing = param.Boolean(default=False, doc=PARAMS["show_mixing"].doc)
    log_colour = param.Boolean(default=True, doc=PARAMS["log_colour"].doc)

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
        self.last_input_error: str | None = None
        self._limit_shown = None  # the π̃ the law's source holds (sent again only when it changes)
        self._tv_floor = math.nan
        self._build_views()
        self.param.watch(self._on_alpha, ["alpha"])
        self.param.watch(
            self._on_setting,
            ["problem", "method", "delta", "format", "scale", "noise", "sigma", "nu", "batch", "samples", "seed"],
        )
        self.param.watch(self._on_extras, ["simulate", "steps", "start", "eps", "show_mixing"])
        self.param.watch(self._on_colour, ["log_colour"])
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
            # a minibatch chain can be reducible at every α: its long-run law then depends on the start (bigbatch's)
            start=float(self.start) if self.noise == "minibatch" else None,
            format=self.format,
            scale=float(self.scale) if self.format == "fp4-e2m1" else 1.0,
        )

    # --- views ---------------------------------------------------------------------------------------------
    def _build_views(self):
        build_views(self)

    @staticmethod
    def _empty_curves() -> dict:
        return empty_curves()

    def panel(self):
        """The whole app: grouped controls on the left, the law (large), its captions and the curves on the right."""
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
            pn.pane.Markdown(
                "SR (stochastic rounding) as a Markov chain: its law π_α, the α → 0 limit π̃ and BC, exactly.",
                styles={"font-size": "9pt"},
            ),
            self.widgets(),
            pn.Row(self.spinner, self.progress),
            self.progress_text,
            png,
            nc,
            js,
            width=330,
        )
        main = pn.Column(
            self.url_message,
            self.grid_message,
            self.message,
            self.numbers.pane,
            self.pane_law,
            self.pane_heat,
            self.pane_curves,
            self.pane_mix,
            self.data_tag.pane,
            sizing_mode="stretch_width",
        )
        return pn.Row(side, main, sizing_mode="stretch_width")

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
        if "start" in names and self.noise == "minibatch":  # the start is part of a minibatch chain's setting
            self._on_setting()
            return
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
            self.grid_message.visible = False
            return
        self._show_error(None)
        self.grid_message.object = grid_note(s)
        self.grid_message.visible = bool(self.grid_message.object)
        two_d = lattice.dim == 2
        self.pane_law.visible = not two_d
        self.pane_heat.visible = two_d
        self.src_curve.data = self._empty_curves()
        self.src_mix.data = dict(alpha=[], exact=[], lower=[], upper=[])
        self.fig_curves[0].title.text = f"{tv_label(self.method)} over α"
        self.fig_curves[0].yaxis.axis_label = tv_label(self.method)
        floor = tv_floor(s)
        self._tv_floor = floor
        self.floor_span.location = floor
        self.floor_label.y = floor
        self.floor_label.text = f"solver accuracy {floor:.1g}: TV below it is rounding noise"
        if lattice.dim == 1:  # what does not depend on α: the lattice, the objective and π̃
            x = lattice.points[:, 0]
            f = np.asarray(problem.value(lattice.points), dtype=np.float64)
            self.fig_law.extra_y_ranges["f"].start = float(f.min())
            self.fig_law.extra_y_ranges["f"].end = float(f.max())
            nan_vec = np.full(lattice.size, math.nan)
            self.src_law.data = dict(x=x, pi=nan_vec, limit=nan_vec, f=f)
            self.src_sim.data = dict(x=x, sim=nan_vec, width=bar_widths(lattice))
            self.min_span.location = math.nan if problem.minimizer is None else float(problem.minimizer[0])
        self._limit_shown = None

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
        errors = []
        for e in (L.error, lim.error if method == "sr" else None):
            if e and e not in errors:  # the law and π̃ of a reducible chain say the same: say it once
                errors.append(e)
        sim = res.get("sim")
        if sim is not None and sim.error:
            errors.append(sim.error)
        self._show_error("; ".join(errors) if errors else None)
        cells = minimizer_cells(s)
        lim_mass = float(lim.pi[cells].sum()) if lim.pi is not None and cells.size else math.nan
        floor = tv_floor(s)
        self.state = {
            "alpha": alpha,
            "method": method,
            "setting": s.to_dict(),
            "tv_to_limit": _nan(tv_),
            "tv_floor": floor,
            "tv_label": tv_label(method),
            "mass_at_minimizer": _nan(mass),
            "entropy": _nan(ent),
            "alpha0": a0,
            "limit_mass_at_minimizer": _nan(lim_mass),
            "solver": L.solver,
            "note": L.note,
            "states": lattice.size,
            "pi": None if pi is None else pi,
            "pi_limit": lim.pi,
            "sim": None if sim is None else sim.pi,
            "mixing": res.get("mixing"),
            "points": lattice.points,
        }
        # the law's view: only the columns that change with α are sent (x, f are sent with the setting)
        if lattice.dim == 1:
            n = lattice.size
            pi_col = np.full(n, math.nan) if pi is None else pi
            update = {"pi": pi_col}
            if self._limit_shown is not lim:
                update["limit"] = np.full(n, math.nan) if lim.pi is None else lim.pi
                self._limit_shown = lim
            if len(self.src_law.data["x"]) == n:
                self.src_law.data.update(update)
            else:  # (not yet framed: a setting error was fixed)
                self._update_static()
                self.src_law.data.update(pi=pi_col, limit=np.full(n, math.nan) if lim.pi is None else lim.pi)
                self._limit_shown = lim
            show_sim = sim is not None and sim.pi is not None
            if show_sim or self._sim_bars.visible:
                self.src_sim.data.update(sim=sim.pi if show_sim else np.full(n, math.nan))
            self._show_sim(show_sim)
            tops = [np.max(v) for v in (pi, lim.pi, sim.pi if show_sim else None) if v is not None]
            top = float(max(tops)) if tops else 1.0
            self.law_y.update(start=0.0, end=1.08 * top if top > 0 else 1.0)
            # (α is in the numbers line and on the slider: a title that changes with α re-lays out the whole page)
            title = f"{problem.name}: {method.upper()}, {grid_text(lattice)}, noise {noise.describe()}"
            if self.fig_law.title.text != title:
                self.fig_law.title.text = title
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
            self._fit_colours()
            self.fig_heat[0].title.text = f"{method.upper()} at α = {alpha:g} (Δ = {lattice.delta:g})"
        # markers on the curves
        for sp_ in self.alpha_spans:
            sp_.location = alpha
        for sp_ in self.alpha0_spans:
            sp_.location = math.nan if a0 is None else a0
        self.limit_mass_span.location = lim_mass
        i = ALPHAS.index(alpha) if alpha in ALPHAS else None
        if i is not None and gen == self._gen:
            self.src_curve.patch(self._curve_patch([(i, tv_, mass)], floor))
        self._write_numbers(s, method, alpha, L, lim, a0, lattice, noise)
        self.last_update_s = time.perf_counter() - t0

    def _show_sim(self, show: bool):
        if self._sim_bars.visible == show:
            return
        self._sim_bars.visible = show
        items = [it for it in self.fig_law.legend.items if it is not self._sim_item]
        if show:
            items.insert(1, self._sim_item)
        self.fig_law.legend.items = items

    def _write_numbers(self, s, method, alpha, L, lim, a0, lattice, noise):
        st = self.state
        mix = st.get("mixing") or {}
        t, floor = st["tv_to_limit"], st["tv_floor"]
        tv_text = f"< {floor:.1g} (below the solver's accuracy)" if math.isfinite(t) and t < floor else f"{_fmt(t)}"
        esc = html.escape
        head = (
            f"<b>{method.upper()} at α = {alpha:g}</b>, {grid_text(lattice)}, {lattice.size} states, noise "
            f"{esc(noise.describe())}"
        )
        items = [
            f"{tv_label(method)} = <b>{tv_text}</b>; mass on the global minimiser "
            f"<b>{_fmt(st['mass_at_minimizer'])}</b> (π̃: {_fmt(st['limit_mass_at_minimizer'])}); "
            f"entropy {_fmt(st['entropy'])} nats",
            f"α0 = {_fmt(a0)} (π_α → π̃ as α → 0, Theorem 5); law solver: {esc(L.solver or '–')}"
            + (f"; {esc(L.note)}" if L.note else ""),
        ]
        if mix:
            items.append(
                f"M_ε(α), ε = {self.eps:g}: {mix.get('mixing_time') or '–'} (spectral bounds "
                f"{_fmt(mix.get('lower_bound'), '.3g')} … {_fmt(mix.get('upper_bound'), '.3g')})"
                + (f" — {esc(mix['note'])}" if mix.get("note") else "")
            )
        if st.get("sim") is not None:
            items.append(f"simulated: {self.steps} steps from w = {self.start:g}, seed {self.seed}")
        self.numbers.object = head + "<ul>" + "".join(f"<li>{it}</li>" for it in items) + "</ul>"
        law_list = [] if st["pi"] is None else st["pi"].tolist()
        attrs = {
            "alpha": repr(alpha),
            "method": method,
            "tv": repr(st["tv_to_limit"]),
            "tv-floor": repr(floor),
            "mass": repr(st["mass_at_minimizer"]),
            "states": str(lattice.size),
            "sigma": repr(float(s.sigma)),
            "noise": s.noise,
            "law": json.dumps(law_list),
        }
        body = " ".join(f'data-{k}="{html.escape(v, quote=True)}"' for k, v in attrs.items())
        self.data_tag.object = f'<div id="srchain-state" {body} style="display:none"></div>'

    def _on_colour(self, *_):
        self.cmap = self.cmap_log if self.log_colour else self.cmap_linear
        for g, bar in zip(self._heat_glyphs, self.colour_bars, strict=True):
            g.color_mapper = self.cmap
            bar.color_mapper = self.cmap
        self._fit_colours()

    def _fit_colours(self):
        """Fit both colour mappers to the two heat maps (log: from the smallest positive value, at most 12 decades)."""
        vals = [np.asarray(src.data["image"][0]) for src in (self.src_img, self.src_img_lim) if src.data["image"]]
        vals = np.concatenate([v.ravel() for v in vals]) if vals else np.zeros(0)
        vals = vals[np.isfinite(vals)]
        top = float(vals.max()) if vals.size and vals.max() > 0 else 1.0
        pos = vals[vals > 0]
        low = max(float(pos.min()) if pos.size else top * 1e-12, top * 1e-12)
        self.cmap_linear.update(low=0.0, high=top)
        self.cmap_log.update(low=low if low < top else top / 10, high=top)

    def _show_error(self, text):
        self.message.object = text or ""
        self.message.visible = bool(text)

    # --- export (the formats are :mod:`srchain.toy.explore.export`'s) ---------------------------------------
    def curves(self) -> dict:
        """The curves over α computed so far (NaN where not yet computed)."""
        d = self.src_curve.data
        return {
            "alpha": np.asarray(d["alpha"], dtype=float),
            "tv": np.asarray(d["tv_raw"], dtype=float),
            "tv_floor": float(getattr(self, "_tv_floor", math.nan)),
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
        return export.png_bytes(self.state, self.curves(), self.src_mix.data, bool(self.log_colour))


def build_app(background: bool = True, location: bool = True, **params):
    """The explorer's Panel layout (serve it with ``pn.serve(build_app)`` or display it in a notebook).

    Parameters
    ----------
    background : bool
        Run long computations in worker threads (the page never freezes); ``False`` computes everything in the
        calling thread (tests, scripts).
    location : bool
        Keep the state in the URL's query string when served (:func:`~srchain.toy.explore.controls.url_box`).
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
    if location and ex._doc is not None and ex._doc.session_context is not None:
        box = url_box()
        layout.append(box)
        _sync_url(ex, box, pn.state.session_args)
    if ex._doc is not None and ex._doc.session_context is not None:
        pn.state.onload(ex._resend)
        pn.state.on_session_destroyed(lambda ctx: ex.close())
    layout.explorer = ex
    return layout
