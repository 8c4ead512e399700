"""App config: the label the docs use."""

from __future__ import annotations

from django.apps import AppConfig


class Config(AppConfig):
    """The docs' ``reviews`` app."""

    name = "tests.docs.apps.reviews"
    label = "reviews"
    default_auto_field = "django.db.models.BigAutoField"
