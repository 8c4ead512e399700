"""ShardedManager: writes routed by each row's key, querysets on one key's shard."""

from __future__ import annotations

import datetime as dt
from contextlib import ExitStack

import django
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, models
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from multidb_routers import FunctionalRouter, ShardKeyError, ShardRouter
from multidb_routers.merge import MergedQuerySet
from multidb_routers.sharding import (
    ShardedManager,
    ShardedQuerySet,
    across_shards,
    find_shard_router,
    new_id,
    require_shard_router,
)
from tests.testapps.shard_app.models import Event, OracleReview, Review

SHARDS = ["shard_0", "shard_1", "shard_2", "shard_3"]
NOW = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
pytestmark = pytest.mark.django_db(databases=["default", *SHARDS])


def _holders(model: type[Review] | type[Event], pk: int) -> list[str]:
    """The shards holding a row with this primary key."""
    return [alias for alias in SHARDS if model._base_manager.using(alias).filter(pk=pk).exists()]


def test_create_writes_the_row_on_its_key_shard_only() -> None:
    router = require_shard_router(Review)
    for product_id in range(12):
        review = Review.objects.create(product_id=product_id, author="a", created=NOW)
        assert _holders(Review, review.pk) == [router.shard_for(product_id)]
        assert review._state.db == router.shard_for(product_id)


def test_create_of_a_model_sharded_by_pk_uses_the_generated_id() -> None:
    router = require_shard_router(Event)
    events = [Event.objects.create(name=str(n)) for n in range(12)]
    for event in events:
        assert _holders(Event, event.pk) == [router.shard_for(event.pk)]
    assert len({event._state.db for event in events}) > 1


def test_save_of_a_new_instance_routes_by_key_and_a_loaded_one_stays() -> None:
    review = Review(product_id=5, author="a", created=NOW)
    review.save()
    home = require_shard_router(Review).shard_for(5)
    assert _holders(Review, review.pk) == [home]
    loaded = Review.objects.shard(5).get(pk=review.pk)
    loaded.author = "b"
    loaded.save()
    assert Review.objects.shard(5).get(pk=review.pk).author == "b"
    assert _holders(Review, review.pk) == [home]


def test_shard_gives_the_rows_of_that_key_on_its_shard_and_on_shard_the_whole_shard() -> None:
    for product_id in range(8):
        Review.objects.create(product_id=product_id, author="a", created=NOW)
    router = require_shard_router(Review)
    queryset = Review.objects.shard(3)
    neighbours = {p for p in range(8) if router.shard_for(p) == router.shard_for(3)}
    assert queryset.db == router.shard_for(3)
    assert len(neighbours) > 1  # the shard holds other keys' rows too
    assert set(queryset.values_list("product_id", flat=True)) == {3}
    on_its_shard = Review.objects.on_shard(router.shard_for(3))
    assert set(on_its_shard.values_list("product_id", flat=True)) == neighbours
    assert queryset.update(author="z") == 1


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
    assert _holders(Review, review.pk) == [require_shard_router(Review).shard_for(9)]
    assert Review.objects.shard(9).get(pk=review.pk).rating == 4


@pytest.mark.skipif(django.VERSION < (5, 0), reason="create_defaults is new in Django 5.0")
def test_update_or_create_uses_create_defaults_only_to_create() -> None:
    options = {"defaults": {"rating": 2}, "create_defaults": {"rating": 5, "created": NOW}}
    created, was_created = Review.objects.update_or_create(product_id=4, author="a", **options)
    updated, was_created_again = Review.objects.update_or_create(
        product_id=4, author="a", **options
    )
    assert (created.rating, was_created, updated.rating, was_created_again) == (5, True, 2, False)
    assert _holders(Review, created.pk) == [require_shard_router(Review).shard_for(4)]


def test_get_or_create_of_a_model_sharded_by_pk_routes_by_the_pk_lookup() -> None:
    event_id = new_id()
    event, created = Event.objects.get_or_create(pk=event_id, defaults={"name": "launch"})
    again, created_again = Event.objects.get_or_create(id=event_id)
    assert (created, created_again, again.name) == (True, False, "launch")
    assert _holders(Event, event.pk) == [require_shard_router(Event).shard_for(event_id)]


