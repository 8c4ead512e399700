"""App config of the products app."""

from __future__ import annotations

from django.apps import AppConfig


class ProductsConfig(AppConfig):
    """Products: a few rows, on ``default``."""

    name = "products"
