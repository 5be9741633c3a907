"""Box lattices and the problem registry."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srchain import SrchainError
from srchain.lattice import Lattice
from srchain.problems import available_problems, get_problem


def test_fine_lattice_of_the_issue_has_1000_states():
    lat = Lattice.from_domain(14 / 999, (-4.0, 10.0))
    assert lat.shape == (1000,)
    assert lat.hi[0] == pytest.approx(10.0)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(2, 7), min_size=1, max_size=3))
def test_index_roundtrip(shape):
    lat = Lattice(delta=0.5, lo=tuple(0.0 for _ in shape), shape=tuple(shape))
    idx = np.arange(lat.size)
    np.testing.assert_array_equal(lat.index(lat.coords), idx)
    np.testing.assert_array_equal(lat.nearest(lat.points + 0.2), idx)


def test_cells_of_a_point_between_grid_points_and_on_one():
    lat = Lattice.from_domain(0.5, (-4.0, 10.0))
    np.testing.assert_allclose(lat.points[lat.cells([4.75]), 0], [4.5, 5.0])
    np.testing.assert_allclose(lat.points[lat.cells([5.0]), 0], [5.0])
    lat2 = Lattice.from_domain(0.5, (-4.0, 10.0), dim=2)
    assert lat2.cells([4.75, 4.75]).size == 4


@pytest.mark.parametrize("domain", [(1.0, 1.0), (2.0, 1.0), (0.0, 0.1), (0.0, float("inf"))])
def test_bad_domains(domain):
    with pytest.raises(SrchainError):
        Lattice.from_domain(0.5, domain)


def test_too_many_states():
    with pytest.raises(SrchainError, match="states"):
        Lattice.from_domain(1e-3, (0.0, 10.0), dim=2, max_states=10**6)


def test_registry_has_the_toy_problems():
    names = available_problems()
    assert {"toy", "separable", "coupled"} <= set(names)
    toy = get_problem("toy")
    w = np.array([[0.0], [2.5], [4.75], [0.9], [3.4]])
    np.testing.assert_allclose(toy.value(w), [2.0, 0.75, 0.19, 2.81, 1.56])
    np.testing.assert_allclose(toy.gradient(w)[:, 0], [0.0, 0.0, 0.0, 1.8, 1.8])
    c = get_problem("coupled", dim=3, coupling=2.0)
    x = np.array([0.5, 2.0, 4.0])  # away from the kinks of (8) at 1 and 3.5
    eps = 1e-6
    num = [(c.value(x + eps * e) - c.value(x - eps * e)) / (2 * eps) for e in np.eye(3)]
    np.testing.assert_allclose(c.gradient(x), num, rtol=1e-6)
    out = np.zeros(3)
    c.grad_kernel(x, c.params, out)
    np.testing.assert_allclose(out, c.gradient(x))


@pytest.mark.parametrize(
    "kwargs", [dict(name="nope"), dict(name="toy", dim=3), dict(name="toy", coupling=1.0), dict(name="coupled", dim=1)]
)
def test_bad_problem_options(kwargs):
    with pytest.raises(SrchainError):
        get_problem(**kwargs)
