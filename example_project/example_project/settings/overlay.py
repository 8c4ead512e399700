"""Overlay: products and reviews read from a production snapshot, changed only locally.

``snapshot`` stands for a copy of production (the demo builds one); it is never
written, not even by a migration. ``overlay`` holds the local changes; the site reads
products and reviews through the merged view (``Product.merged``, ``Review.merged``).
Django's own apps (users, sessions) stay on ``default``.
"""

from __future__ import annotations

from multidb_routers import OverlayRouter

from .base import *  # noqa: F403
from .base import sqlite

EXAMPLE_PATTERN = "overlay"

DATABASES = {
    "default": sqlite("overlay", "default"),
    # The test runner must not migrate the base (the migration recorder would write to it).
    "snapshot": sqlite("overlay", "snapshot", TEST={"MIGRATE": False}),
    "overlay": sqlite("overlay", "overlay"),
}

DATABASE_ROUTERS = [
    OverlayRouter(base="snapshot", overlay="overlay", apps=["products", "reviews"]),
]
