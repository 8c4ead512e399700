"""Shard keys are canonicalised by the model's key field: one stored value, one shard."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db import router as django_router
from django.test import override_settings

from multidb_routers import ShardKeyError, ShardRouter
from multidb_routers.sharding import require_shard_router
from tests.testapps.shard_app.models import Event, Review, Ticket

SHARDS = ["shard_0", "shard_1", "shard_2", "shard_3"]
NOW = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
pytestmark = pytest.mark.django_db(databases=["default", *SHARDS])


def _holders(model: type[models.Model], **lookup: Any) -> list[str]:
    """The shards holding rows matching ``lookup``, once per row."""
    return [
        alias
        for alias in SHARDS
        for _ in model._base_manager.using(alias).filter(**lookup).values_list("pk", flat=True)
    ]


def _router(**shard_key: Any) -> ShardRouter:
    return ShardRouter(shards=SHARDS, apps=["shard_app"], shard_key=shard_key)


def _key_on_another_shard_than(router: ShardRouter, text: str, value: object) -> None:
    # Each spelling must hash apart from the canonical value when taken as plain text,
    # or the test would pass without canonicalisation.
    assert router.shard_for(text) != router.shard_for(value), (text, value)


# 42 and " 42" hash to different shards as plain text (checked below), so these tests
# fail when the key is hashed by its Python type.
INT_SPELLINGS = [42, "42", " 42", "42 ", "+42", Decimal("42"), Decimal("42.000"), "\t42\n"]


@pytest.mark.parametrize("key", INT_SPELLINGS, ids=repr)
def test_every_spelling_of_an_integer_key_maps_to_the_shard_of_the_stored_value(
    key: object,
) -> None:
    router = require_shard_router(Review)
    assert router.shard_for(key, Review) == router.shard_for(42)
    review = Review.objects.create(product_id=key, author="a", created=NOW)
    assert _holders(Review, pk=review.pk) == [router.shard_for(42)]
    assert Review.objects.shard(key).get().pk == review.pk
    assert Review.objects.shard(42).get().pk == review.pk


def test_get_or_create_with_two_spellings_of_one_key_makes_one_row() -> None:
    first, created = Review.objects.get_or_create(
        product_id=" 42", author="a", defaults={"created": NOW}
    )
    second, created_again = Review.objects.get_or_create(
        product_id=42, author="a", defaults={"created": NOW}
    )
    third, _ = Review.objects.update_or_create(
        product_id="42", author="a", defaults={"rating": 3, "created": NOW}
    )
    assert (created, created_again) == (True, False)
    assert first.pk == second.pk == third.pk
    assert _holders(Review, product_id=42) == [require_shard_router(Review).shard_for(42)]


def test_bulk_create_and_save_route_every_spelling_to_one_shard() -> None:
    router = require_shard_router(Review)
    reviews = [Review(product_id=key, author="b", created=NOW) for key in INT_SPELLINGS]
    Review.objects.bulk_create(reviews)
    saved = Review(product_id=" 42 ", author="c", created=NOW)
    saved.save()
    assert _holders(Review, product_id=42) == [router.shard_for(42)] * (len(INT_SPELLINGS) + 1)


def test_the_router_hint_of_a_new_instance_uses_the_canonical_key() -> None:
    router = require_shard_router(Review)
    instance = Review(product_id=" 42", author="a", created=NOW)
    assert django_router.db_for_write(Review, instance=instance) == router.shard_for(42)
    assert router.key_of(instance) == 42


def test_one_and_the_text_one_stay_the_same_key_with_and_without_a_model() -> None:
    router = require_shard_router(Review)
    assert router.shard_for(1) == router.shard_for("1") == router.shard_for("1", Review)
    assert router.shard_for(" 1", Review) == router.shard_for(1)
    event_router = require_shard_router(Event)
    assert event_router.shard_for("7", Event) == event_router.shard_for(7)


UUID_VALUE = uuid.UUID("8f14e45f-ceea-467f-a7a2-6a9f1c2b3d4e")
UUID_SPELLINGS = [
    UUID_VALUE,
    str(UUID_VALUE),
    str(UUID_VALUE).upper(),
    UUID_VALUE.hex,
    UUID_VALUE.hex.upper(),
    "{" + str(UUID_VALUE) + "}",
    UUID_VALUE.urn,
]


@pytest.mark.parametrize("key", UUID_SPELLINGS[1:], ids=repr)
def test_a_uuid_key_in_any_spelling_finds_the_one_row(key: str) -> None:
    router = require_shard_router(Ticket)
    ticket = Ticket.objects.create(id=key)
    again, created = Ticket.objects.get_or_create(id=UUID_VALUE)
    other, created_other = Ticket.objects.get_or_create(pk=key)
    assert (created, created_other) == (False, False)
    assert again.pk == other.pk == UUID_VALUE == uuid.UUID(str(ticket.pk))
    assert _holders(Ticket, pk=UUID_VALUE) == [router.shard_for(UUID_VALUE)]
    assert Ticket.objects.shard(key).get().pk == UUID_VALUE


def test_the_spellings_under_test_hash_apart_as_plain_text() -> None:
    router = require_shard_router(Review)
    _key_on_another_shard_than(router, " 42", 42)
    assert len({router.shard_for(str(key)) for key in UUID_SPELLINGS}) > 1


def test_every_uuid_spelling_maps_to_one_shard() -> None:
    router = require_shard_router(Ticket)
    assert {router.shard_for(key, Ticket) for key in UUID_SPELLINGS} == {
        router.shard_for(UUID_VALUE)
    }


def test_a_date_key_given_as_text_or_date_maps_to_one_shard() -> None:
    router = _router(**{"shard_app.Ticket": "day"})
    day = dt.date(2024, 5, 1)
    with override_settings(DATABASE_ROUTERS=[router]):
        by_text = Ticket.objects.create(day="2024-05-01")
        by_date = Ticket.objects.create(day=day)
        by_datetime = Ticket.objects.create(day=dt.datetime(2024, 5, 1, 13, 30))
        assert Ticket.objects.shard("2024-05-01").count() == 3
    assert router.shard_for("2024-05-01", Ticket) == router.shard_for(day)
    assert {by_text.pk, by_date.pk, by_datetime.pk} == set(
        Ticket._base_manager.using(router.shard_for(day)).values_list("pk", flat=True)
    )


def test_a_datetime_key_is_one_key_in_every_time_zone_spelling() -> None:
    router = _router(**{"shard_app.Review": "created"})
    utc = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
    paris = utc.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert router.shard_for(paris, Review) == router.shard_for(utc, Review)
    assert router.shard_for("2024-05-01T14:00:00+02:00", Review) == router.shard_for(utc, Review)


def test_a_decimal_key_is_one_key_in_every_spelling() -> None:
    router = _router(**{"shard_app.Review": "price"})
    shards = {
        router.shard_for(key, Review)
        for key in ["42.5", "42.50", Decimal("42.500"), Decimal("4.25E+1"), 42.5, " 42.5"]
    }
    assert shards == {router.shard_for(Decimal("42.5"))}
    assert router.shard_for("42.00", Review) == router.shard_for(42)


def test_a_foreign_key_given_as_instance_or_primary_key_maps_to_one_shard() -> None:
    review = Review.objects.create(product_id=3, author="a", created=NOW)
    router = _router(**{"shard_app.Ticket": "review", "shard_app.Review": "product_id"})
    with override_settings(DATABASE_ROUTERS=[router]):
        home = router.shard_for(review.pk)
        assert router.shard_for(review, Ticket) == router.shard_for(str(review.pk), Ticket) == home
        ticket = Ticket.objects.create(review_id=str(review.pk))
        found, created = Ticket.objects.get_or_create(review=review)
        assert (found.pk, created) == (ticket.pk, False)
        assert Ticket.objects.shard(review).get().pk == ticket.pk
    assert _holders(Ticket, pk=ticket.pk) == [home]


@pytest.mark.parametrize(
    "call",
    [
        lambda: Review.objects.create(product_id="abc", author="a", created=NOW),
        lambda: Review.objects.get_or_create(product_id="abc", defaults={"created": NOW}),
        lambda: Review.objects.update_or_create(product_id="abc", defaults={"created": NOW}),
        lambda: Review.objects.bulk_create([Review(product_id="abc", author="a", created=NOW)]),
        lambda: Review(product_id="abc", author="a", created=NOW).save(),
        lambda: Review.objects.shard("abc"),
        lambda: require_shard_router(Review).shard_for("abc", Review),
    ],
    ids=[
        "create",
        "get_or_create",
        "update_or_create",
        "bulk_create",
        "save",
        "shard",
        "shard_for",
    ],
)
def test_a_value_the_key_field_rejects_raises_naming_model_field_and_value(call: Any) -> None:
    with pytest.raises(ShardKeyError) as excinfo:
        call()
    message = str(excinfo.value)
    for part in ("shard_app.Review", "'product_id'", "'abc'", "IntegerField"):
        assert part in message
    assert _holders(Review) == []


def test_a_uuid_key_that_is_no_uuid_is_refused_naming_it() -> None:
    with pytest.raises(
        ShardKeyError, match=r"'not-a-uuid' is no valid shard key of shard_app\.Ticket"
    ):
        Ticket.objects.create(id="not-a-uuid")
    assert _holders(Ticket) == []


def test_none_on_a_sharded_model_is_empty_and_asks_for_no_shard() -> None:
    Review.objects.create(product_id=1, author="a", created=NOW)
    assert list(Review.objects.none()) == []
    assert Review.objects.none().count() == 0
    assert not Review.objects.filter(author="a").none().exists()
    assert list(Event.objects.all().none().values_list("pk", flat=True)) == []


def test_a_row_of_another_key_is_refused_on_a_key_or_shard_queryset() -> None:
    router = require_shard_router(Review)
    other = next(key for key in range(100) if router.shard_for(key) != router.shard_for(42))
    with pytest.raises(ShardKeyError, match="belongs on"):
        Review.objects.shard(42).create(product_id=other, author="a", created=NOW)
    with pytest.raises(ShardKeyError, match="belongs on"):
        Review.objects.on_shard(router.shard_for(42)).bulk_create(
            [Review(product_id=other, author="a", created=NOW)]
        )
    assert _holders(Review) == []
    made = Review.objects.shard(42).create(product_id=" 42", author="a", created=NOW)
    assert _holders(Review, pk=made.pk) == [router.shard_for(42)]


def test_a_callable_key_is_hashed_by_the_text_of_what_it_returns() -> None:
    router = ShardRouter(
        shards=SHARDS, apps=["shard_app.Review"], shard_key=lambda review: int(review.product_id)
    )
    with override_settings(DATABASE_ROUTERS=[router]):
        review = Review.objects.create(product_id=" 42", author="a", created=NOW)
        assert router.key_field(Review) is None
        assert router.canonical_key(Review, " 42") == " 42"
        assert review._state.db == router.shard_for(42)


def test_the_key_field_is_looked_up_once_per_model(monkeypatch: pytest.MonkeyPatch) -> None:
    router = _router(**{"shard_app.Review": "product_id"})
    assert router.key_field(Review) is Review._meta.get_field("product_id")

    def refuse(name: str) -> None:
        raise AssertionError(f"get_field({name!r}) on the hot path")

    monkeypatch.setattr(Review._meta, "get_field", refuse)
    assert router.shard_of(Review(product_id="7")) == router.shard_for(7)


def test_a_shard_key_naming_a_relation_s_other_side_is_refused_by_check_and_router() -> None:
    router = _router(**{"shard_app.Review": "ticket"})  # Ticket.review's reverse side
    messages = router.check_config(name="router", databases=SHARDS)
    errors = [m for m in messages if m.id == "multidb_routers.E020"]
    assert len(errors) == 1
    assert "shards shard_app.Review by 'ticket', which is no column" in errors[0].msg
    with pytest.raises(ImproperlyConfigured, match="'ticket', which is no column"):
        router.shard_for(1, Review)
