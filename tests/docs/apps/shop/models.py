"""The ``shop`` app the docs' snippets name."""

from __future__ import annotations

from django.db import models


class Draft(models.Model):
    """overlay.rst's ``shop.Draft``."""

    text = models.TextField()

    def __str__(self) -> str:
        return self.text
