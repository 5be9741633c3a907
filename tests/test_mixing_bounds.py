"""The monotone-coupling bracket on M_ε (srchain.mixing_bounds): it contains the exact mixing time."""

import numpy as np
import pytest
import scipy.sparse as sp

from srchain.errors import SrchainError
from srchain.mixing import mixing_time
from srchain.mixing_bounds import mixing_bracket, monotonicity_defect, product_factors


def _chain(problem, side, alpha, dim=1, method="sr"):
    from srchain.lattice import Lattice
    from srchain.noise import make_noise
    from srchain.operators import transition_matrix
    from srchain.problems import get_problem

    prob = get_problem(problem, dim=None if dim == 1 else dim)
    lat = Lattice.from_domain(14.0 / (side - 1), prob.domain, dim)
    P = transition_matrix(prob, make_noise("gaussian", sigma=2.0), lat, alpha, method=method).P
    return P, lat.shape


@pytest.mark.parametrize(
    "side, alpha, eps", [(60, 0.1, 0.25), (120, 0.1, 0.1), (200, 0.05, 0.25), (300, 0.3, 0.25), (80, 0.2, 0.05)]
)
def test_bracket_contains_exact_1d(side, alpha, eps):
    P, shape = _chain("toy", side, alpha)
    b = mixing_bracket(P, eps)
    m = mixing_time(P, eps=eps).mixing_time
    assert b.lower <= m <= b.upper, (b.lower, m, b.upper)
    assert b.monotonicity_defect < 1e-13 and "monotone" in b.reason


@pytest.mark.parametrize("side, alpha", [(12, 0.1), (15, 0.3), (10, 0.05)])
def test_bracket_contains_exact_product_chain(side, alpha):
    P, shape = _chain("separable", side, alpha, dim=2)
    b = mixing_bracket(P, 0.25, shape=shape)
    m = mixing_time(P, eps=0.25).mixing_time
    assert b.factors == (side, side)
    assert b.lower <= m <= b.upper, (b.lower, m, b.upper)


def test_product_factors_reproduce_the_chain():
    P, shape = _chain("separable", 9, 0.2, dim=2)
    F = product_factors(P, shape)
    assert len(F) == 2 and F[0].shape == (9, 9)
    assert abs(sp.kron(F[0], F[1]) - P).max() < 1e-13


def test_coupled_chain_is_refused():
    P, shape = _chain("coupled", 10, 0.2, dim=2)
    with pytest.raises(SrchainError, match="not a product"):
        mixing_bracket(P, 0.25, shape=shape)


def test_non_monotone_chain_is_refused():
    P, _ = _chain("toy", 100, 1.0)  # large steps overshoot the minimum: the order is not kept
    assert monotonicity_defect(P) > 1e-3
    with pytest.raises(SrchainError, match="not stochastically monotone"):
        mixing_bracket(P, 0.25)


def test_monotonicity_defect_by_hand():
    # a birth–death chain is monotone when P(x, x+1) + P(x+1, x) <= 1; this one breaks it at x = 0
    M = np.array([[0.2, 0.8, 0.0], [0.9, 0.1, 0.0], [0.0, 0.5, 0.5]])
    # tails G(x, j): G(0, 1) = 0.8 > G(1, 1) = 0.1, a decrease of 0.7
    assert monotonicity_defect(M) == pytest.approx(0.7)
    mono = np.array([[0.6, 0.4, 0.0], [0.3, 0.4, 0.3], [0.0, 0.4, 0.6]])
    assert monotonicity_defect(mono) == 0.0


def _spec(problem, side, dim):
    from srchain.lattice import Lattice
    from srchain.noise import make_noise
    from srchain.problems import get_problem

    prob = get_problem(problem, dim=None if dim == 1 else dim)
    return prob, make_noise("gaussian", sigma=2.0), Lattice.from_domain(14.0 / (side - 1), prob.domain, dim)


@pytest.mark.parametrize("problem, side, dim, alpha", [("separable", 12, 2, 0.1), ("toy", 90, 1, 0.2)])
def test_lattice_bracket_contains_exact(problem, side, dim, alpha):
    """Built from the move laws (no n × n operator): the same bracket as from the operator, around the exact."""
    from srchain.mixing_bounds import lattice_bracket

    prob, noise, lat = _spec(problem, side, dim)
    b = lattice_bracket(prob, noise, lat, alpha, 0.25)
    P, shape = _chain(problem, side, alpha, dim=dim)
    m = mixing_time(P, eps=0.25).mixing_time
    assert b.lower <= m <= b.upper, (b.lower, m, b.upper)
    b2 = mixing_bracket(P, 0.25, shape=shape)
    assert (b.lower, b.upper) == (b2.lower, b2.upper)


def test_lattice_bracket_refuses_coupled():
    from srchain.mixing_bounds import lattice_bracket

    prob, noise, lat = _spec("coupled", 10, 2)
    with pytest.raises(SrchainError, match="not a product"):
        lattice_bracket(prob, noise, lat, 0.2, 0.25)


def test_cli_bound(tmp_path):
    import json

    from srchain.cli import main

    out = tmp_path / "m.json"
    base = ["mixing", "--problem", "toy", "--delta", "0.1", "--alpha", "0.2", "--eps", "0.25", "--json", str(out)]
    assert main(base + ["--bound"]) == 0
    r = json.loads(out.read_text())["results"][0]
    assert r["exact"] and r["bracket_lower"] <= r["mixing_time"] <= r["bracket_upper"]
    assert "monotone" in r["bracket_reason"]
    # beyond --max-exact-states: the bracket alone, as the row's bounds
    assert main(base + ["--bound", "--max-exact-states", "10"]) == 0
    r2 = json.loads(out.read_text())["results"][0]
    assert r2["method"] == "monotone-coupling-bracket" and r2["mixing_time"] is None
    assert (r2["lower_bound"], r2["upper_bound"]) == (r["bracket_lower"], r["bracket_upper"])
    assert main(["mixing", "--problem", "coupled", "--dim", "2", "--delta", "1.4", "--alpha", "0.1", "--bound"]) == 2
