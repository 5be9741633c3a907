"""Figure 2: the experiment, its qualitative claims as assertions, the plot and the command."""
import json

import numpy as np

from srchain.lattice import Lattice
from srchain.operators import transition_matrix
from srchain.problems import get_problem
from srchain.stationary import stationary, tv
from srchain.toy.bc_law import bc_law
from srchain.toy.figure2 import default_noise, figure2_data, plot_figure2

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
    assert all(b > a for a, b in zip(bc_exact, bc_exact[1:])) and bc_exact[-1] > 0.9
    assert m[-1]["bc_sim"] > 0.9 and m[-1]["sr_sim"] < 0.75
    # α = 0.1: the chain's ε = 1/4 mixing time is about 180 steps, so 2 chains × 2e5 steps hold roughly
    # 4e5 / (2·180) ≈ 1100 effectively independent samples; a mass near 0.45 then has standard error
    # sqrt(0.45·0.55/1100) ≈ 0.015, and 0.05 is more than 3 of them.
    assert abs(m[1]["sr_sim"] - m[1]["sr_exact"]) < 0.05
    out = tmp_path / "f.png"
    plot_figure2(fig2, out)
    assert out.stat().st_size > 10_000
    d = fig2.to_dict()
    assert d["noise"]["name"] == "gaussian" and d["noise"]["sigma"] == 4.0
    assert len(d["results"]) == 8 and d["limit"]["alpha0"] > 0


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
