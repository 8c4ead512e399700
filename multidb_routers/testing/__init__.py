"""Test helpers for routing: ``record_routes()`` (also pytest fixtures of the same names)."""

from __future__ import annotations

from .routes import RecordedRoutes, record_routes

__all__ = ["RecordedRoutes", "record_routes"]
