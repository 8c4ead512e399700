"""``Item``: the one-field model the benchmarks read and write (app label ``bench``).

Import it after ``django.setup()`` (each benchmark configures Django for itself).
"""

from __future__ import annotations

from django.db import models


class Item(models.Model):
    """A row the benchmarks read and write."""

    name = models.CharField(max_length=50)

    class Meta:
        app_label = "bench"

    def __str__(self) -> str:
        return self.name
