"""The packaging declared in pyproject.toml against the tree: a new subpackage cannot be left out of the wheel.

setuptools installs only the packages listed in ``[tool.setuptools] packages`` (``toy/`` and ``cnn/`` are mapped
to ``srchain.toy`` and ``srchain.cnn`` by ``package-dir``). A folder with an ``__init__.py`` that is not listed
works in the editable install the tests run against, and is silently missing from the wheel; these checks read
the files only, so they run in milliseconds (the wheel itself is built and smoke-tested by ``.ci/run``).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
PACKAGES = list(SETUPTOOLS["packages"])
PACKAGE_DIR = dict(SETUPTOOLS.get("package-dir", {}))


def source_dir(package: str) -> Path:
    """The folder setuptools reads ``package`` from: the longest ``package-dir`` prefix, else the dotted path."""
    parts = package.split(".")
    for k in range(len(parts), 0, -1):
        prefix = ".".join(parts[:k])
        if prefix in PACKAGE_DIR:
            return ROOT / PACKAGE_DIR[prefix] / Path(*parts[k:])
    return ROOT / Path(*parts)


def package_folders() -> dict[str, Path]:
    """Every folder with an ``__init__.py`` under a mapped or top-level source folder, named as it installs."""
    roots = {name: ROOT / folder for name, folder in PACKAGE_DIR.items()}
    for name in PACKAGES:
        top = name.split(".")[0]
        roots.setdefault(top, source_dir(top))
    found = {}
    for name, folder in roots.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder)
            if any(part.startswith(".") or part in ("build", "__pycache__") for part in rel.parts):
                continue
            found[".".join((name, *rel.parts))] = init.parent
    return found


def test_the_roots_are_the_three_folders():
    # guards the walk below: if the mapping changes, this test says so before the others pass vacuously
    found = package_folders()
    assert {"srchain", "srchain.toy", "srchain.cnn"} <= set(found)
    assert found["srchain.toy"] == ROOT / "toy" and found["srchain.cnn"] == ROOT / "cnn"


def test_every_package_folder_is_listed_in_setuptools_packages():
    missing = sorted(set(package_folders()) - set(PACKAGES))
    assert not missing, (
        f"folders with an __init__.py that the wheel would leave out: {missing}; "
        "add them to [tool.setuptools] packages in pyproject.toml"
    )


@pytest.mark.parametrize("package", PACKAGES)
def test_every_listed_package_has_its_folder(package):
    assert (source_dir(package) / "__init__.py").is_file(), (
        f"{package} is listed but {source_dir(package)} is not a package"
    )


def test_package_dir_entries_exist():
    for name, folder in PACKAGE_DIR.items():
        assert (ROOT / folder / "__init__.py").is_file(), f"package-dir maps {name} to {folder}, which is not a package"


def _entry_points():
    for group, entries in PYPROJECT["project"].get("entry-points", {}).items():
        for name, value in entries.items():
            yield group, name, value
    for name, value in PYPROJECT["project"].get("scripts", {}).items():
        yield "scripts", name, value


@pytest.mark.parametrize(("group", "name", "value"), list(_entry_points()))
def test_entry_points_name_shipped_modules_and_their_functions(group, name, value):
    module, _, attr = value.partition(":")
    package, _, leaf = module.rpartition(".")
    path = source_dir(package) / f"{leaf}.py"
    if not path.is_file():  # the module may itself be a package
        package, path = module, source_dir(module) / "__init__.py"
    assert package in PACKAGES, f"{group}:{name} = {value}: {package} is not in [tool.setuptools] packages"
    assert path.is_file(), f"{group}:{name} = {value}: no file {path.relative_to(ROOT)}"
    if attr:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        assert attr in defined, f"{group}:{name} = {value}: {path.relative_to(ROOT)} defines no {attr}"


def test_py_typed_ships_with_the_package():
    # the public API is annotated; the marker tells type checkers to read it (PEP 561)
    assert (ROOT / "srchain" / "py.typed").is_file()
    assert "py.typed" in SETUPTOOLS.get("package-data", {}).get("srchain", [])
