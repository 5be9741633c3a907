"""Benchmark: update latency of `srchain explore` (issues 14, 19: ≤ 200 ms median from input to redrawn plot on 1-D
chains up to 10³ states; the whole distribution is printed).

For the toy problem (objective (8), Gaussian σ = 2) on 29, 281 and 1001 states (Δ = 0.5, 0.05, 0.014), SR:

* ``warm``: the app built and its curves over α computed (what a user has once the progress bar is gone); every α
  of the slider's grid is visited in a random order and each update is timed from the slider's new value to the
  end of the callback: law, π̃, TV and mass looked up, every Bokeh model of the page updated (the layout is
  attached to a Bokeh Document, as when served).
* ``cold``: the same update with the law not cached (operator, stationary solve, TV, mass, all the models), for
  α = 1, 0.1, 0.01, 0.001; ``baseline`` is the library call `srchain stationary` makes for that law
  (``transition_matrix`` + ``stationary(method="auto")``), in the same run.
* ``sweep_s``: building the app and computing the curves over the 41 α values (done in a background thread when
  served, behind a progress bar).
* ``--browser``: also time, in headless Chromium against `srchain explore`, from a key press on the α slider to
  the page showing the new law (``browser_ms``, 29, 281 and 1001 states; needs playwright and Debian's chromium),
  and the same on a trivial Panel page whose slider only rewrites a data tag (``browser_baseline_trivial_page_ms``:
  the machine's round-trip floor at its current load, given in ``load_average_1min``).

    python benchmarks/bench_explore.py [--browser]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time


def _stats(xs_s):
    """The distribution of the times ``xs_s`` (seconds): quantiles, the share within 200 ms and a histogram."""
    ms = sorted(1e3 * x for x in xs_s)

    def q(p):
        return round(ms[min(len(ms) - 1, int(p * len(ms)))], 2)

    edges = (0, 25, 50, 100, 150, 200, 300, 500, 1000, float("inf"))
    hist = {f"{lo:g}-{hi:g}ms": sum(lo <= m < hi for m in ms) for lo, hi in zip(edges[:-1], edges[1:], strict=True)}
    return {
        "n": len(ms),
        "min_ms": round(ms[0], 2),
        "p10_ms": q(0.10),
        "p25_ms": q(0.25),
        "median_ms": round(statistics.median(ms), 2),
        "p75_ms": q(0.75),
        "p90_ms": q(0.90),
        "p95_ms": q(0.95),
        "max_ms": round(ms[-1], 2),
        "within_200ms": round(sum(m <= 200 for m in ms) / len(ms), 3),
        "histogram": {k: v for k, v in hist.items() if v},
    }


def case(delta: float, method: str = "sr") -> dict:
    import numpy as np
    from bokeh.document import Document
    from srchain.toy import explore as E

    E.clear_caches()
    t = time.perf_counter()
    layout = E.build_app(background=False, delta=delta, method=method, alpha=0.01)
    sweep = time.perf_counter() - t
    layout.get_root(Document())  # the models a served page has, so that updates reach them
    ex = layout.explorer
    n = ex.state["states"]
    rng = np.random.default_rng(0)
    warm = []
    for a in rng.permutation(E.ALPHAS):
        a = float(a)
        if a == ex.alpha:
            continue
        t = time.perf_counter()
        ex.alpha = a
        warm.append(time.perf_counter() - t)
    cold, base = {}, {}
    from srchain.operators import transition_matrix
    from srchain.stationary import stationary

    problem, noise, lattice = E.chain(ex.setting)
    for a in (1.0, 0.1, 0.01, 0.001):
        ex.alpha = 0.501
        for f in (E.law, E.operator, E.curve_point):
            f.cache_clear()
        t = time.perf_counter()
        ex.alpha = a
        cold[str(a)] = round(1e3 * (time.perf_counter() - t), 1)
        t = time.perf_counter()
        stationary(transition_matrix(problem, noise, lattice, a, method=method).P, shape=lattice.shape)
        base[str(a)] = round(1e3 * (time.perf_counter() - t), 1)
    ex.close()
    return {
        "states": n,
        "delta": delta,
        "method": method,
        "sweep_s": round(sweep, 2),
        "warm": _stats(warm),
        "warm_within_200ms": sum(w <= 0.2 for w in warm) / len(warm),
        "cold_ms": cold,
        "baseline_library_ms": base,
    }


def _attr(tag, name):
    """``tag``'s attribute ``name``, or None while the page has not drawn it."""
    try:
        return tag.get_attribute(name, timeout=2000)
    except Exception:  # noqa: BLE001 - playwright's TimeoutError: not rendered yet
        return None


