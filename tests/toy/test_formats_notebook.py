"""notebooks/formats.ipynb ("does stochastic rounding help bf16?") runs top to bottom and ends with findings
printed from the numbers it computed."""

import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "formats.ipynb"


def test_formats_notebook_executes():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert "bf16" in nb.cells[0].source
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()
    images = sum(
        "image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert images >= 1
    findings = "".join(o.get("text", "") for o in nb.cells[-1].get("outputs", []))
    assert findings.startswith("Findings of this run"), findings
    # R never left its start 6.5 at alpha = 0.001: its distance to 4.75 is exactly 1.75
    m = re.search(r"R has not moved \(E\|w - w\*\| = (\S+)\)", findings)
    assert m and float(m.group(1)) == 1.75, findings
    m = re.search(r"R's law is closer to the minimiser than SR's \(E\|w - w\*\| (\S+) vs (\S+);", findings)
    assert m and float(m.group(1)) < float(m.group(2)), findings
