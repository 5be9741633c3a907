"""The documentation site (docs/, issue 13): it builds offline with warnings as errors, the API page lists every
public name, no page loads a script or stylesheet from another site, the gallery runs, and the doctests pass:
those of the pages (Sphinx's doctest builder) and those of the package's docstrings (the standard doctest module,
in each module's own namespace, as ``python -m pytest --doctest-modules`` would run them)."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import srchain as sc

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: what `pip install -e ".[docs]"` brings: (import name, distribution)
DOCS_PACKAGES = (
    ("sphinx", "sphinx"),
    ("numpydoc", "numpydoc"),
    ("sphinx_gallery", "sphinx-gallery"),
    ("furo", "furo"),
    ("mathjax", "django-static-mathjax"),
    ("myst_nb", "myst-nb"),
)
MISSING = [dist for mod, dist in DOCS_PACKAGES if importlib.util.find_spec(mod) is None]
needs_sphinx = pytest.mark.skipif(
    bool(MISSING), reason=f"docs extra not installed ({', '.join(MISSING)}): pip install -e '.[docs]'"
)
#: a whole build on 2 cores takes about 15 s with a warm Numba cache and under a minute cold; a hung build fails
BUILD_TIMEOUT = 600


def _sphinx(builder: str, src: Path, out: Path, doctrees: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}
    cmd = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-q",
        "-b",
        builder,
        "-d",
        str(doctrees),
        *extra,
        str(src),
        str(out),
    ]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT, env=env, cwd=src.parent)
    except subprocess.TimeoutExpired as exc:  # pragma: no cover - a hang is a failure, with what it printed
        pytest.fail(f"sphinx -b {builder} ran past {BUILD_TIMEOUT} s:\n{(exc.stderr or '')[-4000:]}")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Build the site once, from a copy of docs/ (the build writes generated pages into its source folder)."""
    tmp = tmp_path_factory.mktemp("docs")
    src = tmp / "docs"
    shutil.copytree(
        DOCS,
        src,
        ignore=shutil.ignore_patterns("_build", "generated", "auto_examples", "sg_execution_times.rst", "__pycache__"),
    )
    html = tmp / "html"
    res = _sphinx("html", src, html, tmp / "doctrees")
    assert res.returncode == 0, f"the docs build failed or warned:\n{res.stdout[-3000:]}\n{res.stderr[-6000:]}"
    return {"src": src, "html": html, "doctrees": tmp / "doctrees", "tmp": tmp}


def _public_names():
    return [n for n in sc.__all__ if not n.startswith("__")]


@pytest.mark.slow
@needs_sphinx
def test_api_page_lists_every_public_name(site):
    api = (site["html"] / "api.html").read_text(encoding="utf-8")
    for name in _public_names():
        # each public name links to its generated page: srchain.NAME.html, or srchain.NAME.<member>.html for the
        # modules reached as attributes (sc.noise.gaussian, sc.bounds.theorem1, sc.stationary.stationary)
        m = re.search(rf'href="generated/(srchain\.{re.escape(name)}(?:\.\w+)?)\.html"', api)
        assert m, f"api.html does not list srchain.{name}"
        assert (site["html"] / "generated" / f"{m.group(1)}.html").is_file()
    # the docstrings' Parameters sections are rendered by numpydoc, and the page's mathematics by MathJax
    page = (site["html"] / "generated" / "srchain.transition_matrix.html").read_text(encoding="utf-8")
    assert "Parameters" in page and "alpha" in page
    assert "_static/mathjax/tex-chtml.js" in api and r"\tilde U" in api


