"""`srchain explore` as a reader sees it, in headless Chromium (issue 19): the law plot is scaled to the laws, TV
below the solver's accuracy is a labelled floor, the minibatch noise shows a law, bad values and bad URL parameters
are answered in the page, 2-D heat maps have colour bars. The screenshots of the docs' explorer page are taken here
(set SRCHAIN_SCREENSHOTS=docs/_static/explore to renew them)."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("panel", reason="srchain explore needs panel (pip install panel)")

import test_explore as T  # noqa: E402 - the server and browser helpers of the first browser test
from srchain.toy import explore as E  # noqa: E402
from srchain.toy.bigbatch import limit_law_from  # noqa: E402

from srchain.lattice import Lattice  # noqa: E402
from srchain.noise import make_noise  # noqa: E402
from srchain.operators import t_tilde, transition_matrix, u_tilde  # noqa: E402
from srchain.problems import get_problem  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(T._browser_missing() is not None, reason=str(T._browser_missing())),
]

TOY = get_problem("toy")


@pytest.fixture(scope="module")
def server():
    port = T._free_port()
    proc = T._serve(port)
    yield {"base": f"http://127.0.0.1:{port}", "proc": proc}
    T._stop(proc)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=T.CHROMIUM, args=T.CHROME_ARGS, headless=True, timeout=60_000)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    p = browser.new_page(viewport={"width": 1400, "height": 1000})
    p.set_default_timeout(60_000)
    yield p
    p.close()


def _open(page, server, query, want_alpha=None):
    """Open the app at ``query`` and wait until it has drawn (its data tag holds ``want_alpha`` if given)."""
    page.goto(f"{server['base']}/{query}", timeout=60_000)
    tag = page.locator("#srchain-state")

    def attr(name):
        try:
            return tag.get_attribute(name, timeout=2_000)
        except Exception:  # noqa: BLE001 - not rendered yet
            return None

    T._poll(lambda: attr("data-alpha") is not None, what="the first render")
    if want_alpha is not None:
        T._poll(lambda: attr("data-alpha") == want_alpha, what=f"the page at α = {want_alpha}")
    return attr


def _model(page, name, expr):
    """``expr`` (JavaScript, in terms of ``m``) of the Bokeh model called ``name`` in the page."""
    return page.evaluate(
        "([name, expr]) => { for (const d of Bokeh.documents) { const m = d.get_model_by_name(name);"
        " if (m) return (new Function('m', 'return ' + expr))(m); } return null; }",
        [name, expr],
    )


def _limit(page) -> np.ndarray:
    """π̃ as plotted (the law plot's data source in the page)."""
    return np.array(_model(page, "srchain-law", "Array.from(m.data.limit)"), dtype=float)


def _text(locator) -> str:
    """The text of the first element ``locator`` matches, its shadow trees included (Panel draws into them)."""
    return locator.first.evaluate(
        "e => { const t = n => (n.shadowRoot ? t(n.shadowRoot) : '') + Array.from(n.childNodes)"
        ".map(c => c.nodeType === 3 ? c.textContent : t(c)).join(''); return t(e); }"
    )


def _wait_for_curves(server, page, timeout=300):
    """Wait until every point of the curves over α is in the page; on a timeout, say what the page and the server
    held (the page's message line, the curves' points, the server's log)."""
    mass = "Array.from(m.data.mass)"

    def done():
        return all(v is not None and v == v for v in _model(page, "srchain-curves", mass) or [None])

    try:
        T._poll(done, timeout=timeout, what="the curves over α")
    except AssertionError as exc:
        have = _model(page, "srchain-curves", mass)
        message = page.locator(".alert").all_inner_texts() if page.locator(".alert").count() else []
        alive = server["proc"].poll() is None
        raise AssertionError(
            f"{exc}; the page's curves: {have}; its messages: {message}; server alive: {alive}; the server's log "
            f"ends: {_server_log(server)[-4000:]}"
        ) from None


def _shots_dir(tmp_path) -> Path:
    d = os.environ.get("SRCHAIN_SCREENSHOTS")
    out = Path(d) if d else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_law_plot_is_scaled_to_the_laws_not_to_f(server, page, tmp_path):
    for delta, n in ((0.5, 29), (0.014, 1001)):
        attr = _open(page, server, f"?alpha=0.1&delta={delta}", want_alpha="0.1")
        T._poll(lambda n=n, attr=attr: attr("data-states") == str(n), what=f"{n} states")
        law, lim = np.array(json.loads(attr("data-law"))), _limit(page)
        top = max(law.max(), lim.max())
        assert top < 1  # (a law: f's range, -1.4 … 29, is far above it)

        def y_range(top=top):
            r = _model(page, "srchain-law-y", "[m.start, m.end]")
            return r if r and r[0] == 0 and top <= r[1] <= 1.25 * top else None

        # the probability axis ends just above the highest law: the laws fill the frame
        T._poll(y_range, what=f"the probability axis fitted to the laws (top {top:.3g}) at Δ = {delta}")
        # the plotted source holds the same law
        plotted = np.array(_model(page, "srchain-law", "Array.from(m.data.pi)"))
        assert np.max(np.abs(plotted - law)) < 1e-15
    # the screenshot of the docs (the default view: SR at α = 0.01 on the toy problem, curves drawn)
    attr = _open(page, server, "?alpha=0.01", want_alpha="0.01")
    _wait_for_curves(server, page)
    page.wait_for_timeout(500)
    page.screenshot(path=str(_shots_dir(tmp_path) / "law.png"), full_page=False)


def test_tv_below_the_solvers_accuracy_is_a_labelled_floor(server, page):
    attr = _open(page, server, "?alpha=0.001&delta=0.5", want_alpha="0.001")
    floor = float(attr("data-tv-floor"))
    assert 0 < floor < 1e-10

    def curves():
        d = _model(page, "srchain-curves", "({tv: Array.from(m.data.tv), floor: Array.from(m.data.floor)})")
        if not d:
            return None
        tv = np.array([np.nan if v is None else v for v in d["tv"]], dtype=float)
        fl = np.array([np.nan if v is None else v for v in d["floor"]], dtype=float)
        return (tv, fl) if np.sum(np.isfinite(tv) | np.isfinite(fl)) == len(E.ALPHAS) else None

    tv, fl = T._poll(curves, timeout=300, what="the TV curve over α")
    # no TV below the accuracy is plotted as data; those α are on the floor instead
    assert np.all(tv[np.isfinite(tv)] >= floor)
    below = np.isfinite(fl)
    assert below.sum() >= 10 and np.all(fl[below] == floor)
    # they are the small α (Theorem 5: TV = 0 below α0, up to rounding), and the large α are data
    alphas = np.array(E.ALPHAS)
    assert alphas[below].max() < alphas[np.isfinite(tv)].min()
    # the floor is drawn and labelled
    assert _model(page, "srchain-tv-floor", "m.location") == pytest.approx(floor)
    assert "solver accuracy" in _model(page, "srchain-tv-floor-label", "m.text")
    # and the printed number says so instead of printing rounding noise
    line = page.locator("li", has_text="TV(π_α, π̃) =").first
    assert "below the solver's accuracy" in line.inner_text()


def test_minibatch_noise_with_the_defaults_shows_the_long_run_law(server, page):
    attr = _open(page, server, "?alpha=0.1&noise=minibatch", want_alpha="0.1")
    T._poll(lambda: attr("data-noise") == "minibatch", what="the minibatch noise")
    law = T._poll(lambda: json.loads(attr("data-law")), what="a law")
    # srchain bigbatch's answer for a reducible chain: the long-run law from the start state (w0 = 4)
    lat = Lattice.from_domain(0.5, TOY.domain)
    nz = make_noise("minibatch", sigma=2.0, samples=16, seed=0)
    start = lat.nearest(np.array([4.0])).item()
    ref, note = limit_law_from(transition_matrix(TOY, nz, lat, 0.1).P, start)
    assert note.startswith("reducible")  # the defaults do give a reducible chain
    assert np.max(np.abs(np.array(law) - ref)) < 1e-12
    lim_ref, _ = limit_law_from(t_tilde(u_tilde(TOY, nz, lat)), start)
    assert np.max(np.abs(_limit(page) - lim_ref)) < 1e-12
    # no warning: the page says where the law comes from instead
    assert page.locator("li", has_text="long-run law from the start").count() >= 1
    assert not page.locator(".alert-warning", has_text="reducible").is_visible()


def test_a_bad_value_is_answered_next_to_its_box_and_the_view_is_kept(server, page):
    attr = _open(page, server, "?alpha=0.1", want_alpha="0.1")
    law0 = attr("data-law")
    box = page.locator(".srchain-input-sigma input")
    msg = page.locator(".srchain-input-message-sigma")
    for bad, says in (("-5", "0.05 … 50"), ("1e-9", "0.05 … 50"), ("", "empty"), ("abc", "0.05 … 50")):
        box.fill(bad)
        box.press("Enter")
        T._poll(lambda says=says: msg.is_visible() and says in _text(msg), what=f"the message for σ = {bad!r}")
        assert attr("data-sigma") == "2.0" and attr("data-law") == law0  # the last good view
    batch, bmsg = page.locator(".srchain-input-batch input"), page.locator(".srchain-input-message-batch")
    batch.fill("2.5")
    batch.press("Enter")
    T._poll(lambda: bmsg.is_visible() and "whole number" in _text(bmsg), what="the batch message")
    steps, smsg = page.locator(".srchain-input-steps input"), page.locator(".srchain-input-message-steps")
    steps.fill("1e12")
    steps.press("Enter")
    T._poll(lambda: smsg.is_visible() and "100 … 1e+07" in _text(smsg), what="the steps message")
    # the ranges are shown before anything goes wrong: in the boxes' labels
    assert "0.05 … 50" in _text(page.locator(".srchain-input-sigma"))
    # a good value clears the message and moves the view
    box.fill("3")
    box.press("Enter")
    T._poll(lambda: attr("data-sigma") == "3.0", what="σ = 3")
    T._poll(lambda: not msg.is_visible(), what="the message to go")
    assert attr("data-law") != law0
    # nothing of the app's went to the server's log as a traceback (the issue saw two ValueErrors for an empty σ;
    # Bokeh's own traceback for a page closed by an earlier test is not the app's)
    log = _server_log(server)
    assert "ValueError" not in log and "explore/app.py" not in log and "explore/model.py" not in log, log[-3000:]


def _server_log(server) -> str:
    """What the server printed so far."""
    return T.server_log(server["proc"])


def test_bad_url_parameters_are_named_and_alpha_snaps_to_the_grid(server, page):
    attr = _open(page, server, "?method=foo&noise=cauchy&sigma=-1&delta=0.3&alpha=0.0123&batch=4")
    T._poll(lambda: attr("data-alpha") == "0.0126", what="α snapped to 0.0126")
    note = page.locator(".srchain-url-message")
    T._poll(lambda: note.is_visible(), what="the URL message")
    text = _text(note)
    for bad in ("method=foo", "noise=cauchy", "sigma=-1", "delta=0.3"):
        assert bad in text, text
    assert "0.0126" in text and "batch=4" not in text  # α's change is said; a good parameter is not mentioned
    assert attr("data-method") == "sr" and attr("data-sigma") == "2.0"  # the ignored ones keep their defaults
    # the URL now holds the state, booleans spelt one way
    T._poll(lambda: "alpha=0.0126" in page.url and "batch=4" in page.url, what="the URL")
    assert "simulate=false" in page.url and "True" not in page.url and "method=foo" not in page.url


def test_heat_maps_have_colour_bars_and_a_log_scale(server, page, tmp_path):
    attr = _open(page, server, "?problem=separable-2d&alpha=0.01", want_alpha="0.01")
    T._poll(lambda: attr("data-states") == "841", what="the 2-D lattice")
    T._poll(lambda: _model(page, "srchain-colour-bar-0", "m.color_mapper.type"), what="a colour bar")
    assert _model(page, "srchain-colour-bar-0", "m.color_mapper.type") == "LogColorMapper"
    law = np.array(json.loads(attr("data-law")))
    lo, hi = _model(page, "srchain-colour-bar-0", "[m.color_mapper.low, m.color_mapper.high]")
    lim = np.array(_model(page, "srchain-heat-limit", "Array.from(m.data.image[0])"), dtype=float)
    assert hi == pytest.approx(max(law.max(), np.nanmax(lim)))
    assert 0 < lo < law[law > 0].min() * 1.000001 or lo == pytest.approx(hi * 1e-12)
    _wait_for_curves(server, page)
    page.wait_for_timeout(500)
    page.screenshot(path=str(_shots_dir(tmp_path) / "heat.png"), full_page=False)
    # the linear option
    page.locator(".srchain-input-log_colour input").click()
    T._poll(
        lambda: _model(page, "srchain-colour-bar-0", "m.color_mapper.type") == "LinearColorMapper",
        what="the linear colour scale",
    )
