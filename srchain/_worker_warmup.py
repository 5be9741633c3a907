"""Dask worker preload of the local sweeps (:func:`srchain.sweep.run_sweep` with ``workers``): at start-up, before
the worker takes a task, import the science modules and load the compiled kernels of an operator build and a
stationary solve from Numba's cache (one tiny chain of each kind), so that the worker's first task does not pay for
them. On an existing cluster: ``dask worker ADDRESS --preload srchain._worker_warmup``.

Nothing here changes a result: the warm-up's own results are discarded, and a failure only leaves the kernels to
be loaded by the first task.
"""

from __future__ import annotations

import logging
import time

__all__ = ["dask_setup", "warm_up"]

logger = logging.getLogger(__name__)


def warm_up() -> float:
    """Import the modules and run each kernel of T_α (Eq. 6) and of the stationary solvers once on small chains;
    returns the seconds it took."""
    t = time.perf_counter()
    from srchain.lattice import Lattice
    from srchain.noise import make_noise
    from srchain.operators import transition_matrix
    from srchain.problems import get_problem
    from srchain.stationary import stationary

    noise = make_noise("gaussian", sigma=2.0)
    toy = get_problem("toy")
    lat1 = Lattice.from_domain(0.5, toy.domain)
    stationary(transition_matrix(toy, noise, lat1, 0.1).P, shape=lat1.shape)
    coupled = get_problem("coupled", dim=2)
    lat2 = Lattice.from_domain(1.0, coupled.domain, 2)
    P2 = transition_matrix(coupled, noise, lat2, 0.1).P
    stationary(P2, shape=lat2.shape)  # the dense solver
    stationary(P2, method="gth-sparse", shape=lat2.shape)  # the multifrontal one, what large chains take
    return time.perf_counter() - t


def dask_setup(worker=None) -> None:
    """Dask's preload hook."""
    try:
        logger.debug("srchain warm-up: %.2f s", warm_up())
    except Exception as exc:  # noqa: BLE001 - an optimisation only: the first task loads what is missing
        logger.warning("srchain warm-up failed (%s: %s); the first task loads the kernels", type(exc).__name__, exc)
