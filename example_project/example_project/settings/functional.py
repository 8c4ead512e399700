"""Functional separation: reviews on ``reviews``; products and Django's apps on ``default``."""

from __future__ import annotations

from multidb_routers import FunctionalRouter

from .base import *  # noqa: F403
from .base import sqlite

EXAMPLE_PATTERN = "functional"

DATABASES = {
    "default": sqlite("functional", "default"),
    "reviews": sqlite("functional", "reviews"),
}

DATABASE_ROUTERS = [FunctionalRouter(routes={"reviews": "reviews"})]
