"""Models of the primary/replica tests: an app on ``reviews`` and its two replicas."""

from __future__ import annotations

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
