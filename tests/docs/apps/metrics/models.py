"""The ``metrics`` app the docs' snippets name."""

from __future__ import annotations

from django.db import models


class Sample(models.Model):
    """faq.rst's time series."""

    value = models.FloatField()

    def __str__(self) -> str:
        return str(self.value)
