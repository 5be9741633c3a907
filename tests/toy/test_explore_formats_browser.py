"""The explorer's grid control in headless Chromium: a format's grid from the URL is drawn over the format's values,
and a clamped grid is said in the page (the helpers and fixtures are the browser test's)."""

import json

import numpy as np
import pytest

pytest.importorskip("panel", reason="srchain explore needs panel (pip install panel)")

import test_explore as T  # noqa: E402
import test_explore_browser as B  # noqa: E402
from srchain.toy.explore import model as M  # noqa: E402

# the browser test's fixtures (one server and one browser per module)
server, browser, page = B.server, B.browser, B.page
_model, _open, _text = B._model, B._open, B._text

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(T._browser_missing() is not None, reason=str(T._browser_missing())),
]


def test_format_grid_from_the_url_is_drawn_over_its_values(server, page):
    s = M.Setting(format="fp8-e4m3")
    values = M.chain(s)[2].points[:, 0]
    attr = _open(page, server, "?format=fp8-e4m3&alpha=0.01", want_alpha="0.01")
    T._poll(lambda: attr("data-states") == str(values.size), what=f"{values.size} states of fp8-e4m3")
    law = np.array(json.loads(attr("data-law")))
    assert np.max(np.abs(law - M.law(s, "sr", 0.01).pi)) < M.tv_floor(s)
    x = np.array(_model(page, "srchain-law", "Array.from(m.data.x)"), dtype=float)
    assert np.array_equal(x, values)
    assert "fp8-e4m3 grid" in _text(page.locator(".srchain-numbers"))
    # bf16 on the toy box is clamped to the explorer's limit, and the page says so
    attr = _open(page, server, "?format=bf16&alpha=0.01", want_alpha="0.01")
    T._poll(lambda: attr("data-states") == str(M.MAX_GRID_STATES), what="the clamped bf16 grid")
    T._poll(lambda: "bf16 grid of [-4, 10] has" in _text(page.locator(".srchain-grid-message")), what="the note")
