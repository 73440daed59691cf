"""Sphinx configuration of the synbiolab course: theory pages (MyST Markdown) and executed tutorials.

Build with ``make docs`` (warnings fail the build). Tutorials in ``tutorials/`` are plain ``# %%`` Python
scripts that sphinx-gallery runs at build time; a tutorial whose headline check fails stops the build.
Everything the pages load (MathJax, the theme's scripts and styles) is served from the site itself.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "_ext"))

project = "synbiolab"
author = "the synbiolab authors"

extensions = [
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax 3 copied into _static/: no script from another host
    "course_figures",  # runs theory/figures/*.py at build time
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "tutorials/*.rst", "**/_figures/*.md", "sg_execution_times.rst"]
root_doc = "index"

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# --- the tutorials
# Matplotlib draws off-screen; the figures each script makes are captured into its page.
os.environ.setdefault("MPLBACKEND", "Agg")

sphinx_gallery_conf = {
    "examples_dirs": "tutorials",
    "gallery_dirs": "auto_tutorials",
    "filename_pattern": r"/\d\d_",  # every numbered tutorial is executed
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,  # a failing headline check fails the build
    "only_warn_on_example_error": False,
    "download_all_examples": False,
    "show_signature": False,  # no link to another host under every page
    "show_memory": False,
    "remove_config_comments": True,
    "capture_repr": ("_repr_html_", "__repr__"),
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "min_reported_time": 1,
    "write_computation_times": False,
    "plot_gallery": "True",
    "reset_modules": ("matplotlib",),
    "first_notebook_cell": "%matplotlib inline",
}

# --- the theme
html_theme = "furo"
html_title = "synbiolab course"
html_static_path = ["_static"]
html_css_files = ["course.css"]
templates_path = ["_templates"]
html_show_sphinx = False
html_show_sourcelink = False
html_copy_source = False
html_theme_options = {
    "navigation_with_keys": True,
    "footer_icons": [],
}
html_last_updated_fmt = None
# Pages are read from disk (file://): no search index fetch is needed for navigation.
html_use_index = False

# MathJax without its context menu: the menu is how a reader would switch on the speech engine,
# the one part of the bundle that fetches data from another host.
mathjax3_config = {"options": {"enableMenu": False}}

nitpicky = False
suppress_warnings = ["config.cache"]  # sphinx_gallery_conf holds functions and tuples
