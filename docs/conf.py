"""Sphinx configuration of the sk_audio_genre documentation.

Build (warnings are errors)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The API pages are generated from the package's numpydoc docstrings by
``sphinx.ext.autosummary`` into ``docs/generated/``.  At build time
``_bench.py`` renders the benchmark results in ``docs/_static/benchmarks/``
as reST into ``docs/_generated/``, and this file lists there the pages that
no toctree names yet.  Both folders are ignored by git (``docs/.gitignore``).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

# TensorFlow's C++ start-up chatter stays out of the build log; the classifier
# modules import TensorFlow when autodoc imports them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the local extension _bench.py

import sk_audio_genre  # noqa: E402

project = "sk_audio_genre"
author = "sk_audio_genre developers"
copyright = "sk_audio_genre developers; BSD-3-Clause"  # noqa: A001
version = release = sk_audio_genre.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "_bench",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "_generated", "Thumbs.db", ".DS_Store"]
root_doc = "index"
default_role = "literal"  # single backquotes are code, as in the docstrings' habits

# -- autodoc / autosummary -----------------------------------------------------

autosummary_generate = True
autodoc_typehints = "none"  # numpydoc's Parameters sections already give the types
autodoc_default_options = {"members": False, "inherited-members": False}

#: Methods shown on the class pages.  The classifiers inherit dozens of
#: members from scikeras (``initialize``, ``feature_encoder``, ...) whose
#: docstrings are not numpydoc; only the scikit-learn API that this package
#: defines or relies on is documented.
DOCUMENTED_METHODS = [
    "fit",
    "partial_fit",
    "transform",
    "fit_transform",
    "predict",
    "predict_proba",
    "predict_segment_proba",
    "score",
    "get_params",
    "set_params",
]
autosummary_context = {"documented_methods": DOCUMENTED_METHODS}

# A word ending in "_" is a hyperlink reference in reST ("n_frames_" ->
# 'Unknown target name: "n_frames"').  Numpydoc type lines such as
# "ndarray of shape (n_files, n_frames_, n_mfcc)" are plain reST, so such
# words are escaped in shape specifications before numpydoc renders them.
_TRAILING_UNDERSCORE = re.compile(r"(?<![\\\w`])([A-Za-z]\w*[A-Za-z0-9])_(?=[,)])")


def _escape_trailing_underscores(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        text = line.strip()
        if "of shape (" in text and "`" not in text and not text.startswith((">>>", "...")):
            lines[i] = _TRAILING_UNDERSCORE.sub(r"\1\\_", line)


# -- numpydoc --------------------------------------------------------------------

numpydoc_show_class_members = False  # the class template lists the methods
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# -- pages added by others ------------------------------------------------------


def _write_other_pages_toctree() -> None:
    """List top-level pages that no toctree in index.rst names in ``_generated/``.

    ``index.rst`` includes the file, so a page added to ``docs/`` (a model card,
    a scaling guide) appears under "More" until it is placed in a toctree,
    instead of failing the ``-W`` build with "document isn't included in any
    toctree".  Pages marked ``:orphan:`` are left out; with no page to list,
    the file is empty.
    """
    listed, in_toctree = set(), False
    for line in (HERE / "index.rst").read_text(encoding="utf-8").splitlines():
        if line.startswith(".. toctree::"):
            in_toctree = True
        elif in_toctree and line and not line.startswith(" "):
            in_toctree = False
        elif in_toctree and line.strip() and not line.strip().startswith(":"):
            listed.add(line.strip())
    others = sorted(
        page.stem
        for page in HERE.glob("*.rst")
        if page.stem != "index"
        and page.stem not in listed
        and ":orphan:" not in page.read_text(encoding="utf-8")[:200]  # wants no toctree
    )
    text = ""
    if others:
        entries = "".join(f"   {name}\n" for name in others)
        text = f".. toctree::\n   :maxdepth: 2\n   :caption: More\n\n{entries}"
    target = HERE / "_generated" / "other_pages.rst"
    target.parent.mkdir(exist_ok=True)
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")


_write_other_pages_toctree()

# -- HTML -------------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"sk_audio_genre {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = ["_static"] if (HERE / "_static").is_dir() else []
html_show_sourcelink = False


def setup(app):
    # Before numpydoc (priority 500) turns the sections into reST.
    app.connect("autodoc-process-docstring", _escape_trailing_underscores, priority=400)
