"""`srchain explore`: the app's numbers are srchain's own, its exports read back, and it works in a real browser."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

pn = pytest.importorskip("panel", reason="srchain explore needs panel (pip install panel)")

from srchain.toy import explore as E  # noqa: E402

from srchain.lattice import Lattice  # noqa: E402
from srchain.noise import make_noise  # noqa: E402
from srchain.operators import limit_chain, transition_matrix  # noqa: E402
from srchain.problems import get_problem  # noqa: E402
from srchain.stationary import stationary, tv  # noqa: E402

TOY = get_problem("toy")


def _reference(alpha, delta=0.5, sigma=2.0, method="sr", noise="gaussian"):
    """π_α, π̃ and TV(π_α, π̃) as `srchain stationary` computes them."""
    nz = make_noise(noise, sigma=sigma)
    lat = Lattice.from_domain(delta, TOY.domain)
    pi = stationary(transition_matrix(TOY, nz, lat, alpha, method=method).P, shape=lat.shape).pi
    lim = stationary(limit_chain(TOY, nz, lat)).pi
    return pi, lim, tv(pi, lim)


@pytest.fixture(scope="module")
def app():
    layout = E.build_app(background=False)
    yield layout
    layout.explorer.close()


def test_alpha_grid_is_logarithmic_and_covers_the_paper():
    a = np.array(E.ALPHAS)
    assert a[0] == 1e-4 and a[-1] == 1.0 and len(a) == 41 and np.all(np.diff(a) > 0)
    assert {0.1, 0.01, 0.001}.issubset(E.ALPHAS)  # Figure 2's learning rates are on the slider
    # rounding to 3 significant digits moves each log10 by at most log10(1.005) ≈ 0.0022, a step by twice that
    assert np.allclose(np.diff(np.log10(a)), 0.1, atol=0.0045)


def test_moving_alpha_gives_srchains_numbers(app):
    ex = app.explorer
    for alpha in (0.1, 1.0, 0.01, 0.00126):
        ex.alpha = alpha
        pi, lim, t = _reference(alpha)
        assert ex.state["alpha"] == alpha and ex.state["method"] == "sr"
        # GTH is accurate to rounding relative to each entry: 1e-12 absolute covers the float64 sums of 29 states
        assert np.max(np.abs(ex.state["pi"] - pi)) < 1e-12
        assert np.max(np.abs(ex.state["pi_limit"] - lim)) < 1e-12
        assert abs(ex.state["tv_to_limit"] - t) < 1e-12
        # the same numbers are in the page: the plotted law, and the data tag the browser test reads
        assert np.array_equal(np.asarray(ex.src_law.data["pi"]), ex.state["pi"])
        assert f'data-alpha="{alpha!r}"' in ex.data_tag.object
        assert f"{t:.4g}" in ex.numbers.object or t < 1e-9


def test_curves_over_alpha_match_the_stationary_command(app):
    ex = app.explorer
    ex.alpha = 0.1
    cur = ex.curves()
    assert np.all(np.isfinite(cur["tv"])) and np.all(np.isfinite(cur["mass"]))
    cells = Lattice.from_domain(0.5, TOY.domain).cells(TOY.minimizer)
    for alpha in (1.0, 0.1, 0.001):
        pi, _, t = _reference(alpha)
        i = E.ALPHAS.index(alpha)
        assert abs(cur["tv"][i] - t) < 1e-12
        assert abs(cur["mass"][i] - pi[cells].sum()) < 1e-12
    # Theorem 5: TV(π_α, π̃) → 0 as α → 0, and it grows with α above α0
    assert cur["tv"][0] < 1e-9 < cur["tv"][-1]
    big = cur["alpha"] > 2 * ex.state["alpha0"]
    assert np.all(np.diff(cur["tv"][big]) > 0)


def test_other_rules_noise_batch_and_delta(app):
    ex = app.explorer
    from srchain.toy.bc_law import bc_law

    ex.param.update(method="bc", alpha=0.01)
    lat = Lattice.from_domain(0.5, TOY.domain)
    nz = make_noise("gaussian", sigma=2.0)
    bc = bc_law(TOY, nz, lat, 0.01).pi
    assert np.max(np.abs(ex.state["pi"] - bc)) < 1e-12
    assert ex.state["mass_at_minimizer"] > 0.9  # BC concentrates on the minimiser (Figure 2)
    ex.param.update(method="r", alpha=0.1, noise="laplace", delta=0.25)
    pi, _, t = _reference(0.1, delta=0.25, method="r", noise="laplace")
    assert np.max(np.abs(ex.state["pi"] - pi)) < 1e-12
    assert abs(ex.state["tv_to_limit"] - t) < 1e-12
    ex.param.update(method="sr", noise="gaussian", batch=4, delta=0.5)
    nz4 = make_noise("gaussian", sigma=2.0, batch=4)
    ref = stationary(transition_matrix(TOY, nz4, lat, 0.1).P).pi
    assert np.max(np.abs(ex.state["pi"] - ref)) < 1e-12
    ex.param.update(batch=1)


def test_user_errors_are_shown_not_raised(app):
    ex = app.explorer
    ex.param.update(method="r", alpha=0.001)  # R freezes at small α: its chain is reducible
    assert ex.message.visible and "reducible" in ex.message.object
    assert ex.state["pi"] is None and 'data-law="[]"' in ex.data_tag.object
    ex.param.update(method="sr", alpha=0.1)
    assert not ex.message.visible


def test_two_dimensional_problem_is_a_heat_map(app):
    ex = app.explorer
    ex.param.update(problem="separable-2d", alpha=0.01)
    assert ex.pane_heat.visible and not ex.pane_law.visible
    p2 = get_problem("separable", dim=2)
    nz = make_noise("gaussian", sigma=2.0)
    lat = Lattice.from_domain(0.5, p2.domain, dim=2)
    pi = stationary(transition_matrix(p2, nz, lat, 0.01).P, shape=lat.shape).pi
    assert np.max(np.abs(ex.state["pi"] - pi)) < 1e-12
    assert np.asarray(ex.src_img.data["image"][0]).shape == lat.shape
    ex.param.update(problem="toy", alpha=0.1)
    assert ex.pane_law.visible


def test_mixing_and_simulation_views(app):
    from srchain.mixing import mixing_time

    ex = app.explorer
    ex.param.update(show_mixing=True, simulate=True, steps=20_000, alpha=0.1)
    lat = Lattice.from_domain(0.5, TOY.domain)
    P = transition_matrix(TOY, make_noise("gaussian", sigma=2.0), lat, 0.1).P
    assert ex.state["mixing"]["mixing_time"] == mixing_time(P, 0.25).mixing_time
    mix = ex.src_mix.data
    assert list(mix["alpha"]) == list(E.MIXING_ALPHAS)
    i = list(mix["alpha"]).index(0.1)
    assert mix["lower"][i] <= mix["exact"][i]
    # M_ε grows like 1/α (Theorem 6): over the 4 decades of the grid, by far more than 100×
    assert mix["exact"][0] > 100 * mix["exact"][-2]
    sim = np.asarray(ex.state["sim"])
    assert abs(sim.sum() - 1) < 1e-12
    # α = 0.1 mixes in ~180 steps, so 2e4 steps hold ~100 independent samples: the histogram is within
    # TV 0.35 of π_α with overwhelming probability (the TV of 100 draws on ~10 effective cells is ~0.15)
    assert tv(sim, ex.state["pi"]) < 0.35
    ex.param.update(show_mixing=False, simulate=False)


def test_exports_read_back(app, tmp_path):
    import xarray as xr

    ex = app.explorer
    ex.param.update(alpha=0.1, method="sr")
    png = ex.png_bytes().getvalue()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    path = tmp_path / "x.nc"
    path.write_bytes(ex.netcdf_bytes().getvalue())
    ds = xr.open_dataset(path, engine="h5netcdf")
    assert ds.sizes["alpha"] == len(E.ALPHAS) and ds.sizes["state"] == 29
    assert np.allclose(ds["pi"].values, ex.state["pi"]) and np.allclose(ds["x0"].values, np.arange(-4, 10.01, 0.5))
    assert json.loads(ds.attrs["settings"])["alpha"] == 0.1
    d = json.loads(ex.json_bytes().getvalue())
    assert d["command"] == "explore" and len(d["states"]) == len(d["results"][0]["pi"]) == 29
    assert d["results"][0]["tv_to_limit"] == pytest.approx(ex.state["tv_to_limit"], abs=1e-15)


def test_background_mode_finishes_and_stays_consistent():
    layout = E.build_app(background=True, alpha=0.0316)
    ex = layout.explorer
    try:
        assert ex.wait(120)
        ex.alpha = 0.2
        assert ex.wait(60)
        _, _, t = _reference(0.2)
        assert abs(ex.state["tv_to_limit"] - t) < 1e-12
        assert np.all(np.isfinite(ex.curves()["tv"]))
    finally:
        ex.close()


def test_the_curves_are_sent_whole_on_load(app):
    """Once the page has loaded the curves go out whole, equal or not to what the server holds: a patch applied
    while the browser was fetching the document can miss it (the browser test waited 300 s for such curves)."""
    from bokeh.document import Document
    from bokeh.document.events import ModelChangedEvent

    ex = app.explorer
    doc = Document()
    doc.add_root(ex.src_curve)
    doc.add_root(ex.src_mix)
    sent = []
    doc.on_change(lambda e: sent.append((e.model, e.attr, e.new)) if isinstance(e, ModelChangedEvent) else None)
    try:
        ex._resend()
    finally:
        doc.remove_root(ex.src_curve)
        doc.remove_root(ex.src_mix)
    assert [(m, a) for m, a, _ in sent] == [(ex.src_curve, "data"), (ex.src_mix, "data")]
    assert sent[0][2]["mass"] == list(ex.src_curve.data["mass"])


def test_a_finished_sweep_sends_the_curves_whole():
    """The end of a sweep sends the curves whole: a patch lost on its way to the browser (the browser test once
    waited 300 s for curves whose sweep had finished) is repaired by the sweep's last message."""
    from bokeh.document import Document
    from bokeh.document.events import ModelChangedEvent

    ex = E.Explorer(background=False, alpha=0.1)
    doc = Document()
    doc.add_root(ex.src_curve)
    sent = []
    doc.on_change(sent.append)
    try:
        ex.delta = 1.0  # a new setting: a new sweep, run to its end in this thread
    finally:
        doc.remove_root(ex.src_curve)
    # the last change of the curves' data (patches included)
    last = [e for e in sent if getattr(e, "model", None) is ex.src_curve and hasattr(e, "attr")][-1]
    assert isinstance(last, ModelChangedEvent) and last.attr == "data"
    assert np.all(np.isfinite(np.asarray(last.new["mass"], dtype=float)))


