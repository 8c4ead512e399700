"""App config: the label the docs use."""

from __future__ import annotations

from django.apps import AppConfig


class Config(AppConfig):
    """The docs' ``metrics`` app."""

    name = "tests.docs.apps.metrics"
    label = "metrics"
    default_auto_field = "django.db.models.BigAutoField"
