"""When the threaded (``parallel=True``) kernels of an operator build are worth their threads, and
:func:`over_threads`, which splits a range of independent items over Numba's thread count for kernels that release
the GIL.

A parallel kernel's launch costs tens of microseconds on an idle machine, but its threads wait for one another at
the end: on a loaded machine a build of 3600 states took 0.12 s on 2 threads against 0.003 s on 1. Inputs below
:data:`PARALLEL_MIN` elements therefore run on one thread. The kernels give the same bits on any thread count
(each output element is computed by one thread, in a fixed order), so this changes only the time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numba

__all__ = ["PARALLEL_MIN", "threads_for", "over_threads"]

#: Elements of work (rows × coordinates × window) from which the kernels use every thread: about 10 ms on one.
PARALLEL_MIN = 1 << 17


@contextmanager
def threads_for(elements: int) -> Iterator[None]:
    """Run the block's Numba kernels on one thread when ``elements`` is below :data:`PARALLEL_MIN` (this thread's
    setting is restored after)."""
    if elements >= PARALLEL_MIN:
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def over_threads(run: Callable[[int, int], object], m: int, per_thread: int) -> None:
    """``run(k0, k1)`` over ``0 ≤ k < m`` in contiguous parts, one per thread (at most Numba's thread count, and one
    part per ``per_thread`` items): the calling thread takes the first part, a pool the others. ``run`` must
    release the GIL (a ``nogil`` kernel, NumPy) and compute each item alone, so that the result does not depend on
    how many parts there are."""
    parts = max(1, min(numba.get_num_threads(), m // per_thread))
    cuts = [m * p // parts for p in range(parts + 1)]
    if parts == 1:
        run(0, m)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(parts - 1) as ex:
        futs = [ex.submit(run, cuts[p], cuts[p + 1]) for p in range(1, parts)]
        run(cuts[0], cuts[1])
        for f in futs:
            f.result()
