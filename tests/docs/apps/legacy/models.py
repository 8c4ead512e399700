"""The ``legacy`` app the docs' snippets name."""

from __future__ import annotations

from django.db import models


class Customer(models.Model):
    """functional.rst's ``legacy.Customer``."""

    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name
