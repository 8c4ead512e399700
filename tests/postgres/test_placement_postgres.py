"""The placement directory and the shard lock on the real PostgreSQL cluster.

The directory's table lives on ``pg_primary`` here (``MULTIDB_ROUTERS_PLACEMENT_DATABASE``);
``shard_app.Review`` is sharded over the shard server's two databases.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pytest
from django.db import connections, transaction

from multidb_routers import ShardLockError, ShardRouter
from multidb_routers.models import Placement
from multidb_routers.sharding import placement, use_shard
from tests.testapps.shard_app.models import Review

if TYPE_CHECKING:
    from collections.abc import Iterator

SHARDS = ["pg_shard_0", "pg_shard_1"]
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, databases=["pg_primary", *SHARDS]),
]
NOW = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def _create(model: Any, alias: str) -> None:
    connection = connections[alias]
    if model._meta.db_table not in connection.introspection.table_names():
        with connection.schema_editor() as editor:
            editor.create_model(model)


def _truncate(model: Any, alias: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute(f"TRUNCATE {model._meta.db_table}")


@pytest.fixture
def router(settings: Any) -> Iterator[ShardRouter]:
    shard_router = ShardRouter(
        shards=SHARDS, apps=["shard_app.Review"], shard_key="product_id", directory="pg"
    )
    settings.DATABASE_ROUTERS = [shard_router]
    settings.MULTIDB_ROUTERS_PLACEMENT_DATABASE = "pg_primary"
    _create(Placement, "pg_primary")
    for alias in SHARDS:
        _create(Review, alias)
    for model, alias in [(Placement, "pg_primary"), (Review, SHARDS[0]), (Review, SHARDS[1])]:
        _truncate(model, alias)
    placement.clear_cache()
    yield shard_router
    for model, alias in [(Placement, "pg_primary"), (Review, SHARDS[0]), (Review, SHARDS[1])]:
        _truncate(model, alias)
    placement.clear_cache()


def test_a_placed_key_writes_and_reads_on_its_postgres_shard(router: ShardRouter) -> None:
    hashed = router.shard_for(42)
    target = next(alias for alias in SHARDS if alias != hashed)
    router.place(42, target)
    assert Placement.objects.using("pg_primary").get().alias == target
    with use_shard(42, lock=True):
        Review.objects.create(author="big", created=NOW)  # type: ignore[misc]
        assert list(Review.objects.values_list("product_id", flat=True)) == [42]
        with pytest.raises(ShardLockError):
            list(Review.objects.using(hashed).all())
        with pytest.raises(ShardLockError), connections[hashed].cursor() as cursor:
            cursor.execute("SELECT 1")
    with connections[target].cursor() as cursor:
        cursor.execute(f"SELECT product_id FROM {Review._meta.db_table}")
        assert cursor.fetchall() == [(42,)]


def test_reading_a_directory_not_migrated_keeps_an_open_postgres_transaction_usable(
    router: ShardRouter, settings: Any
) -> None:
    # pg_shard_1 has no directory table: the failed read must not abort the transaction.
    settings.MULTIDB_ROUTERS_PLACEMENT_DATABASE = "pg_shard_1"
    with transaction.atomic(using="pg_shard_1"):
        with connections["pg_shard_1"].cursor() as cursor:
            cursor.execute("SELECT 1")
        assert router.shard_for(7) in SHARDS
        with connections["pg_shard_1"].cursor() as cursor:
            cursor.execute("SELECT 2")
            assert cursor.fetchone() == (2,)
