"""ShardedManager: writes routed by each row's key, querysets on one key's shard."""

from __future__ import annotations

import datetime as dt
from contextlib import ExitStack

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from multidb_routers import ShardKeyError
from multidb_routers.sharding import shard_router_for
from tests.shard_app.models import Event, Review

SHARDS = ["shard_0", "shard_1", "shard_2", "shard_3"]
NOW = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
pytestmark = pytest.mark.django_db(databases=["default", *SHARDS])


def _holders(model: type[Review] | type[Event], pk: int) -> list[str]:
    """The shards holding a row with this primary key."""
    return [alias for alias in SHARDS if model._base_manager.using(alias).filter(pk=pk).exists()]


def test_create_writes_the_row_on_its_key_shard_only() -> None:
    router = shard_router_for(Review)
    for product_id in range(12):
        review = Review.objects.create(product_id=product_id, author="a", created=NOW)
        assert _holders(Review, review.pk) == [router.shard_for(product_id)]
        assert review._state.db == router.shard_for(product_id)


def test_create_of_a_model_sharded_by_pk_uses_the_generated_id() -> None:
    router = shard_router_for(Event)
    events = [Event.objects.create(name=str(n)) for n in range(12)]
    for event in events:
        assert _holders(Event, event.pk) == [router.shard_for(event.pk)]
    assert len({event._state.db for event in events}) > 1


def test_save_of_a_new_instance_routes_by_key_and_a_loaded_one_stays() -> None:
    review = Review(product_id=5, author="a", created=NOW)
    review.save()
    home = shard_router_for(Review).shard_for(5)
    assert _holders(Review, review.pk) == [home]
    loaded = Review.objects.shard(5).get(pk=review.pk)
    loaded.author = "b"
    loaded.save()
    assert Review.objects.shard(5).get(pk=review.pk).author == "b"
    assert _holders(Review, review.pk) == [home]


def test_shard_gives_the_queryset_of_that_key_shard() -> None:
    for product_id in range(8):
        Review.objects.create(product_id=product_id, author="a", created=NOW)
    router = shard_router_for(Review)
    queryset = Review.objects.shard(3)
    assert queryset.db == router.shard_for(3)
    expected = {p for p in range(8) if router.shard_for(p) == router.shard_for(3)}
    assert set(queryset.values_list("product_id", flat=True)) == expected
    assert queryset.filter(product_id=3).update(author="z") == 1


def test_get_or_create_and_update_or_create_route_by_the_key_lookup() -> None:
    review, created = Review.objects.get_or_create(
        product_id=9, author="a", defaults={"created": NOW}
    )
    again, created_again = Review.objects.get_or_create(product_id=9, author="a")
    assert (created, created_again, again.pk) == (True, False, review.pk)
    updated, created = Review.objects.update_or_create(
        product_id=9, author="a", defaults={"rating": 4}
    )
    assert (updated.pk, created) == (review.pk, False)
    assert _holders(Review, review.pk) == [shard_router_for(Review).shard_for(9)]
    assert Review.objects.shard(9).get(pk=review.pk).rating == 4


def test_get_or_create_without_the_key_is_refused() -> None:
    with pytest.raises(ShardKeyError, match="product_id"):
        Review.objects.get_or_create(author="a", defaults={"created": NOW})


def test_bulk_create_inserts_once_per_shard_each_row_on_its_shard() -> None:
    router = shard_router_for(Review)
    reviews = [Review(product_id=n, author="a", created=NOW) for n in range(40)]
    with ExitStack() as stack:
        contexts = [
            stack.enter_context(CaptureQueriesContext(connections[alias])) for alias in SHARDS
        ]
        created = Review.objects.bulk_create(reviews)
    assert created == reviews
    for context in contexts:
        inserts = [q for q in context.captured_queries if q["sql"].startswith("INSERT")]
        assert len(inserts) == 1
    for review in reviews:
        assert _holders(Review, review.pk) == [router.shard_for(review.product_id)]
