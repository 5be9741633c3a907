"""Zeroed arrays of 256 MiB or more whose pages the kernel may fault in without compacting memory first.

NumPy asks Linux for transparent huge pages on every array of 4 MiB or more (``madvise(MADV_HUGEPAGE)``). Where the
kernel's THP defrag policy is ``madvise`` (the usual default), each first write to such a page then compacts memory
synchronously when no free 2 MiB page is at hand: on a machine whose memory has been in use a while, the first pass
over the 1.2 GB dense core of bf16 [−4, 10]'s law (:mod:`srchain.grid_dense`) took 1.0–1.4 s of page faults, against
0.25 s for ordinary pages, which the elimination then pays back in about 0.25 s of TLB misses (2 cores of an AMD
EPYC VM). The sparse GTH's factor (:func:`srchain.gth.sparse.sparse_gth`, 0.7–1 GB on the 2-D format boxes of 10⁶
states in ``benchmarks/bench_formats.py --two-d``) is written once, by the factorisation, and read once, by the
back-substitution: huge pages save little there, and their faults cost more. Each solve took 2.69–2.80 s against
3.30–3.32 s with NumPy's array on bf16 [1/32, 8]² at α = 5e-5, the fixed lattice 1.79–1.80 against 2.04–2.05 s
(fresh processes). :func:`zeros` maps anonymous memory itself and asks for nothing: the kernel zero-fills it, and
under the ``always`` policy still gives it huge pages where some are free. Such memory is not NumPy's, so
``tracemalloc`` does not count it; the peak RSS does.
"""

from __future__ import annotations

import mmap

import numpy as np

__all__ = ["zeros", "MAPPED_MIN"]

#: Bytes from which :func:`zeros` maps its own memory (below, ``np.zeros``: its stalls are short, and NumPy's
#: allocations are the ones ``tracemalloc`` sees).
MAPPED_MIN = 1 << 28


def zeros(size: int, dtype=np.float64, least: int | None = None) -> np.ndarray:
    """A zeroed array of ``size`` entries: from ``least`` bytes on (default :data:`MAPPED_MIN`) in fresh anonymous
    memory (no ``MADV_HUGEPAGE``), unmapped with the array."""
    dtype = np.dtype(dtype)
    least = MAPPED_MIN if least is None else least
    if size == 0 or dtype.itemsize * size < least:  # (mmap maps no empty region)
        return np.zeros(size, dtype=dtype)
    return np.frombuffer(mmap.mmap(-1, dtype.itemsize * size), dtype=dtype)
