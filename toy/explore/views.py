"""The explorer's views: the Bokeh figures and data sources and the Panel panes that hold them (no state, no
computation). :func:`build_views` makes them as attributes of an :class:`~srchain.toy.explore.app.Explorer`, which
fills them (:mod:`srchain.toy.explore.app`); the captions say, in the paper's terms, what each panel shows.
"""

from __future__ import annotations

import math

from srchain.toy.explore.model import ALPHAS

__all__ = ["CAPTIONS", "build_views", "empty_curves", "Div"]

#: What each panel shows, in the paper's terms (the captions under the plots).
CAPTIONS = {
    "law": (
        "**What to look for.** The law of the rule at α (blue) against π̃ (dashed), the α → 0 limit of SR's chain "
        "(Eq. 9); the red line is the global minimiser. Theorem 5: below α0, SR's π_α *is* π̃: shrinking α no longer "
        "moves SR's law, which keeps only part of its mass on the minimiser. Switch the rule to BC: its law piles "
        "onto the minimiser as α shrinks (Figure 2)."
    ),
    "heat": (
        "**What to look for.** The same laws on a 2-D lattice: the rule's law at α (left) and π̃ (right). "
        "Below α0 the two maps agree (Theorem 5); the log colour scale shows the mass SR keeps away from the minimiser."
    ),
    "tv": (
        "**Theorem 5.** TV to π̃ falls as α shrinks and reaches zero below α0 (grey dashed line): SR stalls at π̃. "
        "Values below the solver's accuracy are rounding noise and are drawn as the grey floor, not as data."
    ),
    "mass": (
        "**Mass on the minimiser.** SR's stops at π̃'s value (dashed) however small α gets; BC's rises towards 1 "
        "(Figure 2): BC concentrates on the minimiser, SR does not."
    ),
    "mix": (
        "**Theorem 6.** The ε-mixing time M_ε(α) grows like 1/α: a smaller α buys nothing in SR's law (above) "
        "and costs steps to reach it."
    ),
}


def empty_curves() -> dict:
    """The curves' columns over :data:`ALPHAS`, all NaN (before the sweep fills them)."""
    nan = [math.nan] * len(ALPHAS)
    return dict(alpha=list(ALPHAS), tv=list(nan), floor=list(nan), mass=list(nan), tv_raw=list(nan))


