"""The catalogue: a few products, kept on the ``default`` database (or a snapshot)."""

from __future__ import annotations

from django.db import models
from django.urls import reverse

from multidb_routers.overlay import OverlayManager


class Product(models.Model):
    """A product people review."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(unique=True)
    description = models.TextField()
    price = models.DecimalField(max_digits=8, decimal_places=2)

    # objects, the default manager (admin, forms), reads where the router sends it;
    # merged is the snapshot with the overlay's changes on top under an OverlayRouter.
    objects = models.Manager["Product"]()
    merged = OverlayManager["Product"]()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        """The product page."""
        return reverse("product_detail", args=[self.slug])
