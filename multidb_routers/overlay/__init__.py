"""Overlay: read a production snapshot (``base``), write only to a local ``overlay``.

:class:`OverlayRouter` routes the models; :class:`OverlayManager` gives a model the
merged view (the base with the overlay's changes on top). See ``docs/overlay.rst``.
The names below are imported on first use (PEP 562): the router does not pull in the
manager or the merged querysets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .manager import OverlayManager
    from .router import OverlayRouter, find_overlay_router, require_overlay_router

_EXPORTS = {
    "OverlayManager": "multidb_routers.overlay.manager",
    "OverlayRouter": "multidb_routers.overlay.router",
    "find_overlay_router": "multidb_routers.overlay.router",
    "require_overlay_router": "multidb_routers.overlay.router",
}

__all__ = ["OverlayManager", "OverlayRouter", "find_overlay_router", "require_overlay_router"]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
