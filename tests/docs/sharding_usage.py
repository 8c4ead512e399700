"""The usage example of docs/sharding.rst (included there), run by test_sharding_docs.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Avg

from multidb_routers.sharding import across_shards
from tests.testapps.shard_app.models import Review

if TYPE_CHECKING:
    import datetime as dt


def usage(now: dt.datetime) -> tuple[Any, Any, Any]:
    """Write a review of product 42, then read it back three ways."""
    # [usage]
    Review.objects.create(product_id=42, author="ann", rating=5, created=now)  # on 42's shard
    good = Review.objects.shard(42).filter(rating__gte=4)  # product 42's rows, from one shard
    latest = across_shards(Review.objects.order_by("-created"))[:20]  # latest 20, all shards
    average = across_shards(Review.objects.all()).aggregate(Avg("rating"))
    # [usage]
    return good, latest, average
