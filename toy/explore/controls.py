"""The controls of the explorer's view and the URL's query string (:class:`Controls`, a base of
:class:`srchain.toy.explore.app.Explorer`).

One widget per control of :data:`srchain.toy.explore.params.PARAMS`, in its group; a number box shows its allowed
range and, under it, why a value was refused (:meth:`Controls.set_input`), and the page keeps its last good state.
:meth:`Controls.apply_query` and :meth:`Controls.query` read and write the state as URL parameters
(:data:`URL_PARAMS`), which a served page keeps in its address (:func:`_sync_url`).
"""

from __future__ import annotations

import functools
import html
from typing import TYPE_CHECKING

from srchain.toy.explore.model import PARAMS

from srchain.errors import SrchainError

if TYPE_CHECKING:
    from srchain.toy.explore.app import Explorer

__all__ = ["Controls", "URL_PARAMS"]

#: Parameters kept in the URL's query string.
URL_PARAMS = (
    "problem",
    "method",
    "alpha",
    "delta",
    "format",
    "scale",
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
    "log_colour",
)


class Controls:
    """The explorer's controls and URL parameters (mixed into :class:`~srchain.toy.explore.app.Explorer`, whose
    parameters, views and dispatcher they use)."""

    # --- controls ------------------------------------------------------------------------------------------
    def widgets(self):
        """The controls, grouped (problem, rule, noise, numerics); each number box shows its allowed range and,
        under it, why a value was refused (the page keeps the last good view)."""
        import panel as pn

        self.input_messages = {}
        self._inputs = {}
        made = {}
        for name in URL_PARAMS:
            spec = PARAMS[name]
            if spec.kind in ("float", "int"):
                made[name] = self._number_input(spec)
            elif spec.kind == "bool":
                made[name] = pn.widgets.Checkbox.from_param(
                    getattr(self.param, name), name=self._bool_label(name), css_classes=[f"srchain-input-{name}"]
                )
            elif name == "alpha":
                made[name] = pn.widgets.DiscreteSlider.from_param(
                    self.param.alpha, name="α (log scale)", formatter="%.3g", sizing_mode="stretch_width"
                )
            elif name == "method":
                made[name] = pn.widgets.RadioButtonGroup.from_param(
                    self.param.method, name="rule", sizing_mode="stretch_width"
                )
            else:
                made[name] = pn.widgets.Select.from_param(getattr(self.param, name), name=spec.label)
        groups = []
        for group, title in (("problem", "Problem"), ("rule", "Rule"), ("noise", "Noise"), ("numerics", "Numerics")):
            items = [made[n] for n in URL_PARAMS if PARAMS[n].group == group]
            groups.append(
                pn.Card(
                    *items,
                    title=title,
                    collapsible=True,
                    sizing_mode="stretch_width",
                    css_classes=[f"srchain-group-{group}"],
                )
            )
        return pn.Column(*groups, sizing_mode="stretch_width")

    @staticmethod
    def _bool_label(name):
        return {
            "simulate": "overlay a simulated histogram",
            "show_mixing": "M_ε(α) and spectral bounds",
            "log_colour": "log colour scale (heat maps)",
        }[name]

    def _number_input(self, spec):
        """A text box for ``spec`` with its range in the label and a message line under it."""
        import panel as pn

        label_key = "label" if "label" in pn.widgets.TextInput.param else "name"  # Panel ≥ 1.8 calls it label
        box = pn.widgets.TextInput(
            **{label_key: f"{spec.label} ({spec.range_text()})"},
            value=self._format(spec, getattr(self, spec.name)),
            sizing_mode="stretch_width",
            css_classes=[f"srchain-input-{spec.name}"],
        )
        msg = pn.pane.HTML(
            "",
            visible=False,
            sizing_mode="stretch_width",
            css_classes=[f"srchain-input-message-{spec.name}"],
            styles={"color": "#b00020", "font-size": "9pt"},
            margin=(0, 10),
        )
        self.input_messages[spec.name] = msg
        self._inputs[spec.name] = box
        box.param.watch(lambda ev, spec=spec: self._on_input(spec, ev.new), "value")
        self.param.watch(lambda ev, spec=spec: self._sync_input(spec), spec.name)
        return pn.Column(box, msg, sizing_mode="stretch_width", margin=0)

    @staticmethod
    def _format(spec, value) -> str:
        return str(int(value)) if spec.kind == "int" else f"{float(value):g}"

    def set_input(self, name: str, text) -> bool:
        """Apply what a user typed into the box of ``name`` (the view's path): True if it was taken, else the
        box's message says why and every view keeps its last good state."""
        spec = PARAMS[name]
        try:
            value = spec.parse(text)
        except SrchainError as exc:
            msg = self.input_messages.get(name) if hasattr(self, "input_messages") else None
            shown = self._format(spec, getattr(self, name))
            text = f"{html.escape(str(exc))}; still showing {html.escape(spec.label)} = {html.escape(shown)}"
            if msg is not None:
                msg.object = text
                msg.visible = True
            self.last_input_error = str(exc)
            return False
        if hasattr(self, "input_messages") and name in self.input_messages:
            self.input_messages[name].visible = False
            self.input_messages[name].object = ""
        self.last_input_error = None
        if getattr(self, name) != value:
            setattr(self, name, value)
        return True

    def _on_input(self, spec, text):
        # on the document's next tick, under its lock: Panel handles a browser event with the document unlocked,
        # where a change to a Bokeh data source fails (the widgets made by from_param are linked the same way)
        self._dispatch(functools.partial(self.set_input, spec.name, text))

    def _sync_input(self, spec):
        box = self._inputs.get(spec.name)
        if box is None:
            return
        try:
            current = spec.parse(box.value)
        except SrchainError:
            current = None
        if current != getattr(self, spec.name):
            box.value = self._format(spec, getattr(self, spec.name))
        self.input_messages[spec.name].visible = False

    # --- the URL -------------------------------------------------------------------------------------------
    def apply_query(self, args: dict) -> list[str]:
        """Apply a URL's query parameters (``name -> text``): the good ones set the state (α snapped to the nearest
        value of the grid), the others are ignored; returns one line per ignored or changed parameter (shown in
        the page)."""
        notes, values = [], {}
        for name, raw in args.items():
            if name not in PARAMS or name not in URL_PARAMS:
                notes.append(f"ignored URL parameter {name}={raw}: not one of {', '.join(URL_PARAMS)}")
                continue
            spec = PARAMS[name]
            try:
                value = spec.parse(raw)
            except SrchainError as exc:
                notes.append(f"ignored URL parameter {name}={raw}: {exc}")
                continue
            if name == "alpha" and abs(float(raw) - value) > 1e-12 * value:
                notes.append(f"α = {raw} from the URL is shown at the nearest α of the slider's grid, {value:g}")
            values[name] = value
        if values:
            self.param.update(**values)
        self.url_message.object = "\n".join(f"- {html.escape(n)}" for n in notes)
        self.url_message.visible = bool(notes)
        return notes

    def query(self) -> dict:
        """The URL's query parameters for the current state (booleans as ``true``/``false``, numbers as ``%g``)."""
        out = {}
        for name in URL_PARAMS:
            spec, v = PARAMS[name], getattr(self, name)
            if spec.kind == "bool":
                out[name] = "true" if v else "false"
            elif spec.kind in ("float", "int") or isinstance(v, float):
                out[name] = self._format(spec, v) if spec.kind in ("float", "int") else repr(v)
            else:
                out[name] = str(v)
        return out


