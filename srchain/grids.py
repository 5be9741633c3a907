r"""Grids of a number format's values: the state space of SR and R on the formats people train in.

The paper's grid is :math:`\Delta\mathbb{Z}^d` (:class:`srchain.lattice.Lattice`). A floating-point format's
representable values form a grid whose spacing (the ulp) grows with :math:`|w|`. A :class:`Grid` is a product of
per-axis sorted arrays of values: axis :math:`k` holds the values of the format inside ``domain[k]``.

Formats (``--format NAME``), each a dtype of :mod:`ml_dtypes` (or NumPy):

=============  ==========================  ===========================================================
name           dtype                       values
=============  ==========================  ===========================================================
``fixed``      (none)                      :math:`\mathrm{lo} + \Delta\mathbb{Z}`: today's :class:`Lattice`
``bf16``       ``ml_dtypes.bfloat16``      8 exponent bits, 7 mantissa bits
``fp16``       ``numpy.float16``           IEEE half: 5 exponent bits, 10 mantissa bits
``fp8-e4m3``   ``ml_dtypes.float8_e4m3fn`` OCP FP8 E4M3 (no infinities; ±448)
``fp8-e5m2``   ``ml_dtypes.float8_e5m2``   OCP FP8 E5M2 (±57344)
``fp4-e2m1``   ``ml_dtypes.float4_e2m1fn`` OCP FP4 E2M1: :math:`\{0, \pm0.5, \pm1, \pm1.5, \pm2, \pm3, \pm4, \pm6\}`
=============  ==========================  ===========================================================

Aliases (:data:`FORMAT_ALIASES`, one table for the API, ``--format`` and the CNN method names): ``fp8``/``e4m3``
for ``fp8-e4m3``, ``fp8e5m2``/``e5m2`` for ``fp8-e5m2``, ``fp4``/``e2m1`` for ``fp4-e2m1``, ``bfloat16``,
``float16``; :func:`canonical_format` maps any of them to the canonical name, which results always record.

The values are never written by hand: every bit pattern of the dtype is viewed as the dtype and converted to
float64 by :mod:`ml_dtypes`; infinities and NaNs are dropped (they are never states). **Signed zero**: +0 and −0
compare equal and are the same point of the grid, so they collapse into one state, 0 (a weight at −0 and one at +0
take the same steps). **Subnormals** are kept: they are representable values that round-to-nearest and SR reach,
and they make the grid very fine near 0 (bf16's smallest positive value is about 9.2e-41). A block scale ``s``
(``--scale``, as in MXFP4/NVFP4 recipes) multiplies every value; it must be a power of two so that the scaled
values, their midpoints and the ties-to-even rule are those of the unscaled format.

A grid is located like an xarray index: ``numpy.searchsorted`` on the sorted values, no loop over values. It offers
the interface the solvers, mixing and the stores use of a :class:`Lattice` (``dim``, ``size``, ``shape``,
``strides``, ``coords``, ``points``, ``axis``, ``index``, ``nearest``, ``cells``, ``contains``, ``domain``,
``to_dict``), plus the per-axis spacings and the ties-to-even parity of each value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from srchain.errors import SrchainError
from srchain.problems import as_domain

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from srchain.lattice import Lattice

__all__ = [
    "Grid",
    "FORMATS",
    "FORMAT_ALIASES",
    "canonical_format",
    "format_arg",
    "format_values",
    "format_dtype",
    "check_scale",
    "is_uniform",
    "grid_label",
    "axis_values",
    "axis_parity",
]

#: ``--format`` names and the dtype each stands for (module, attribute).
FORMATS = {
    "fixed": None,
    "bf16": ("ml_dtypes", "bfloat16"),
    "fp16": ("numpy", "float16"),
    "fp8-e4m3": ("ml_dtypes", "float8_e4m3fn"),
    "fp8-e5m2": ("ml_dtypes", "float8_e5m2"),
    "fp4-e2m1": ("ml_dtypes", "float4_e2m1fn"),
}

#: Other accepted spellings of a format, each mapped to its canonical name (a key of :data:`FORMATS`): the short
#: names of the CNN methods (``sr-fp8-adam`` is ``sr-fp8-e4m3-adam``) and the dtypes' own names. Results, JSON
#: and stores always record the canonical name.
FORMAT_ALIASES = {
    "bfloat16": "bf16",
    "float16": "fp16",
    "fp8": "fp8-e4m3",
    "fp8e4m3": "fp8-e4m3",
    "e4m3": "fp8-e4m3",
    "fp8e5m2": "fp8-e5m2",
    "e5m2": "fp8-e5m2",
    "fp4": "fp4-e2m1",
    "e2m1": "fp4-e2m1",
}


def _known_formats(fixed: bool = True) -> str:
    names = [n for n in FORMATS if fixed or n != "fixed"]
    by: dict[str, list[str]] = {}
    for alias, canon in FORMAT_ALIASES.items():
        by.setdefault(canon, []).append(alias)
    return ", ".join(n + (f" ({'/'.join(by[n])})" if n in by else "") for n in names)


def canonical_format(name: str, *, fixed: bool = True) -> str:
    """The canonical name of format ``name`` (a key of :data:`FORMATS`), given it or one of its aliases
    (:data:`FORMAT_ALIASES`; case is ignored).

    ``fixed=False`` refuses ``fixed`` (where a float format is needed, e.g. in a CNN method name).

    Raises
    ------
    SrchainError
        An unknown name; the one-line message lists the valid names with their aliases.

    >>> canonical_format("fp8"), canonical_format("E5M2"), canonical_format("fp4-e2m1")
    ('fp8-e4m3', 'fp8-e5m2', 'fp4-e2m1')
    """
    key = str(name).strip().lower()
    key = FORMAT_ALIASES.get(key, key)
    if key not in FORMATS or (key == "fixed" and not fixed):
        raise SrchainError(f"unknown format {name!r}; choose one of {_known_formats(fixed)}")
    return key


def format_arg(name: str) -> str:
    """``argparse`` type of ``--format``: the canonical name, or the parser's one-line error listing the valid ones."""
    import argparse

    try:
        return canonical_format(name)
    except SrchainError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def format_dtype(name: str) -> np.dtype:
    """The NumPy dtype of format ``name`` (``bf16``, ``fp16``, ``fp8-e4m3``, ``fp8-e5m2``, ``fp4-e2m1``).

    Raises
    ------
    SrchainError
        An unknown name (or ``fixed``, which has no dtype).
    """
    key = canonical_format(name)
    spec = FORMATS[key]
    if spec is None:
        raise SrchainError("the fixed grid has no dtype; it is lo + delta*Z (use --delta)")
    import importlib

    return np.dtype(getattr(importlib.import_module(spec[0]), spec[1]))


