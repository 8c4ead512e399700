"""Test helpers for routing: ``record_routes()`` (also pytest fixtures of the same names).

Imported on first use (PEP 562): the pytest plugin, loaded by pytest at start-up in every
project that installs the package, imports nothing of Django through this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .routes import RecordedRoutes, record_routes

__all__ = ["RecordedRoutes", "record_routes"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "RecordedRoutes": "multidb_routers.testing.routes",
        "record_routes": "multidb_routers.testing.routes",
    },
)
