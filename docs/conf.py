"""Sphinx configuration of the multidb_routers documentation."""

from __future__ import annotations

import os
import sys

import django

import multidb_routers

sys.path.insert(0, os.path.abspath(".."))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()

project = "multidb_routers"
author = "The multidb_routers developers"
copyright = "2026, The multidb_routers developers"
release = multidb_routers.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.graphviz",
    "sphinx.ext.viewcode",
]
# Each pattern page's routing diagram (docs/diagrams/*.dot), drawn by Graphviz's dot at
# build time; scripts/install-docs-deps installs it.
graphviz_output_format = "svg"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
html_theme = "alabaster"
html_static_path = ["_static"]
exclude_patterns = ["_build"]
nitpicky = False
