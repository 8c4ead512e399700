"""App config: the label the docs use."""

from __future__ import annotations

from django.apps import AppConfig


class Config(AppConfig):
    """The docs' ``legacy`` app."""

    name = "tests.docs.apps.legacy"
    label = "legacy"
    default_auto_field = "django.db.models.BigAutoField"