def test_get_or_create_with_a_callable_key_routes_by_the_row_it_would_create() -> None:
    router = ShardRouter(
        shards=SHARDS, apps=["shard_app.Review"], shard_key=lambda review: review.author
    )
    with override_settings(DATABASE_ROUTERS=[router]):
        review, created = Review.objects.get_or_create(
            author="ann", product_id=1, defaults={"created": NOW}
        )
        again, created_again = Review.objects.get_or_create(author="ann", product_id=1)
    assert (created, created_again, again.pk) == (True, False, review.pk)
    assert _holders(Review, review.pk) == [router.shard_for("ann")]


def test_get_or_create_without_the_key_is_refused() -> None:
    with pytest.raises(ShardKeyError, match="product_id"):
        Review.objects.get_or_create(author="a", defaults={"created": NOW})


def test_bulk_create_inserts_once_per_shard_each_row_on_its_shard() -> None:
    router = require_shard_router(Review)
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


def unsharded_settings() -> override_settings:
    """Settings without sharding: ``shard_app`` wholly on one database, ``shard_0``."""
    return override_settings(DATABASE_ROUTERS=[FunctionalRouter(routes={"shard_app": "shard_0"})])


def test_without_a_shard_router_the_writes_behave_as_a_plain_manager() -> None:
    with unsharded_settings():
        created = Review.objects.create(product_id=1, author="a", created=NOW)
        fetched, was_created = Review.objects.get_or_create(
            product_id=2, author="b", defaults={"created": NOW}
        )
        updated, _ = Review.objects.update_or_create(
            product_id=1, author="a", defaults={"rating": 5}
        )
        Review.objects.bulk_create(
            [Review(product_id=n, author="c", created=NOW) for n in range(3, 6)]
        )

        assert find_shard_router(Review) is None
        assert (created._state.db, fetched._state.db, was_created) == ("shard_0", "shard_0", True)
        assert updated.pk == created.pk
        assert Review.objects.get(pk=created.pk).rating == 5
        assert Review.objects.count() == 5
    assert _holders(Review, created.pk) == ["shard_0"]


def test_without_a_shard_router_shard_and_across_shards_read_the_one_database() -> None:
    with unsharded_settings():
        for product_id in range(4):
            Review.objects.create(product_id=product_id, author="a", created=NOW)

        on_key = Review.objects.shard(3)
        everywhere = across_shards(Review.objects.order_by("product_id"))

        assert type(on_key) is ShardedQuerySet
        assert on_key.db == "shard_0"
        assert sorted(on_key.values_list("product_id", flat=True)) == [0, 1, 2, 3]
        assert isinstance(everywhere, MergedQuerySet)
        assert [r.product_id for r in everywhere] == [0, 1, 2, 3]
        assert everywhere.count() == 4
        with pytest.raises(ImproperlyConfigured, match=r"shard_app\.Review .* ShardRouter"):
            Review.objects.on_shard("shard_1")


def test_find_shard_router_returns_the_router_sharding_the_model() -> None:
    assert find_shard_router(Review) is require_shard_router(Review)
    assert find_shard_router(OracleReview) is None
    with pytest.raises(ImproperlyConfigured, match=r"shards shard_app\.OracleReview"):
        require_shard_router(OracleReview)


class AuthoredQuerySet(ShardedQuerySet[Review]):
    """A custom sharded queryset, as a project would write one."""

    def by(self, author: str) -> AuthoredQuerySet:
        return self.filter(author=author)


def test_from_queryset_keeps_the_custom_queryset_and_its_methods() -> None:
    manager = ShardedManager.from_queryset(AuthoredQuerySet)()
    manager.model = Review
    manager.create(product_id=7, author="a", created=NOW)
    manager.create(product_id=7, author="b", created=NOW)

    on_shard = manager.shard(7)

    assert isinstance(on_shard, AuthoredQuerySet)
    assert list(on_shard.by("b").values_list("author", flat=True)) == ["b"]
    assert list(manager.by("a").shard(7).values_list("author", flat=True)) == ["a"]
    assert _holders(Review, on_shard.get(author="a").pk) == [
        require_shard_router(Review).shard_for(7)
    ]


def test_from_queryset_refuses_a_queryset_that_is_no_sharded_queryset() -> None:
    class PlainQuerySet(models.QuerySet[Review]):
        pass

    with pytest.raises(TypeError, match=r"PlainQuerySet, which is no subclass of ShardedQuerySet"):
        ShardedManager.from_queryset(PlainQuerySet)