def _finfo(dt: np.dtype):
    import ml_dtypes

    return ml_dtypes.finfo(dt)


def check_scale(scale) -> float:
    """``scale`` as a float, or :class:`SrchainError` unless it is a positive power of two (finite)."""
    try:
        s = float(scale)
    except (TypeError, ValueError):
        s = float("nan")
    if not math.isfinite(s) or s <= 0 or math.frexp(s)[0] != 0.5:
        raise SrchainError(f"the block scale must be a power of two (… 0.25, 0.5, 1, 2, 4 …), got {scale!r}")
    return s


def _enumerate(name: str) -> tuple[np.ndarray, np.ndarray]:
    """All finite values of the format (sorted, one zero) and, per value, whether its bit pattern is even."""
    dt = format_dtype(name)
    bits = int(_finfo(dt).bits)
    patterns = np.arange(2**bits, dtype=np.uint64).astype(np.dtype(f"uint{8 * dt.itemsize}"))
    with np.errstate(invalid="ignore"):  # the NaN patterns
        values = patterns.view(dt).astype(np.float64)
    finite = np.isfinite(values)
    values, patterns = values[finite], patterns[finite]
    # +0 and -0 are one state; a value's parity (its last mantissa bit) is that of its smallest pattern, which for
    # zero is the all-zero pattern
    order = np.lexsort((patterns, values))
    values, patterns = values[order], patterns[order]
    first = np.concatenate([[True], values[1:] != values[:-1]])
    return values[first], (patterns[first] & 1) == 0


_CACHE: dict = {}


def format_values(name: str, scale: float = 1.0) -> np.ndarray:
    """Every finite value of format ``name`` times ``scale``, sorted, as float64 (one zero; subnormals kept).

    This is the torch-free definition of a format's grid (the CNN benchmark on formats uses it too).

    >>> format_values("fp4-e2m1").tolist()
    [-6.0, -4.0, -3.0, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]
    """
    return _values_and_parity(name)[0] * check_scale(scale)


def _values_and_parity(name: str):
    key = canonical_format(name)
    if key not in _CACHE:
        _CACHE[key] = _enumerate(key)
    return _CACHE[key]


def is_uniform(grid) -> bool:
    """Whether ``grid`` is a fixed lattice (constant spacing :math:`\\Delta`)."""
    return getattr(grid, "format", "fixed") == "fixed"


