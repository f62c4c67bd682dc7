"""Sphinx configuration of the Concord docs site.

Build from the repository root (warnings are errors, as in CI)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Tutorials in ``docs/tutorials`` are executed by sphinx-gallery at build time;
a tutorial that raises fails the build.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # import the packages from this checkout
sys.path.insert(0, str(HERE / "_ext"))  # local Sphinx extensions

# -- Project ------------------------------------------------------------------

project = "Concord"
author = "The Concord authors"
copyright = "2025, The Concord authors"
try:
    from importlib.metadata import version as _version

    release = _version("concord-train")
except Exception:  # not installed: docs still build from the checkout
    release = "0.1.0"
version = release

# -- General ------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "concord_docs",  # docs/_ext/concord_docs.py: generated tables, API coverage check
]
# No intersphinx: the build must not touch the network.

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "_generated",  # written by docs/_ext/concord_docs.py, included by the guides
    "tutorials",  # sphinx-gallery's sources; it writes the pages to auto_tutorials/
    "Thumbs.db",
    ".DS_Store",
]

# -- MyST ---------------------------------------------------------------------

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- autodoc / autosummary / napoleon -----------------------------------------

autosummary_generate = True
autosummary_imported_members = False
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False

# -- sphinx-gallery -----------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "tutorials",
    "gallery_dirs": "auto_tutorials",
    # Execute every tutorial, not only plot_*.py.
    "filename_pattern": r".",
    # Order by file name, so a number prefix orders them: plot_01_..., plot_02_...
    "within_subsection_order": "sphinx_gallery.sorting.FileNameSortKey",
    # The matplotlib scraper, cropping figures like topologies' own savefig does.
    "image_scrapers": ("concord_docs.tight_matplotlib_scraper",),
    "remove_config_comments": True,
    # A failing tutorial fails the build.
    "abort_on_example_error": True,
    # Nothing is fetched or bundled: no Binder/JupyterLite, no zip of all examples,
    # no links into other projects' docs.
    "download_all_examples": False,
    "reference_url": {},
    "doc_module": (),
    "backreferences_dir": None,
    # Don't print the repr of the matplotlib objects a cell ends with.
    "ignore_repr_types": r"matplotlib\.",
    # No computation-times page: it pulls jQuery/DataTables from CDNs when viewed.
    "write_computation_times": False,
    "show_memory": False,
    "min_reported_time": 0,
}

# -- HTML ---------------------------------------------------------------------

html_theme = "furo"
html_title = f"Concord {release}"
html_show_sourcelink = True