def test_a_finished_sweep_puts_back_points_its_source_lacks(monkeypatch, capsys):
    """The sweep's end checks the curves' source against every point it computed: one that never reached it (planted:
    the patches lose α's index 3) is put back, and the server's log says so."""
    import srchain.toy.explore.background as B

    apply = B.Background._apply_curve

    def lossy(self, patch, done, gen):
        apply(self, {k: [p for p in v if p[0] != 3] for k, v in patch.items()}, done, gen)

    monkeypatch.setattr(B.Background, "_apply_curve", lossy)
    ex = E.Explorer(background=False, alpha=0.1)
    ex.delta = 1.0
    assert np.all(np.isfinite(np.asarray(ex.src_curve.data["mass"], dtype=float)))
    assert "lacked the points [3]; put back" in capsys.readouterr().err


def test_a_sweep_that_raises_says_so_in_the_page(monkeypatch, capsys):
    """A bug in the sweep is shown in the page and its traceback goes to the server's log, instead of curves that
    silently stop filling in."""
    import srchain.toy.explore.background as B

    def broken(*args):
        raise RuntimeError("planted")

    ex = E.Explorer(background=False, alpha=0.1)
    monkeypatch.setattr(B, "curve_point", broken)
    ex.delta = 1.0
    assert ex.message.visible and "internal error while computing the curves over α" in ex.message.object
    assert "planted" in ex.message.object and not ex.progress.visible
    assert "RuntimeError: planted" in capsys.readouterr().err


