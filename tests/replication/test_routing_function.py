"""PrimaryReplicaRouter's one-frame db_for_read answers exactly as the class's method."""

from __future__ import annotations

import contextvars
import random
import threading
from collections import Counter
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


def _first_reads(
    router: PrimaryReplicaRouter, requests: int, before: Callable[[], None] | None = None
) -> Counter[str | None]:
    """Where the first read of each of ``requests`` requests went (``before`` runs first)."""
    counts: Counter[str | None] = Counter()

    def one() -> None:
        if before is not None:
            before()
        _state, token = begin_request({})
        try:
            counts[router.db_for_read(Review)] += 1
        finally:
            end_request(token)

    state = random.getstate()
    random.seed(13)
    try:
        for _ in range(requests):
            contextvars.Context().run(one)
    finally:
        random.setstate(state)
    return counts


def test_the_first_read_of_a_request_draws_a_replica_by_weight() -> None:
    router = PrimaryReplicaRouter(
        primary="reviews", replicas={"reviews_replica1": 3, "reviews_replica2": 1}
    )

    counts = _first_reads(router, 4000)

    assert set(counts) == set(REPLICAS)
    assert abs(counts["reviews_replica1"] / 4000 - 0.75) < 0.03


def test_the_first_read_draws_evenly_among_replicas_of_equal_weight() -> None:
    # A list of replicas (equal weights) is drawn from by index, not by _pick().
    even = _first_reads(_router(), 4000)
    with_primary = _first_reads(
        PrimaryReplicaRouter(primary="reviews", replicas=REPLICAS, read_from_primaries=True),
        6000,
    )

    assert set(even) == set(REPLICAS)
    assert abs(even["reviews_replica1"] / 4000 - 0.5) < 0.03
    assert set(with_primary) == {"reviews", *REPLICAS}
    for alias in ("reviews", *REPLICAS):
        assert abs(with_primary[alias] / 6000 - 1 / 3) < 0.03


def test_a_replica_whose_connection_needs_a_check_is_drawn_as_often_as_the_others() -> None:
    # The drawn replica is checked, not drawn again: a redraw would favour replicas whose
    # connections were already known good (here replica2 would get a quarter of reads).
    router = _router()
    connection = connections["reviews_replica2"]

    def failed_since() -> None:
        connection.errors_occurred = True

    try:
        counts = _first_reads(router, 2000, before=failed_since)
    finally:
        connection.errors_occurred = False

    assert abs(counts["reviews_replica2"] / 2000 - 0.5) < 0.05
    assert not connection.errors_occurred or counts["reviews_replica2"] == 0


def test_the_first_read_skips_a_replica_left_out_and_readmits_one_due_a_recheck() -> None:
    router = _router()
    down = router.replica_set._down
    try:
        down["reviews_replica1"] = float("inf")
        assert _first_reads(router, 200) == {"reviews_replica2": 200}
        assert "reviews_replica1" in down

        down["reviews_replica1"] = 0.0  # due: checked with a query, then readmitted
        counts = _first_reads(router, 200)
        assert counts["reviews_replica1"] > 0
        assert "reviews_replica1" not in down
    finally:
        down.clear()


def test_the_first_read_of_a_request_in_a_transaction_stays_on_the_primary() -> None:
    router = _router()

    def check() -> None:
        with transaction.atomic(using="reviews"):
            assert _both(router) == ("reviews", "reviews")
        first = router.db_for_read(Review)
        assert first in REPLICAS
        assert _both(router) == (first, first)

    _in_request(check)


def test_the_first_read_after_set_autocommit_false_stays_on_the_primary() -> None:
    router = _router()
    primary = connections["reviews"]

    def check() -> None:
        primary.ensure_connection()
        transaction.set_autocommit(False, using="reviews")
        try:
            assert _both(router) == ("reviews", "reviews")
        finally:
            transaction.rollback(using="reviews")
            transaction.set_autocommit(True, using="reviews")
        first = router.db_for_read(Review)
        assert first in REPLICAS

    _in_request(check)


def test_the_first_read_in_a_thread_whose_primary_never_connected_goes_to_a_replica() -> None:
    from multidb_routers.replication.connections import cached_connection

    router = _router()
    answers: list[tuple[str | None, str | None]] = []

    def check() -> None:
        # A wrapper made in this thread and never connected: autocommit reads False.
        primary = cached_connection("reviews")
        assert (primary.connection, primary.autocommit) == (None, False)
        answers.append(_both(router))
        assert primary.connection is None  # asked nothing of the primary

    thread = threading.Thread(target=lambda: _in_request(check))
    thread.start()
    thread.join()
    [(fast, slow)] = answers
    assert fast in REPLICAS
    assert slow in REPLICAS