@dataclass(frozen=True, eq=False)
class Grid:
    r"""A product grid: axis :math:`k` holds the sorted values ``axes[k]`` (float64) of format ``format`` (times
    ``scale``) inside the domain; states are numbered in C order over the per-axis indices.

    Build one with :meth:`Grid.of`. ``delta`` is ``None`` (the spacing varies; see :meth:`spacing`).
    """

    axes: tuple
    format: str
    scale: float = 1.0
    even: tuple = field(default=(), repr=False)

    delta = None

    @classmethod
    def of(
        cls,
        name: str,
        domain: ArrayLike,
        *,
        delta: float | None = None,
        scale: float = 1.0,
        dim: int | None = None,
        max_states: int | None = None,
    ) -> Grid | Lattice:
        r"""The grid of format ``name`` inside the box ``domain`` (``(lo, hi)`` or one row per axis).

        ``name="fixed"`` returns today's :class:`srchain.lattice.Lattice` with spacing ``delta`` (same object,
        same results); every other name gives a :class:`Grid` of the format's values in ``[lo, hi]``.

        Raises
        ------
        SrchainError
            An unknown format, a domain reaching beyond the format's largest finite value, a scale that is not a
            power of two, fewer than 2 values on an axis, or more than ``max_states`` states (counted before any
            array of states is made).

        Examples
        --------
        >>> g = Grid.of("fp8-e4m3", (-4, 10))
        >>> g.size, g.axis(0)[:3].tolist()
        (155, [-4.0, -3.75, -3.5])
        """
        key = canonical_format(name)
        if key == "fixed":
            from srchain.lattice import Lattice

            if delta is None:
                raise SrchainError("the fixed grid needs its spacing: give --delta")
            return Lattice.from_domain(delta, domain, dim=dim, max_states=max_states)
        s = check_scale(scale)
        arr = np.asarray(domain)
        dom = as_domain(domain, dim if dim is not None else (1 if arr.ndim == 1 else len(arr)))
        values, even = _values_and_parity(key)
        top = float(values[-1]) * s
        if np.any(np.abs(dom) > top):
            raise SrchainError(
                f"the domain {dom.tolist()} reaches beyond {key}'s largest finite value {top:g} (scale {s:g}); "
                f"use a smaller domain" + (" or a larger --scale (a power of two)" if key.startswith("fp4") else "")
            )
        scaled = values * s
        lo = np.searchsorted(scaled, dom[:, 0], side="left")
        hi = np.searchsorted(scaled, dom[:, 1], side="right")
        counts = hi - lo
        if np.any(counts < 2):
            raise SrchainError(
                f"the domain {dom.tolist()} holds fewer than 2 values of {key} on an axis; use a wider domain"
            )
        size = float(np.prod(counts.astype(np.float64)))
        if max_states is not None and size > max_states:
            raise SrchainError(
                f"the {key} grid of {dom.tolist()} has {size:.3g} states, more than the allowed "
                f"{max_states:.3g}; use a smaller domain, a coarser format, or raise --max-states"
            )
        axes = tuple(np.ascontiguousarray(scaled[a:b]) for a, b in zip(lo, hi, strict=True))
        parity = tuple(np.ascontiguousarray(even[a:b]) for a, b in zip(lo, hi, strict=True))
        for a in axes:
            a.setflags(write=False)
        return cls(axes=axes, format=key, scale=s, even=parity)

    @classmethod
    def from_values(cls, *axes: ArrayLike, name: str = "values") -> Grid:
        """A grid of given sorted values per axis (ties of Qd go to the larger index on such a grid)."""
        arrs = tuple(np.ascontiguousarray(np.asarray(a, dtype=np.float64)) for a in axes)
        if any(a.ndim != 1 or a.size < 2 or np.any(np.diff(a) <= 0) or not np.all(np.isfinite(a)) for a in arrs):
            raise SrchainError("each axis needs at least 2 finite values in increasing order")
        return cls(axes=arrs, format=name, even=tuple(np.ones(a.size, dtype=bool) for a in arrs))

    # --- the Lattice interface --------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return len(self.axes)

    @property
    def shape(self) -> tuple:
        return tuple(int(a.size) for a in self.axes)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def lo(self) -> tuple:
        return tuple(float(a[0]) for a in self.axes)

    @property
    def hi(self) -> np.ndarray:
        return np.array([float(a[-1]) for a in self.axes])

    @property
    def domain(self) -> np.ndarray:
        return np.stack([np.asarray(self.lo), self.hi], axis=1)

    @property
    def strides(self) -> np.ndarray:
        out = np.ones(self.dim, dtype=np.int64)
        for k in range(self.dim - 2, -1, -1):
            out[k] = out[k + 1] * self.shape[k + 1]
        return out

    @cached_property
    def coords(self) -> np.ndarray:
        """Per-axis indices of every state, shape ``(size, d)``, C order."""
        grids = np.indices(self.shape, dtype=np.int64).reshape(self.dim, -1)
        return np.ascontiguousarray(grids.T)

    @cached_property
    def points(self) -> np.ndarray:
        """The states' points, shape ``(size, d)``."""
        c = self.coords
        return np.ascontiguousarray(np.stack([self.axes[k][c[:, k]] for k in range(self.dim)], axis=1))

    def axis(self, k: int = 0) -> np.ndarray:
        """Grid values along axis ``k`` (sorted)."""
        return self.axes[k]

    def spacing(self, k: int = 0) -> np.ndarray:
        """Gaps between consecutive values on axis ``k`` (length ``shape[k] − 1``): the local Δ."""
        return np.diff(self.axes[k])

    def index(self, coords: ArrayLike) -> np.ndarray:
        """Flat state index of per-axis indices (shape ``(..., d)``)."""
        c = np.asarray(coords, dtype=np.int64)
        return np.ravel_multi_index(tuple(np.moveaxis(c, -1, 0)), self.shape)

    def locate(self, w: ArrayLike) -> np.ndarray:
        """Per-axis index of the nearest value to ``w`` (shape ``(..., d)``), clipped into the box; ties to the
        even value (the format's rule)."""
        w = np.asarray(w, dtype=np.float64)
        out = np.empty(w.shape, dtype=np.int64)
        for k in range(self.dim):  # loops over axes, vectorised over points
            v = self.axes[k]
            x = w[..., k]
            j = np.clip(np.searchsorted(v, x, side="right") - 1, 0, v.size - 2)
            mid = 0.5 * (v[j] + v[j + 1])
            up = (x > mid) | ((x == mid) & self.even[k][j + 1])
            out[..., k] = np.where(up, j + 1, j)  # (in 0 … n − 1: j is in 0 … n − 2)
        return out

    def nearest(self, w: ArrayLike) -> np.ndarray:
        """Flat index of the grid point nearest to ``w`` (shape ``(..., d)``), clipped into the box."""
        return self.index(self.locate(w))

    def contains(self, w: ArrayLike) -> bool:
        w = np.asarray(w, dtype=np.float64).reshape(-1, self.dim)
        return bool(np.all((w >= np.asarray(self.lo)) & (w <= self.hi)))

    def cells(self, w: ArrayLike) -> np.ndarray:
        """Flat indices of the corners of the grid cell holding ``w`` (just ``w`` when it is a grid point)."""
        w = np.asarray(w, dtype=np.float64).reshape(self.dim)
        per_axis = []
        for k in range(self.dim):
            v = self.axes[k]
            j = int(np.searchsorted(v, w[k], side="left"))
            if j < v.size and v[j] == w[k]:
                per_axis.append(np.array([j]))
            elif 0 < j < v.size:
                per_axis.append(np.array([j - 1, j]))
            else:
                return np.zeros(0, dtype=np.int64)
        mesh = np.stack(np.meshgrid(*per_axis, indexing="ij"), axis=-1).reshape(-1, self.dim)
        return self.index(mesh)

    def to_dict(self) -> dict:
        return {
            "format": self.format,
            "scale": self.scale,
            "lo": list(self.lo),
            "hi": self.hi.tolist(),
            "shape": list(self.shape),
            "size": self.size,
        }

    def __repr__(self) -> str:
        return f"Grid({self.format}, scale={self.scale:g}, shape={self.shape}, domain={self.domain.tolist()})"


def grid_label(grid) -> str:
    """A short description for titles and tables: ``Δ=0.5`` or ``bf16 grid`` (``fp4-e2m1×2 grid`` when scaled)."""
    if is_uniform(grid):
        return f"Δ={grid.delta:g}"
    scale = "" if grid.scale == 1 else f"×{grid.scale:g}"
    return f"{grid.format}{scale} grid"


def axis_values(grid, k: int = 0) -> np.ndarray:
    """Sorted values of axis ``k`` of any grid (a :class:`Lattice` or a :class:`Grid`)."""
    return np.asarray(grid.axis(k), dtype=np.float64)


def axis_parity(grid, k: int = 0) -> np.ndarray:
    """Per value of axis ``k``, whether it is *even* for ties-to-even (a fixed lattice: the value with the larger
    index wins a tie, i.e. ties round up, as :func:`srchain.quantize.qd` does on ΔZ away from 0)."""
    if isinstance(grid, Grid):
        return grid.even[k]
    n = grid.shape[k]
    return np.ones(n, dtype=bool)
