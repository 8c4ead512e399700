"""PrimaryReplicaRouter's one-frame db_for_read answers exactly as the class's method."""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any

import pytest
from django.db import connections, transaction

from multidb_routers import PrimaryReplicaRouter, use_primary
from multidb_routers.replication.state import Pin, begin_request, end_request, fresh_state
from tests.testapps.replica_app.models import Review

if TYPE_CHECKING:
    from collections.abc import Callable

REPLICAS = ["reviews_replica1", "reviews_replica2"]
pytestmark = pytest.mark.django_db(databases=["reviews", *REPLICAS], transaction=True)


def _router(**options: Any) -> PrimaryReplicaRouter:
    return PrimaryReplicaRouter(primary="reviews", replicas=REPLICAS, **options)


def _both(router: PrimaryReplicaRouter) -> tuple[str | None, str | None]:
    """The instance's routing function's answer, then the class method's, in that state."""
    fast = router.db_for_read(Review)
    slow = PrimaryReplicaRouter.db_for_read(router, Review)
    return fast, slow


def test_the_instance_routes_reads_with_its_own_function_unless_a_subclass_overrides_it() -> None:
    class Custom(PrimaryReplicaRouter):
        def db_for_read(self, model: Any, **hints: Any) -> str | None:
            return "custom"

    assert "db_for_read" in vars(_router())
    assert Custom(primary="reviews", replicas=REPLICAS).db_for_read(Review) == "custom"


def test_out_of_scope_models_are_not_its_concern() -> None:
    router = _router(apps=["another_app"])

    assert _both(router) == (None, None)


def _in_request(check: Callable[[], None], *, pins: dict[str, Pin] | None = None) -> None:
    def run() -> None:
        _state, token = begin_request(pins or {})
        try:
            check()
        finally:
            end_request(token)

    contextvars.Context().run(run)


def test_in_a_request_the_kept_replica_then_the_primary_after_a_write() -> None:
    router = _router()

    def check() -> None:
        first = router.db_for_read(Review)
        assert first in REPLICAS
        assert _both(router) == (first, first)
        with use_primary():
            assert _both(router) == ("reviews", "reviews")
        assert router.db_for_write(Review) == "reviews"
        assert _both(router) == ("reviews", "reviews")

    _in_request(check)


def test_in_a_request_with_an_active_pin_reads_go_to_the_primary() -> None:
    import time

    router = _router()
    _in_request(
        lambda: (_both(router) == ("reviews", "reviews")) or pytest.fail("pinned read left"),
        pins={"reviews": Pin(until=time.time() + 60)},
    )


def test_a_transaction_on_the_primary_keeps_reads_on_it() -> None:
    router = _router()

    def check() -> None:
        assert router.db_for_read(Review) in REPLICAS
        with transaction.atomic(using="reviews"):
            assert _both(router) == ("reviews", "reviews")
        assert router.db_for_read(Review) in REPLICAS

    _in_request(check)
    contextvars.Context().run(check)


def test_a_replica_found_down_is_left_for_another() -> None:
    router = _router()

    def check() -> None:
        first = router.db_for_read(Review)
        assert first in REPLICAS
        router.replica_set._down[first] = float("inf")
        other = router.db_for_read(Review)
        assert other in REPLICAS
        assert other != first
        assert _both(router) == (other, other)

    try:
        _in_request(check)
        router.replica_set._down.clear()
        contextvars.Context().run(check)
    finally:
        router.replica_set._down.clear()


def test_outside_a_request_the_context_keeps_its_replica_until_its_connection_failed() -> None:
    router = _router()

    def check() -> None:
        with fresh_state():
            first = router.db_for_read(Review)
            assert first in REPLICAS
            assert _both(router) == (first, first)
            connection = connections[first]
            connection.errors_occurred = True
            try:
                # Rechecked (it is alive): kept.
                assert router.db_for_read(Review) == first
            finally:
                connection.errors_occurred = False

    contextvars.Context().run(check)


def test_without_replicas_every_read_goes_to_the_primary() -> None:
    router = PrimaryReplicaRouter(primary="reviews", replicas=[])

    assert _both(router) == ("reviews", "reviews")


def test_a_write_in_a_copied_context_of_the_request_sends_its_later_reads_to_the_primary() -> None:
    # sync_to_async and asyncio tasks run in a copy of the request's context: the write
    # is the request's, so the request's own context must stop serving the replica.
    router = _router()

    def check() -> None:
        assert router.db_for_read(Review) in REPLICAS
        contextvars.copy_context().run(router.db_for_write, Review)
        assert _both(router) == ("reviews", "reviews")

    _in_request(check)


def test_a_write_inside_restore_keeps_the_requests_reads_on_the_primary_after_it(
    settings: Any,
) -> None:
    from multidb_routers.consistency import capture, restore

    router = _router()
    settings.DATABASE_ROUTERS = [router]
    token = contextvars.Context().run(lambda: (router.db_for_write(Review), capture())[1])

    def check() -> None:
        assert router.db_for_read(Review) in REPLICAS
        with restore(token):
            assert _both(router) == ("reviews", "reviews")
            router.db_for_write(Review)
        assert _both(router) == ("reviews", "reviews")

    _in_request(check)


def test_use_primary_keeps_the_pins_made_inside_it_outside_a_request() -> None:
    router = _router()

    def check() -> None:
        with fresh_state():
            with use_primary():
                assert router.db_for_write(Review) == "reviews"
            # The block is over, the write's pin is not.
            assert _both(router) == ("reviews", "reviews")

    contextvars.Context().run(check)


def test_use_primary_inside_a_request_ends_with_its_block() -> None:
    router = _router()

    def check() -> None:
        first = router.db_for_read(Review)
        with use_primary(), use_primary():
            assert _both(router) == ("reviews", "reviews")
        assert _both(router) == (first, first)

    _in_request(check)
