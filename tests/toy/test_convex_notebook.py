"""notebooks/convex_bounds.ipynb runs from top to bottom (nbclient, kernel python3, cwd notebooks/), and its last
cell reports what the run computed (issue 12): Lemma 1 is checked at every t from the measured/bound ratios, not
printed, and every bound's check is a computed verdict with its worst measured/bound ratio."""

import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "convex_bounds.ipynb"


def test_convex_bounds_notebook_executes():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and "Lemma 1" in nb.cells[0].source
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "Lemma 1 holds at every t" in text
    images = sum(
        "image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert images >= 6

    # the notebook ends with its findings, printed from the ratios it computed
    assert nb.cells[-2].cell_type == "markdown" and "found" in nb.cells[-2].source
    findings = "".join(o.get("text", "") for o in nb.cells[-1].get("outputs", []))
    assert findings.startswith("Findings of this run")
    m = re.search(r"Lemma 1 holds at every t: worst measured/bound ratio (\S+) over t = 1 … (\d+)\.", findings)
    assert m, findings
    assert 0 < float(m.group(1)) < 1 and int(m.group(2)) >= 1000
    rows = re.findall(r"^  (.+?)\s+(holds|FAILS)  worst measured/bound = (\S+)$", findings, re.M)
    assert len(rows) >= 10, findings
    for name, verdict, worst in rows:  # each verdict agrees with its own ratio
        assert (verdict == "holds") == (float(worst) <= 1), name
    assert {"Lemma", "Theorem 1", "Theorem 2", "Theorem 3", "Theorem 4", "Corollary 1"} <= {
        n.split(" (")[0].replace(" as proved", "") if not n.startswith("Lemma") else "Lemma" for n, _, _ in rows
    }
    n = len(rows)
    assert f"{n} of {n} checks hold." in findings, findings
