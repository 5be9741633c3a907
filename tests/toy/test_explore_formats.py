"""The explorer on a number format's grid: its laws are `srchain stationary --format`'s, on the format's values.

The model's laws come from the same operator builder and the same auto solver as the command, so they agree to
the solver's accuracy; the bound used is the explorer's own TV floor (8·n·u, see model.TV_FLOOR_FACTOR) per entry.
"""

import json

import numpy as np
import pytest
from cli_helpers import run
from srchain.toy.explore import model as M

from srchain.grids import Grid


def _cli(tmp_path, capsys, *args):
    out = tmp_path / "s.json"
    code, _, err = run(["stationary", "--quiet", "--json", str(out), *args], capsys)
    assert code == 0, err
    return json.loads(out.read_text())


@pytest.mark.parametrize(
    "fmt, scale, cli_extra",
    [("fp8-e4m3", 1.0, []), ("fp8-e5m2", 1.0, []), ("fp4-e2m1", 2.0, ["--scale", "2"])],
)
def test_format_law_is_the_commands(tmp_path, capsys, fmt, scale, cli_extra):
    s = M.Setting(format=fmt, scale=scale)
    _, _, grid = M.chain(s)
    ref = _cli(tmp_path, capsys, "--format", fmt, *cli_extra, "--alpha", "0.1", "0.01")
    # the x coordinate is the format's values on the problem's box
    assert np.array_equal(grid.points[:, 0], Grid.of(fmt, (-4, 10), scale=scale).axis(0))
    assert np.array_equal(grid.points, np.asarray(ref["states"]))
    floor = M.tv_floor(s)
    for row in ref["results"]:
        law = M.law(s, "sr", row["alpha"])
        assert law.error is None
        assert np.max(np.abs(law.pi - np.asarray(row["pi"]))) < floor
    assert np.max(np.abs(M.limit_law(s).pi - np.asarray(ref["limit"]["pi"]))) < floor


def test_format_changes_the_law():
    """Same problem, noise and α: the fixed lattice, fp8-e4m3 and fp8-e5m2 give different chains and laws."""
    alpha = 0.01
    out = {}
    for fmt in ("fixed", "fp8-e4m3", "fp8-e5m2"):
        s = M.Setting(format=fmt)
        _, _, g = M.chain(s)
        out[fmt] = (g.points[:, 0], M.law(s, "sr", alpha).pi)
    assert out["fixed"][0].size == 29 and out["fp8-e4m3"][0].size == 155
    for fmt in ("fp8-e4m3", "fp8-e5m2"):
        x, pi = out[fmt]
        assert pi.size == x.size and abs(pi.sum() - 1) < 1e-12
    # compare them as laws of w: E[w] (the fixed grid's and e4m3's differ by far more than the solver's accuracy)
    means = {k: float(x @ p) for k, (x, p) in out.items()}
    assert abs(means["fixed"] - means["fp8-e4m3"]) > 1e-3 and abs(means["fp8-e4m3"] - means["fp8-e5m2"]) > 1e-3


def test_big_grid_is_clamped_around_the_minimiser_with_a_note(tmp_path, capsys):
    s = M.Setting(format="bf16")
    problem, _, grid = M.chain(s)
    note = M.grid_note(s)
    assert grid.size == M.MAX_GRID_STATES
    assert "bf16 grid of [-4, 10] has" in note and f"more than the explorer's {M.MAX_GRID_STATES}" in note
    lo, hi = (float(x) for x in grid.domain[0])
    assert lo <= 4.75 <= hi and problem.domain.tolist() == [[lo, hi]]
    # the note's command computes the same chain
    ref = _cli(tmp_path, capsys, "--format", "bf16", "--domain", repr(lo), repr(hi), "--alpha", "0.01")
    assert np.array_equal(grid.points, np.asarray(ref["states"]))
    law = M.law(s, "sr", 0.01)
    assert np.max(np.abs(law.pi - np.asarray(ref["results"][0]["pi"]))) < M.tv_floor(s)
    assert M.grid_note(M.Setting(format="fp8-e4m3")) == "" and M.grid_note(M.Setting()) == ""


