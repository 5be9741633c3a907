"""The controls of ``srchain explore``: the values offered (α, Δ, grids, noises, rules) and :data:`PARAMS`, one
:class:`ParamSpec` per control, from which the view builds its widgets, the URL its query string and the range
messages their text (:mod:`srchain.toy.explore.model` re-exports every name).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from srchain.errors import SrchainError

__all__ = [
    "ALPHAS",
    "MIXING_ALPHAS",
    "DELTAS",
    "FORMAT_CHOICES",
    "SCALES",
    "NOISES",
    "METHODS",
    "ParamSpec",
    "nearest_alpha",
    "PARAMS",
    "problem_options",
]

#: The α grid of the slider and of the curves: ten values per decade from 1e-4 to 1 (3 significant digits).
ALPHAS = tuple(float(f"{a:.3g}") for a in np.logspace(-4, 0, 41))
#: α values of the mixing-time curve (two per decade: the exact method is expensive at small α).
MIXING_ALPHAS = ALPHAS[::5]
#: Quantization steps offered (states of the toy problem on [-4, 10]: 15, 29, 57, 141, 281, 561, 1001).
DELTAS = (1.0, 0.5, 0.25, 0.1, 0.05, 0.025, 0.014)
#: Grids offered: the fixed lattice lo + ΔZ (the Δ control) or a number format's values (:mod:`srchain.grids`).
FORMAT_CHOICES = ("fixed", "bf16", "fp16", "fp8-e4m3", "fp8-e5m2", "fp4-e2m1")
#: Block scales s of fp4-e2m1 (values s·{0, ±0.5, …, ±6}): powers of two (2 covers the toy problem's [−4, 10]).
SCALES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
NOISES = ("gaussian", "laplace", "student-t", "minibatch")
METHODS = ("sr", "r", "bc")


@dataclass(frozen=True)
class ParamSpec:
    """One control of the explorer: its label, kind, allowed values and group (the view builds its widget from it).

    ``kind`` is ``"float"``, ``"int"``, ``"choice"`` or ``"bool"``; numbers lie in ``lo … hi``; a choice is one of
    ``choices``. :meth:`parse` turns what a user typed (a widget's value or a URL's text) into a value or raises
    :class:`SrchainError` with a message that gives the allowed range.
    """

    name: str
    label: str
    kind: str
    default: object
    group: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple = ()
    doc: str = ""

    def options(self) -> tuple:
        """The allowed choices (the problems the app can show are looked up when asked: plug-ins may add some)."""
        return tuple(problem_options()) if self.name == "problem" else self.choices

    def range_text(self) -> str:
        """The allowed values in words (``0.05 … 50``, ``one of gaussian, laplace``)."""
        if self.kind in ("float", "int"):
            return f"{self.lo:g} … {self.hi:g}"
        if self.kind == "bool":
            return "true or false"
        if self.name == "alpha":
            return f"{self.choices[0]:g} … {self.choices[-1]:g} (snapped to the slider's grid)"
        return "one of " + ", ".join(f"{c:g}" if isinstance(c, float) else str(c) for c in self.options())

    def parse(self, raw):
        """The value ``raw`` stands for (a number, a choice or a boolean), or :class:`SrchainError` saying why not."""
        what = f"{self.label} must be {self.range_text()}"
        text = "" if raw is None else str(raw).strip()
        if text == "":
            raise SrchainError(f"{what}; it is empty")
        if self.kind == "bool":
            if isinstance(raw, bool):
                return raw
            low = text.lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
            raise SrchainError(f"{what}; got {text!r}")
        if self.kind == "choice" and not isinstance(self.options()[0], float):
            if text in self.options():
                return text
            raise SrchainError(f"{what}; got {text!r}")
        try:
            x = float(raw)
        except (TypeError, ValueError):
            raise SrchainError(f"{what}; got {text!r}") from None
        if not math.isfinite(x):
            raise SrchainError(f"{what}; got {text!r}")
        if self.name == "alpha":
            lo, hi = self.choices[0], self.choices[-1]
            if not (lo / 1.2 <= x <= hi * 1.2):  # within a grid step (10^0.1 = 1.26) of the ends
                raise SrchainError(f"{what}; got {text!r}")
            return nearest_alpha(x)
        if self.kind == "choice":
            for c in self.choices:
                if abs(x - c) <= 1e-9 * abs(c):
                    return c
            raise SrchainError(f"{what}; got {text!r}")
        if self.kind == "int":
            if x != math.floor(x):
                raise SrchainError(f"{self.label} must be a whole number in {self.range_text()}; got {text!r}")
            x = int(x)
        if not (self.lo <= x <= self.hi):
            raise SrchainError(f"{what}; got {text!r}")
        return x


def nearest_alpha(x: float) -> float:
    """The value of :data:`ALPHAS` nearest to ``x`` on the log scale (``0.0123`` → ``0.0126``)."""
    if not (x > 0 and math.isfinite(x)):
        raise SrchainError(f"α must be a positive number, got {x!r}")
    i = int(np.argmin(np.abs(np.log(np.asarray(ALPHAS)) - math.log(x))))
    return ALPHAS[i]


def _specs(*specs: ParamSpec) -> dict:
    return {s.name: s for s in specs}


#: The explorer's controls, in their groups (problem, rule, noise, numerics): label, kind, allowed values.
#: The view's widgets, the URL's query string and the range messages all come from here; a new control is one more
#: entry (and, when it changes the chain, one more field of :class:`~srchain.toy.explore.model.Setting`).
PARAMS = _specs(
    ParamSpec("problem", "problem", "choice", "toy", "problem", doc="registered problem (2-D ones as heat maps)"),
    ParamSpec("delta", "Δ", "choice", 0.5, "problem", choices=DELTAS, doc="quantization step Δ (fixed grid)"),
    ParamSpec(
        "format",
        "grid",
        "choice",
        "fixed",
        "problem",
        choices=FORMAT_CHOICES,
        doc="the weights' grid: fixed (lo + ΔZ) or a number format's values",
    ),
    ParamSpec("scale", "fp4 scale s", "choice", 2.0, "problem", choices=SCALES, doc="fp4-e2m1's block scale s"),
    ParamSpec(
        "start",
        "start w₀",
        "float",
        4.0,
        "problem",
        lo=-1e3,
        hi=1e3,
        doc="start point (simulation; long-run law of a reducible chain)",
    ),
    ParamSpec(
        "method",
        "rule",
        "choice",
        "sr",
        "rule",
        choices=METHODS,
        doc="training rule: SR (Eq. 6), R (Eq. 4), BC (Eq. 7)",
    ),
    ParamSpec("alpha", "α", "choice", 0.01, "rule", choices=ALPHAS, doc="learning rate α (log scale)"),
    ParamSpec("noise", "noise", "choice", "gaussian", "noise", choices=NOISES, doc="gradient noise"),
    ParamSpec("sigma", "σ", "float", 2.0, "noise", lo=0.05, hi=50.0, doc="noise scale (σ, or b for laplace)"),
    ParamSpec("nu", "ν", "float", 3.0, "noise", lo=2.05, hi=100.0, doc="student-t degrees of freedom ν"),
    ParamSpec("batch", "batch B", "int", 1, "noise", lo=1, hi=64, doc="batch size B"),
    ParamSpec("samples", "samples m", "int", 16, "noise", lo=2, hi=64, doc="minibatch noise: number of samples m"),
    ParamSpec("seed", "seed", "int", 0, "noise", lo=0, hi=2**31 - 1, doc="seed (simulation, minibatch noise)"),
    ParamSpec("eps", "ε", "float", 0.25, "numerics", lo=0.01, hi=0.99, doc="ε of the mixing time M_ε"),
    ParamSpec("show_mixing", "mixing", "bool", False, "numerics", doc="compute M_ε(α) and its spectral bounds over α"),
    ParamSpec("simulate", "simulate", "bool", False, "numerics", doc="overlay a simulated histogram"),
    ParamSpec("steps", "steps", "int", 100_000, "numerics", lo=100, hi=10**7, doc="steps of the simulated chain"),
    ParamSpec("log_colour", "log colour", "bool", True, "numerics", doc="heat maps: logarithmic colour scale"),
)


@functools.cache
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