def test_the_url_holds_the_state_once_the_page_has_loaded():
    """The state's query string goes into the hidden URL box once the page has loaded (a value set before would be
    the box's initial value, and its JavaScript callback, which writes the browser's URL, would never fire), and
    again on every change of state; the box's model carries that callback."""
    from srchain.toy.explore.controls import _sync_url, url_box

    layout = E.build_app(background=False, location=False)
    ex = layout.explorer
    loaded = []
    box = url_box()
    try:
        _sync_url(ex, box, {"alpha": [b"0.0123"], "method": [b"foo"]}, onload=loaded.append)
        assert box.value == "" and len(loaded) == 1  # nothing written before the page has loaded
        assert ex.alpha == 0.0126 and ex.method == "sr" and "method=foo" in ex.url_message.object
        loaded[0]()
        assert box.value.startswith("?") and "alpha=0.0126" in box.value and "method=sr" in box.value
        ex.alpha = 0.1  # a change of state moves the URL
        assert "alpha=0.1&" in box.value
        code = [c.code for cs in box.get_root().js_property_callbacks.values() for c in cs]
        assert len(code) == 1 and "history.replaceState" in code[0] and "cb_obj.value" in code[0]
    finally:
        ex.close()


def test_command_module_protocol():
    import argparse

    from srchain.toy.commands import explore as cmd

    assert isinstance(cmd.HELP, str) and cmd.HELP
    p = argparse.ArgumentParser()
    cmd.configure(p)
    a = p.parse_args([])
    assert (a.port, a.address, a.no_browser) == (5006, "127.0.0.1", False)


