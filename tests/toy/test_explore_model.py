"""The explorer's model and view without a browser (issue 19): value checks and their ranges, α snapped to the grid,
the TV floor, the minibatch noise's long-run law, π̃ in the PNG, the legend, the TV label, colour bars, the URL."""

import math

import numpy as np
import pytest

pn = pytest.importorskip("panel", reason="srchain explore needs panel (pip install panel)")

from srchain.toy import explore as E  # noqa: E402
from srchain.toy.bigbatch import limit_law_from  # noqa: E402
from srchain.toy.explore import model as M  # noqa: E402

from srchain.errors import SrchainError  # noqa: E402
from srchain.lattice import Lattice  # noqa: E402
from srchain.noise import make_noise  # noqa: E402
from srchain.operators import transition_matrix  # noqa: E402
from srchain.problems import get_problem  # noqa: E402

TOY = get_problem("toy")


@pytest.fixture(scope="module")
def app():
    layout = E.build_app(background=False)
    yield layout
    layout.explorer.close()


# --- the model -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, raw, says",
    [
        ("sigma", "0", "0.05 … 50"),
        ("sigma", "-5", "0.05 … 50"),
        ("sigma", "1e-9", "0.05 … 50"),
        ("sigma", "", "empty"),
        ("sigma", None, "empty"),
        ("sigma", "nan", "0.05 … 50"),
        ("batch", "0", "1 … 64"),
        ("batch", "2.5", "whole number"),
        ("steps", "1e12", "100 … 1e+07"),
        ("eps", "2", "0.01 … 0.99"),
        ("nu", "1", "2.05 … 100"),
        ("method", "foo", "sr, r, bc"),
        ("noise", "cauchy", "gaussian, laplace, student-t, minibatch"),
        ("delta", "0.3", "1, 0.5, 0.25"),
        ("problem", "nope", "toy"),
        ("alpha", "5", "0.0001 … 1"),
        ("simulate", "maybe", "true or false"),
    ],
)
def test_bad_values_are_refused_with_their_range(name, raw, says):
    with pytest.raises(SrchainError, match=None) as info:
        M.PARAMS[name].parse(raw)
    assert says in str(info.value) and M.PARAMS[name].label in str(info.value)


def test_good_values_parse_and_alpha_snaps_to_the_nearest_grid_value():
    P = M.PARAMS
    assert P["sigma"].parse("3") == 3.0 and P["batch"].parse("4") == 4 and isinstance(P["batch"].parse("4.0"), int)
    assert P["delta"].parse("0.25") == 0.25 and P["method"].parse("bc") == "bc"
    assert P["simulate"].parse("True") is True and P["simulate"].parse("false") is False
    assert P["alpha"].parse("0.0123") == 0.0126 and P["alpha"].parse("0.1") == 0.1
    # nearest on the log scale: 0.0123 is 0.0109 decades from 0.0126 and 0.0891 from 0.01
    assert M.nearest_alpha(0.0112) == 0.01 and M.nearest_alpha(0.0113) == 0.0126
    assert set(M.PARAMS) == set(E.URL_PARAMS)
    assert {s.group for s in M.PARAMS.values()} == {"problem", "rule", "noise", "numerics"}


def test_tv_floor_is_the_solvers_accuracy():
    s = M.Setting()
    assert M.tv_floor(s) == pytest.approx(8 * 29 * np.finfo(float).eps / 2)
    # below α0 the TV the solvers give is rounding noise: below the floor (Theorem 5: exactly 0, up to the
    # Gaussian tail e^{-(Δ/α)²/(8σ²)} that underflows at these α)
    a0 = M.alpha0_of(s)
    small = [a for a in M.ALPHAS if a < a0 / 10]
    assert small and all(M.curve_point(s, "sr", a)[0] < M.tv_floor(s) for a in small)
    assert M.curve_point(s, "sr", 1.0)[0] > 1e3 * M.tv_floor(s)


def test_minibatch_chain_gives_the_long_run_law_from_the_start():
    lat = Lattice.from_domain(0.5, TOY.domain)
    nz = make_noise("minibatch", sigma=2.0, samples=16, seed=0)
    P = transition_matrix(TOY, nz, lat, 0.1).P
    ref, note = limit_law_from(P, lat.nearest(np.array([4.0])).item())
    assert note.startswith("reducible")
    without = M.law(M.Setting(noise="minibatch"), "sr", 0.1)
    assert without.pi is None and "reducible" in without.error  # no start: the library's error
    law = M.law(M.Setting(noise="minibatch", start=4.0), "sr", 0.1)
    assert law.error is None and np.max(np.abs(law.pi - ref)) < 1e-15 and "from the start" in law.solver
    assert M.limit_law(M.Setting(noise="minibatch", start=4.0)).pi is not None


