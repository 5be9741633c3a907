"""Quantizers of the paper on torch tensors: Qd (Eq. 3), Qs (Eq. 5), the binary grid, Rademacher init.

They follow :mod:`srchain.quantize` (the NumPy definitions) exactly:

* ``Qd(w) = sign(w) · Δ · floor(|w|/Δ + 1/2)`` (Eq. 3, ties away from zero), then clipped to the grid's range;
  on the binary grid ``{−Δ, +Δ}``, ``Qd(w) = Δ · sign(w)`` with ``sign(0) = +1`` (Section 2).
* ``Qs(w)``: with ``x = w/Δ`` clipped to the range, round up to ``Δ(⌊x⌋ + 1)`` iff ``p < x − ⌊x⌋`` for a
  uniform ``p ∈ [0, 1)``, else down to ``Δ⌊x⌋`` (Eq. 5). Hence ``E[Qs(w)] = w`` inside the range. The binary
  grid is ``−Δ + 2ΔZ`` clipped to ``[−Δ, Δ]``: up to ``+Δ`` with probability ``(w + Δ)/(2Δ)``.

A :class:`Grid` holds Δ and the number of bits: ``bits = 1`` is ``{−Δ, +Δ}``; ``bits = b ≥ 2`` is
``ΔZ ∩ [−(2^{b−1} − 1)Δ, (2^{b−1} − 1)Δ]`` (``2^b − 1`` symmetric levels; ``b = 2`` is ternary).
Every function works on one tensor of any shape, so the optimizer wrapper calls it once on a flat buffer that
holds all conv weights (one fused pass, no per-tensor loop).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from srchain.quantize import check_delta

__all__ = ["Grid", "qd", "qs", "rademacher", "on_grid"]


@dataclass(frozen=True)
class Grid:
    """The weight grid: step ``delta`` (Δ > 0) and ``bits`` (1 = binary ±Δ).

    Raises
    ------
    SrchainError
        If Δ ≤ 0 or not finite, or bits < 1.
    """

    delta: float = 1.0
    bits: int = 1

    def __post_init__(self):
        object.__setattr__(self, "delta", check_delta(self.delta))
        if int(self.bits) != self.bits or self.bits < 1 or self.bits > 16:
            from srchain.errors import SrchainError

            raise SrchainError(f"--bits must be an integer from 1 to 16, got {self.bits!r}")

    @property
    def binary(self) -> bool:
        return self.bits == 1

    @property
    def kmax(self) -> int:
        """Largest grid index: the range is ``[−kmax·Δ, kmax·Δ]``."""
        return 1 if self.binary else 2 ** (self.bits - 1) - 1

    @property
    def lo(self) -> float:
        return -self.kmax * self.delta

    @property
    def hi(self) -> float:
        return self.kmax * self.delta


def qd(w: torch.Tensor, grid: Grid, out: torch.Tensor | None = None, levels=None) -> torch.Tensor:
    """Deterministic rounding Qd (Eq. 3), clipped to the grid's range.

    Parameters
    ----------
    w : Tensor
        Real values.
    grid : Grid
        Δ and bits; binary grids use ``Δ · sign(w)`` with ``sign(0) = +1``.
    out : Tensor, optional
        Where to write (may be ``w`` itself).
    levels : (Tensor, Tensor), optional
        Binary grids: the 0-d tensors ``+Δ`` and ``−Δ`` on ``w``'s device, made once by the caller (saves two
        fills per call).

    Returns
    -------
    Tensor
        Values in ``{−Δ, +Δ}`` (binary) or ``ΔZ ∩ [lo, hi]``.
    """
    d = grid.delta
    if grid.binary:
        pos, neg = levels if levels is not None else (w.new_full((), d), w.new_full((), -d))
        if out is not None and out.dtype == w.dtype:
            return torch.where(w >= 0, pos, neg, out=out)  # straight into out (w may be out)
        res = torch.where(w >= 0, pos, neg)
    else:
        k = torch.floor(w.abs() / d + 0.5).clamp_(max=grid.kmax)
        res = torch.copysign(k, w).mul_(d)  # sign(w)·Δ·floor(|w|/Δ + 1/2), Eq. 3 (−0 compares == 0)
    if out is None:
        return res
    return out.copy_(res)


def qs(
    w: torch.Tensor,
    grid: Grid,
    generator: torch.Generator | None = None,
    out: torch.Tensor | None = None,
    p: torch.Tensor | None = None,
    levels=None,
) -> torch.Tensor:
    """Stochastic rounding Qs (Eq. 5): up with probability ``x − ⌊x⌋``, ``x = w/Δ`` clipped to the range.

    Parameters
    ----------
    w : Tensor
        Real values.
    grid : Grid
        Δ and bits (binary: the grid ``−Δ + 2ΔZ`` clipped to ``[−Δ, Δ]``).
    generator : torch.Generator, optional
        Source of the uniform draws ``p ∈ [0, 1)`` (on ``w``'s device).
    out : Tensor, optional
        Where to write (may be ``w`` itself).
    p : Tensor, optional
        The uniform draws themselves (same shape as ``w``).
    levels : (Tensor, Tensor), optional
        Binary grids: 0-d ``+Δ`` and ``−Δ`` on ``w``'s device (as in :func:`qd`).

    Returns
    -------
    Tensor
        Grid values with ``E[Qs(w)] = w`` for ``w`` inside the range.
    """
    d = grid.delta
    if p is None:
        p = torch.rand(w.shape, generator=generator, device=w.device, dtype=w.dtype)
    x = (w / d).clamp_(-grid.kmax, grid.kmax)
    if grid.binary:
        # grid −Δ + 2ΔZ: fraction above −Δ is (x + 1)/2; up to +Δ iff p < (x + 1)/2 (Eq. 5)
        up = p < (x + 1.0) * 0.5
        pos, neg = levels if levels is not None else (w.new_full((), d), w.new_full((), -d))
        if out is not None and out.dtype == w.dtype:
            return torch.where(up, pos, neg, out=out)
        res = torch.where(up, pos, neg)
    else:
        # snap values within 1e-4 of a grid index, so w = kΔ (up to float error) stays exactly on kΔ
        r = torch.round(x)
        x = torch.where((x - r).abs_() < 1e-4, r, x)
        f = torch.floor(x)
        res = f.add_((p < (x - f)).to(w.dtype)).mul_(d)
    if out is None:
        return res
    return out.copy_(res)


def rademacher(shape_or_tensor, grid: Grid, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random ±Δ with equal probability (Appendix H.3: SR and R start from Rademacher weights).

    ``shape_or_tensor`` is a shape, or a tensor that is overwritten in place (and returned).
    """
    if isinstance(shape_or_tensor, torch.Tensor):
        t = shape_or_tensor
        u = torch.rand(t.shape, generator=generator, device=t.device)
        return t.copy_(torch.where(u < 0.5, -grid.delta, grid.delta))
    u = torch.rand(tuple(shape_or_tensor), generator=generator)
    return torch.where(u < 0.5, -grid.delta, grid.delta)


def on_grid(w: torch.Tensor, grid: Grid, atol: float = 1e-6) -> bool:
    """True when every entry of ``w`` is a grid value (within ``atol·Δ``)."""
    if grid.binary:
        return bool(((w.abs() - grid.delta).abs() <= atol * grid.delta).all())
    x = w / grid.delta
    return bool((((x - torch.round(x)).abs() <= atol) & (x.abs() <= grid.kmax + atol)).all())
