"""Toy task functions for tests/test_sweep.py, importable by Dask worker processes (tests/ is on their path)."""

from __future__ import annotations

import os
import time
import uuid

import numpy as np

from srchain.errors import SrchainError

N_STATES = 50


def states(n: int = N_STATES) -> np.ndarray:
    """A 2-D lattice's points, (n, 2)."""
    return np.stack([np.arange(n) * 0.5, -np.arange(n) * 0.25], axis=1)


def _record(calls_dir, name):
    if calls_dir:
        with open(os.path.join(calls_dir, f"{name}@{uuid.uuid4().hex}"), "w") as fh:
            fh.write(str(os.getpid()))


def stationary_like(
    alpha: float, n: int = N_STATES, calls_dir=None, sleep: float = 0.0, interrupt_at=None, fail_at=None
):
    """A deterministic stand-in for one α of ``srchain stationary``: (summary, arrays) of the command's shapes."""
    _record(calls_dir, f"alpha={alpha!r}")
    if interrupt_at is not None and alpha == interrupt_at:
        raise KeyboardInterrupt
    if fail_at is not None and alpha == fail_at:
        raise SrchainError(f"alpha {alpha} is too large for this lattice; use a smaller alpha")
    if sleep:
        time.sleep(sleep)
    rng = np.random.default_rng(np.random.SeedSequence([int(round(alpha * 1e9)), n]))
    pi = rng.random(n)
    pi /= pi.sum()
    limit = np.full(n, 1.0 / n)
    ent = float(-(pi * np.log(pi)).sum())
    tv = 0.5 * float(np.abs(pi - limit).sum())
    arrays = {"pi": pi, "tv_to_limit": tv, "residual": float(np.nan), "mass_at_minimizer": float(pi[0]), "entropy": ent}
    return {"alpha": alpha, "entropy": ent, "tv_to_limit": tv, "residual": float("nan"), "pid": None}, arrays


def simulate_like(method: str, alpha: float, n: int = N_STATES, seed: int = 0, calls_dir=None):
    """A stand-in for one (method, α) of ``srchain simulate``: integer counts over the states."""
    _record(calls_dir, f"{method}-{alpha!r}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, int(round(alpha * 1e9)), len(method)]))
    counts = rng.multinomial(1000, np.full(n, 1.0 / n))
    return {"method": method, "alpha": alpha, "visited": int((counts > 0).sum())}, {"counts": counts}
