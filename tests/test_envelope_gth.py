"""Envelope (variable-band) GTH, srchain.gth.envelope: the same bits as banded GTH, and the law of dense GTH.

The envelope keeps only the rates banded GTH could ever make non-zero, so on every chain the two return identical
floats; against dense GTH (another elimination order) the laws agree to a small relative error per state (GTH's
O(n·eps) per component: 1e-10 is far above that for n ≤ 1500 and far below any real disagreement).
"""

import numpy as np
import pytest
import scipy.sparse as sp

import srchain.gth.envelope as envelope
from srchain.errors import SrchainError
from srchain.grids import Grid
from srchain.gth import banded_law, dense_gth
from srchain.gth.envelope import envelope_law, envelope_profile, envelope_size
from srchain.lattice import Lattice
from srchain.noise import make_noise
from srchain.operators import transition_matrix
from srchain.problems import get_problem
from srchain.stationary import stationary

NOISE = make_noise("gaussian", 2.0)


def _grids():
    toy = get_problem("toy", domain=(1.0, 8.0))
    for fmt in ("bf16", "fp8-e4m3", "fp8-e5m2"):
        g = Grid.of(fmt, (1.0, 8.0))
        yield toy, g
        yield toy, Lattice.from_domain(7.0 / (g.size - 1), (1.0, 8.0))
    yield get_problem("toy"), Lattice.from_domain(0.05, (-4.0, 10.0))


CASES = [(pr, g, a) for pr, g in _grids() for a in (0.3, 0.05, 0.01)]


@pytest.mark.parametrize("problem,grid,alpha", CASES, ids=lambda x: getattr(x, "format", None) or str(x)[:12])
def test_envelope_equals_banded_bit_for_bit_and_dense_to_relative_accuracy(problem, grid, alpha):
    P = transition_matrix(problem, NOISE, grid, alpha).P
    env = envelope_law(P)
    assert np.array_equal(env, banded_law(P))
    dense = dense_gth(P)
    # normal floats only: below ~1e-290 both laws are subnormal or 0 (the law spans more than float64's range)
    keep = dense > 1e-290
    assert keep.sum() > 0.5 * keep.size
    np.testing.assert_allclose(env[keep], dense[keep], rtol=1e-10, atol=0)


def test_envelope_is_smaller_than_the_band_on_a_format_grid():
    toy = get_problem("toy", domain=(1.0, 8.0))
    g = Grid.of("bf16", (1.0, 8.0))
    P = transition_matrix(toy, NOISE, g, 0.1).P
    first, last = envelope_profile(P)
    b = int(np.max(last - np.arange(g.size)))
    # bf16 on [1, 8]: 128 values per binade over three binades, so a row near 1 spans ~4x the states of one near 8
    assert envelope_size(first, last) < 0.6 * g.size * (2 * b + 1)


def test_profile_is_closed_under_the_fill():
    # state 0 → 3, state 1 ← 0 ... : eliminating 0 fills row 1 (first 0) up to column 3
    P = np.zeros((5, 5))
    P[0, 3] = P[0, 1] = 0.5
    P[1, 0] = P[1, 2] = 0.5
    P[2, 1] = P[2, 4] = 0.5
    P[3, 2] = P[3, 4] = 0.5
    P[4, 0] = P[4, 3] = 0.5
    # through the module (tools/mutation.py's PLANTED patches its functions there)
    first, last = envelope.envelope_profile(sp.csr_matrix(P))
    assert first.tolist() == [0, 0, 1, 2, 0]
    assert last.tolist() == [3, 3, 4, 4, 4]
    np.testing.assert_allclose(envelope.envelope_law(sp.csr_matrix(P)), dense_gth(sp.csr_matrix(P)), rtol=1e-13)


def test_reducible_chain_raises_the_zero_pivot_error():
    P = sp.csr_matrix(np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.5, 0.5]]))
    with pytest.raises(SrchainError, match="reducible"):
        envelope_law(P)


def test_stationary_banded_method_uses_it_and_keeps_the_bits():
    toy = get_problem("toy")
    lat = Lattice.from_domain(0.005, toy.domain)  # 2801 states: auto picks the banded solver
    P = transition_matrix(toy, NOISE, lat, 0.05).P
    res = stationary(P, shape=lat.shape)
    assert res.method == "gth-banded"
    assert np.array_equal(res.pi, banded_law(P))
