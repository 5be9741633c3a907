"""Make srchain importable from this checkout without building it: a folder of links laid out as the installed
package (``srchain/`` with ``toy`` and ``cnn`` linked in, as ``[tool.setuptools.package-dir]`` maps them) and a
``srchain-VERSION.dist-info`` holding the entry points of ``pyproject.toml``, so that ``srchain.problems`` and the
CLI find the toy problems and the subcommands through :mod:`importlib.metadata` as in an installed copy.

For machines where ``pip install --no-build-isolation -e .`` cannot run (no network and a setuptools older than
the build needs, or no writable site-packages): the device scripts fall back to it.

    python3 tools/link_tree.py DEST       # then: export PYTHONPATH=DEST:$PYTHONPATH
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _sections(text: str) -> dict[str, list[str]]:
    """The lines of each ``[section]`` of a TOML file (enough for the flat tables read here)."""
    out: dict[str, list[str]] = {}
    cur = None
    for line in text.splitlines():
        m = re.match(r"^\[(.+)\]\s*$", line)
        if m:
            cur = m.group(1).strip()
            out[cur] = []
        elif cur is not None:
            out[cur].append(line)
    return out


def _pairs(lines: list[str]) -> list[tuple[str, str]]:
    """``key = "value"`` lines of a flat table (quoted or bare keys; comments dropped)."""
    pairs = []
    for line in lines:
        m = re.match(r'^\s*"?([\w.\-]+)"?\s*=\s*"([^"]*)"', line)
        if m:
            pairs.append((m.group(1), m.group(2)))
    return pairs


def link_tree(dest: Path) -> Path:
    text = (ROOT / "pyproject.toml").read_text()
    sec = _sections(text)
    version = dict(_pairs(sec["project"]))["version"]
    dest.mkdir(parents=True, exist_ok=True)
    pkg = dest / "srchain"
    pkg.mkdir(exist_ok=True)
    for f in (ROOT / "srchain").iterdir():
        link = pkg / f.name
        if not link.exists():
            link.symlink_to(f)
    for name, folder in _pairs(sec["tool.setuptools.package-dir"]):
        parts = name.split(".")
        if len(parts) == 2:  # srchain.toy, srchain.cnn (their commands come with them)
            link = pkg / parts[1]
            if not link.exists():
                link.symlink_to(ROOT / folder)
    info = dest / f"srchain-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: srchain\nVersion: {version}\n")
    groups = [s for s in sec if s.startswith("project.entry-points.")]
    lines = []
    for s in groups:
        lines.append(f"[{s.split('.', 2)[2].strip(chr(34))}]")
        lines += [f"{k} = {v}" for k, v in _pairs(sec[s])]
    lines.append("[console_scripts]")
    lines += [f"{k} = {v}" for k, v in _pairs(sec["project.scripts"])]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return dest


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 tools/link_tree.py DEST")
    print(link_tree(Path(sys.argv[1]).resolve()))
