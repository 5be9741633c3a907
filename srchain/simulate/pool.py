"""The thread pool the chains run on (the kernels are ``nogil``)."""

from __future__ import annotations

import threading

__all__ = ["n_threads", "run_parallel"]


def n_threads() -> int:
    """Worker threads for the chains: Numba's thread count (``NUMBA_NUM_THREADS``, ``numba.set_num_threads``)."""
    import numba

    return max(1, int(numba.get_num_threads()))


_POOL = None  # (workers, ThreadPoolExecutor)
_POOL_LOCK = threading.Lock()
_WORKER_PREFIX = "srchain-chains"


def _pool(workers: int):
    """The module's thread pool of ``workers`` threads, kept between calls (starting one costs ~0.3 ms, more than
    a short run takes); replaced when the thread count changes."""
    global _POOL
    from concurrent.futures import ThreadPoolExecutor

    with _POOL_LOCK:
        if _POOL is None or _POOL[0] != workers:
            if _POOL is not None:
                _POOL[1].shutdown(wait=False)
            _POOL = (workers, ThreadPoolExecutor(max_workers=workers, thread_name_prefix=_WORKER_PREFIX))
        return _POOL[1]


def run_parallel(tasks):
    """Run the zero-argument callables ``tasks`` (nogil Numba kernels) on a thread pool; results in order.

    Each task owns its chains' streams and histogram rows, so the result does not depend on the number of
    threads or on the order in which tasks run. Called from inside a pool worker, the tasks run in that thread
    (no nested waiting on the same pool).
    """
    workers = min(n_threads(), len(tasks))
    if workers <= 1 or threading.current_thread().name.startswith(_WORKER_PREFIX):
        return [t() for t in tasks]
    return list(_pool(n_threads()).map(lambda t: t(), tasks))
