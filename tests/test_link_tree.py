"""tools/link_tree.py: the checkout laid out as an installed package, with the entry points of pyproject.toml."""

from __future__ import annotations

import importlib.metadata as md
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
tomllib = pytest.importorskip("tomllib")  # Python >= 3.11: the reference reading of pyproject.toml


def test_the_linked_tree_has_every_package_and_entry_point(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "link_tree.py"), str(tmp_path / "src")],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    dest = Path(out.stdout.strip())
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for name in meta["tool"]["setuptools"]["packages"]:  # every package of the wheel is importable from DEST
        folder = dest.joinpath(*name.split("."))
        assert (folder / "__init__.py").is_file(), name
    dist = md.PathDistribution(dest / f"srchain-{meta['project']['version']}.dist-info")
    assert dist.metadata["Name"] == "srchain"
    got = {(e.group, e.name, e.value) for e in dist.entry_points}
    want = {(g, k, v) for g, eps in meta["project"]["entry-points"].items() for k, v in eps.items()}
    want |= {("console_scripts", k, v) for k, v in meta["project"]["scripts"].items()}
    assert got == want
