"""Models of the overlay_app tests."""

from __future__ import annotations
