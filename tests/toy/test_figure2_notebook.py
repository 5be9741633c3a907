"""notebooks/figure2.ipynb runs top to bottom (with fewer steps than the paper's 10⁶)."""
import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NB = Path(__file__).resolve().parents[2] / "notebooks" / "figure2.ipynb"


def test_figure2_notebook_runs(monkeypatch):
    monkeypatch.setenv("SRCHAIN_NB_STEPS", "100000")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NB, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NB.parent)}})
    client.execute()
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "alpha0" in outputs and "mass@min" in outputs
