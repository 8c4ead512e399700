"""The ``reviews`` app the docs' snippets name."""

from __future__ import annotations

from django.db import models

from multidb_routers.sharding import ShardedManager, new_id


class Review(models.Model):
    """A review, sharded by product in sharding.rst."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    product_id = models.IntegerField(default=0)
    title = models.CharField(max_length=200)
    rating = models.IntegerField(default=5)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ShardedManager["Review"]()

    def __str__(self) -> str:
        return self.title


class Comment(models.Model):
    """A comment on a review (admin.rst's inline)."""

    # No constraint: in sharding.rst reviews are sharded and their comments are not.
    review = models.ForeignKey(Review, on_delete=models.CASCADE, db_constraint=False)
    text = models.TextField()

    def __str__(self) -> str:
        return self.text