def test_a_memory_refusal_is_shown_but_not_memoised(monkeypatch):
    """A law refused because the memory free *now* is too small is computed again on the next request, and so is
    every result computed from it (a curve's point, a mixing time); a user's error stays memoised."""
    import srchain.budget
    from srchain.errors import MemoryRefusal

    s = M.Setting(delta=0.25, sigma=1.75)  # a setting no other test of this module computes
    M.clear_caches()
    # BC's law checks its operator against the memory free now (the library's default limit): 1 KiB cannot hold it
    monkeypatch.setattr(srchain.budget, "available_memory", lambda: 1024)
    refused = M.law(s, "bc", 0.1)
    assert refused.pi is None and "needs about" in refused.error
    assert all(math.isnan(x) for x in M.curve_point(s, "bc", 0.1))
    monkeypatch.undo()  # the memory is back
    assert M.law(s, "bc", 0.1).pi is not None
    assert not any(math.isnan(x) for x in M.curve_point(s, "bc", 0.1))

    real, calls = M.operator, []

    def refuses(error):
        def operator(setting, method, alpha):
            calls.append(alpha)
            if len(calls) == 1:
                raise error
            return real(setting, method, alpha)

        return operator

    monkeypatch.setattr(M, "operator", refuses(MemoryRefusal("T_alpha needs about 9 GiB")))
    assert M.mixing(s, "sr", 0.1, 0.25)["note"] == "T_alpha needs about 9 GiB"
    assert M.mixing(s, "sr", 0.1, 0.25)["mixing_time"] is not None  # asked again: computed again
    calls.clear()
    monkeypatch.setattr(M, "operator", refuses(SrchainError("not this one")))
    for _ in range(2):
        assert M.law(s, "sr", 0.2).error == "not this one"
        assert math.isnan(M.curve_point(s, "sr", 0.2)[0])
    assert calls == [0.2]  # computed once: a user's error does not depend on the moment
    monkeypatch.undo()
    M.clear_caches()


def test_png_writes_pi_tilde_with_mathtext(app):
    from srchain.toy.explore import export

    ex = app.explorer
    ex.param.update(alpha=0.1, method="sr")
    fig = export.figure(ex.state, ex.curves(), ex.src_mix.data)
    texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    texts += [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert not [t for t in texts if "\u0303" in t]  # no combining tilde left for DejaVu to misplace
    assert any(export.PI_TILDE in t for t in texts)
    assert ex.png_bytes().getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


# --- the view --------------------------------------------------------------------------------------------------
def test_simulated_entry_only_with_a_simulation(app):
    ex = app.explorer
    ex.param.update(alpha=0.1, simulate=False)
    labels = [it.label.value for it in ex.fig_law.legend.items]
    assert "simulated" not in labels and not ex._sim_bars.visible
    ex.param.update(simulate=True, steps=2000)
    assert "simulated" in [it.label.value for it in ex.fig_law.legend.items] and ex._sim_bars.visible
    ex.param.update(simulate=False)
    assert "simulated" not in [it.label.value for it in ex.fig_law.legend.items]


def test_tv_is_named_the_same_in_the_numbers_and_the_plot(app):
    ex = app.explorer
    for method in ("bc", "sr"):
        ex.param.update(method=method, alpha=0.1)
        label = M.tv_label(method)
        assert ex.fig_curves[0].title.text.startswith(label)
        assert f"<li>{label} = " in ex.numbers.object
    # BC's TV stays within a decade: a log axis with few ticks, not a crowded one
    assert ex.fig_curves[0].yaxis[0].ticker.desired_num_ticks <= 4


def test_law_axis_fits_the_laws(app):
    ex = app.explorer
    ex.param.update(method="sr", alpha=0.1, delta=0.5)
    top = max(ex.state["pi"].max(), ex.state["pi_limit"].max())
    assert ex.law_y.start == 0 and top <= ex.law_y.end <= 1.25 * top
    assert ex.fig_law.y_range is ex.law_y


def test_bad_input_keeps_the_last_good_state(app):
    ex = app.explorer
    ex.param.update(alpha=0.1, sigma=2.0)
    pi = ex.state["pi"].copy()
    for raw in ("-5", "", "1e-9"):
        assert not ex.set_input("sigma", raw)
        assert "0.05 … 50" in ex.input_messages["sigma"].object and ex.input_messages["sigma"].visible
        assert ex.sigma == 2.0 and np.array_equal(ex.state["pi"], pi)
    assert ex.set_input("sigma", "3") and ex.sigma == 3.0 and not ex.input_messages["sigma"].visible
    ex.sigma = 2.0


def test_url_query_is_checked_and_written_one_way(app):
    ex = app.explorer
    notes = ex.apply_query({"method": "foo", "sigma": "-1", "alpha": "0.0123", "delta": "0.3", "zzz": "1"})
    assert ex.alpha == 0.0126 and ex.method == "sr" and ex.sigma == 2.0
    joined = "\n".join(notes)
    for bad in ("method=foo", "sigma=-1", "delta=0.3", "zzz=1", "0.0126"):
        assert bad in joined
    assert ex.url_message.visible
    q = ex.query()
    assert q["simulate"] in ("true", "false") and q["alpha"] == "0.0126" and q["log_colour"] == "true"
    assert ex.apply_query({"alpha": "0.1"}) == [] and not ex.url_message.visible


def test_heat_maps_have_colour_bars_with_a_log_option(app):
    from bokeh.models import ColorBar, LinearColorMapper, LogColorMapper

    ex = app.explorer
    ex.param.update(problem="separable-2d", alpha=0.01, log_colour=True)
    for f in ex.fig_heat:
        bars = [r for r in f.right if isinstance(r, ColorBar)]
        assert len(bars) == 1 and isinstance(bars[0].color_mapper, LogColorMapper)
    pi = ex.state["pi"]
    assert ex.cmap_log.high == pytest.approx(max(pi.max(), ex.state["pi_limit"].max()))
    assert 0 < ex.cmap_log.low <= pi[pi > 0].min() * (1 + 1e-12) or math.isclose(
        ex.cmap_log.low, ex.cmap_log.high * 1e-12
    )
    ex.log_colour = False
    assert all(isinstance(b.color_mapper, LinearColorMapper) for b in ex.colour_bars)
    ex.param.update(problem="toy", log_colour=True)
