"""Per-layer weight metrics of Section 6 (Figures 4, 5 and 7).

* ``flipped_since_init``: percentage of a layer's weights whose sign differs from the initialisation
  (Figures 4 and 5(b)); signs use ``sign(0) = +1``, as the binary Qd.
* ``flipped_last_k``: percentage whose sign differs from ``k`` epochs earlier (or from the start while fewer
  than ``k`` epochs have passed; Figure 5(c) uses k = 5).
* ``mean_abs_wb_minus_wr``: BC only, ``(1/d)·‖w_b − w_r‖₁`` per conv layer (Figure 7(b, c)).

For BC the sign is that of ``w_b = Q(w_r)``, which is the sign of ``w_r``; for full precision, of the weights.

Weights kept in a number format (``sr-bf16-adam`` and the like, :mod:`srchain.cnn.formats`) move between many
values, so there a **flip is a change of the stored value** (``values=True``: the tracker keeps float32 copies;
``−0`` and ``+0`` are the same value). On the binary grid {−Δ, +Δ} the two definitions agree. For ``bc-FORMAT``
``mean_abs_wb_minus_wr`` is the mean distance between the fp32 master weights and their rounded copy.
"""

from __future__ import annotations

from collections import deque

import torch

__all__ = ["signs", "flip_percentage", "mean_abs_difference", "FlipTracker"]


def signs(w: torch.Tensor) -> torch.Tensor:
    """``w >= 0`` as a bool tensor: the sign with ``sign(0) = +1``."""
    return (w.detach() >= 0).cpu()


def _values(w: torch.Tensor) -> torch.Tensor:
    """A float32 copy of ``w`` on the CPU (a flip on a number format is a change of value)."""
    return w.detach().float().cpu().clone()


def flip_percentage(a: torch.Tensor, b: torch.Tensor) -> float:
    """Percentage of entries where the bool sign tensors ``a`` and ``b`` differ (100 · mean(a ≠ b))."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.numel() == 0:
        return 0.0
    return 100.0 * (a != b).sum().item() / a.numel()


def mean_abs_difference(wb: torch.Tensor, wr: torch.Tensor) -> float:
    """``(1/d)·‖w_b − w_r‖₁`` (Figure 7)."""
    return (wb.detach().double() - wr.detach().double()).abs().mean().item()


class FlipTracker:
    """Remembers the initial signs of each named layer and those of the last ``k`` epochs.

    Parameters
    ----------
    layers : list of (name, weight tensor)
        Usually ``[(name, module.weight) for name, module in named_layers(model)]``.
    k : int
        Window of ``flipped_last_k`` (epochs).
    values : bool
        Count changes of the stored value instead of the sign (weights kept in a number format).
    """

    def __init__(self, layers, k: int = 5, values: bool = False):
        self.layers = list(layers)
        self.k = int(k)
        self.values = bool(values)
        self._snap = _values if self.values else signs
        #: the dtype of the snapshots (checked when a checkpoint is loaded)
        self.snapshot_dtype = torch.float32 if self.values else torch.bool
        self.init = {n: self._snap(w) for n, w in self.layers}
        self.history = deque(maxlen=self.k)  # signs at the end of the last k epochs (oldest first)

    def update(self, latent=None):
        """Record the current signs and return ``(layers, totals)``.

        ``layers`` is ``{name: {flipped_since_init, flipped_last_k, mean_abs_wb_minus_wr}}``; ``latent`` maps
        layer names to BC's ``w_r`` (other layers get ``None``). ``totals`` holds the same two percentages over
        all conv layers together (weighted by size), for Figure 5(b, c).
        """
        now = {n: self._snap(w) for n, w in self.layers}
        ref = self.history[0] if len(self.history) == self.k else self.init
        out, tot, fi, fk = {}, 0, 0, 0
        for n, w in self.layers:
            wr = None if latent is None else latent.get(n)
            di, dk = (now[n] != self.init[n]).sum().item(), (now[n] != ref[n]).sum().item()
            size = max(now[n].numel(), 1)
            out[n] = {
                "flipped_since_init": 100.0 * di / size,
                "flipped_last_k": 100.0 * dk / size,
                "mean_abs_wb_minus_wr": None if wr is None else mean_abs_difference(w, wr),
            }
            if n.startswith("conv_"):
                tot, fi, fk = tot + now[n].numel(), fi + di, fk + dk
        self.history.append(now)
        tot = max(tot, 1)
        return out, {"flipped_since_init": 100.0 * fi / tot, "flipped_last_k": 100.0 * fk / tot}

    def state_dict(self):
        return {"k": self.k, "init": self.init, "history": list(self.history)}

    def load_state_dict(self, state):
        self.k = state["k"]
        self.init = dict(state["init"])
        self.history = deque(state["history"], maxlen=self.k)
