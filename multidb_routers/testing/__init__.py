"""Helpers for testing a project's routing (Django tests and pytest fixtures of the same names).

``record_routes()`` (:mod:`.routes`): every routed query with its model, alias and reason.
``lagging_replicas()`` (:mod:`.lagging`): replicas that miss the writes made inside the
block, so a test proves that a view reads its own writes only thanks to a pin.

Imported on first use (PEP 562): the pytest plugin, loaded by pytest at start-up in every
project that installs the package, imports nothing of Django through this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .lagging import lagging_replicas
    from .routes import RecordedRoutes, record_routes

__all__ = ["RecordedRoutes", "lagging_replicas", "record_routes"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "RecordedRoutes": "multidb_routers.testing.routes",
        "lagging_replicas": "multidb_routers.testing.lagging",
        "record_routes": "multidb_routers.testing.routes",
    },
)
