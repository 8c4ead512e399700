"""Models of the sharding tests: reviews sharded by product, events sharded by id."""

from __future__ import annotations

import uuid

from django.db import models

from multidb_routers.sharding import ShardedManager, new_id


class ReviewFields(models.Model):
    """The fields of a review, shared by the sharded model and its one-database oracle."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    product_id = models.IntegerField()
    author = models.CharField(max_length=50)
    rating = models.IntegerField(null=True, blank=True)
    price = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    created = models.DateTimeField()

    class Meta:
        abstract = True
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.author} on {self.product_id}"


class Review(ReviewFields):
    """Sharded by ``product_id``: every review of a product on one shard."""

    objects = ShardedManager["Review"]()

    class Meta(ReviewFields.Meta):
        pass


class OracleReview(ReviewFields):
    """Not sharded: the same rows in one database, to compare fan-out results with."""

    class Meta(ReviewFields.Meta):
        pass


class Event(models.Model):
    """Sharded by its primary key, an id made before the insert."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    name = models.CharField(max_length=50)

    objects = ShardedManager["Event"]()

    def __str__(self) -> str:
        return self.name


class Ticket(models.Model):
    """Sharded by its UUID primary key; a date and a review to shard by in other tests."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    day = models.DateField(null=True, blank=True)
    review = models.ForeignKey(
        Review, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False
    )

    objects = ShardedManager["Ticket"]()

    def __str__(self) -> str:
        return str(self.id)
