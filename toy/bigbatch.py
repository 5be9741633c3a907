"""Big-batch training (Section 6.1): SR's limiting law π̃ as the batch grows.

The paper argues that a larger batch shrinks the variance of the gradient noise without changing its mean, so
more of the gradient's law points downhill and SR becomes greedier. In the chain picture (Theorem 5) the small-α
law of SR is π̃, the stationary law of ``T̃ = I − α0·diag(Ũ1) + α0·Ũ`` with
``Ũ(x, x ± Δe_k) = E[(∓∇f̃_k(x))⁺]/Δ``: it depends on the batch only through the law of the batch-mean noise.
This module tabulates π̃ and its mass on the global minimiser's cells as B grows, for

* ``gaussian``: ξ̄ ~ N(0, σ²/B) (closed form);
* ``minibatch``: ``m`` fixed per-sample perturbations, a batch of ``B`` drawn without replacement (the law of ξ̄
  enumerated exactly over the C(m, B) subsets). Its noise is bounded, so far from the minimiser every batch's
  gradient points downhill: the chain is reducible (states it can never return to) and, for large B, has several
  closed classes (the local minima); the long-run law from the start is then a mixture (see :func:`limit_law_from`).
  ``B = m`` is the full gradient: no noise at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from srchain.errors import SrchainError
from srchain.lattice import Lattice
from srchain.noise import make_noise
from srchain.problems import Problem, get_problem

__all__ = ["BigBatchRow", "bigbatch_table", "bigbatch_row", "bigbatch_lattice", "estimate_bigbatch", "DEFAULT_BATCHES"]

DEFAULT_BATCHES = {"gaussian": (1, 4, 16, 64, 256, 1024), "minibatch": (1, 2, 4, 8, 12, 15, 16)}


@dataclass(frozen=True)
class BigBatchRow:
    """One batch size: π̃ and what it puts where."""

    batch: int
    noise: dict
    noise_std: float
    alpha0: float | None
    mass_at_minimizer: float | None
    expected_f: float | None
    entropy: float | None
    pi_limit: np.ndarray | None
    note: str = ""

    def to_dict(self) -> dict:
        return {
            "batch": self.batch,
            "noise": self.noise,
            "noise_std": self.noise_std,
            "alpha0": self.alpha0,
            "mass_at_minimizer": self.mass_at_minimizer,
            "expected_f": self.expected_f,
            "entropy": self.entropy,
            "pi_limit": None if self.pi_limit is None else self.pi_limit.tolist(),
            "note": self.note,
        }


#: Cost model of one row (see :func:`estimate_bigbatch`): bytes and seconds per state and per entry of Ũ.
_BYTES_PER_ENTRY = 200.0
_SECONDS_PER_ENTRY = 2e-6


def estimate_bigbatch(lattice: Lattice, rows: int):
    """:class:`~srchain.simulate.WorkEstimate` of :func:`bigbatch_table` (``rows`` batch sizes) from sizes alone.

    Each row builds Ũ (about ``2d + 1`` entries per state), ``T̃``, their strongly connected components and one
    exact stationary solve; in ``d`` dimensions the solver's fill grows like the separators, ``n^(2(d−1)/d)``
    float64 entries. :data:`_BYTES_PER_ENTRY` and :data:`_SECONDS_PER_ENTRY` per entry are conservative.
    """
    from srchain.simulate import WorkEstimate

    n, d = float(lattice.size), lattice.dim
    entries = n * (2 * d + 1)
    fill = n ** (2.0 * (d - 1) / d) if d > 1 else 0.0
    return WorkEstimate(
        seconds=rows * (entries * _SECONDS_PER_ENTRY + fill**1.5 * 1e-9),
        bytes=entries * _BYTES_PER_ENTRY + fill * 8 * 2,
        work=rows * n,
        unit="states",
    )


def bigbatch_table(
    problem: Problem | None = None,
    noise: str = "gaussian",
    sigma: float = 4.0,
    batches=None,
    samples: int = 16,
    delta: float = 0.5,
    seed: int = 0,
    nu: float = 3.0,
    start: float = 4.0,
    max_states: int | None = 20_000_000,
    max_memory: float | None = None,
    max_hours: float | None = None,
    on_estimate=None,
) -> list[BigBatchRow]:
    """π̃ (SR's small-α law, Theorem 5) and its mass on the global minimiser's cells for each batch size.

    Parameters
    ----------
    problem : Problem, optional
        Default objective (8).
    noise : {"gaussian", "minibatch", "laplace", "student-t"}
        Per-sample noise; the batch mean is computed exactly (gaussian σ/√B, minibatch without replacement).
    sigma : float
        Per-sample scale (default 4, Figure 2's default).
    batches : sequence of int
        Batch sizes (default :data:`DEFAULT_BATCHES`).
    samples : int
        ``m`` for the minibatch model.
    start : float
        Where the chain starts (Figure 2: 4.0). It matters only when the noise is too weak to connect the lattice:
        then the long-run law is the mixture of the closed classes' laws weighted by the probabilities of being
        absorbed in each from the start (:func:`limit_law_from`), and the row's ``note`` says so. It must be a
        finite point of the domain.
    max_states : int, optional
        Refuse lattices with more states (default 20,000,000; ``None``: no limit).
    max_memory, max_hours : float, optional
        Limits on :func:`estimate_bigbatch`, checked before any row is computed: bytes (default
        :func:`srchain.budget.default_max_memory`) and hours (default none).
    """
    from srchain.simulate import check_work

    problem = problem or get_problem("toy")
    batches = tuple(DEFAULT_BATCHES.get(noise, (1, 4, 16, 64)) if batches is None else batches)
    if not batches:
        raise SrchainError("batches is empty; give at least one batch size")
    lat, w = bigbatch_lattice(problem, delta, start, max_states)
    est = estimate_bigbatch(lat, len(batches))
    check_work(est, max_memory, max_hours, what="the big-batch table", hint="use a larger delta or fewer batch sizes")
    if on_estimate is not None:
        on_estimate(est)
    return [
        bigbatch_row(problem, lat, w, b, noise=noise, sigma=sigma, samples=samples, seed=seed, nu=nu) for b in batches
    ]


def bigbatch_lattice(problem: Problem, delta: float, start, max_states: int | None = 20_000_000):
    """The lattice of ``problem``'s domain at step ``delta`` and the checked start point ``w`` (d,)."""
    lat = Lattice.from_domain(delta, problem.domain, dim=problem.dim, max_states=max_states)
    w = np.asarray(start, dtype=np.float64).ravel()
    if w.size == 1:
        w = np.full(lat.dim, w[0])
    if w.size != lat.dim or not np.all(np.isfinite(w)):
        raise SrchainError(f"start must be 1 or {lat.dim} finite numbers, got {np.asarray(start).tolist()}")
    if not lat.contains(w):
        raise SrchainError(
            f"the start {w.tolist()} is outside the domain {lat.domain.tolist()}; pick a start inside it"
        )
    return lat, w


def bigbatch_row(
    problem: Problem,
    lat: Lattice,
    w,
    batch: int,
    noise: str = "gaussian",
    sigma: float = 4.0,
    samples: int = 16,
    seed: int = 0,
    nu: float = 3.0,
) -> BigBatchRow:
    """One row of :func:`bigbatch_table`: π̃ for the batch mean of ``batch`` samples, from the start ``w``."""
    from srchain.operators import alpha0, t_tilde, u_tilde
    from srchain.spec import entropy

    cells = lat.cells(problem.minimizer) if problem.minimizer is not None else np.zeros(0, dtype=np.int64)
    fvals = np.asarray(problem.value(lat.points), dtype=np.float64)
    b = int(batch)
    nz = make_noise(noise, sigma=sigma, nu=nu, batch=b, samples=samples, seed=seed)
    std = float(nz.std)
    try:
        U = u_tilde(problem, nz, lat)
        a0 = alpha0(U)
        pi, note = limit_law_from(t_tilde(U), lat.nearest(np.asarray(w, dtype=np.float64)).item())
    except SrchainError as exc:
        return BigBatchRow(
            batch=b,
            noise=nz.to_dict(),
            noise_std=std,
            alpha0=None,
            mass_at_minimizer=None,
            expected_f=None,
            entropy=None,
            pi_limit=None,
            note=f"no unique limit law: {exc}".split("\n")[0][:200],
        )
    return BigBatchRow(
        batch=b,
        noise=nz.to_dict(),
        noise_std=std,
        alpha0=a0,
        mass_at_minimizer=float(pi[cells].sum()),
        expected_f=math.fsum(pi * fvals),  # exactly rounded: no BLAS dot (its order varies by CPU)
        entropy=entropy(pi),
        pi_limit=pi,
        note=note,
    )


def limit_law_from(T, start: int):
    """Long-run law of the chain ``T`` started at state ``start``, also when ``T`` is reducible.

    With closed classes ``C_1..C_r`` (strongly connected components with no way out) and ``h_c(start)`` the
    probability of being absorbed in ``C_c`` (solving ``(I − Q)h = R 1_c`` on the transient states), the law is
    ``Σ_c h_c(start) π_c``, ``π_c`` the stationary law of ``T`` restricted to ``C_c`` (exact GTH).
    Returns ``(pi, note)``; the note is empty for an irreducible chain.
    """
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla
    from scipy.sparse.csgraph import connected_components

    from srchain.stationary import stationary

    T = sp.csr_matrix(T)
    n = T.shape[0]
    off = T.copy()
    off.setdiag(0)
    off.eliminate_zeros()
    ncomp, lab = connected_components(off, directed=True, connection="strong")
    if ncomp == 1:
        return stationary(T).pi, ""
    coo = off.tocoo()
    leaves = np.zeros(ncomp, dtype=bool)
    np.logical_or.at(leaves, lab[coo.row], lab[coo.row] != lab[coo.col])
    closed = [c for c in range(ncomp) if not leaves[c]]
    trans = np.nonzero(~np.isin(lab, closed))[0]
    pi = np.zeros(n)
    h_all = []
    for c in closed:
        idx = np.nonzero(lab == c)[0]
        if idx.size == 1:
            pc = np.ones(1)
        else:
            sub = T[idx][:, idx]
            pc = stationary(sp.csr_matrix(sub / np.asarray(sub.sum(axis=1)))).pi
        if lab[start] == c:
            h = 1.0
        elif trans.size and start in trans:
            Q = T[trans][:, trans]
            R = np.asarray(T[trans][:, idx].sum(axis=1)).ravel()
            hv = spla.spsolve(sp.csc_matrix(sp.identity(trans.size) - Q), R)
            h = float(hv[np.searchsorted(trans, start)])
        else:
            h = 0.0
        h_all.append((idx, h))
        pi[idx] += h * pc
    pi /= pi.sum()
    classes = ", ".join(f"{{{idx[0]}..{idx[-1]}}}:{h:.3g}" for idx, h in h_all)
    return pi, (
        f"reducible: {len(closed)} closed class(es) (state ranges: absorption probability from the start) {classes}"
    )
