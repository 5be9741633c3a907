"""When the threaded (``parallel=True``) kernels of an operator build are worth their threads.

A parallel kernel's launch costs tens of microseconds on an idle machine, but its threads wait for one another at
the end: on a loaded machine a build of 3600 states took 0.12 s on 2 threads against 0.003 s on 1. Inputs below
:data:`PARALLEL_MIN` elements therefore run on one thread. The kernels give the same bits on any thread count
(each output element is computed by one thread, in a fixed order), so this changes only the time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numba

__all__ = ["PARALLEL_MIN", "threads_for"]

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
