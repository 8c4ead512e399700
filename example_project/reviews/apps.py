"""App config of the reviews app."""

from __future__ import annotations

from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    """Reviews: very many rows, on their own ``reviews`` database."""

    name = "reviews"
