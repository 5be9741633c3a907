"""The sparse GTH factorisation with an exponent per entry (srchain.gth.extended): the bits of the float64
factorisation where nothing leaves float64's range, taken only where a censored rate may have been lost."""

import numpy as np
import pytest
import scipy.sparse as sp

import srchain.gth.sparse as sparse
from tests.test_gth_edges import _barrier_chain, _barrier_lattice


@pytest.fixture
def extended_calls(monkeypatch):
    """The extended factorisations each solve ran (a list, one entry per call)."""
    seen = []
    real = sparse.factor_extended

    def spy(*args):
        seen.append(1)
        return real(*args)

    monkeypatch.setattr(sparse, "factor_extended", spy)
    return seen


def _walk(ny, nx, seed):
    """A lattice walk with rates spread over [0.5, 1.5] of a free walk's: nothing comes near float64's limits."""
    P = 0.5 * sp.kron(sp.identity(ny), _barrier_chain(np.zeros(nx))) + 0.5 * sp.kron(
        _barrier_chain(np.zeros(ny)), sp.identity(nx)
    )
    P = P.tocsr()
    P.data *= np.random.default_rng(seed).uniform(0.5, 1.5, P.data.size)
    return P


def test_the_extended_factorisation_has_the_float64_bits_where_nothing_underflows(monkeypatch, extended_calls):
    ny, nx = 40, 37
    P = _walk(ny, nx, 1)
    want = sparse.sparse_gth(P, shape=(ny, nx), threads=1)
    assert extended_calls == []

    def underflowed(*args, **kwargs):
        raise sparse._Underflow

    monkeypatch.setattr(sparse, "_factor", underflowed)  # as if the float64 factorisation had met underflow
    got = sparse.sparse_gth(P, shape=(ny, nx), threads=1)
    assert extended_calls == [1]
    assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("c", [15, 20])
def test_a_barrier_next_to_the_top_separator_takes_the_extended_factorisation(extended_calls, c):
    # the float64 factorisation met a wrong law (c = 15) or a zero pivot (c = 20) before the fix; the law is checked
    # in tests/test_gth_edges.py, here the same law whatever the thread count
    ny, nx = 31, 33
    A = _barrier_lattice(ny, nx, c)
    laws = [sparse.sparse_gth(A, shape=(ny, nx), threads=t).tobytes() for t in (1, 2)]
    assert extended_calls == [1, 1]
    assert laws[0] == laws[1]


def test_a_shallow_barrier_keeps_the_float64_factorisation(extended_calls):
    # a barrier of 1e-100 (censored rates ~1e-100, exit rates far above 2^-450): no censored rate is lost
    ny, nx, c = 31, 33, 15
    cols = sparse.sparse_gth(_lattice(ny, nx, c, 50.0), shape=(ny, nx)).reshape(ny, nx).sum(axis=0)
    assert extended_calls == []
    want = np.full(nx, 1.0 / (nx - 3))
    want[[c - 1, c + 1]] = 1e-50 / (nx - 3)
    want[c] = 1e-100 / (nx - 3)
    np.testing.assert_allclose(cols, want, rtol=1e-10, atol=0)


@pytest.mark.parametrize("d", [155.0, 160.0])
def test_a_barrier_whose_censored_rates_are_subnormal(extended_calls, d):
    # law 10^-d, 10^-2d, 10^-d across the barrier: the censored rates over it (~10^-2d) are subnormal and lose bits,
    # which exit rates of ~10^-d then multiply by 10^d; before the fix the left basin's mass was 2e-12 (d = 155)
    # and 4% (d = 160) off in the float64 factorisation, now factored with an exponent per entry
    ny, nx, c = 33, 31, 8
    cols = sparse.sparse_gth(_lattice(ny, nx, c, d), shape=(ny, nx)).reshape(ny, nx).sum(axis=0)
    assert extended_calls == [1]
    want = np.full(nx, 1.0 / (nx - 3))
    want[[c - 1, c, c + 1]] = 0.0
    np.testing.assert_allclose(cols, want, rtol=1e-12, atol=1e-100)
    np.testing.assert_allclose(cols[[c - 1, c + 1]], 10.0**-d / (nx - 3), rtol=1e-12)


def _lattice(ny, nx, c, d):
    """The lattice of tests/test_gth_edges.py's ``_barrier_lattice`` with a barrier of 10^-d, 10^-2d, 10^-d."""
    L = np.zeros(nx)
    L[[c - 1, c, c + 1]] = -d, -2 * d, -d
    P = 0.5 * sp.kron(sp.identity(ny), _barrier_chain(L)) + 0.5 * sp.kron(_barrier_chain(np.zeros(ny)), sp.identity(nx))
    return P.tocsr()
