"""Weights kept in a floating-point number format: Qd and Qs on the format's grid, in torch (issue 18).

The paper's grid is ΔZ (Section 2). On a float format the representable values are spaced by ``ulp(w)``, which
grows with ``|w|``; rounding to nearest (R) then stalls wherever ``|step| < ulp(w)/2``, while stochastic rounding
(SR) stays unbiased. The formats (values enumerated with ``ml_dtypes``; no bit pattern is written here):

* ``bf16`` (bfloat16), ``fp16`` (IEEE half), ``fp8-e4m3`` (float8 e4m3fn, alias ``fp8``), ``fp8-e5m2`` (float8
  e5m2, alias ``fp8e5m2``): the weights are the format's finite values; torch's own dtype does the
  round-to-nearest-even cast;
* ``fp4-e2m1`` (float4 e2m1fn, alias ``fp4``): ``s·{0, ±0.5, ±1, ±1.5, ±2, ±3, ±4, ±6}`` with a per-tensor
  power-of-two block scale ``s = 2^⌈log₂(max|w|/6)⌉`` taken from the values being rounded
  (so the largest maps into ``[−6s, 6s]``).

Rounding of a float32 ``x`` (clamped to ``[−M, M]``, ``M`` the largest finite value: rounding saturates, never
gives ±inf or NaN; subnormals are grid values; ``−0`` and ``+0`` are the same weight):

* ``Qd(x)``: round to nearest, ties to the value with an even last bit, exactly the format's cast (Eq. 3's role);
* ``Qs(x)``: with ``t`` the neighbour toward zero and ``a`` the one away from zero (``t ≤ |x| < a`` in magnitude),
  ``a`` with probability ``q = (|x| − |t|)/(|a| − |t|)``, else ``t`` (Eq. 5's role), so ``E[Qs(x)] = x``; ``q`` is
  a float32 and the draw a float32 uniform on ``2⁻²⁴Z``, so ``P(a) = ⌈q·2²⁴⌉/2²⁴`` (a bias below ``2⁻²⁴·ulp``);
* ``Qs`` with ``k`` random bits (hardware SR): away with probability ``⌊q·2^k⌋/2^k`` (the probability truncated
  to ``k`` bits: a ``k``-bit random integer ``r`` rounds away iff ``r < ⌊q·2^k⌋``). Its bias is exact:
  ``E[Qs_k(x)] − x = −sign(x)·(q − ⌊q·2^k⌋/2^k)·(|a| − |t|)`` (toward zero), see :meth:`Format.bias`.

The neighbours come from the format's integer view: the cast gives the nearest value ``y``; on a sign-magnitude
format the magnitude bits of the next value away from zero are those of ``y`` plus one, so ``t`` and ``a`` are
``y`` and its successor or predecessor (for fp4, a ``searchsorted`` on its 15 values). Every operation is
element-wise on one tensor (the flat buffer of all conv weights), with no host synchronisation, so it runs inside
a captured CUDA graph.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from srchain.cnn.registry import FORMATS, canonical_cnn_format

__all__ = ["FORMATS", "Format", "get_format", "format_values"]


def format_values(name: str) -> tuple[np.ndarray, np.ndarray]:
    """All finite values of format ``name``, sorted, one zero, as float64; and whether each one's last bit is 0.

    The one definition of a format's values, :mod:`srchain.grids` (every bit pattern decoded by ``ml_dtypes``, NaN
    and ±inf dropped, ``−0`` merged into ``+0``). The second array is the tie-break of round-to-nearest-even.
    """
    from srchain.grids import _values_and_parity

    return _values_and_parity(canonical_cnn_format(name))


@dataclass(frozen=True)
class Format:
    """A number format the weights are kept in (see the module docstring); ``name`` is stored canonical."""

    name: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", canonical_cnn_format(self.name))

    @property
    def torch_dtype(self):
        t = FORMATS[self.name][1]
        return None if t is None else getattr(torch, t)

    @functools.cached_property
    def max(self) -> float:
        """The largest finite value ``M`` (of the unscaled grid for fp4)."""
        return float(format_values(self.name)[0][-1])

    @property
    def scaled(self) -> bool:
        """fp4: the grid is ``s·(e2m1 values)`` with a per-tensor scale."""
        return self.torch_dtype is None

    def _tables(self, device):
        vals, even = format_values(self.name)
        return torch.tensor(vals, dtype=torch.float32, device=device), torch.tensor(even, device=device)

    # -- neighbours ------------------------------------------------------------------------------------------
    def nearest(self, x: torch.Tensor, tables=None) -> torch.Tensor:
        """Qd on the unscaled grid: round to nearest, ties to even (``x`` already clamped to ``[−M, M]``)."""
        dt = self.torch_dtype
        if dt is not None:
            return x.to(dt).to(x.dtype)
        vals, even = tables if tables is not None else self._tables(x.device)
        i = torch.searchsorted(vals, x).clamp_(1, vals.numel() - 1)  # vals[i-1] < x <= vals[i]
        lo, hi = vals[i - 1], vals[i]
        dlo, dhi = x - lo, hi - x
        up = (dhi < dlo) | ((dhi == dlo) & even[i])
        return torch.where(up, hi, lo)

    def _magnitudes(self, ax: torch.Tensor, tables=None) -> tuple[torch.Tensor, torch.Tensor]:
        """For magnitudes ``0 ≤ ax ≤ M``: the largest value ``t ≤ ax`` and the next one ``a > t`` (``a`` is ±inf or
        NaN above ``M``; the rounding probability ``(ax − t)/(a − t)`` is then 0 or NaN, i.e. never ``a``)."""
        dt = self.torch_dtype
        if dt is None:
            vals, _ = tables if tables is not None else self._tables(ax.device)
            i = torch.searchsorted(vals, ax, right=True).clamp_(max=vals.numel() - 1)  # vals[i-1] <= ax < vals[i]
            return vals[i - 1], vals[i]  # ax = 6: t = 4, a = 6, probability 1
        y = ax.to(dt)  # round to nearest, a non-negative value: its integer view is its magnitude
        ity = torch.int16 if y.element_size() == 2 else torch.int8
        mag = y.view(ity).to(torch.int32)
        mag_t = mag.sub_((y.to(ax.dtype) > ax).to(torch.int32))  # rounded up: t is the predecessor
        t = mag_t.to(ity).view(dt).to(ax.dtype)
        a = mag_t.add_(1).to(ity).view(dt).to(ax.dtype)  # the successor: magnitude bits + 1
        return t, a

    def toward_away(self, x: torch.Tensor, tables=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The neighbours ``t`` (toward zero) and ``a`` (away from zero) of ``x`` (clamped to ``[−M, M]``):
        ``|t| ≤ |x| < |a|``, or ``t = a = x`` where ``x`` is a grid value."""
        ax = x.abs().clamp_(max=self.max)
        t, a = self._magnitudes(ax, tables)
        t = torch.where(a == ax, a, t)  # fp4's largest value
        a = torch.where(t == ax, t, a)
        return torch.copysign(t, x), torch.copysign(a, x)

    # -- scale (fp4) -----------------------------------------------------------------------------------------
    def block_scale(self, amax: torch.Tensor) -> torch.Tensor:
        """``s = 2^⌈log₂(amax/M)⌉`` per block (``1`` where ``amax = 0``), exact powers of two via ``frexp``."""
        v = amax / self.max
        m, e = torch.frexp(v)  # v = m·2^e, m in [0.5, 1)
        e = e - (m == 0.5).to(e.dtype)  # an exact power of two keeps its own exponent
        s = torch.ldexp(torch.ones_like(v), e)
        return torch.where(v > 0, s, torch.ones_like(v))

    # -- the quantizers --------------------------------------------------------------------------------------
    def qd(self, x: torch.Tensor, scale: torch.Tensor | None = None, tables=None) -> torch.Tensor:
        """Round to nearest even, saturating (``scale``: fp4's per-element block scale)."""
        if scale is not None:
            return self.nearest((x / scale).clamp_(-self.max, self.max), tables).mul_(scale)
        return self.nearest(x.clamp(-self.max, self.max), tables)

    def qs(
        self,
        x: torch.Tensor,
        generator: torch.Generator | None = None,
        bits: int | None = None,
        scale: torch.Tensor | None = None,
        tables=None,
        u: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Unbiased stochastic rounding to the two neighbours; ``bits=k``: the probability truncated to k bits.

        ``u`` (optional) are the draws: float32 uniforms in ``[0, 1)`` (exact SR) or int64 in ``[0, 2^k)``.
        """
        z = x / scale if scale is not None else x
        ax = z.abs().clamp_(max=self.max)
        t, a = self._magnitudes(ax, tables)
        q = (ax - t).div_(a - t)  # in [0, 1]; NaN only at M for a format without inf (never rounds away)
        if bits is None:
            if u is None:
                u = torch.rand(z.shape, generator=generator, device=z.device, dtype=torch.float32)
            away = u < q
        else:
            if u is None:
                u = torch.randint(0, 2**bits, z.shape, generator=generator, device=z.device, dtype=torch.int64)
            away = u < q.double().mul_(2.0**bits).floor_()  # away iff r < ⌊q·2^k⌋, r uniform on 0..2^k − 1
        res = torch.copysign(torch.where(away, a, t), z)
        return res.mul_(scale) if scale is not None else res

    def bias(self, x: torch.Tensor, bits: int | None) -> torch.Tensor:
        """The exact ``E[Qs_k(x)] − x`` of k-bit SR (unscaled grid; 0 up to float error for exact SR)."""
        z = x.double().clamp(-self.max, self.max)
        t, a = self.toward_away(z.float())
        t, a = t.double(), a.double()
        gap = (a - t).abs()
        q = torch.where(gap > 0, (z - t).abs() / gap, torch.zeros_like(gap))
        p = q if bits is None else torch.floor(q * 2.0**bits) / 2.0**bits
        return torch.sign(z) * (p - q) * gap


def get_format(name: str) -> Format:
    """The :class:`Format` called ``name`` (or an alias: ``fp8``, ``fp4``, ...); raise
    :class:`~srchain.errors.SrchainError` listing the valid names for an unknown one."""
    return Format(canonical_cnn_format(name))
