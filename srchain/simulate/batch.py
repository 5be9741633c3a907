"""The simulators' tasks (:func:`srchain.simulate.simulate_many`): one batch of chains, the callables the thread
pool runs, and the :class:`~srchain.simulate.SimulationResult` of each run from the batch's histograms.

A batch holds every chain of a group of runs, run after run: chain ``c`` of every run gets PCG64 stream ``c``
(common random numbers). In 1-D two chains step in lockstep per task (:func:`~srchain.simulate.kernels_1d.pair_1d`
or its fast paths), in d > 1 one lattice chain per task (:func:`~srchain.simulate.kernels_nd.chain_lattice`), SGD
one chain per task (:func:`~srchain.simulate.kernel_sgd.chain_sgd`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from srchain import pcg
from srchain.errors import SrchainError
from srchain.lattice import Lattice
from srchain.problems import Problem
from srchain.simulate.jump import chain_jump
from srchain.simulate.kernel_sgd import chain_sgd
from srchain.simulate.kernels_1d import (
    fast_path,
    pair_1d,
    pair_1d_bc_gauss,
    pair_1d_sr_gauss,
    single_1d,
    single_1d_bc_gauss,
    single_1d_sr_gauss,
)
from srchain.simulate.kernels_nd import chain_lattice
from srchain.simulate.result import SimulationResult

__all__: list[str] = []

#: 1-D kernels index their tables with 32-bit lattice indices (``_rint`` keeps the low 32 bits).
MAX_1D_STATES = 2**31 - 1
#: The fixed-point tables of the 1-D kernels need ``|T| < 2^59``; the mean step is refused from ``2^50`` cells on.
MAX_MEAN_STEP_CELLS = 2.0**50


# ---------------------------------------------------------------------------------------------------------------
# Tasks: one batch of chains (every chain of a group of runs) and the zero-argument callables the pool runs
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class _Batch:
    """The chains of a group of runs, run after run: chain ``c`` of every run gets stream ``c`` (common random
    numbers), its rule and α, its histogram rows and the cell for its final state."""

    runs: list  # indices into simulate_many's runs
    states: np.ndarray  # (total, 4) PCG64 states
    rules: np.ndarray  # (total,) Rule codes
    alphas: np.ndarray  # (total,)
    counts: np.ndarray  # (total, n)
    latent: np.ndarray  # (total, d, nbins) (one bin where no chain keeps a latent weight)
    finals: np.ndarray  # (total, d)

    @property
    def total(self) -> int:
        return len(self.states)


def _make_batch(run_idx, rules, alphas, seed, chains, n, d, nbins) -> _Batch:
    total = len(run_idx) * chains
    return _Batch(
        runs=list(run_idx),
        states=np.tile(pcg.states_from_seed(seed, chains), (len(run_idx), 1)),
        rules=np.repeat(np.asarray(rules, dtype=np.int64), chains),
        alphas=np.repeat(np.asarray(alphas, dtype=np.float64), chains),
        counts=np.zeros((total, n), dtype=np.int64),
        latent=np.zeros((total, d, nbins), dtype=np.int64),
        finals=np.zeros((total, d)),
    )


def _chain_record_1d(b: _Batch, c: int, starts):
    return (c, b.rules[c], b.alphas[c], starts[c, 0], b.counts[c], b.latent[c, 0])


#: The 1-D kernels by fast path (:func:`srchain.simulate.kernels_1d.fast_path`): a run whose chains all take a
#: dedicated loop compiles only that loop's kernel, not the general one (a cold start of `srchain figure2`).
_PAIR_KERNELS = {"sr": pair_1d_sr_gauss, "bc": pair_1d_bc_gauss, None: pair_1d}
_SINGLE_KERNELS = {"sr": single_1d_sr_gauss, "bc": single_1d_bc_gauss, None: single_1d}


def _pair_task(b: _Batch, a: int, starts, line, noise, run, kernel=pair_1d):
    b.finals[a, 0], b.finals[a + 1, 0] = kernel(
        b.states, _chain_record_1d(b, a, starts), _chain_record_1d(b, a + 1, starts), line, noise, run
    )


def _single_task(b: _Batch, a: int, starts, line, noise, run, kernel=single_1d):
    b.finals[a, 0] = kernel(b.states, _chain_record_1d(b, a, starts), line, noise, run)


def _lattice_task(b: _Batch, c: int, starts, grid, noise, run):
    chain_lattice(
        b.states, (c, b.rules[c], b.alphas[c], starts[c], b.counts[c], b.latent[c], b.finals[c]), grid, noise, run
    )


def _sgd_task(b: _Batch, c: int, starts, grad, gparams, grid, noise, run):
    chain_sgd(
        b.states, grad, gparams, (c, b.alphas[c], starts[c], b.counts[c], b.latent[c], b.finals[c]), grid, noise, run
    )


def _jump_task(states, c, tables, i0, steps, burn_in, counts, finals):
    finals[c] = chain_jump(states, c, tables, i0, steps, burn_in, counts[c])


def _lattice_tasks(b: _Batch, lattice: Lattice, G, u0, noise, run) -> list:
    """R, SR and BC chains: in 1-D two chains per task in lockstep (:func:`pair_1d`), else one per task."""
    starts = np.tile(u0, (b.total, 1))
    n, d = lattice.size, lattice.dim
    if d > 1:
        grid = (
            np.asarray(lattice.shape, dtype=np.int64),
            np.asarray(lattice.strides, dtype=np.int64),
            lattice.delta,
            G,
        )
        return [partial(_lattice_task, b, c, starts, grid, noise, run) for c in range(b.total)]
    if n > MAX_1D_STATES:
        raise SrchainError(f"a 1-D lattice of {n} points is too long to simulate (at most 2^31 - 1)")
    step_max = float(np.max(b.alphas)) / lattice.delta * float(np.max(np.abs(G), initial=0.0))
    if not step_max < MAX_MEAN_STEP_CELLS:
        raise SrchainError(
            f"the mean step alpha*|grad f|/delta reaches {step_max:.3g} lattice cells; use a smaller learning rate"
        )
    line = (float(lattice.shape[0] - 1), lattice.delta, G[:, 0].copy())
    paths = [fast_path(b.rules[c], b.alphas[c], lattice.delta, noise[0], noise[1]) for c in range(b.total)]
    tasks = []
    for a in range(0, b.total, 2):
        if a + 1 < b.total:
            kernel = _PAIR_KERNELS[paths[a] if paths[a] == paths[a + 1] else None]
            tasks.append(partial(_pair_task, b, a, starts, line, noise, run, kernel=kernel))
        else:
            tasks.append(partial(_single_task, b, a, starts, line, noise, run, kernel=_SINGLE_KERNELS[paths[a]]))
    return tasks


def _sgd_tasks(b: _Batch, problem: Problem, lattice: Lattice, u0, noise, run) -> list:
    if problem.grad_kernel is None:
        raise SrchainError(f"the problem {problem.name!r} has no Numba gradient (grad_kernel); SGD needs one")
    lo = np.asarray(lattice.lo, dtype=np.float64)
    starts = np.tile(lo + lattice.delta * u0, (b.total, 1))
    grid = (lo, np.asarray(lattice.shape, dtype=np.int64), np.asarray(lattice.strides, dtype=np.int64), lattice.delta)
    gparams = np.asarray(problem.params, dtype=np.float64)
    return [partial(_sgd_task, b, c, starts, problem.grad_kernel, gparams, grid, noise, run) for c in range(b.total)]


def _results(b: _Batch, runs, lattice: Lattice, steps, burn_in, chains, seed, bpc, bc_quantizer) -> dict:
    """The :class:`SimulationResult` of each run of the batch, by run index."""
    out = {}
    nbins = b.latent.shape[2]
    for q, r in enumerate(b.runs):
        m, a = runs[r]
        rows = slice(q * chains, (q + 1) * chains)
        cc = b.counts[rows]
        lattice_chain = m in ("r", "sr")
        lc = None if lattice_chain else b.latent[rows].sum(axis=0)
        fin = b.finals[rows]
        if m != "sgd":  # lattice units -> real units (SGD's finals are real already)
            fin = np.asarray(lattice.lo) + lattice.delta * fin
        edges = None if lc is None else lattice.delta * np.arange(nbins + 1) / bpc
        out[r] = SimulationResult(
            method=m,
            alpha=a,
            steps=steps,
            burn_in=burn_in,
            chains=chains,
            seed=int(seed),
            states=lattice.points,
            counts=cc.sum(axis=0),
            chain_counts=cc,
            latent_edges=edges,
            latent_counts=lc,
            final=fin,
            sampler="step",
            quantizer=bc_quantizer,
        )
    return out
