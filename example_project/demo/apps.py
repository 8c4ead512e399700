"""App config of the demo app."""

from __future__ import annotations

from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Holds the ``demo`` management command; no models."""

    name = "demo"