@pytest.mark.parametrize(
    "setting, says",
    [
        (M.Setting(format="fp4-e2m1", scale=1.0), "fp4 scale s"),  # ±6 does not cover [−4, 10]
        (M.Setting(problem="quadratic", dim=2, format="fp8-e4m3"), "1-D problems"),
    ],
)
def test_grids_the_explorer_cannot_show_are_messages_not_exceptions(setting, says):
    law = M.law(setting, "sr", 0.01)
    assert law.pi is None and says in law.error and "\n" not in law.error
    assert M.limit_law(setting).error == law.error


def test_bc_on_a_format_grid_has_its_exact_law_and_a_histogram():
    from srchain.toy.bc_law import bc_law

    s = M.Setting(format="fp8-e4m3")
    problem, noise, grid = M.chain(s)
    law = M.law(s, "bc", 0.01)
    assert law.error is None and "fp8-e4m3" in law.solver
    # the same refined transfer operator as the API's (srchain.toy.bc_grid), on the format's values
    assert np.array_equal(law.pi, bc_law(problem, noise, grid, 0.01).pi)
    h1 = M.histogram(s, "bc", 0.01, 2000, 4.0, 1)
    M.histogram.cache_clear()
    h2 = M.histogram(s, "bc", 0.01, 2000, 4.0, 1)
    assert h1.error is None and h1.pi.size == 155 and abs(h1.pi.sum() - 1) < 1e-12
    assert np.array_equal(h1.pi, h2.pi)  # same seed, same histogram


def test_bc_on_a_big_format_grid_is_a_message(monkeypatch):
    # a level estimated over the explorer's time budget is refused in one line (here a budget of ~0 s)
    monkeypatch.setattr(M, "BC_MAX_SECONDS", 1e-9)
    M.law.cache_clear()
    law = M.law(M.Setting(format="fp8-e5m2"), "bc", 0.003)
    assert law.pi is None and "max_seconds" in law.error and "\n" not in law.error


def test_format_and_scale_controls_parse_and_refuse():
    assert M.PARAMS["format"].parse("fp8-e5m2") == "fp8-e5m2"
    assert M.PARAMS["scale"].parse("4") == 4.0
    for name, raw, says in (("format", "fp9", "one of fixed, bf16"), ("scale", "3", "one of 0.25")):
        with pytest.raises(Exception, match=says):
            M.PARAMS[name].parse(raw)


def test_explorer_view_on_a_format_grid():
    pytest.importorskip("panel")
    from srchain.toy import explore as E

    layout = E.build_app(background=False)
    ex = layout.explorer
    try:
        ex.param.update(format="fp8-e4m3", alpha=0.01)
        s = M.Setting(format="fp8-e4m3")
        assert np.array_equal(ex.src_law.data["x"], M.chain(s)[2].points[:, 0])
        assert np.array_equal(ex.state["pi"], M.law(s, "sr", 0.01).pi)
        assert "fp8-e4m3 grid" in ex.numbers.object and not ex.grid_message.visible
        assert ex.query()["format"] == "fp8-e4m3" and ex.to_dict()["format"] == "fp8-e4m3"
        ex.format = "bf16"
        assert ex.grid_message.visible and "bf16 grid of" in ex.grid_message.object
        ex.param.update(format="fp4-e2m1", scale=1.0)
        assert ex.message.visible and "fp4 scale s" in ex.message.object
        ex.scale = 2.0
        assert not ex.message.visible and ex.state["setting"]["scale"] == 2.0
        ex.simulate = True
        widths = np.asarray(ex.src_sim.data["width"])
        assert widths.size == ex.state["states"] and np.all(widths > 0)
    finally:
        ex.close()
