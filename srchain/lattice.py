"""Box lattices ``lo + ΔZ^d ∩ [lo, hi]``: the state space of the SR and R chains (Section 5).

States are numbered in C order over the integer coordinates ``k = (k_1, …, k_d)``, ``0 ≤ k_i < n_i``, and the
point of state ``k`` is ``lo + Δ·k``. When ``lo`` is a multiple of Δ the lattice is a box of ΔZ^d, the paper's
grid; otherwise it is the same grid shifted by ``lo`` (the rounding Qd/Qs is then taken relative to ``lo``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike

from srchain.errors import SrchainError
from srchain.problems import as_domain
from srchain.quantize import check_delta

__all__ = ["Lattice"]


@dataclass(frozen=True)
class Lattice:
    r"""A box lattice with spacing ``delta``, corner ``lo`` (shape (d,)) and ``shape`` (states per axis).

    Its states are the points :math:`\mathrm{lo} + \Delta k` for the integer coordinates
    :math:`k = (k_1, \dots, k_d)`, :math:`0 \le k_i < n_i` (:math:`n` = ``shape``), numbered in C order. When
    :math:`\mathrm{lo}` is a multiple of :math:`\Delta` it is a box of the paper's grid :math:`\Delta\mathbb{Z}^d`.
    """

    delta: float
    lo: tuple
    shape: tuple

    @classmethod
    def from_domain(
        cls, delta: float, domain: ArrayLike, dim: int | None = None, max_states: int | None = None
    ) -> Lattice:
        r"""The lattice :math:`\mathrm{lo} + \Delta\mathbb{Z}^d` inside the box ``domain``.

        ``hi`` is reached exactly when :math:`(\mathrm{hi} - \mathrm{lo})/\Delta` is an integer (up to 1e-9
        relative); otherwise the last point is the largest grid point below ``hi``.

        Raises
        ------
        SrchainError
            :math:`\Delta \le 0`, an empty or inverted domain, fewer than 2 points per axis, or more than
            ``max_states`` states.
        """
        delta = check_delta(delta)
        dom = as_domain(
            domain, dim if dim is not None else (1 if np.asarray(domain).ndim == 1 else np.asarray(domain).shape[0])
        )
        span = (dom[:, 1] - dom[:, 0]) / delta
        steps = np.floor(span + 1e-9 * np.maximum(1.0, span)).astype(np.int64)
        if np.any(steps < 1):
            raise SrchainError(
                f"the domain {dom.tolist()} holds fewer than 2 grid points at delta={delta:g}; "
                f"use a smaller delta or a wider domain"
            )
        shape = tuple(int(s) + 1 for s in steps)
        size = int(np.prod(np.array(shape, dtype=np.float64)))
        if max_states is not None and size > max_states:
            raise SrchainError(
                f"the lattice has {size:.3g} states, more than the allowed {max_states:.3g}; "
                f"use a larger delta, a smaller domain, or raise max_states"
            )
        return cls(delta=delta, lo=tuple(float(x) for x in dom[:, 0]), shape=shape)

    @property
    def dim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)  # Python integers: no int64 overflow for large d

    @property
    def hi(self) -> np.ndarray:
        return np.asarray(self.lo) + self.delta * (np.asarray(self.shape) - 1)

    @property
    def domain(self) -> np.ndarray:
        return np.stack([np.asarray(self.lo), self.hi], axis=1)

    @property
    def strides(self) -> np.ndarray:
        r"""Index steps per axis in C order: state :math:`\sum_k c_k\,\mathrm{strides}[k]` has integer coordinates
        :math:`c`."""
        out = np.ones(self.dim, dtype=np.int64)
        for k in range(self.dim - 2, -1, -1):
            out[k] = out[k + 1] * self.shape[k + 1]
        return out

    @cached_property
    def coords(self) -> np.ndarray:
        """Integer coordinates of every state, shape ``(size, d)``, C order."""
        grids = np.indices(self.shape, dtype=np.int64).reshape(self.dim, -1)
        return np.ascontiguousarray(grids.T)

    @cached_property
    def points(self) -> np.ndarray:
        r"""The states' points :math:`\mathrm{lo} + \Delta k`, shape ``(size, d)``."""
        return np.asarray(self.lo) + self.delta * self.coords

    def axis(self, k: int = 0) -> np.ndarray:
        """Grid values along axis ``k``."""
        return self.lo[k] + self.delta * np.arange(self.shape[k])

    def index(self, coords: ArrayLike) -> np.ndarray:
        """Flat state index of integer coordinates (shape ``(..., d)``)."""
        c = np.asarray(coords, dtype=np.int64)
        return np.ravel_multi_index(tuple(np.moveaxis(c, -1, 0)), self.shape)

    def nearest(self, w: ArrayLike) -> np.ndarray:
        """Flat index of the lattice point nearest to ``w`` (shape ``(..., d)``), clipped into the box."""
        w = np.asarray(w, dtype=np.float64)
        k = np.rint((w - np.asarray(self.lo)) / self.delta).astype(np.int64)
        k = np.clip(k, 0, np.asarray(self.shape) - 1)
        return self.index(k)

    def contains(self, w: ArrayLike) -> bool:
        w = np.asarray(w, dtype=np.float64).reshape(-1, self.dim)
        tol = 1e-12 * max(1.0, float(np.max(np.abs(self.domain))))
        return bool(np.all((w >= np.asarray(self.lo) - tol) & (w <= self.hi + tol)))

    def cells(self, w: ArrayLike) -> np.ndarray:
        r"""Flat indices of the lattice points within :math:`\Delta` of ``w`` in every coordinate
        (:math:`|x_k - w_k| < \Delta`): the corners of the grid cell holding ``w``; just ``w`` itself when ``w`` is a
        grid point."""
        w = np.asarray(w, dtype=np.float64).reshape(self.dim)
        rel = (w - np.asarray(self.lo)) / self.delta
        per_axis = []
        for k in range(self.dim):  # d is small; this loops over axes, not states
            cand = np.array([np.floor(rel[k]), np.ceil(rel[k])], dtype=np.int64)
            cand = np.unique(cand[(cand >= 0) & (cand < self.shape[k]) & (np.abs(cand - rel[k]) < 1 - 1e-12)])
            per_axis.append(cand)
        if any(c.size == 0 for c in per_axis):
            return np.zeros(0, dtype=np.int64)
        mesh = np.stack(np.meshgrid(*per_axis, indexing="ij"), axis=-1).reshape(-1, self.dim)
        return self.index(mesh)

    def to_dict(self) -> dict:
        return {"delta": self.delta, "lo": list(self.lo), "shape": list(self.shape), "size": self.size}
