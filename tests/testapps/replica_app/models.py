"""Models of the primary/replica tests: an app on ``reviews`` and its two replicas."""

from __future__ import annotations

from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models


class Review(models.Model):
    """A product review, written on the primary and read from the replicas."""

    title = models.CharField(max_length=200)
    stars = models.PositiveSmallIntegerField(default=5)

    def __str__(self) -> str:
        return self.title


class Comment(models.Model):
    """A comment on a review (a relation within the replica set)."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="comments")
    text = models.TextField()

    def __str__(self) -> str:
        return self.text


class Product(models.Model):
    """A product with labels, through a generic relation (for Django #36389).

    The generic relation's manager routes its writes (``product.labels.update()``) as
    reads: outside a transaction on the primary they would reach a replica.
    """

    name = models.CharField(max_length=100)
    labels = GenericRelation("Label")

    def __str__(self) -> str:
        return self.name


class Label(models.Model):
    """A label on any object, through a generic foreign key.

    Content types live on another alias in the test settings: no database constraint.
    """

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, db_constraint=False)
    object_id = models.PositiveBigIntegerField()
    target = GenericForeignKey("content_type", "object_id")
    text = models.CharField(max_length=50)

    def __str__(self) -> str:
        return self.text
