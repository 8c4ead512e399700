"""use_primary() and write pins: nesting, decorators, isolation between tasks and threads."""

from __future__ import annotations

import asyncio
import inspect
import threading

import pytest
from django.db import connections, router

from multidb_routers import use_primary
from tests.testapps.replica_app.models import Review

REPLICAS = ("reviews_replica1", "reviews_replica2")
DATABASES = ["default", "reviews", *REPLICAS]


@pytest.fixture
def open_replicas() -> None:
    """Open the replica connections first: async code may not open one itself."""
    for alias in REPLICAS:
        connections[alias].ensure_connection()


def read() -> str | None:
    return router.db_for_read(Review)


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_nested_use_primary_blocks_unpin_only_when_the_outermost_ends() -> None:
    with use_primary():
        with use_primary():
            assert read() == "reviews"
        assert read() == "reviews"
    assert read() in REPLICAS


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_one_use_primary_object_can_be_entered_twice() -> None:
    block = use_primary()
    with block:
        with block:
            assert read() == "reviews"
        assert read() == "reviews"
    assert read() in REPLICAS


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_use_primary_ends_when_the_block_raises() -> None:
    def fail_inside() -> None:
        with use_primary():
            assert read() == "reviews"
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        fail_inside()
    assert read() in REPLICAS


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_use_primary_decorates_a_sync_function() -> None:
    @use_primary()
    def decorated(value: int) -> tuple[int, str | None]:
        """Docstring kept."""
        return value, read()

    assert decorated(1) == (1, "reviews")
    assert decorated.__doc__ == "Docstring kept."
    assert read() in REPLICAS


@pytest.mark.django_db(databases=DATABASES, transaction=True)
@pytest.mark.usefixtures("open_replicas")
def test_use_primary_decorates_an_async_function() -> None:
    @use_primary()
    async def decorated(value: int) -> tuple[int, str | None]:
        await asyncio.sleep(0)
        return value, read()

    assert inspect.iscoroutinefunction(decorated)
    assert asyncio.run(decorated(2)) == (2, "reviews")
    assert read() in REPLICAS


@pytest.mark.django_db(databases=DATABASES, transaction=True)
@pytest.mark.usefixtures("open_replicas")
def test_concurrent_asyncio_tasks_do_not_see_each_others_pins() -> None:
    async def pinned() -> list[str | None]:
        with use_primary():
            seen = []
            for _ in range(5):
                seen.append(read())
                await asyncio.sleep(0)  # let the other tasks run inside this block
            return seen

    async def writer() -> list[str | None]:
        router.db_for_write(Review)  # a write outside a request pins this task only
        seen = []
        for _ in range(5):
            seen.append(read())
            await asyncio.sleep(0)
        return seen

    async def plain() -> list[str | None]:
        seen = []
        for _ in range(5):
            await asyncio.sleep(0)
            seen.append(read())
        return seen

    async def main() -> list[list[str | None]]:
        return await asyncio.gather(pinned(), writer(), plain())

    in_block, after_write, unpinned = asyncio.run(main())

    assert in_block == ["reviews"] * 5
    assert after_write == ["reviews"] * 5
    assert set(unpinned) <= set(REPLICAS)
    assert read() in REPLICAS


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_threads_do_not_see_each_others_pins() -> None:
    inside = threading.Event()
    done = threading.Event()
    seen: dict[str, str | None] = {}

    def pinned() -> None:
        with use_primary():
            router.db_for_write(Review)
            seen["pinned"] = read()
            inside.set()
            done.wait(5)
        connections.close_all()

    def plain() -> None:
        inside.wait(5)
        seen["plain"] = read()
        done.set()
        connections.close_all()

    threads = [threading.Thread(target=pinned), threading.Thread(target=plain)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert seen["pinned"] == "reviews"
    assert seen["plain"] in REPLICAS
    assert read() in REPLICAS
