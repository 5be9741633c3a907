"""Section 6.1: larger batches make SR's limiting law greedier (more mass on the global minimiser's cells)."""

import json
from itertools import pairwise

from srchain.toy.bigbatch import bigbatch_table


def test_gaussian_batches_make_sr_greedier():
    rows = bigbatch_table(noise="gaussian", sigma=4.0, batches=(1, 4, 16, 64, 256))
    mass = [r.mass_at_minimizer for r in rows]
    assert all(b > a for a, b in pairwise(mass)), mass
    ef = [r.expected_f for r in rows]
    assert all(b < a for a, b in pairwise(ef))
    for r in rows:
        assert abs(r.pi_limit.sum() - 1) < 1e-12


def test_minibatch_without_replacement_is_exact_and_greedier():
    rows = bigbatch_table(noise="minibatch", sigma=4.0, samples=12, batches=(1, 3, 6, 11, 12))
    mass = [r.mass_at_minimizer for r in rows]
    assert all(b >= a - 1e-12 for a, b in pairwise(mass)), mass
    assert rows[-1].noise_std < 1e-12  # B = m: the full gradient
    assert mass[-1] > 0.99


def test_cli_bigbatch(tmp_path):
    from srchain.cli import main

    js = tmp_path / "bb.json"
    assert main(["bigbatch", "--batch", "1", "16", "--json", str(js)]) == 0
    d = json.loads(js.read_text())
    assert [r["batch"] for r in d["rows"]] == [1, 16]
    assert d["rows"][1]["mass_at_minimizer"] > d["rows"][0]["mass_at_minimizer"]
