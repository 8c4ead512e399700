"""App config: the label the docs use."""

from __future__ import annotations

from django.apps import AppConfig


class Config(AppConfig):
    """The docs' ``shop`` app."""

    name = "tests.docs.apps.shop"
    label = "shop"
    default_auto_field = "django.db.models.BigAutoField"
