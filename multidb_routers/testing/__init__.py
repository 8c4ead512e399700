"""Helpers for testing a project's routing (importable from Django tests and pytest).

``lagging_replicas()`` (:mod:`.lagging`): replicas that miss the writes made inside the
block, so a test proves that a view reads its own writes only thanks to a pin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .lagging import lagging_replicas

_EXPORTS = {
    "lagging_replicas": "multidb_routers.testing.lagging",
}

__all__ = ["lagging_replicas"]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