# ---------------------------------------------------------------------------------------------------------------
# the real browser
# ---------------------------------------------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROME_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _browser_missing():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright; no `playwright install` needed)"
    if not os.path.exists(CHROMIUM):
        return "chromium is not installed (Debian: apt-get install chromium)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(port):
    """Start `srchain explore` (through the CLI when it lists the command, else its module) on ``port``."""
    import srchain.cli

    args = ["--port", str(port), "--no-browser"]
    if "explore" in srchain.cli.commands():
        cmd = [sys.executable, "-m", "srchain.cli", "explore", *args]
    else:
        cmd = [
            sys.executable,
            "-c",
            "import argparse, sys; from srchain.toy.commands import explore as m; "
            "p = argparse.ArgumentParser(); m.configure(p); sys.exit(m.run(p.parse_args(sys.argv[1:])))",
            *args,
        ]
    # the server's output goes to a file, never to a pipe: a pipe nobody reads fills (64 KiB: a few tracebacks) and
    # then blocks the server's next write, its event loop with it, and the page stops changing
    import tempfile

    with tempfile.NamedTemporaryFile(prefix="srchain-explore-", suffix=".log", delete=False) as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    proc.log_path = log.name  # type: ignore[attr-defined]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}: {server_log(proc)[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError("the server did not answer within 90 s")


def _stop(proc) -> None:
    """Stop the server started by :func:`_serve` and remove its log."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=20)
    os.unlink(proc.log_path)


def server_log(proc) -> str:
    """What the server started by :func:`_serve` has printed so far."""
    with open(proc.log_path, encoding="utf-8", errors="replace") as fh:
        return fh.read()


def _poll(fn, timeout=60.0, what="condition", every=0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")


@pytest.mark.slow
@pytest.mark.skipif(_browser_missing() is not None, reason=str(_browser_missing()))
def test_browser_alpha_slider_changes_law_and_tv():
    from playwright.sync_api import sync_playwright

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _serve(port)
    requests = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS, headless=True, timeout=60_000)
            try:
                page = browser.new_page()
                page.set_default_timeout(60_000)
                page.on("request", lambda r: requests.append(r.url))
                page.on("websocket", lambda ws: requests.append(ws.url))
                page.goto(f"{base}/?alpha=0.1&method=sr&delta=0.5", timeout=60_000)
                tag = page.locator("#srchain-state")

                def attr(name):
                    try:
                        return tag.get_attribute(name, timeout=2_000)
                    except Exception:  # noqa: BLE001 - not rendered yet
                        return None

                _poll(lambda: attr("data-alpha") == "0.1", what="the page at α = 0.1")
                pi0, lim, t0 = _reference(0.1)
                assert float(attr("data-tv")) == pytest.approx(t0, abs=1e-12)
                # move the α slider one notch to the right with the keyboard (the grid's next value)
                handle = page.locator(".noUi-handle").first
                handle.focus()
                handle.press("ArrowRight")
                nxt = E.ALPHAS[E.ALPHAS.index(0.1) + 1]
                _poll(lambda: attr("data-alpha") == repr(nxt), what=f"the page at α = {nxt}")
                pi1, _, t1 = _reference(nxt)
                tv_page = float(attr("data-tv"))
                assert tv_page == pytest.approx(t1, abs=1e-12) and abs(tv_page - t0) > 1e-3
                assert np.max(np.abs(np.array(json.loads(attr("data-law"))) - pi1)) < 1e-12
                # the plotted law: the Bokeh data source in the browser holds srchain's π_α
                plotted = _poll(
                    lambda: page.evaluate(
                        "() => { for (const d of Bokeh.documents) { const s = d.get_model_by_name('srchain-law');"
                        " if (s) return Array.from(s.data.pi); } return null; }"
                    ),
                    what="the plotted law",
                )
                _poll(
                    lambda: (
                        np.max(
                            np.abs(
                                np.array(
                                    page.evaluate(
                                        "() => Array.from(Bokeh.documents[0].get_model_by_name('srchain-law').data.pi)"
                                    )
                                )
                                - pi1
                            )
                        )
                        < 1e-12
                    ),
                    what="the plotted law to become π_α at the new α",
                )
                assert len(plotted) == 29
                # the number printed in the page
                line = page.locator("li", has_text="TV(π_α, π̃) =").first
                _poll(lambda: f"TV(π_α, π̃) = {t1:.4g};" in line.inner_text(timeout=10_000), what="the printed TV")
                # the URL holds the state
                _poll(lambda: f"alpha={nxt}" in page.url, what="the URL to hold α")
            finally:
                browser.close()
    finally:
        _stop(proc)
    # offline: every request went to the app itself (no CDN)
    outside = [u for u in requests if not u.startswith((base, f"ws://127.0.0.1:{port}", "data:", "blob:"))]
    assert not outside, f"requests outside the app: {outside[:5]}"
    assert len(requests) > 3
