"""Overlay: read a production snapshot (``base``), write only to a local ``overlay``.

:class:`OverlayRouter` routes the models; :class:`OverlayManager` gives a model the
merged view (the base with the overlay's changes on top). See ``docs/overlay.rst``.
"""

from __future__ import annotations

from .manager import OverlayManager
from .router import OverlayRouter, find_overlay_router

__all__ = ["OverlayManager", "OverlayRouter", "find_overlay_router"]