def build_views(ex) -> None:
    """Make the explorer's Bokeh figures, their data sources and the Panel panes around them, as attributes of
    ``ex`` (an :class:`~srchain.toy.explore.app.Explorer`): the law (1-D), the heat maps (2-D), the curves over α,
    the mixing times, the numbers line, the messages and the progress indicators."""
    import panel as pn
    from bokeh.models import (
        ColorBar,
        ColumnDataSource,
        Label,
        LinearAxis,
        LinearColorMapper,
        LogColorMapper,
        LogTicker,
        Range1d,
        Span,
    )
    from bokeh.plotting import figure

    tools = "pan,wheel_zoom,box_zoom,reset,hover"
    ex.src_law = ColumnDataSource(dict(x=[], pi=[], limit=[], f=[]), name="srchain-law")
    ex.src_sim = ColumnDataSource(dict(x=[], sim=[], width=[]))
    # the probability axis is fitted to the laws (the objective has its own axis on the right)
    ex.law_y = Range1d(0, 1, name="srchain-law-y")
    p = figure(
        height=460,
        sizing_mode="stretch_width",
        tools=tools,
        x_axis_label="w",
        y_axis_label="probability",
        title="stationary law",
        y_range=ex.law_y,
        name="srchain-law-figure",
    )
    p.extra_y_ranges = {"f": Range1d(0, 1)}
    p.add_layout(LinearAxis(y_range_name="f", axis_label="f(w)"), "right")
    p.line(
        "x",
        "f",
        source=ex.src_law,
        y_range_name="f",
        color="#aaaaaa",
        line_dash="dotted",
        legend_label="objective f (right axis)",
    )
    ex._sim_bars = p.vbar(
        x="x", top="sim", width="width", source=ex.src_sim, color="#ff7f0e", alpha=0.35, legend_label="simulated"
    )
    ex._sim_bars.visible = False
    p.step(
        "x",
        "pi",
        source=ex.src_law,
        mode="center",
        color="#1f77b4",
        line_width=2,
        legend_label="law of the rule at α",
    )
    p.step(
        "x",
        "limit",
        source=ex.src_law,
        mode="center",
        color="black",
        line_dash="dashed",
        legend_label="π̃ (SR limit, Eq. 9)",
    )
    ex.min_span = Span(location=0, dimension="height", line_color="red", line_dash="dotted")
    p.add_layout(ex.min_span)
    p.legend.location = "top_left"
    p.legend.click_policy = "hide"
    p.legend.label_text_font_size = "9pt"
    # the "simulated" entry is listed only while a histogram is shown
    ex._sim_item = next(it for it in p.legend.items if ex._sim_bars in it.renderers)
    p.legend.items = [it for it in p.legend.items if it is not ex._sim_item]
    ex.fig_law = p

    ex.src_img = ColumnDataSource(dict(image=[], x=[], y=[], dw=[], dh=[]), name="srchain-heat-law")
    ex.src_img_lim = ColumnDataSource(dict(image=[], x=[], y=[], dw=[], dh=[]), name="srchain-heat-limit")
    ex.cmap_linear = LinearColorMapper(palette="Viridis256", low=0, high=1, nan_color="#dddddd")
    ex.cmap_log = LogColorMapper(
        palette="Viridis256", low=1e-12, high=1, nan_color="#dddddd", name="srchain-heat-log-mapper"
    )
    ex.cmap = ex.cmap_log if ex.log_colour else ex.cmap_linear
    figs, ex._heat_glyphs, ex.colour_bars = [], [], []
    for k, (src, title) in enumerate(((ex.src_img, "law of the rule at α"), (ex.src_img_lim, "π̃ (SR limit, Eq. 9)"))):
        q = figure(
            height=420, width=480, tools=tools, title=title, x_axis_label="w₁", y_axis_label="w₂", match_aspect=True
        )
        g = q.image(image="image", x="x", y="y", dw="dw", dh="dh", source=src, color_mapper=ex.cmap)
        bar = ColorBar(color_mapper=ex.cmap, title="probability", name=f"srchain-colour-bar-{k}", width=12)
        q.add_layout(bar, "right")
        figs.append(q)
        ex._heat_glyphs.append(g.glyph)
        ex.colour_bars.append(bar)
    ex.fig_heat = figs

    ex.src_curve = ColumnDataSource(empty_curves(), name="srchain-curves")
    ex.alpha_spans = []
    cv = []
    for key, label, ytype in (("tv", "TV to π̃", "log"), ("mass", "mass on the global minimiser", "linear")):
        q = figure(
            height=300,
            sizing_mode="stretch_width",
            x_axis_type="log",
            x_range=(ALPHAS[0] / 1.3, ALPHAS[-1] * 1.3),  # the whole grid, also while the sweep fills it
            y_axis_type=ytype,
            tools=tools,
            x_axis_label="α",
            y_axis_label=label,
            title=label + " over α",
        )
        q.line("alpha", key, source=ex.src_curve, line_width=2)
        q.scatter("alpha", key, source=ex.src_curve, size=4)
        s = Span(location=ex.alpha, dimension="height", line_color="red")
        q.add_layout(s)
        ex.alpha_spans.append(s)
        cv.append(q)
    # TV below the solver's accuracy is not data: a labelled floor (grey triangles on a dashed line)
    tvf = cv[0]
    tvf.yaxis.ticker = LogTicker(desired_num_ticks=4, num_minor_ticks=10)
    ex.floor_span = Span(
        location=math.nan,
        dimension="width",
        line_color="#888888",
        line_dash="dotdash",
        name="srchain-tv-floor",
    )
    tvf.add_layout(ex.floor_span)
    ex.floor_label = Label(
        x=5,
        y=math.nan,
        x_units="screen",
        text="",
        text_font_size="8pt",
        text_color="#666666",
        y_offset=3,
        name="srchain-tv-floor-label",
    )
    tvf.add_layout(ex.floor_label)
    tvf.scatter(
        "alpha",
        "floor",
        source=ex.src_curve,
        marker="inverted_triangle",
        size=7,
        color="#888888",
        legend_label="below the solver's accuracy",
    )
    tvf.legend.location = "bottom_right"
    tvf.legend.label_text_font_size = "8pt"
    ex.limit_mass_span = Span(location=math.nan, dimension="width", line_color="black", line_dash="dashed")
    cv[1].add_layout(ex.limit_mass_span)
    ex.alpha0_spans = []
    for q in cv:
        s = Span(location=math.nan, dimension="height", line_color="gray", line_dash="dashed")
        q.add_layout(s)
        ex.alpha0_spans.append(s)
    ex.fig_curves = cv

    ex.src_mix = ColumnDataSource(dict(alpha=[], exact=[], lower=[], upper=[]))
    q = figure(
        height=300,
        sizing_mode="stretch_width",
        x_axis_type="log",
        y_axis_type="log",
        tools=tools,
        x_axis_label="α",
        y_axis_label="steps",
        title="mixing time M_ε(α) and spectral bounds",
    )
    q.scatter("alpha", "exact", source=ex.src_mix, size=7, legend_label="M_ε exact")
    q.line("alpha", "exact", source=ex.src_mix)
    q.line("alpha", "lower", source=ex.src_mix, line_dash="dashed", color="green", legend_label="lower bound")
    q.line("alpha", "upper", source=ex.src_mix, line_dash="dashed", color="purple", legend_label="upper bound")
    s = Span(location=ex.alpha, dimension="height", line_color="red")
    q.add_layout(s)
    ex.alpha_spans.append(s)
    q.legend.location = "top_right"
    ex.fig_mix = q

    def caption(key):
        return pn.pane.Markdown(
            CAPTIONS[key],
            sizing_mode="stretch_width",
            css_classes=[f"srchain-caption-{key}"],
            styles={"font-size": "10pt", "color": "#444"},
            margin=(0, 10),
        )

    # (a Bokeh pane's own ``visible`` does not come back once set False: toggle a Column around it)
    ex.pane_law = pn.Column(
        pn.pane.Bokeh(ex.fig_law, sizing_mode="stretch_width"), caption("law"), sizing_mode="stretch_width"
    )
    ex.pane_heat = pn.Column(pn.Row(*[pn.pane.Bokeh(f) for f in ex.fig_heat]), caption("heat"), visible=False)
    ex.pane_curves = pn.Row(
        pn.Column(
            pn.pane.Bokeh(ex.fig_curves[0], sizing_mode="stretch_width"),
            caption("tv"),
            sizing_mode="stretch_width",
        ),
        pn.Column(
            pn.pane.Bokeh(ex.fig_curves[1], sizing_mode="stretch_width"),
            caption("mass"),
            sizing_mode="stretch_width",
        ),
        sizing_mode="stretch_width",
    )
    ex.pane_mix = pn.Column(
        pn.pane.Bokeh(ex.fig_mix, sizing_mode="stretch_width"),
        caption("mix"),
        visible=False,
        sizing_mode="stretch_width",
    )
    # the numbers and the data tag change on every α: plain Bokeh Divs, whose update is one property (a Panel
    # Markdown or HTML pane re-renders and restyles itself, ~40 ms an update on a loaded 2-core machine)
    # (fixed heights: a new text then redraws the Div alone, not the layout of the whole page)
    ex.numbers = Div(css_classes=["srchain-numbers"], styles={"font-size": "10pt", "overflow": "auto"}, height=100)
    ex.data_tag = Div(margin=0, height=1)
    ex.message = pn.pane.Alert("", alert_type="warning", visible=False, sizing_mode="stretch_width")
    ex.grid_message = pn.pane.Alert(
        "", alert_type="info", visible=False, sizing_mode="stretch_width", css_classes=["srchain-grid-message"]
    )
    ex.url_message = pn.pane.Alert(
        "", alert_type="info", visible=False, sizing_mode="stretch_width", css_classes=["srchain-url-message"]
    )
    ex.progress = pn.indicators.Progress(value=0, max=len(ALPHAS), width=260, visible=False)
    ex.progress_text = pn.pane.Str("", styles={"font-size": "9pt"})
    ex.spinner = pn.indicators.LoadingSpinner(value=False, size=24)


class Div:
    """A Bokeh ``Div`` in a Panel pane: ``object`` is its HTML (the pane's models are made once)."""

    def __init__(self, margin=(5, 10), css_classes=(), styles=None, height=None):
        import panel as pn
        from bokeh.models import Div

        self.div = Div(
            text="", sizing_mode="stretch_width", css_classes=list(css_classes), styles=styles or {}, height=height
        )
        self.pane = pn.pane.Bokeh(self.div, sizing_mode="stretch_width", margin=margin, height=height)

    @property
    def object(self) -> str:
        return self.div.text

    @object.setter
    def object(self, text: str) -> None:
        self.div.text = text
