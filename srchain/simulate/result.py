"""The result of a simulation (:class:`SimulationResult`) and the per-chain generators the kernels reproduce."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["SimulationResult", "make_generators"]


@dataclass(frozen=True)
class SimulationResult:
    """Histograms of one (method, α) run over ``chains`` independent chains.

    Attributes
    ----------
    method : str
        ``"sgd"``, ``"r"``, ``"sr"`` or ``"bc"`` (``quantizer`` says whether BC used Qd or Qs).
    alpha : float
    steps, burn_in, chains, seed : int
    states : ndarray, shape (n, d)
        The lattice points, aligned with ``counts``.
    counts : ndarray of int64, shape (n,)
        Visits summed over chains (for BC/SGD: of the quantized weight Q(w_r) / Qd(w)).
    chain_counts : ndarray of int64, shape (chains, n)
    latent_edges : ndarray (nbins + 1,) or None
        Bin edges of the latent histogram (same along each coordinate, relative to each coordinate's ``lo``).
    latent_counts : ndarray (d, nbins) or None
        Histogram of ``w_r`` (BC) or ``w`` (SGD) per coordinate, summed over chains.
    final : ndarray, shape (chains, d)
        Final state of each chain (the latent ``w_r`` for BC).
    sampler : str
        ``"step"`` or ``"jump"``.
    """

    method: str
    alpha: float
    steps: int
    burn_in: int
    chains: int
    seed: int
    states: np.ndarray
    counts: np.ndarray
    chain_counts: np.ndarray
    latent_edges: np.ndarray | None = None
    latent_counts: np.ndarray | None = None
    final: np.ndarray | None = None
    sampler: str = "step"
    quantizer: str = "qd"
    extra: dict = field(default_factory=dict)

    @property
    def freq(self) -> np.ndarray:
        """Empirical law of the quantized state (counts / total)."""
        return self.counts / max(1, int(self.counts.sum()))

    def mass(self, indices) -> float:
        """Empirical mass on the given state indices."""
        return float(self.freq[np.asarray(indices, dtype=np.int64)].sum())

    def __repr__(self) -> str:
        return (
            f"SimulationResult(method={self.method!r}, alpha={self.alpha:g}, steps={self.steps}, "
            f"chains={self.chains}, seed={self.seed}, states={len(self.counts)}, sampler={self.sampler!r})"
        )

    def to_xarray(self):
        """The histogram as an :class:`xarray.Dataset`: ``counts`` (and ``freq``) over ``state`` with the lattice
        coordinates ``x0 … x{d-1}``, ``chain_counts`` over ``(chain, state)``; ``attrs`` method, alpha, steps,
        burn_in, chains, seed, sampler (and quantizer for BC)."""
        import xarray as xr

        pts = np.asarray(self.states).reshape(len(self.counts), -1)
        coords = {f"x{k}": ("state", pts[:, k]) for k in range(pts.shape[1])}
        attrs = {
            "method": self.method,
            "alpha": float(self.alpha),
            "steps": int(self.steps),
            "burn_in": int(self.burn_in),
            "chains": int(self.chains),
            "seed": int(self.seed),
            "sampler": self.sampler,
        }
        if self.method == "bc":
            attrs["quantizer"] = self.quantizer
        return xr.Dataset(
            {
                "counts": ("state", np.asarray(self.counts)),
                "freq": ("state", self.freq),
                "chain_counts": (("chain", "state"), np.asarray(self.chain_counts)),
            },
            coords=coords,
            attrs=attrs,
        )

    def to_dict(self) -> dict:
        d = {
            "method": self.method,
            "alpha": self.alpha,
            "sampler": self.sampler,
            "states": self.states.tolist(),
            "counts": self.counts.tolist(),
        }
        if self.method == "bc":
            d["quantizer"] = self.quantizer
        if self.latent_counts is not None:
            d["latent"] = {"edges": self.latent_edges.tolist(), "counts": self.latent_counts.tolist()}  # type: ignore[union-attr]
        d.update(self.extra)
        return d


def make_generators(seed: int, chains: int) -> list:
    """Per-chain ``Generator(PCG64)``: chain ``c`` gets ``SeedSequence(seed).spawn(chains)[c]``.

    These are the streams the kernels draw from (inlined by :mod:`srchain.pcg`, same numbers in the same order),
    for reproducing a chain's draws in Python. ``SeedSequence.spawn`` gives child ``c`` the spawn key ``(c,)``
    whatever the total, so chain ``c``'s stream is the same for any number of chains (and any thread count).
    """
    children = np.random.SeedSequence(int(seed)).spawn(int(chains))
    return [np.random.Generator(np.random.PCG64(s)) for s in children]
