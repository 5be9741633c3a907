"""R, SR and BC as a wrapper around any torch optimizer (Section 3 of the paper).

With ``step_t`` the update the wrapped optimizer (Adam by default) would make:

* ``fp``: ``w ← w − step_t`` (full precision, nothing is quantized);
* ``r`` : ``w ← Qd(w − step_t)`` (Eq. 3, deterministic rounding);
* ``sr``: ``w ← Qs(w − step_t)`` (Eq. 5, stochastic rounding);
* ``bc``: BinaryConnect (Eq. 4): the forward and backward passes see ``w_b = Q(w_r)``, the step is applied to
  the latent real weights ``w_r ← w_r − step_t(∇f(w_b))``, then ``w_b ← Qd(w_r)``. The latent weights are
  clipped to the grid's range (as in BinaryConnect [5]) unless ``clip_latent=False``. With ``scale='filter'``,
  ``w_b = mean(|w_r|) · sign(w_r)`` per output filter (BWN).

Only the parameters handed in as ``quantized`` (the conv weights; linear layers stay full precision, Appendix
H.1) are touched. They are re-seated as views of **one flat buffer**, so the quantize-after-step is a single
fused pass of a few element-wise kernels over all of them, whatever the number of layers.
"""
from __future__ import annotations

import torch

from srchain.cnn.quantized import Grid, qd, qs, rademacher

__all__ = ["QuantizedOptimizer", "flatten_"]


def flatten_(params) -> torch.Tensor:
    """Re-seat ``params`` as views of one new contiguous buffer (same values) and return the buffer."""
    params = list(params)
    if not params:
        raise ValueError("no parameters to flatten")
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    offset = 0
    for p in params:
        n = p.numel()
        p.data = flat[offset:offset + n].view_as(p)
        offset += n
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

    Examples
    --------
    >>> opt = QuantizedOptimizer(torch.optim.Adam(model.parameters(), lr=0.01),   # doctest: +SKIP
    ...                          [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)],
    ...                          rule="sr", grid=Grid(1.0))
    """

    def __init__(self, optimizer, quantized, rule: str = "sr", grid: Grid = Grid(), generator=None,
                 init: str | None = None, clip_latent: bool = True, scale: str = "none"):
        from srchain.errors import SrchainError

        if rule not in ("fp", "r", "sr", "bc"):
            raise SrchainError(f"unknown rule {rule!r}; use fp, r, sr or bc")
        if scale not in ("none", "filter"):
            raise SrchainError(f"unknown scale {scale!r}; use none or filter")
        if scale == "filter" and rule != "bc":
            raise SrchainError("--scale filter (per-filter BWN scale) needs a bc method")
        self.optimizer = optimizer
        self.rule, self.grid, self.clip_latent, self.scale = rule, grid, clip_latent, scale
        self.params = list(quantized)
        self.flat = flatten_(self.params) if self.params else None
        self.generator = generator
        self.latent = None
        self._filter_ids = None
        if self.flat is None or rule == "fp":
            return
        init = init or ("rademacher" if rule in ("r", "sr") else "keep")
        with torch.no_grad():
            if init == "rademacher":
                rademacher(self.flat, grid, generator)
            if rule == "bc":
                self.latent = self.flat.clone()
                if clip_latent:
                    self.latent.clamp_(grid.lo, grid.hi)
                if scale == "filter":
                    ids, offset, nf = [], 0, 0
                    for p in self.params:
                        per = p[0].numel()
                        ids.append(torch.arange(nf, nf + p.shape[0], device=p.device).repeat_interleave(per))
                        nf += p.shape[0]
                    self._filter_ids = torch.cat(ids)
                    self._filter_count = torch.bincount(self._filter_ids).to(self.flat.dtype)
                self._binarize()
            else:
                qd(self.flat, grid, out=self.flat)

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

    def zero_grad(self, set_to_none: bool = True):
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def _binarize(self):
        """BC: ``w_b ← Qd(w_r)`` into the parameters (optionally times the per-filter mean |w_r|)."""
        if self.scale == "filter":
            sums = torch.zeros_like(self._filter_count).index_add_(0, self._filter_ids, self.latent.abs())
            alpha = (sums / self._filter_count)[self._filter_ids]
            self.flat.copy_(torch.where(self.latent >= 0, alpha, -alpha))
        else:
            qd(self.latent, self.grid, out=self.flat)

    @torch.no_grad()
    def step(self, closure=None):
        """One step of the wrapped optimizer followed by the rule's quantization (one fused pass)."""
        if self.rule == "bc" and self.flat is not None:
            self.flat.copy_(self.latent)          # the gradient was taken at w_b; the step moves w_r
        loss = self.optimizer.step(closure) if closure is not None else self.optimizer.step()
        if self.flat is None or self.rule == "fp":
            return loss
        if self.rule == "r":
            qd(self.flat, self.grid, out=self.flat)
        elif self.rule == "sr":
            qs(self.flat, self.grid, generator=self.generator, out=self.flat)
        else:
            self.latent.copy_(self.flat)
            if self.clip_latent:
                self.latent.clamp_(self.grid.lo, self.grid.hi)
            self._binarize()
        return loss

    def latent_views(self):
        """BC: the latent ``w_r`` of each quantized parameter, as views shaped like it (else ``None``)."""
        if self.latent is None:
            return None
        out, offset = [], 0
        for p in self.params:
            out.append(self.latent[offset:offset + p.numel()].view_as(p))
            offset += p.numel()
        return out

    def state_dict(self):
        return {"optimizer": self.optimizer.state_dict(),
                "latent": None if self.latent is None else self.latent.clone(),
                "generator": None if self.generator is None else self.generator.get_state()}

    def load_state_dict(self, state):
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("latent") is not None:
            self.latent.copy_(state["latent"])
        if state.get("generator") is not None and self.generator is not None:
            self.generator.set_state(state["generator"])
