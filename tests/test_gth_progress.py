"""Sparse GTH's progress bar (``sparse_gth(progress=True)``, shown on a terminal by ``stationary`` from
``SPARSE_BAR_STATES`` states on): it counts every front's work once, and the refactored subtrees' again, so it ends
at 100%; it advances from the factorising threads and the split fronts' panels; it changes no bit of the law."""

import pytest

import srchain.gth.sparse as sparse
from srchain.gth import sparse_gth
from srchain.lattice import Lattice
from srchain.noise import make_noise
from srchain.operators import transition_matrix
from srchain.problems import get_problem


class _Bar:
    """Stands in for tqdm: records the updates."""

    made: list = []

    def __init__(self, total, **kwargs):
        self.total, self.n, self.steps, self.closed = total, 0.0, [], False
        _Bar.made.append(self)

    def update(self, x):
        self.steps.append(x)
        self.n += x

    def close(self):
        self.closed = True


@pytest.fixture(scope="module")
def chain():
    # 60 × 60 coupled states, jumps of a few cells: a tree of a few hundred fronts, the largest ~ 200 states
    lat = Lattice.from_domain(14.0 / 59, (-4.0, 10.0), 2)
    prob = get_problem("coupled", dim=2, coupling=1.0)
    return transition_matrix(prob, make_noise("gaussian", sigma=2.0), lat, 0.02).P, lat.shape


@pytest.mark.parametrize("threads, budget", [(1, None), (2, None), (2, 8.0 * 20_000), (3, 0.0)])
def test_the_bar_ends_at_100_percent_and_the_law_keeps_its_bits(monkeypatch, chain, threads, budget):
    P, shape = chain
    plain = sparse_gth(P, shape=shape, threads=threads, factor_bytes=budget)
    monkeypatch.setattr("tqdm.auto.tqdm", _Bar)
    monkeypatch.setattr(sparse, "SPLIT_FRONT", 64)  # the top fronts split over the threads, advanced by panels
    split, real = [], sparse.front_eliminate_split
    monkeypatch.setattr(sparse, "front_eliminate_split", lambda F, *a: split.append(F.shape[0]) or real(F, *a))
    _Bar.made.clear()
    pi = sparse_gth(P, shape=shape, threads=threads, factor_bytes=budget, progress=True)
    assert pi.tobytes() == plain.tobytes()
    (bar,) = _Bar.made
    assert bar.closed and bar.total == 100.0
    assert min(bar.steps) >= 0.0
    # a split root front's last panel ends at pivot m − 1 of m: short of its work by a 1/m³ share, far below 0.1%
    assert 99.9 < bar.n <= 100.0 + 1e-9
    if threads > 1:
        assert split  # (the case the panels' callback serves)
        assert len(bar.steps) > 10  # subtrees, nodes above them and panels, not one jump at the end


def test_no_bar_unless_asked(monkeypatch, chain):
    monkeypatch.setattr("tqdm.auto.tqdm", _Bar)
    _Bar.made.clear()
    sparse_gth(*chain[:1], shape=chain[1], threads=2)
    assert _Bar.made == []


def test_stationary_asks_for_the_bar_from_its_threshold(monkeypatch, chain):
    import srchain.stationary as st

    asked = []
    real = st.sparse_gth
    monkeypatch.setattr(st, "sparse_gth", lambda *a, progress=False, **k: asked.append(progress) or real(*a, **k))
    P, shape = chain
    st.stationary(P, method="gth-sparse", shape=shape)
    monkeypatch.setattr(st, "SPARSE_BAR_STATES", P.shape[0])
    st.stationary(P, method="gth-sparse", shape=shape)
    assert asked == [False, True]
