"""Sphinx configuration of the srchain documentation.

Build (from the repository root; `pip install -e ".[docs]"` first):

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Everything is served from the built site itself: the theme (furo) ships its assets, and MathJax 3 is copied from
the `django-static-mathjax` wheel (a plain copy of MathJax's es5 distribution, no Django needed) into
``_static/mathjax``. Nothing is fetched from a CDN at build or view time; tests/test_docs.py checks that no
``<script>`` or ``<link>`` of the built pages points off-site.
"""

from __future__ import annotations

import doctest
import os
import re
import shutil
from pathlib import Path

import srchain

# -- Project ----------------------------------------------------------------------------------------------------
project = "srchain"
author = "the srchain authors"
copyright = "2024–2025, the srchain authors"  # noqa: A001
release = srchain.__version__
version = release

# -- Extensions -------------------------------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.doctest",
    "sphinx.ext.viewcode",
    "sphinx_gallery.gen_gallery",
    "myst_nb",
]

templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "examples",
    "**.ipynb_checkpoints",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.md5",
    "auto_examples/*.codeobj.json",
]
root_doc = "index"
language = "en"
default_role = "code"  # `x` in the hand-written pages is inline code, as in Markdown

# -- autodoc / autosummary / numpydoc ---------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
# No "members" default: {"members": False} here also switched off the `:members:` of the class template
# (_templates/autosummary/class.rst), so the class pages (Lattice, ChainSpec, ...) showed none of their methods.
autodoc_default_options: dict = {}
autodoc_typehints = "none"  # the signatures show the annotations; numpydoc's Parameters sections say the rest
autodoc_member_order = "bysource"
numpydoc_show_class_members = False  # the class pages list their methods through the template instead
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False
numpydoc_validation_checks: set = set()

# The docstrings cite the paper as "Eq. 3", "Eq. 10": autosummary would end their one-line summaries there
# ("Deterministic rounding Qd of Eq."). Its sentence splitter is a module-level regex; teach it the abbreviation.
import re as _re  # noqa: E402

import sphinx.ext.autosummary as _autosummary  # noqa: E402

_autosummary.periods_re = _re.compile(r"(?<!\bEq)(?<!\bEqs)\.(?:\s+)")

# -- Math: MathJax 3 served from _static (no CDN) ---------------------------------------------------------------
try:
    import mathjax as _mathjax_pkg  # the django-static-mathjax wheel: MathJax 3.2 under mathjax/static/mathjax

    MATHJAX_DIST = Path(_mathjax_pkg.__file__).parent / "static" / "mathjax"
except (ImportError, TypeError):  # not installed (or another package named mathjax): _check_mathjax says so
    MATHJAX_DIST = None
mathjax_path = "mathjax/tex-chtml.js"  # relative: resolved against _static of the built site
mathjax3_config = {
    "tex": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]]},
    "options": {"menuOptions": {"settings": {"explorer": False}}},
}

# -- Notebooks: executed at build time by myst-nb (offline: a local Jupyter kernel) -----------------------------
# The notebooks live in the repository's notebooks/ folder; they are copied into docs/notebooks/ (git-ignored) when
# the configuration is read, and every build runs them again, so the figures in the site are this build's.
# SRCHAIN_NB_STEPS shortens Figure 2's simulations (the paper's 10^6 steps would take minutes on two cores).
NOTEBOOKS = ("figure2", "convex_bounds")


def _notebook_dir() -> Path:
    here = Path(__file__).resolve().parent
    for cand in (here.parent / "notebooks", Path(srchain.__file__).resolve().parents[1] / "notebooks"):
        if all((cand / f"{n}.ipynb").is_file() for n in NOTEBOOKS):
            return cand
    raise RuntimeError("the notebooks (figure2.ipynb, convex_bounds.ipynb) were not found beside docs/")


_nb_dst = Path(__file__).resolve().parent / "notebooks"
_nb_dst.mkdir(exist_ok=True)
for _n in NOTEBOOKS:
    shutil.copy2(_notebook_dir() / f"{_n}.ipynb", _nb_dst / f"{_n}.ipynb")
os.environ.setdefault("SRCHAIN_NB_STEPS", "100000")
nb_execution_mode = "force"
nb_execution_timeout = 900
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
nb_execution_excludepatterns = ["auto_examples/*"]
suppress_warnings = ["mystnb.unknown_mime_type"]
source_suffix = {".rst": "restructuredtext", ".ipynb": "myst-nb"}

