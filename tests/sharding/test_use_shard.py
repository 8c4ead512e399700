"""use_shard(key, lock=...): hint-less queries on one key's shard, and the lock between shards."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.db import router as django_router

from multidb_routers import ShardKeyError, ShardLockError
from multidb_routers.sharding import across_shards, require_shard_router, use_shard
from multidb_routers.sharding.router import ShardRouter
from tests.testapps.functional_app.models import Shelf
from tests.testapps.shard_app.models import Event, Review, Ticket

SHARDS = ["shard_0", "shard_1", "shard_2", "shard_3"]
NOW = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
pytestmark = pytest.mark.django_db(databases=["default", "library", *SHARDS])


@pytest.fixture
def router() -> ShardRouter:
    return require_shard_router(Review)


def _wall(router: ShardRouter, key: int) -> set[str]:
    """The shards a lock on ``key`` leaves open: its shard for every sharded model."""
    return {router.shard_for(key, Review), router.shard_for(uuid.UUID(int=key))}


def _outside(router: ShardRouter, key: int) -> int:
    """A key whose Review shard is outside the lock of ``key``."""
    wall = _wall(router, key)
    return next(k for k in range(1000) if router.shard_for(k) not in wall)


def _outside_alias(router: ShardRouter, key: int) -> str:
    return next(alias for alias in SHARDS if alias not in _wall(router, key))


def test_hintless_reads_and_writes_go_to_the_key_shard(router: ShardRouter) -> None:
    with use_shard(7):
        assert django_router.db_for_read(Review) == router.shard_for(7)
        assert django_router.db_for_write(Review) == router.shard_for(7)
        assert django_router.db_for_read(Ticket) == router.shard_for(uuid.UUID(int=7))


def test_outside_the_block_a_hintless_query_still_raises() -> None:
    with use_shard(7):
        pass
    with pytest.raises(ShardKeyError, match=r"Review\.objects\.shard\(key\)"):
        django_router.db_for_read(Review)


def test_the_key_is_canonicalised_per_model(router: ShardRouter) -> None:
    for spelling in (7, "7", " 7"):
        with use_shard(spelling):
            assert django_router.db_for_read(Review) == router.shard_for(7)
            assert django_router.db_for_read(Event) == router.shard_for(7)


def test_a_key_the_field_rejects_raises_naming_the_model_at_routing_time() -> None:
    with use_shard("not a number"), pytest.raises(ShardKeyError, match=r"shard_app\.Review"):
        django_router.db_for_read(Review)


def test_none_is_refused_on_entry() -> None:
    with pytest.raises(ShardKeyError, match="None is no shard key"), use_shard(None):
        pass


def test_create_without_the_key_gets_the_block_key_and_lands_on_its_shard(
    router: ShardRouter,
) -> None:
    with use_shard(7):
        review = Review.objects.create(author="ann", created=NOW)  # type: ignore[misc]
        assert review.product_id == 7
        assert list(Review.objects.values_list("author", flat=True)) == ["ann"]
        Review.objects.bulk_create([Review(author="bob", created=NOW)])  # type: ignore[misc]
    holders = [a for a in SHARDS if Review.objects.on_shard(a).filter(product_id=7).exists()]
    assert holders == [router.shard_for(7)]
    assert Review.objects.shard(7).count() == 2


def test_an_instance_or_an_explicit_key_still_routes_by_its_own_key(router: ShardRouter) -> None:
    other = _outside(router, 7)
    with use_shard(7):
        review = Review.objects.create(product_id=other, author="ann", created=NOW)  # type: ignore[misc]
        assert review._state.db == router.shard_for(other)
        assert Review.objects.shard(other).get() == review


def test_reads_in_the_block_see_only_the_key_shard(router: ShardRouter) -> None:
    other = _outside(router, 7)
    Review.objects.create(product_id=7, author="mine", created=NOW)  # type: ignore[misc]
    Review.objects.create(product_id=other, author="theirs", created=NOW)  # type: ignore[misc]
    with use_shard(7):
        assert list(Review.objects.values_list("author", flat=True)) == ["mine"]


def test_the_inner_block_replaces_the_outer_until_it_ends(router: ShardRouter) -> None:
    other = _outside(router, 7)
    with use_shard(7):
        with use_shard(other):
            assert django_router.db_for_read(Review) == router.shard_for(other)
        assert django_router.db_for_read(Review) == router.shard_for(7)
    with pytest.raises(ShardKeyError):
        django_router.db_for_read(Review)


def test_lock_refuses_another_key_on_another_shard(router: ShardRouter) -> None:
    other = _outside(router, 7)
    with use_shard(7, lock=True), pytest.raises(ShardLockError, match="locked to the shard"):
        list(Review.objects.shard(other))


def test_lock_allows_another_key_on_the_same_shard(router: ShardRouter) -> None:
    neighbour = next(k for k in range(8, 1000) if router.shard_for(k) == router.shard_for(7))
    with use_shard(7, lock=True):
        assert list(Review.objects.shard(neighbour)) == []


def test_lock_refuses_saving_an_instance_whose_key_maps_elsewhere(router: ShardRouter) -> None:
    other = _outside(router, 7)
    with use_shard(7, lock=True), pytest.raises(ShardLockError):
        Review(product_id=other, author="x", created=NOW).save()  # type: ignore[misc]
    assert not Review.objects.shard(other).exists()


def test_lock_refuses_using_another_shard_alias_and_raw_sql_there(router: ShardRouter) -> None:
    alias = _outside_alias(router, 7)
    with use_shard(7, lock=True):
        with pytest.raises(ShardLockError, match=f"'{alias}'"):
            list(Review.objects.using(alias).all())
        with pytest.raises(ShardLockError), connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
        with pytest.raises(ShardLockError):
            list(Review.objects.on_shard(alias))
        # The key's own shard stays open to using() and raw SQL.
        with connections[router.shard_for(7)].cursor() as cursor:
            cursor.execute("SELECT 1")
    list(Review.objects.using(alias).all())  # and every shard again once the block ends


def test_lock_refuses_across_shards_but_an_unlocked_block_allows_it() -> None:
    with use_shard(7, lock=True), pytest.raises(ShardLockError, match="every shard"):
        across_shards(Review.objects.all()).count()
    with use_shard(7):
        assert across_shards(Review.objects.all()).count() == 0


def test_unsharded_models_route_as_before_inside_a_locked_block() -> None:
    with use_shard(7, lock=True):
        assert django_router.db_for_write(Shelf) == "library"
        Shelf.objects.create(name="kept")
        assert Shelf.objects.filter(name="kept").exists()


def test_nested_block_for_a_key_on_other_shards_raises_inside_a_lock(router: ShardRouter) -> None:
    other = _outside(router, 7)
    with use_shard(7, lock=True):
        with pytest.raises(ShardLockError, match="inside a block locked"), use_shard(other):
            pass
        # The same key: allowed, and still locked.
        with use_shard(7, lock=False), pytest.raises(ShardLockError):
            list(Review.objects.shard(other))
        assert django_router.db_for_read(Review) == router.shard_for(7)


def test_router_use_shard_cannot_leave_a_lock(router: ShardRouter) -> None:
    with use_shard(7, lock=True):
        with pytest.raises(ShardLockError), router.use_shard(_outside_alias(router, 7)):
            pass
        with router.use_shard(router.shard_for(7)):
            assert django_router.db_for_read(Event) == router.shard_for(7)
    with pytest.raises(ValueError, match="no shard"), router.use_shard("default"):
        pass


def test_an_error_inside_the_block_resets_the_selection() -> None:
    with pytest.raises(RuntimeError), use_shard(7, lock=True):
        raise RuntimeError
    with pytest.raises(ShardKeyError) as excinfo:
        django_router.db_for_read(Review)
    assert not isinstance(excinfo.value, ShardLockError)


def test_decorator_on_a_sync_function(router: ShardRouter) -> None:
    @use_shard(7)
    def where() -> str | None:
        return django_router.db_for_read(Review)

    assert where() == router.shard_for(7)
    assert where() == router.shard_for(7)  # the decorator can run twice


def test_decorator_on_an_async_function_and_concurrent_tasks_are_isolated(
    router: ShardRouter,
) -> None:
    keys = list(range(20))

    async def where(key: int) -> str | None:
        @use_shard(key, lock=True)
        async def inner() -> str | None:
            await asyncio.sleep(0.01)  # let the other tasks enter their blocks
            first = django_router.db_for_read(Review)
            await asyncio.sleep(0.01)
            second = await sync_to_async(django_router.db_for_read)(Review)
            assert first == second
            return first

        return await inner()

    async def main() -> list[str | None]:
        return await asyncio.gather(*(where(key) for key in keys))

    assert asyncio.run(main()) == [router.shard_for(key) for key in keys]


def test_threads_are_isolated(router: ShardRouter) -> None:
    results: dict[int, str | None] = {}
    barrier = threading.Barrier(8)

    def work(key: int) -> None:
        with use_shard(key, lock=True):
            barrier.wait()
            results[key] = django_router.db_for_read(Review)

    threads = [threading.Thread(target=work, args=(key,)) for key in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {key: router.shard_for(key) for key in range(8)}
    with pytest.raises(ShardKeyError):  # nothing leaked into this thread
        django_router.db_for_read(Review)


def test_only_shard_connections_carry_the_lock_guard_and_new_shards_get_it() -> None:
    from django.test import override_settings

    from multidb_routers.sharding.selection import _lock_guard

    with connections["library"].cursor() as cursor:  # connected while no shard
        cursor.execute("SELECT 1")
    assert _lock_guard not in connections["library"].execute_wrappers
    router = ShardRouter(
        shards=["shard_0", "library"], apps=["shard_app.Review"], shard_key="product_id"
    )
    with override_settings(DATABASE_ROUTERS=[router]):
        assert _lock_guard in connections["library"].execute_wrappers
        key = next(k for k in range(100) if router.shard_for(k) == "shard_0")
        with (
            use_shard(key, lock=True),
            pytest.raises(ShardLockError, match="'library'"),
            connections["library"].cursor() as cursor,
        ):
            cursor.execute("SELECT 1")