@pytest.mark.slow
@needs_sphinx
def test_nothing_is_loaded_from_another_site(site):
    html = site["html"]
    pages = sorted(html.rglob("*.html"))
    assert len(pages) > 30
    tag = re.compile(r"<(?:script|link)\b[^>]*>", re.IGNORECASE)
    remote = re.compile(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
    offenders = [
        (p.relative_to(html).as_posix(), t)
        for p in pages
        for t in tag.findall(p.read_text(encoding="utf-8"))
        if remote.search(t)
    ]
    assert offenders == []
    # MathJax is served from the site itself, with its fonts
    mj = html / "_static" / "mathjax"
    assert (mj / "tex-chtml.js").is_file() and any((mj / "output" / "chtml" / "fonts" / "woff-v2").iterdir())
    assert (mj / "LICENSE").is_file()


@pytest.mark.slow
@needs_sphinx
def test_gallery_examples_ran_and_reproduce_page_covers_the_paper(site):
    html = site["html"]
    for stem in ("plot_1_figure2", "plot_2_bigbatch", "plot_3_convex", "plot_4_student_t", "plot_5_own_objective"):
        page = (html / "auto_examples" / f"{stem}.html").read_text(encoding="utf-8")
        assert f"sphx_glr_{stem}_001.png" in page, f"{stem} drew no figure"
        assert (html / "_images" / f"sphx_glr_{stem}_001.png").is_file()
    text = re.sub(r"<[^>]+>", " ", (html / "reproduce.html").read_text(encoding="utf-8"))
    for claim in (
        "Lemma 1",
        "Theorem 1",
        "Theorem 2",
        "Theorem 3",
        "Theorem 4",
        "Theorem 5",
        "Theorem 6",
        "Corollary 1",
        "Figure 2",
        "Section 6.1",
        "Table 1",
        "Figure 4",
        "Figure 5",
        "Figure 7",
        "What did not reproduce",
    ):
        assert claim in text, claim


@pytest.mark.slow
@needs_sphinx
def test_doctests_of_the_pages(site):
    out = site["tmp"] / "doctest"
    res = _sphinx("doctest", site["src"], out, site["doctrees"], "-D", "plot_gallery=0", "-D", "nb_execution_mode=off")
    report = (out / "output.txt").read_text(encoding="utf-8") if (out / "output.txt").is_file() else ""
    assert res.returncode == 0, f"{report[-6000:]}\n{res.stderr[-3000:]}"
    summary = report.split("Doctest summary")[-1]
    assert re.search(r"^\s*0 failures in tests", summary, re.MULTILINE), report[-6000:]
    assert int(re.search(r"^\s*(\d+) tests", summary, re.MULTILINE).group(1)) >= 40  # the pages' examples ran


@pytest.mark.slow
@needs_sphinx
def test_reader_sees_the_explorer_the_notebooks_and_every_api_name(site):
    """Issue 19: the explorer's page with its screenshots, the API gaps closed, working viewcode back-links, a
    favicon, and the executed notebooks with their figures."""
    html = site["html"]
    page = (html / "explore.html").read_text(encoding="utf-8")
    assert "srchain explore" in page and "What to look for" in page
    for shot in ("law.png", "heat.png"):
        assert f"_images/{shot}" in page and (html / "_images" / shot).stat().st_size > 20_000
    api = (html / "api.html").read_text(encoding="utf-8")
    for name in (
        "srchain.toy.explore.build_app",
        "srchain.bounds.bc_strong_floor",
        "srchain.bounds.sqrt_schedule_sum",
        "srchain.noise.GaussianNoise",
        "srchain.noise.LaplaceNoise",
        "srchain.noise.StudentTNoise",
        "srchain.noise.MinibatchNoise",
        "srchain.noise.NoiseModel",
        "srchain.operators.Operator",
    ):
        assert f'href="generated/{name}.html"' in api, name
        assert (html / "generated" / f"{name}.html").is_file(), name
    # every "[docs]" back-link of the highlighted sources lands on an anchor that exists
    broken = []
    ids: dict = {}
    for src in (html / "_modules").rglob("*.html"):
        for target, anchor in re.findall(r'href="([^"#]+\.html)#([^"]+)"', src.read_text(encoding="utf-8")):
            path = (src.parent / target).resolve()
            if path not in ids:
                ids[path] = set(re.findall(r'id="([^"]+)"', path.read_text(encoding="utf-8")))
            if anchor not in ids[path]:
                broken.append(f"{src.relative_to(html)} -> {target}#{anchor}")
    assert broken == []
    # a favicon on every page
    index = (html / "index.html").read_text(encoding="utf-8")
    assert re.search(r'<link rel="(?:shortcut )?icon" href="_static/favicon.svg"', index)
    assert (html / "_static" / "favicon.svg").is_file()
    # the notebooks, executed at build time, with their figures as images in the pages (under MPLBACKEND=Agg too)
    for nb, least in (("figure2", 2), ("convex_bounds", 6)):
        text = (html / "notebooks" / f"{nb}.html").read_text(encoding="utf-8")
        imgs = re.findall(r'<img[^>]+src="([^"]+\.png)"', text)
        assert len(imgs) >= least, (nb, imgs)
        for im in imgs:
            assert (html / "notebooks" / im).resolve().stat().st_size > 5_000, im
    assert "Findings of this run" in (html / "notebooks" / "figure2.html").read_text(encoding="utf-8")


def _package_modules():
    """Every module of srchain, srchain.toy (toy/) and, with torch, srchain.cnn (cnn/) with a ``>>>`` example.

    Found on disk, without importing anything, so that collecting this file stays cheap."""
    folders = {"srchain": ROOT / "srchain", "srchain.toy": ROOT / "toy"}
    if importlib.util.find_spec("torch") is not None:
        folders["srchain.cnn"] = ROOT / "cnn"
    names = []
    for pkg, folder in folders.items():
        for path in sorted(folder.rglob("*.py")):
            if "__pycache__" in path.parts or ">>>" not in path.read_text(encoding="utf-8"):
                continue
            parts = path.relative_to(folder).with_suffix("").parts
            names.append(".".join((pkg, *parts[:-1], *(() if parts[-1] == "__init__" else parts[-1:]))))
    return names


@pytest.mark.slow
@pytest.mark.parametrize("module", _package_modules())
def test_doctests_of_the_docstrings(module):
    mod = importlib.import_module(module)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=flags)
    report = []
    for test in finder.find(mod, module, globs=vars(mod).copy()):
        runner.run(test, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(report)
