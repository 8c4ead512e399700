"""Models of the overlay tests: one of each kind an OverlayRouter knows."""

from __future__ import annotations

from django.db import models

from multidb_routers.overlay import OverlayManager


class Product(models.Model):
    """Merged: the base's products with the overlay's changes on top."""

    name = models.CharField(max_length=100)
    price = models.IntegerField()
    stock = models.IntegerField(default=0)

    objects: OverlayManager[Product] = OverlayManager()

    def __str__(self) -> str:
        return self.name


class Supplier(models.Model):
    """Plain scoped: read from the base, never written."""

    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name


class Note(models.Model):
    """Replaced: lives wholly in the overlay."""

    text = models.CharField(max_length=200)

    def __str__(self) -> str:
        return self.text