#: The browser's side of :func:`url_box`: the page's URL takes the box's query string (history.replaceState, so
#: moving a slider adds no history entry).
_REPLACE_URL = (
    "window.history.replaceState(window.history.state, '', window.location.pathname + cb_obj.value"
    " + window.location.hash)"
)


def url_box():
    """A hidden text box whose value is the state's query string; a JavaScript callback on it writes that value into
    the browser's URL. Panel's own ``pn.state.location`` was used before, and lost writes: its browser side defers a
    change that arrives before the document is idle until the document's idle signal, which had already fired, so
    on a loaded machine the URL kept the query the page was opened with."""
    import panel as pn

    box = pn.widgets.TextInput(value="", visible=False)
    box.jscallback(value=_REPLACE_URL)
    return box


def _sync_url(ex: Explorer, box, session_args: dict, onload=None) -> None:
    """Read the state from the URL's query (what is ignored is said in the page) and keep the URL up to date: the
    query string of the state goes into ``box`` (:func:`url_box`) once the page has loaded (``onload``, Panel's
    ``pn.state.onload`` by default), and again whenever the state changes."""
    from urllib.parse import urlencode

    args = {}
    for k, v in (session_args or {}).items():
        if k == "bokeh-autoload-element" or not v:
            continue
        raw = v[-1]
        args[k] = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    ex.apply_query(args)

    def write(*_):
        box.value = "?" + urlencode(ex.query())

    ex.param.watch(write, list(URL_PARAMS))
    if onload is None:
        import panel as pn

        onload = pn.state.onload
    onload(write)
