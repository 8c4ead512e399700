"""Models of the functional separation tests: an app routed to ``library``."""

from __future__ import annotations

from django.db import models


class Shelf(models.Model):
    """A shelf of books."""

    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name


class Book(models.Model):
    """A book on a shelf, with tags (an auto-created many-to-many table)."""

    title = models.CharField(max_length=200)
    shelf = models.ForeignKey(Shelf, on_delete=models.CASCADE, related_name="books")
    tags = models.ManyToManyField("Tag", blank=True)

    def __str__(self) -> str:
        return self.title


class Tag(models.Model):
    """A tag on books."""

    name = models.CharField(max_length=50)

    def __str__(self) -> str:
        return self.name


class FeaturedBook(Book):
    """A proxy: routed with its concrete model."""

    class Meta:
        proxy = True
