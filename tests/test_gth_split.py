"""The largest fronts of sparse GTH split over threads (srchain.gth.front.front_eliminate_split): the same bits as one
thread, for a single front and through the whole solver."""

from __future__ import annotations

import numpy as np
import pytest

from srchain.gth.front import front_eliminate


@pytest.mark.parametrize("parts", [2, 3, 5])
@pytest.mark.parametrize("m,k", [(301, 120), (258, 258), (77, 40)])
def test_a_front_split_over_threads_has_the_bits_of_one_thread(parts, m, k):
    # each panel's rows cut into `parts` ranges (whole groups of four, the last one ragged), run by a thread pool
    from concurrent.futures import ThreadPoolExecutor

    from srchain.gth.front import front_eliminate_split

    rng = np.random.default_rng(parts * m + k)
    F = rng.random((m, m)) * (rng.random((m, m)) < 0.5)
    F[np.arange(m - 1), np.arange(1, m)] = rng.random(m - 1) + 0.5
    np.fill_diagonal(F, 0.0)
    one = F.copy()
    assert front_eliminate(one, k) == 0
    with ThreadPoolExecutor(parts - 1) as ex:
        assert front_eliminate_split(F, k, ex.submit, parts) == 0
    assert np.array_equal(F.view(np.int64), one.view(np.int64))


def test_sparse_gth_with_its_top_fronts_split_has_the_bits_of_one_thread(monkeypatch):
    # SPLIT_FRONT lowered so that every front above the subtrees of a 40 × 40 chain is split over the threads
    import srchain.gth.sparse as sparse
    from srchain.lattice import Lattice
    from srchain.noise import make_noise
    from srchain.operators import transition_matrix
    from srchain.problems import get_problem

    lat = Lattice.from_domain(14.0 / 39, (-4.0, 10.0), 2)
    P = transition_matrix(get_problem("coupled", dim=2, coupling=1.0), make_noise("gaussian", sigma=2.0), lat, 0.05).P
    one = sparse.sparse_gth(P, shape=lat.shape, threads=1)
    calls = []
    real = sparse.front_eliminate_split
    monkeypatch.setattr(sparse, "SPLIT_FRONT", 16)
    monkeypatch.setattr(sparse, "front_eliminate_split", lambda *a: calls.append(a[1]) or real(*a))
    for threads in (2, 3):
        got = sparse.sparse_gth(P, shape=lat.shape, threads=threads)
        assert np.array_equal(got.view(np.int64), one.view(np.int64)), threads
    assert calls  # the split path ran
