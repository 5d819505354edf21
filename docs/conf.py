"""Sphinx configuration of the sk_audio_genre documentation.

Build (warnings are errors)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The API pages are generated from the package's numpydoc docstrings by
``sphinx.ext.autosummary`` into ``docs/generated/``.  At build time
``_bench.py`` renders the benchmark results in ``docs/_static/benchmarks/``
as reST into ``docs/_generated/``.  Both folders are ignored by git
(``docs/.gitignore``).
"""

from __future__ import annotations

import os
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

# -- numpydoc --------------------------------------------------------------------

numpydoc_show_class_members = False  # the class template lists the methods
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# -- HTML -------------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"sk_audio_genre {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
#: The left sidebar lists the whole site (``_templates/sidebar-nav-site.html``): the theme's
#: default lists the pages under the current top-level page, and every page here is top-level.
html_sidebars = {"**": ["sidebar-nav-site"]}
html_static_path = ["_static"] if (HERE / "_static").is_dir() else []
html_show_sourcelink = False