# -- HTML ------------------------------------------------------------------------------------------------------
html_theme = "furo"
html_favicon = "_static/favicon.svg"
html_title = f"srchain {release}"
html_static_path = ["_static"]
html_css_files = ["srchain.css"]
html_theme_options = {"navigation_with_keys": True}
html_show_sourcelink = True
html_copy_source = True
html_last_updated_fmt = None

# -- doctest: the hand-written pages ------------------------------------------------------------------------
# Only the explicit ``.. doctest::`` blocks of the pages run here. The ``>>>`` examples of the package's docstrings
# assume their module's namespace, which Sphinx's doctest builder does not give them: tests/test_docs.py runs them
# with the standard doctest module instead (as ``python -m pytest --doctest-modules srchain`` would).
doctest_test_doctest_blocks = ""
doctest_global_setup = """
import numpy as np
import srchain as sc
np.set_printoptions(precision=6, suppress=False)
"""
doctest_default_flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE | doctest.DONT_ACCEPT_TRUE_FOR_1

# -- Gallery ---------------------------------------------------------------------------------------------------
# Set SRCHAIN_DOCS_GALLERY=0 (or pass -D plot_gallery=0) to build the gallery pages without running them.
plot_gallery = os.environ.get("SRCHAIN_DOCS_GALLERY", "True")
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "matplotlib_animations": False,
    "show_memory": False,
    "show_signature": False,
    "capture_repr": ("__repr__",),
    "download_all_examples": False,
    "min_reported_time": 1,
    "write_computation_times": False,  # its page loads DataTables from a CDN
}


# -- Hooks -----------------------------------------------------------------------------------------------------
def _check_mathjax(app):
    """Refuse to build HTML without the local MathJax: the pages would point at a file that is not there."""
    if app.builder.format == "html" and (MATHJAX_DIST is None or not (MATHJAX_DIST / "es5" / "tex-chtml.js").is_file()):
        from sphinx.errors import ExtensionError

        raise ExtensionError("MathJax is not installed: pip install -e '.[docs]' (django-static-mathjax ships it)")


def _copy_mathjax(app, exception):
    """Copy MathJax (the es5 build: the tex-chtml component, its fonts and lazily loaded parts) into _static."""
    if exception is not None or app.builder.format != "html":
        return
    src = MATHJAX_DIST / "es5"
    dst = Path(app.outdir) / "_static" / "mathjax"
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / "tex-chtml.js", dst / "tex-chtml.js")
    for sub in ("a11y", "ui", "sre", "adaptors", "input/tex/extensions", "output/chtml"):
        shutil.copytree(src / sub, dst / sub, dirs_exist_ok=True)
    shutil.copy2(MATHJAX_DIST / "LICENSE", dst / "LICENSE")


def _fix_viewcode_backlinks(app, exception):
    """Point each "[docs]" link of the highlighted sources (viewcode) at an anchor that exists.

    viewcode names a module's back-links after the first page that documented the module: a function documented
    as ``srchain.tv`` (the top-level name) links to ``#srchain.stationary.tv`` once ``srchain.stationary.stationary``
    has been documented, and ``srchain.simulate.simulate`` to ``#srchain.simulate``. Each link whose anchor is not
    on its page is pointed at the page's anchor for the same object (its id ends with ``.name``), or at the page.
    """
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    ids: dict = {}
    link = re.compile(r'href="([^"#]+\.html)#([^"]+)"')
    for page in (out / "_modules").rglob("*.html"):
        text = page.read_text(encoding="utf-8")

        def fix(m, page=page):
            target = (page.parent / m.group(1)).resolve()
            if target not in ids:
                ids[target] = (
                    set(re.findall(r'id="([^"]+)"', target.read_text(encoding="utf-8"))) if target.is_file() else set()
                )
            have, anchor = ids[target], m.group(2)
            if anchor in have or not have:
                return m.group(0)
            name = anchor.rsplit(".", 1)[-1]
            same = sorted(i for i in have if i.startswith("srchain.") and i.rsplit(".", 1)[-1] == name)
            return f'href="{m.group(1)}#{same[0]}"' if same else f'href="{m.group(1)}"'

        new = link.sub(fix, text)
        if new != text:
            page.write_text(new, encoding="utf-8")


def setup(app):
    app.connect("builder-inited", _check_mathjax)
    app.connect("build-finished", _copy_mathjax)
    app.connect("build-finished", _fix_viewcode_backlinks)
