"""The ``billing`` app the docs' snippets name."""

from __future__ import annotations

from django.db import models


class Invoice(models.Model):
    """functional.rst's ``billing.Invoice``."""

    number = models.CharField(max_length=20)

    def __str__(self) -> str:
        return self.number
