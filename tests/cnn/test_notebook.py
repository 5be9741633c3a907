"""notebooks/cnn_table1.ipynb executes end to end (small CPU Table 1 and Figures 4-5), and its last cell reports
what the run found, computed from the run's results and logs (the numbers are checked against the table)."""

import re
from pathlib import Path

import pytest

pytest.importorskip("torch")
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NB = Path(__file__).resolve().parents[2] / "notebooks" / "cnn_table1.ipynb"


@pytest.mark.slow
def test_cnn_table1_notebook_runs():
    nb = nbformat.read(NB, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and "This notebook runs" in nb.cells[0].source
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NB.parent)}}
    )
    client.execute()
    outputs = "".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/markdown", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )
    assert "| ADAM |" in outputs and "R-ADAM" in outputs
    assert any(
        "image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )

    # the notebook ends with its findings, printed from the computed results
    assert nb.cells[-2].cell_type == "markdown" and "found" in nb.cells[-2].source
    findings = "".join(o.get("text", "") for o in nb.cells[-1].get("outputs", []))
    assert findings.startswith("Findings of this run")
    errors = dict(re.findall(r"([a-z-]+) (\d+\.\d\d)", re.search(r"test error \(%\): (.*)", findings).group(1)))
    assert set(errors) == {"adam", "bc-adam", "big-sr-adam", "sr-adam", "r-adam"}
    # the printed errors are the table's: every one appears in its markdown as "mean ± std"
    for value in errors.values():
        assert f"{value} ± " in outputs
    best = re.search(r"best: ([a-z-]+),", findings).group(1)
    assert float(errors[best]) == min(map(float, errors.values()))
    assert re.search(r"paper ordering ADAM < BC < big SR < SR < R held: (True|False) \(", findings)
    assert "R-ADAM never flipped a conv weight: True" in findings
