"""R, SR and BC as a wrapper around any torch optimizer (Section 3 of the paper).

With ``step_t`` the update the wrapped optimizer (Adam by default) would make:

* ``fp``: ``w ← w − step_t`` (full precision, nothing is quantized);
* ``r`` : ``w ← Qd(w − step_t)`` (Eq. 3, deterministic rounding);
* ``sr``: ``w ← Qs(w − step_t)`` (Eq. 5, stochastic rounding);
* ``bc``: BinaryConnect (Eq. 7): the forward and backward passes see ``w_b = Q(w_r)``, the step is applied to
  the latent real weights ``w_r ← w_r − step_t(∇f(w_b))``, then ``w_b ← Qd(w_r)``. The latent weights are
  clipped to the grid's range (as in BinaryConnect [5]) unless ``clip_latent=False``. With ``scale='filter'``,
  ``w_b = mean(|w_r|) · sign(w_r)`` per output filter (BWN).

With ``fmt`` (a number format of :mod:`srchain.cnn.formats`: ``bf16``, ``fp16``, ``fp8-e4m3``, ``fp8-e5m2``,
``fp4-e2m1``, or an alias such as ``fp8``) the grid is the format's values instead of ΔZ: ``r`` and ``sr`` keep
the weights themselves in the format (the stored float32 values are exactly the format's), ``sr_bits=k`` draws k
random bits per weight (hardware SR), and
``bc`` keeps fp32 master weights ``w_r`` and gives the network the rounded copy ``w_b = Qd(w_r)`` (the latent is
not clipped; the copy saturates at the format's largest value). They start from the weights as initialised,
rounded to the format. fp4's per-tensor power-of-two scale is recomputed from each tensor's ``max|w|`` at every
rounding (one ``scatter_reduce`` over the flat buffer).

Only the parameters handed in as ``quantized`` (the conv weights; linear layers stay full precision, Appendix
H.1) are touched. They are re-seated as views of **one flat buffer**, so the quantize-after-step is a single
fused pass of a few element-wise kernels over all of them, whatever the number of layers. A weight in the
``channels_last`` memory format keeps it: its stretch of the buffer is laid out NHWC (the quantizers are
element-wise, so only the order of SR's uniform draws along the buffer follows the layout); the saved latent
weights are always in the canonical (NCHW) order, so a checkpoint resumes in either layout.

With a base optimizer that handles mixed-precision scaling itself (``torch.optim.Adam(fused=True)``), the wrapper
says so to ``torch.amp.GradScaler`` and hands the scaler's ``grad_scale`` and ``found_inf`` on: the unscale and the
inf check then happen inside the fused kernel, and a step that found an inf leaves the weights as they were (the
quantize-after-step maps grid values to themselves), all without the host reading ``found_inf``.
"""

from __future__ import annotations

import torch
from srchain.cnn.quantized import Grid, qd, qs, rademacher

__all__ = ["QuantizedOptimizer", "flatten_"]


def _channels_last(p: torch.Tensor) -> bool:
    """A 4-d tensor stored NHWC (and not also NCHW-contiguous, as tensors with 1×1 kernels can be)."""
    return p.dim() == 4 and not p.is_contiguous() and p.is_contiguous(memory_format=torch.channels_last)


def _flat_view(flat: torch.Tensor, offset: int, like: torch.Tensor, channels_last: bool) -> torch.Tensor:
    n = like.numel()
    if channels_last:
        o, i, kh, kw = like.shape
        return flat[offset : offset + n].view(o, kh, kw, i).permute(0, 3, 1, 2)
    return flat[offset : offset + n].view(like.shape)


def flatten_(params) -> torch.Tensor:
    """Re-seat ``params`` as views of one new contiguous buffer (same values, same memory formats) and return
    the buffer."""
    params = list(params)
    if not params:
        raise ValueError("no parameters to flatten")
    cl = [_channels_last(p) for p in params]
    flat = torch.cat(
        [(p.detach().permute(0, 2, 3, 1) if c else p.detach()).reshape(-1) for p, c in zip(params, cl, strict=True)]
    )
    offset = 0
    for p, c in zip(params, cl, strict=True):
        p.data = _flat_view(flat, offset, p, c)
        offset += p.numel()
    return flat


