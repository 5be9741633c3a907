"""The public API (``import srchain as sc``) and a user's own objective in about ten lines (issue 13)."""

import subprocess
import sys

import numpy as np
import pytest

import srchain as sc


def test_import_is_light():
    code = (
        "import sys, srchain; heavy = [m for m in ('numba', 'scipy', 'torch', 'matplotlib', 'xarray') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_public_names_resolve():
    for name in sc.__all__:
        assert getattr(sc, name) is not None, name
    assert sc.noise.gaussian(2.0, batch=4).std == pytest.approx(1.0)
    assert sc.noise.student_t(3.0, 1.0).to_dict()["nu"] == 3.0
    assert sc.noise.laplace(1.0).to_dict()["name"] == "laplace"
    assert sc.noise.minibatch(1.0, samples=4, batch=2).is_discrete
    with pytest.raises(AttributeError):
        sc.no_such_name  # noqa: B018


def test_stationary_and_simulate_are_modules_and_functions():
    import srchain.stationary as module

    assert sc.stationary is module and callable(sc.stationary)
    assert sc.stationary(np.array([[0.5, 0.5], [0.25, 0.75]])).pi == pytest.approx([1 / 3, 2 / 3])
    assert module.tv is sc.tv


def _double_well():
    # --- the user's own objective: f(w) = (w² − 1)² + 0.3·w, gradient in NumPy, no Numba kernel ---
    f = lambda w: (w[..., 0] ** 2 - 1) ** 2 + 0.3 * w[..., 0]  # noqa: E731
    grad = lambda w: 4 * w * (w**2 - 1) + 0.3  # noqa: E731  (shape (..., 1) in, (..., 1) out)
    return sc.Problem(name="double-well", dim=1, domain=np.array([[-2.0, 2.0]]), value=f, gradient=grad)


def test_your_own_objective_in_ten_lines():
    well = _double_well()
    lat = sc.Lattice.from_domain(0.25, well.domain)
    noise = sc.noise.gaussian(2.0)
    op = sc.transition_matrix(well, noise, lat, alpha=0.02)
    pi, pi_limit = sc.stationary(op).pi, sc.stationary(sc.limit_chain(well, noise, lat)).pi
    m = sc.mixing_time(op, eps=0.25)
    sim = sc.jump_chain(well, noise, lat, "sr", 0.02, steps=40_000_000, chains=4, start=[1.0], seed=0)

    # Theorem 5 on the user's problem: π_α → π̃, linearly here (Gaussian tails are negligible at these α)
    tv1 = sc.tv(pi, pi_limit)
    tv2 = sc.tv(sc.stationary(sc.transition_matrix(well, noise, lat, alpha=0.002)).pi, pi_limit)
    assert tv2 < tv1 / 5
    assert m.exact and m.mixing_time > 0
    # The simulated histogram against π_α. Its variance per state is at most that of n_eff independent draws with
    # n_eff = steps / (2·M_0.25) (M_0.25 bounds the correlation time from above), so
    # E|f_i − π_i| ≤ sqrt(π_i/n_eff) and TV ≤ ½ Σ sqrt(π_i/n_eff); we allow 4× that.
    n_eff = sim.steps * sim.chains / (2 * m.mixing_time)
    bound = 4 * 0.5 * np.sqrt(pi / n_eff).sum()
    assert sc.tv(sim.freq, pi) < bound
    assert bound < 0.1  # the check has teeth: a wrong law (say the limit at α = 0.5) is farther than this
    far = sc.stationary(sc.transition_matrix(well, noise, lat, alpha=0.5)).pi
    assert sc.tv(far, pi) > bound


def test_reducible_chains_give_each_closed_class():
    # R at small α never moves off some states: each closed class gets its own law (as QuantEcon's
    # stationary_distributions), while `stationary` refuses the chain
    P = np.array([[0.5, 0.5, 0, 0], [0.5, 0.5, 0, 0], [0.1, 0, 0.8, 0.1], [0, 0, 0, 1.0]])
    classes = sc.stationary_distributions(P)
    assert [c.tolist() for c, _ in classes] == [[0, 1], [3]]
    np.testing.assert_allclose(classes[0][1], [0.5, 0.5, 0, 0])
    np.testing.assert_allclose(classes[1][1], [0, 0, 0, 1])
    with pytest.raises(sc.SrchainError, match="reducible"):
        sc.stationary(P)


def test_results_print_and_convert():
    toy = sc.problem("toy")
    lat = sc.Lattice.from_domain(0.5, toy.domain)
    op = sc.transition_matrix(toy, sc.noise.gaussian(2.0), lat, 0.1)
    assert "alpha=0.1" in repr(op) and op.lattice is lat
    res = sc.stationary(op)
    assert "gth-dense" in repr(res) and "residual=" in repr(res)
    ds = res.to_xarray(lat)
    np.testing.assert_array_equal(ds["x0"].values, lat.points[:, 0])
    np.testing.assert_array_equal(ds["pi"].values, res.pi)


def test_functions_take_a_chain_spec():
    spec = sc.ChainSpec.of("toy", 0.5, sc.noise.gaussian(2.0))
    by_spec = sc.transition_matrix(spec, 0.05)
    by_parts = sc.transition_matrix(spec.problem, spec.noise, spec.lattice, 0.05)
    assert (by_spec.P != by_parts.P).nnz == 0
    assert sc.limit_chain(spec).alpha0 == sc.limit_chain(spec.problem, spec.noise, spec.lattice).alpha0
