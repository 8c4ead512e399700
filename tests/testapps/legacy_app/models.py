"""Models of the legacy tests: one model routed on its own (``legacy_app.Customer``)."""

from __future__ import annotations

from django.db import models


class Customer(models.Model):
    """A customer, routed to the ``legacy`` alias by its model label."""

    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name


class Note(models.Model):
    """A note: same app, not routed, so it stays on ``default``."""

    text = models.TextField()

    def __str__(self) -> str:
        return self.text
