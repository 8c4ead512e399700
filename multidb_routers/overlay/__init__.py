"""Overlay: read a production snapshot (``base``), write only to a local ``overlay``.

:class:`OverlayRouter` routes the models; :class:`OverlayManager` gives a model the
merged view (the base with the overlay's changes on top). See ``docs/overlay.rst``.
The names below are imported on first use (PEP 562): the router does not pull in the
manager or the merged querysets.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access (PEP 562)."""
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
