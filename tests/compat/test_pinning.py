"""The compat pin: per context (threads, asyncio tasks), and one state with use_primary()."""

from __future__ import annotations

import asyncio
import threading
import warnings
from typing import TYPE_CHECKING

import pytest
from django.apps import apps
from django.db import router
from django.http import HttpRequest, HttpResponse

from multidb_routers import use_primary
from multidb_routers.compat.multidb import PinningReplicaRouter
from multidb_routers.compat.multidb.pinning import (
    db_write,
    pin_this_thread,
    this_thread_is_pinned,
    unpin_this_thread,
    use_master,
    use_primary_db,
)

if TYPE_CHECKING:
    from django.db.models import Model

REPLICAS = ("reviews_replica1", "reviews_replica2")
DATABASES = ["default", "reviews", *REPLICAS]


def review() -> type[Model]:
    return apps.get_model("replica_app", "Review")


def test_a_pin_in_one_asyncio_task_is_not_seen_by_a_concurrent_task() -> None:
    async def pinning(started: asyncio.Event, checked: asyncio.Event) -> bool:
        pin_this_thread()
        started.set()
        await checked.wait()
        return this_thread_is_pinned()

    async def reading(started: asyncio.Event, checked: asyncio.Event) -> bool:
        await started.wait()
        pinned = this_thread_is_pinned()
        checked.set()
        return pinned

    async def both() -> list[bool]:
        started, checked = asyncio.Event(), asyncio.Event()
        return list(await asyncio.gather(pinning(started, checked), reading(started, checked)))

    assert asyncio.run(both()) == [True, False]
    assert not this_thread_is_pinned()


def test_a_pin_in_one_thread_is_not_seen_by_another_thread_or_the_caller() -> None:
    pinned_in_thread: list[bool] = []
    seen_by_other: list[bool] = []
    pinned = threading.Event()
    seen = threading.Event()

    def pinner() -> None:
        pin_this_thread()
        pinned.set()
        seen.wait(5)
        pinned_in_thread.append(this_thread_is_pinned())

    def other() -> None:
        pinned.wait(5)
        seen_by_other.append(this_thread_is_pinned())
        seen.set()

    threads = [threading.Thread(target=pinner), threading.Thread(target=other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert pinned_in_thread == [True]
    assert seen_by_other == [False]
    assert not this_thread_is_pinned()


def test_use_primary_db_blocks_of_two_tasks_on_one_thread_end_independently() -> None:
    # One shared use_primary_db object, entered by two tasks that interleave.
    async def block(first_in: asyncio.Event, other_out: asyncio.Event, first: bool) -> bool:
        if not first:
            await first_in.wait()
        with use_primary_db:
            if first:
                first_in.set()
                await other_out.wait()
            else:
                await asyncio.sleep(0)
        if not first:
            other_out.set()
            return this_thread_is_pinned()
        return this_thread_is_pinned()

    async def both() -> list[bool]:
        first_in, other_out = asyncio.Event(), asyncio.Event()
        return list(
            await asyncio.gather(
                block(first_in, other_out, True), block(first_in, other_out, False)
            )
        )

    assert asyncio.run(both()) == [False, False]


def test_use_primary_db_restores_the_state_from_before_the_block() -> None:
    with use_primary_db:
        assert this_thread_is_pinned()
        with use_primary_db:
            unpin_this_thread()
            assert not this_thread_is_pinned()
        assert this_thread_is_pinned()
    assert not this_thread_is_pinned()


def test_use_primary_db_left_in_another_thread_raises_a_clear_error() -> None:
    errors: list[BaseException] = []

    def leave() -> None:
        try:
            use_primary_db.__exit__(None, None, None)
        except RuntimeError as exc:
            errors.append(exc)

    with use_primary_db:
        thread = threading.Thread(target=leave)
        thread.start()
        thread.join(5)
        assert this_thread_is_pinned()
    assert len(errors) == 1
    assert "same task or thread" in str(errors[0])
    assert not this_thread_is_pinned()


def test_use_primary_and_use_primary_db_are_one_state() -> None:
    with use_primary():
        assert this_thread_is_pinned()
    assert not this_thread_is_pinned()
    compat = PinningReplicaRouter()
    with use_primary():
        assert compat.db_for_read(None) == "default"


def test_a_compat_pin_sends_the_native_routers_reads_to_their_primary() -> None:
    # Pinned reads never open a replica connection, so no database access is needed.
    with use_primary_db:
        assert router.db_for_read(review()) == "reviews"
    pin_this_thread()
    assert router.db_for_read(review()) == "reviews"
    unpin_this_thread()


@pytest.mark.django_db(databases=DATABASES, transaction=True)  # TestCase reads the primary
def test_unpinned_native_reads_go_to_a_replica_again_after_unpin() -> None:
    pin_this_thread()
    unpin_this_thread()
    assert router.db_for_read(review()) in REPLICAS


def test_use_primary_db_pins_an_async_function_while_it_runs() -> None:
    @use_primary_db
    async def view() -> bool:
        await asyncio.sleep(0)
        return this_thread_is_pinned()

    async def run() -> tuple[bool, bool]:
        pinned = await view()
        return pinned, this_thread_is_pinned()

    assert asyncio.run(run()) == (True, False)


def test_db_write_pins_an_async_view_and_marks_its_response() -> None:
    @db_write
    async def view(request: HttpRequest) -> HttpResponse:
        await asyncio.sleep(0)
        return HttpResponse(str(this_thread_is_pinned()))

    response = asyncio.run(view(HttpRequest()))
    assert response.content == b"True"
    assert response._db_write is True  # type: ignore[attr-defined]
    assert not this_thread_is_pinned()


def test_db_write_pins_a_sync_view_and_keeps_its_name() -> None:
    @db_write
    def edit(request: HttpRequest) -> HttpResponse:
        return HttpResponse(str(this_thread_is_pinned()))

    response = edit(HttpRequest())
    assert response.content == b"True"
    assert response._db_write is True  # type: ignore[attr-defined]
    assert edit.__name__ == "edit"


def test_use_master_warns_once_per_block_and_still_pins() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with use_master:
            assert this_thread_is_pinned()

        @use_master
        def read() -> bool:
            return this_thread_is_pinned()

        assert read()
    assert [w.category for w in caught] == [DeprecationWarning, DeprecationWarning]
    assert "use_primary_db" in str(caught[0].message)
    assert caught[0].filename == __file__