class QuantizedOptimizer:
    """Wrap ``optimizer`` so that the ``quantized`` parameters follow rule ``r``, ``sr``, ``bc`` or ``fp``.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        The base optimizer over all the model's parameters (Adam in the paper).
    quantized : iterable of Parameter
        The conv weights. They are re-seated as views of one flat buffer.
    rule : {'fp', 'r', 'sr', 'bc'}
        Training rule (see the module docstring).
    grid : Grid
        Δ and bits.
    generator : torch.Generator, optional
        Draws for Qs and the Rademacher init (on the parameters' device); saved in :meth:`state_dict`.
    init : {'rademacher', 'keep'}
        ``rademacher`` (default for ``r`` and ``sr``, Appendix H.3) overwrites the weights with ±Δ.
    clip_latent : bool
        BC: clip ``w_r`` to ``[lo, hi]`` after each step.
    scale : {'none', 'filter'}
        BC only: per-filter scale ``mean|w_r|`` of the binary weights (BWN).
    fmt : str, optional
        Keep the weights in this number format (:data:`srchain.cnn.registry.FORMATS`) instead of on ΔZ.
    sr_bits : int, optional
        ``sr`` on a format: draw k random bits (1..32) per weight; ``None`` is exact SR.

    Examples
    --------
    >>> opt = QuantizedOptimizer(torch.optim.Adam(model.parameters(), lr=0.01),   # doctest: +SKIP
    ...                          [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)],
    ...                          rule="sr", grid=Grid(1.0))
    """

    def __init__(
        self,
        optimizer,
        quantized,
        rule: str = "sr",
        grid: Grid = Grid(),
        generator=None,
        init: str | None = None,
        clip_latent: bool = True,
        scale: str = "none",
        fmt: str | None = None,
        sr_bits: int | None = None,
    ):
        from srchain.errors import SrchainError

        if rule not in ("fp", "r", "sr", "bc"):
            raise SrchainError(f"unknown rule {rule!r}; use fp, r, sr or bc")
        if scale not in ("none", "filter"):
            raise SrchainError(f"unknown scale {scale!r}; use none or filter")
        if scale == "filter" and rule != "bc":
            raise SrchainError("--scale filter (per-filter BWN scale) needs a bc method")
        if fmt is not None and scale != "none":
            raise SrchainError("--scale filter (per-filter BWN scale) is for the grid ΔZ, not a number format")
        if sr_bits is not None and (fmt is None or rule != "sr" or not 1 <= int(sr_bits) <= 32):
            raise SrchainError("k random bits of SR need an sr rule on a number format and 1 <= k <= 32")
        self.optimizer = optimizer
        self.rule, self.grid, self.clip_latent, self.scale = rule, grid, clip_latent, scale
        self.params = list(quantized)
        self._layouts = [_channels_last(p) for p in self.params]
        self.flat = flatten_(self.params) if self.params else None
        self.generator = generator
        self.latent = None
        self._filter_ids = None
        self.format, self.sr_bits = None, sr_bits
        if self.flat is None or rule == "fp":
            return
        if fmt is not None:
            self._init_format(fmt, init)
            return
        self._levels = (self.flat.new_full((), grid.delta), self.flat.new_full((), -grid.delta))
        init = init or ("rademacher" if rule in ("r", "sr") else "keep")
        with torch.no_grad():
            if init == "rademacher":
                rademacher(self.flat, grid, generator)
            if rule == "bc":
                self.latent = self.flat.clone()
                if clip_latent:
                    self.latent.clamp_(grid.lo, grid.hi)
                if scale == "filter":
                    ids, nf = [], 0
                    for p in self.params:
                        per = p[0].numel()
                        ids.append(torch.arange(nf, nf + p.shape[0], device=p.device).repeat_interleave(per))
                        nf += p.shape[0]
                    self._filter_ids = torch.cat(ids)
                    self._filter_count = torch.bincount(self._filter_ids).to(self.flat.dtype)
                self._binarize()
            else:
                qd(self.flat, grid, out=self.flat, levels=self._levels)

    def _init_format(self, fmt: str, init: str | None) -> None:
        from srchain.cnn.formats import get_format

        f = self.format = get_format(fmt)
        self._tables = f._tables(self.flat.device) if f.scaled else None
        if f.scaled:  # fp4: which tensor each element of the flat buffer belongs to (its block)
            sizes = torch.tensor([p.numel() for p in self.params], device=self.flat.device)
            self._block_ids = torch.repeat_interleave(torch.arange(len(self.params), device=self.flat.device), sizes)
        if init not in (None, "keep"):
            from srchain.errors import SrchainError

            raise SrchainError(f"a number format starts from the model's initialisation; init {init!r} is for ΔZ")
        with torch.no_grad():
            if self.rule == "bc":
                self.latent = self.flat.clone()
                self._binarize()
            else:
                self.flat.copy_(self._round(self.flat, stochastic=False))

    def _scale_of(self, x: torch.Tensor):
        """fp4: each element's block scale ``2^⌈log₂(max|w|/6)⌉`` over its tensor (``None`` for other formats)."""
        if not self.format.scaled:
            return None
        amax = torch.zeros(len(self.params), device=x.device, dtype=x.dtype)
        amax.scatter_reduce_(0, self._block_ids, x.abs(), reduce="amax")
        return self.format.block_scale(amax)[self._block_ids]

    def _round(self, x: torch.Tensor, stochastic: bool) -> torch.Tensor:
        """Qd or Qs (with ``sr_bits``) of ``x`` on the format's grid."""
        f, s = self.format, self._scale_of(x)
        if stochastic:
            return f.qs(x, self.generator, self.sr_bits, scale=s, tables=self._tables)
        return f.qd(x, scale=s, tables=self._tables)

    # -- the torch.optim.Optimizer surface used by training loops and GradScaler ------------------------------
    @property
    def param_groups(self):
        return self.optimizer.param_groups

    @property
    def state(self):
        return self.optimizer.state

    @property
    def defaults(self):
        return self.optimizer.defaults

    @property
    def _step_supports_amp_scaling(self):
        """True when the base optimizer unscales and skips inf steps itself (fused Adam): GradScaler then sets
        ``grad_scale`` and ``found_inf`` on this wrapper and never reads ``found_inf`` on the host."""
        return bool(getattr(self.optimizer, "_step_supports_amp_scaling", False))

    def zero_grad(self, set_to_none: bool = True):
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def _binarize(self):
        """BC: ``w_b ← Qd(w_r)`` into the parameters (optionally times the per-filter mean |w_r|)."""
        if self.format is not None:
            self.flat.copy_(self._round(self.latent, stochastic=False))
        elif self.scale == "filter":
            sums = torch.zeros_like(self._filter_count).index_add_(0, self._filter_ids, self.latent.abs())
            alpha = (sums / self._filter_count)[self._filter_ids]
            self.flat.copy_(torch.where(self.latent >= 0, alpha, -alpha))
        else:
            qd(self.latent, self.grid, out=self.flat, levels=self._levels)

    @torch.no_grad()
    def step(self, closure=None):
        """One step of the wrapped optimizer followed by the rule's quantization (one fused pass)."""
        if self.rule == "bc" and self.flat is not None:
            self.flat.copy_(self.latent)  # the gradient was taken at w_b; the step moves w_r
        handed = [k for k in ("grad_scale", "found_inf") if k in self.__dict__]
        for k in handed:  # set by GradScaler.step (fused base optimizers only)
            setattr(self.optimizer, k, self.__dict__[k])
        try:
            loss = self.optimizer.step(closure) if closure is not None else self.optimizer.step()
        finally:
            for k in handed:
                delattr(self.optimizer, k)
        if self.flat is None or self.rule == "fp":
            return loss
        if self.format is not None and self.rule != "bc":
            self.flat.copy_(self._round(self.flat, stochastic=self.rule == "sr"))
        elif self.rule == "r":
            qd(self.flat, self.grid, out=self.flat, levels=self._levels)
        elif self.rule == "sr":
            qs(self.flat, self.grid, generator=self.generator, out=self.flat, levels=self._levels)
        else:
            if self.clip_latent and self.format is None:  # w_r ← clip(w_r − step), one kernel
                torch.clamp(self.flat, self.grid.lo, self.grid.hi, out=self.latent)
            else:
                self.latent.copy_(self.flat)
            self._binarize()
        return loss

    def latent_views(self):
        """BC: the latent ``w_r`` of each quantized parameter, as views shaped like it (else ``None``)."""
        if self.latent is None:
            return None
        out, offset = [], 0
        for p, cl in zip(self.params, self._layouts, strict=True):
            out.append(_flat_view(self.latent, offset, p, cl))
            offset += p.numel()
        return out

    def _canonical_latent(self):
        """The latent weights flattened in NCHW order (equal to the buffer itself when no weight is NHWC)."""
        if not any(self._layouts):
            return self.latent.clone()
        return torch.cat([v.contiguous().reshape(-1) for v in self.latent_views()])

    def state_dict(self):
        return {
            "optimizer": self.optimizer.state_dict(),
            "latent": None if self.latent is None else self._canonical_latent(),
            "generator": None if self.generator is None else self.generator.get_state(),
        }

    def load_state_dict(self, state):
        self.optimizer.load_state_dict(state["optimizer"])
        for group in self.optimizer.param_groups:  # moment buffers in their parameter's memory format
            for p in group["params"]:
                st = self.optimizer.state.get(p, {})
                for k, v in list(st.items()):
                    if isinstance(v, torch.Tensor) and v.shape == p.shape and v.dim() > 0 and v.stride() != p.stride():
                        st[k] = torch.empty_like(p, dtype=v.dtype).copy_(v)
        if state.get("latent") is not None:
            lat = state["latent"]
            if not any(self._layouts):
                self.latent.copy_(lat)
            else:
                offset = 0
                for v in self.latent_views():
                    v.copy_(lat[offset : offset + v.numel()].view(v.shape))
                    offset += v.numel()
        if state.get("generator") is not None and self.generator is not None:
            self.generator.set_state(state["generator"])
