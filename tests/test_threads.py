"""srchain._threads.over_threads splits a range of independent items over Numba's threads: every item exactly once,
in contiguous parts, at most one part per thread and per ``per_thread`` items, errors surfaced."""

import itertools
import threading

import numba
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srchain._threads import over_threads


@settings(max_examples=200, deadline=None)
@given(m=st.integers(0, 5000), per_thread=st.integers(1, 3000), threads=st.integers(1, numba.config.NUMBA_NUM_THREADS))
def test_every_item_once_in_contiguous_parts(m, per_thread, threads):
    parts, lock = [], threading.Lock()

    def run(k0, k1):
        with lock:
            parts.append((k0, k1, threading.get_ident()))

    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        over_threads(run, m, per_thread)
    finally:
        numba.set_num_threads(before)
    parts.sort()
    assert parts[0][0] == 0 and parts[-1][1] == m  # covered from 0 to m ...
    assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))  # ... without gaps or overlaps
    assert len(parts) == max(1, min(threads, m // per_thread))
    assert all(k1 - k0 >= min(per_thread, m) for k0, k1, _ in parts)  # no part below per_thread items (unless m is)
    assert parts[0][2] == threading.get_ident()  # the caller takes the first part


def test_an_error_in_any_part_is_raised():
    def run(k0, k1):
        if k0 > 0:
            raise ValueError("part")

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one thread: a single part")
    before = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        with pytest.raises(ValueError, match="part"):
            over_threads(run, 100, 10)
    finally:
        numba.set_num_threads(before)
