"""Sphinx configuration of the dlcore documentation.

Build: ``python -m sphinx -W -b html docs docs/_build/html`` (needs ``pip install ".[docs]"``).
The build reads nothing from the network: no intersphinx inventories are fetched (CI has no
internet; references to numpy and Python are written as plain text), and the tutorials run on
the data sets dlcore already reads offline.
"""
import os
import sys

import dlcore

project = "dlcore"
author = "the dlcore developers"
copyright = "the dlcore developers"
release = dlcore.__version__
version = release

sys.path.insert(0, os.path.abspath("."))

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_nb",
    # copies MathJax 3 into _static/mathjax and points mathjax_path there: formulas render
    # from file:// and offline, where the default would load MathJax from a CDN
    "sphinx-mathjax-offline",
]

# Pages: MyST markdown (.md); tutorials are MyST notebooks (.md with a jupytext header),
# executed by myst-nb at build time.
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
exclude_patterns = ["_build", "jupyter_execute", "**.ipynb_checkpoints", "README.md", "**/_*.md"]
root_doc = "index"

myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# Every tutorial runs at each build; one that raises fails the build (-W turns the
# execution warning into an error). The timeout is per cell.
nb_execution_mode = os.environ.get("DLCORE_DOCS_EXECUTE", "force")   # "off": a quick draft
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True}
autodoc_typehints = "none"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True

# Every cross-reference must resolve (-n), except the free-text types of the numpydoc
# "name : type" fields ("ndarray of shape (N, D)", "float, default 0.01", ...): without
# intersphinx (no network at build time) numpy's and Python's names cannot resolve, so
# py:class targets outside dlcore are not checked. References to dlcore's own names
# (:class:`dlcore.trainer.TrainingDiverged`, :func:`dlcore.save`, :mod:`...`) are.
nitpicky = True
nitpick_ignore_regex = [("py:class", r"(?!dlcore\.).*")]

html_theme = "pydata_sphinx_theme"
html_title = f"dlcore {release}"
html_last_updated_fmt = None
html_show_sourcelink = False
