"""Sphinx configuration (built by ``nox -s docs`` with warnings as errors)."""

from __future__ import annotations

import differentiation_interface

project = "differentiation-interface"
author = "differentiation-interface maintainers"
copyright = "2026, differentiation-interface maintainers"
release = differentiation_interface.__version__

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3

autosummary_generate = True
autodoc_typehints = "none"  # numpydoc sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "furo"
html_title = "differentiation-interface"
html_static_path: list[str] = []