def test_each_replica_set_of_a_request_draws_its_own_first_read() -> None:
    # The hot path takes an empty choice of the request for its first read: a set whose
    # first read comes after another set's choice must still draw its own replica.
    first = PrimaryReplicaRouter(primary="reviews", replicas=REPLICAS[1:])
    second = PrimaryReplicaRouter(primary="reviews", replicas=REPLICAS[:1])
    answers: list[str | None] = []

    def check() -> None:
        for _ in range(2):
            answers.extend([first.db_for_read(Review), second.db_for_read(Review)])

    _in_request(check)
    assert answers == [REPLICAS[1], REPLICAS[0]] * 2


def test_a_replica_a_test_left_out_of_its_databases_is_not_drawn_first() -> None:
    from django.test.testcases import _DatabaseFailure

    router = _router()
    connection = connections["reviews_replica1"]
    connection.cursor = _DatabaseFailure(connection.cursor, "not in this test")  # type: ignore[method-assign]
    try:
        assert _first_reads(router, 100) == {"reviews_replica2": 100}
    finally:
        del connection.cursor
    assert not router.replica_set.down_replicas()


def _write_effects(router: PrimaryReplicaRouter, write: Callable[[], str | None]) -> tuple:
    """What ``write()`` answered and recorded: in a request, then outside one."""
    from multidb_routers.replication.state import context_pins

    def in_request() -> tuple[object, ...]:
        state, token = begin_request({})
        late: list[str] = []
        try:
            router.db_for_read(Review)  # a replica chosen, then a write empties the choice
            answer = write()
            state.on_write = lambda primary, replica_set: late.append(primary)
            again = write()
            return answer, again, sorted(state.written), dict(state.servable), late
        finally:
            end_request(token)

    def outside() -> tuple[object, ...]:
        with fresh_state():
            answer = write()
            return answer, sorted(context_pins())

    state = random.getstate()
    random.seed(7)  # with several primaries a new row's primary is drawn
    try:
        return contextvars.Context().run(in_request), contextvars.Context().run(outside)
    finally:
        random.setstate(state)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"apps": ["replica_app"]},
        {"apps": ["another_app"]},
        {"pin_writes": False},
        {"primary": ["reviews", "reviews_replica2"], "replicas": ["reviews_replica1"]},
    ],
    ids=["one primary", "scoped", "out of scope", "pin_writes=False", "several primaries"],
)
def test_the_write_function_answers_and_records_as_the_method(options: dict[str, Any]) -> None:
    router = PrimaryReplicaRouter(**{"primary": "reviews", "replicas": REPLICAS, **options})
    assert "db_for_write" in vars(router)

    fast = _write_effects(router, lambda: router.db_for_write(Review))
    slow = _write_effects(router, lambda: PrimaryReplicaRouter.db_for_write(router, Review))

    assert fast == slow
    if options in ({}, {"apps": ["replica_app"]}):
        answer, again, written, servable, late = fast[0]
        assert (answer, again, written, servable, late) == (
            "reviews",
            "reviews",
            ["reviews"],
            {},  # the write emptied the servable choice
            ["reviews"],  # the write after the middleware's response updates its cookie
        )
        assert fast[1] == ("reviews", ["reviews"])
    elif options == {"apps": ["another_app"]}:
        assert fast[0][0] is None


def test_the_write_function_keeps_an_instances_primary_with_several() -> None:
    router = PrimaryReplicaRouter(primary=["reviews", "reviews_replica2"], replicas=[REPLICAS[0]])
    review = Review(pk=1)
    review._state.db = "reviews_replica2"

    assert router.db_for_write(Review, instance=review) == "reviews_replica2"


def test_a_subclass_overriding_db_for_write_keeps_its_own() -> None:
    class Custom(PrimaryReplicaRouter):
        def db_for_write(self, model: Any, **hints: Any) -> str | None:
            return "custom"

    router = Custom(primary="reviews", replicas=REPLICAS)

    assert "db_for_write" not in vars(router)
    assert router.db_for_write(Review) == "custom"
