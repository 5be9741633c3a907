"""Figure 2: the experiment, its qualitative claims as assertions, the plot and the command."""

import json
from itertools import pairwise

import numpy as np
from srchain.toy.bc_law import bc_law
from srchain.toy.figure2 import default_noise, figure2_data, plot_figure2

from srchain.lattice import Lattice
from srchain.operators import transition_matrix
from srchain.problems import get_problem
from srchain.stationary import stationary, tv

TOY = get_problem("toy")
LAT = Lattice.from_domain(0.5, TOY.domain)


def test_sr_law_stagnates_while_bc_concentrates():
    nz = default_noise()
    sr = {a: stationary(transition_matrix(TOY, nz, LAT, a).P).pi for a in (0.01, 0.001)}
    bc = bc_law(TOY, nz, LAT, 0.001).pi
    # SR: α = 0.01 and 0.001 are both below α0 ≈ 0.048, where π_α is (nearly) π̃: they differ by little ...
    assert tv(sr[0.01], sr[0.001]) < 0.01
    # ... while both stay far from BC's law (which sits on the minimiser's cells)
    assert tv(sr[0.01], bc) > 0.3 and tv(sr[0.001], bc) > 0.3


def test_figure2_data_and_plot(tmp_path):
    fig2 = figure2_data(steps=200_000, chains=2)
    m = fig2.masses()
    assert [r["alpha"] for r in m] == [1.0, 0.1, 0.01, 0.001]
    bc_exact = [r["bc_exact"] for r in m]
    assert all(b > a for a, b in pairwise(bc_exact)) and bc_exact[-1] > 0.9
    assert m[-1]["bc_sim"] > 0.9 and m[-1]["sr_sim"] < 0.75
    out = tmp_path / "f.png"
    plot_figure2(fig2, out)
    assert out.stat().st_size > 10_000
    d = fig2.to_dict()
    assert d["noise"]["name"] == "gaussian" and d["noise"]["sigma"] == 4.0
    assert len(d["results"]) == 8 and d["limit"]["alpha0"] > 0


def _mass_tolerance(P, pi, cells, start_index, steps, chains, z=5.0):
    """How far the simulated mass on ``cells`` may lie from the exact ``π(cells)``, from the chain itself.

    With ``f`` the indicator of ``cells``, ``f̄ = f − π(f)`` and the fundamental matrix ``Z = (I − P + 1π)⁻¹``
    (``h = Z f̄`` solves the Poisson equation ``(I − P) h = f̄``), the time average of ``f`` over ``n`` steps of one
    chain from ``x0`` has
      bias     ``(1/n)·(h(x0) − E[h(X_n)]) ≈ h(x0)/n``   (the sum telescopes; |E h(X_n)| ≤ max|h|, taken too), and
      variance ``σ²/n`` with the asymptotic variance ``σ² = 2⟨f̄, h⟩_π − ⟨f̄, f̄⟩_π`` (Kemeny–Snell).
    ``chains`` independent chains divide the variance by ``chains``. The tolerance is ``z`` standard errors plus
    the largest bias; with z = 5 a correct simulator fails with probability below 1e-6 per α (normal tails; the
    CLT holds here since n ≫ the relaxation time at every α)."""
    n = P.shape[0]
    f = np.zeros(n)
    f[cells] = 1.0
    fbar = f - pi @ f
    Z = np.linalg.inv(np.eye(n) - P + np.outer(np.ones(n), pi))
    h = Z @ fbar
    sigma2 = 2 * pi @ (fbar * h) - pi @ (fbar * fbar)
    bias = (abs(h[start_index]) + np.max(np.abs(h))) / steps
    return z * np.sqrt(max(sigma2, 0.0) / (steps * chains)) + bias


def test_simulated_sr_matches_the_exact_law_at_every_alpha():
    """Figure 2's SR bars: the simulated mass on the minimiser's cells agrees with π_α's at every α of the figure,
    within a tolerance derived from the chain's own asymptotic variance (:func:`_mass_tolerance`). A simulator
    that rounds deterministically (R in place of SR) freezes at the start for α ≤ 0.01 and fails here."""
    steps, chains = 1_000_000, 4
    fig2 = figure2_data(steps=steps, chains=chains)
    start = int(np.argmin(np.abs(LAT.points[:, 0] - 4.0)))
    for a in fig2.alphas:
        P = transition_matrix(TOY, default_noise(), LAT, a).P.toarray()
        pi = fig2.exact_sr[a]
        sim = fig2.sim[("sr", a)].mass(fig2.cells)
        exact = float(pi[fig2.cells].sum())
        tol = _mass_tolerance(P, pi, fig2.cells, start, steps, chains)
        assert abs(sim - exact) <= tol, (a, sim, exact, tol)
        assert tol < 0.1, (a, tol)  # the check has teeth: far tighter than the gap to a frozen chain


def test_cli_figure2(tmp_path):
    from srchain.cli import main

    out, js = tmp_path / "fig.png", tmp_path / "fig.json"
    rc = main(["figure2", "--out", str(out), "--json", str(js), "--steps", "20000", "--quiet"])
    assert rc == 0 and out.exists()
    d = json.loads(js.read_text())
    assert d["command"] == "figure2" and d["start"] == [4.0] and d["steps"] == 20000
    assert {r["method"] for r in d["results"]} == {"bc", "sr"}
    assert all(len(r["states"]) == len(r["counts"]) for r in d["results"])


def test_cli_figure2_bad_start(capsys):
    from srchain.cli import main

    rc = main(["figure2", "--start", "50", "--steps", "10", "--quiet"])
    assert rc == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1