def browser(steps: int = 20) -> dict:
    """Key press on the α slider → the page's law updated, in headless Chromium (Δ = 0.5, 0.05 and 0.014): ``steps``
    presses to the right from α = 0.001, then as many back, each timed until the page shows the new α's law."""
    sys.path.insert(0, "tests/toy")
    import test_explore as T  # the test's server and browser helpers

    if T._browser_missing():
        return {"skipped": T._browser_missing()}
    from playwright.sync_api import sync_playwright

    out = {}
    port = T._free_port()
    proc = T._serve(port)
    try:
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=T.CHROMIUM, args=T.CHROME_ARGS, headless=True, timeout=60_000)
            for delta in (0.5, 0.05, 0.014):  # (each reading of the page is a DevTools round trip of a few ms)
                url = f"http://127.0.0.1:{port}/?alpha=0.001&delta={delta}"
                states, times = _press_times(b, url, steps, wait_sweep=True)
                out[f"states_{states}"] = _stats(times)
            b.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return out


def _serve_trivial(port: int) -> None:
    """The round-trip floor: a Panel page whose α slider (the same grid) only rewrites a data tag."""
    import panel as pn
    from bokeh.models import Div
    from srchain.toy.explore import ALPHAS

    def app():
        s = pn.widgets.DiscreteSlider(options=list(ALPHAS), value=0.001, formatter="%.3g")
        d = Div(text="")

        def show(alpha):
            d.text = f'<div id="srchain-state" data-alpha="{alpha!r}" data-states="trivial"></div>'

        s.param.watch(lambda ev: show(ev.new), "value")
        show(s.value)
        return pn.Column(s, pn.pane.Bokeh(d))

    pn.config.inline = True
    pn.serve(app, port=port, address="127.0.0.1", show=False, websocket_origin=[f"127.0.0.1:{port}"])


def _press_times(b, url, steps, wait_sweep):
    """Times from a key press on the α slider to the page showing the new α (``2·steps`` presses)."""
    import test_explore as T

    page = b.new_page()
    page.goto(url, timeout=60_000)
    tag = page.locator("#srchain-state")
    T._poll(lambda: _attr(tag, "data-alpha") == "0.001", what="first render")
    if wait_sweep:  # let the background sweep fill the cache (the progress bar disappears)
        T._poll(
            lambda: page.locator("progress").count() == 0 or not page.locator("progress").first.is_visible(),
            timeout=600,
            what="the sweep",
        )
    handle = page.locator(".noUi-handle").first
    handle.focus()
    times = []
    for k in range(2 * steps):
        before = tag.get_attribute("data-alpha")
        t = time.perf_counter()
        handle.press("ArrowRight" if k < steps else "ArrowLeft")
        T._poll(lambda before=before: _attr(tag, "data-alpha") != before, timeout=60, what="the update", every=0.002)
        times.append(time.perf_counter() - t)
    states = tag.get_attribute("data-states")
    page.close()
    return states, times


def baseline_browser(steps: int = 20) -> dict:
    """The same key-press timing on a trivial Panel page (slider → data tag): the machine's round-trip floor."""
    import subprocess

    sys.path.insert(0, "tests/toy")
    import test_explore as T

    if T._browser_missing():
        return {"skipped": T._browser_missing()}
    from playwright.sync_api import sync_playwright

    port = T._free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-trivial", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        import urllib.request

        def up():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    return r.status == 200
            except OSError:
                return False

        T._poll(up, timeout=90, what="the trivial page")
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=T.CHROMIUM, args=T.CHROME_ARGS, headless=True, timeout=60_000)
            _, times = _press_times(b, f"http://127.0.0.1:{port}/", steps, wait_sweep=False)
            b.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return _stats(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--browser", action="store_true", help="also time key press → page update in Chromium")
    ap.add_argument("--serve-trivial", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_trivial:
        _serve_trivial(args.serve_trivial)
        return
    import os

    load0 = os.getloadavg()
    result = {"benchmark": "explore", "cpus": os.cpu_count(), "cases": [case(d) for d in (0.5, 0.05, 0.014)]}
    if args.browser:
        result["browser_ms"] = browser()
        result["browser_baseline_trivial_page_ms"] = baseline_browser()
    # how busy the machine was (1-minute load average, before and after): compare it with "cpus"
    result["load_average_1min"] = {"start": round(load0[0], 2), "end": round(os.getloadavg()[0], 2)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
