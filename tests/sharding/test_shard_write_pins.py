"""Every write of the sharded manager and queryset pins the shard's reads to its primary."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pytest
from asgiref.sync import async_to_sync
from django.test import Client, override_settings

from multidb_routers import ShardRouter
from multidb_routers.conf import conf
from multidb_routers.replication.state import fresh_state
from multidb_routers.sharding import use_shard
from tests.testapps.shard_app.models import Review

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

SHARDS = ["shard_0", "shard_1", "shard_2", "shard_3"]
REPLICA = "shard_3_replica"
NOW = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
# Committed writes: the replica (another connection to the in-memory shard) reads them.
pytestmark = pytest.mark.django_db(
    transaction=True, databases=["default", "users", *SHARDS, REPLICA]
)


@pytest.fixture
def router() -> Iterator[ShardRouter]:
    """The suite's shards, shard_3 with a replica (same aliases, so the same hashing)."""
    shard_router = ShardRouter(
        shards=[*SHARDS[:3], {"primary": "shard_3", "replicas": [REPLICA]}],
        apps=["shard_app.Review"],
        shard_key={"shard_app.Review": "product_id"},
    )
    with override_settings(DATABASE_ROUTERS=[shard_router]):
        yield shard_router


@pytest.fixture
def key(router: ShardRouter) -> int:
    """A product whose reviews live on shard_3, the shard with a replica."""
    return next(k for k in range(100) if router.shard_for(k) == "shard_3")


def _await(make: Callable[[], Awaitable[Any]]) -> Any:
    """Run an async write from this sync test, as an async view would."""

    async def run() -> Any:
        return await make()

    return async_to_sync(run)()


def _in_use_shard(key: int, write: Callable[[], Any]) -> Any:
    with use_shard(key):
        return write()


def _existing(key: int) -> Review:
    with fresh_state():
        return Review.objects.create(product_id=key, author="a", created=NOW)


WRITES: dict[str, Callable[[int], Any]] = {
    "create": lambda key: Review.objects.create(product_id=key, author="b", created=NOW),
    "get_or_create created": lambda key: Review.objects.get_or_create(
        product_id=key, author="b", defaults={"created": NOW}
    ),
    "update_or_create": lambda key: Review.objects.update_or_create(
        product_id=key, author="b", defaults={"rating": 2, "created": NOW}
    ),
    "bulk_create": lambda key: Review.objects.bulk_create(
        [Review(product_id=key, author="b", created=NOW)]
    ),
    "shard create": lambda key: Review.objects.shard(key).create(
        product_id=key, author="b", created=NOW
    ),
    "shard update": lambda key: (_existing(key), Review.objects.shard(key).update(rating=1)),
    "shard delete": lambda key: (_existing(key), Review.objects.shard(key).delete()),
    "on_shard update": lambda key: (
        _existing(key),
        Review.objects.on_shard("shard_3").update(rating=1),
    ),
    "shard get_or_create": lambda key: Review.objects.shard(key).get_or_create(
        product_id=key, author="b", defaults={"created": NOW}
    ),
    "shard update_or_create": lambda key: Review.objects.shard(key).update_or_create(
        product_id=key, author="b", defaults={"created": NOW}
    ),
    "shard bulk_create": lambda key: Review.objects.shard(key).bulk_create(
        [Review(product_id=key, author="b", created=NOW)]
    ),
    "shard bulk_update": lambda key: Review.objects.shard(key).bulk_update(
        [_existing(key)], ["rating"]
    ),
    "on_shard delete": lambda key: (_existing(key), Review.objects.on_shard("shard_3").delete()),
    "use_shard create": lambda key: _in_use_shard(
        key, lambda: Review.objects.create(author="b", created=NOW)
    ),
    "acreate": lambda key: _await(
        lambda: Review.objects.acreate(product_id=key, author="b", created=NOW)
    ),
    "aget_or_create": lambda key: _await(
        lambda: Review.objects.aget_or_create(product_id=key, author="b", defaults={"created": NOW})
    ),
    "abulk_create": lambda key: _await(
        lambda: Review.objects.abulk_create([Review(product_id=key, author="b", created=NOW)])
    ),
    "asave": lambda key: _await(lambda: Review(product_id=key, author="b", created=NOW).asave()),
    "save new": lambda key: Review(product_id=key, author="b", created=NOW).save(),
    "save loaded": lambda key: Review.objects.shard(key).get(pk=_existing(key).pk).save(),
    "delete loaded": lambda key: Review.objects.shard(key).get(pk=_existing(key).pk).delete(),
}


@pytest.mark.parametrize("write", WRITES, ids=list(WRITES))
def test_a_write_pins_the_reads_of_its_shard_to_the_primary(
    router: ShardRouter, key: int, write: str
) -> None:
    assert Review.objects.shard(key).db == REPLICA  # unpinned, reads use the replica
    with fresh_state():
        WRITES[write](key)
        assert Review.objects.shard(key).db == "shard_3"
        assert Review.objects.on_shard("shard_3").db == "shard_3"
        other = next(k for k in range(100) if router.shard_for(k) == "shard_0")
        assert Review.objects.shard(other).db == "shard_0"


def test_get_or_create_that_finds_the_row_reads_it_from_the_primary_and_pins(
    router: ShardRouter, key: int
) -> None:
    review = _existing(key)
    with fresh_state():
        found, created = Review.objects.get_or_create(product_id=key, author="a")
        assert (found.pk, created, found._state.db) == (review.pk, False, "shard_3")
        assert Review.objects.shard(key).db == "shard_3"


@override_settings(ROOT_URLCONF="tests.sharding.views")
def test_a_create_pins_the_clients_next_request_to_the_shard_primary(
    router: ShardRouter, key: int
) -> None:
    client = Client()
    added = client.post(f"/products/{key}/reviews/add/")
    assert added.status_code == 200
    assert added.json()["written_to"] == "shard_3"
    assert conf.PIN_COOKIE_NAME in added.cookies

    read = client.get(f"/products/{key}/reviews/")

    assert read.json() == {"pks": [added.json()["pk"]], "read_from": "shard_3"}
    stranger = Client().get(f"/products/{key}/reviews/")
    assert stranger.json()["read_from"] == REPLICA
