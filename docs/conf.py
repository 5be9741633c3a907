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

# -- HTML ------------------------------------------------------------------------------------------------------
html_theme = "furo"
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


def setup(app):
    app.connect("builder-inited", _check_mathjax)
    app.connect("build-finished", _copy_mathjax)
