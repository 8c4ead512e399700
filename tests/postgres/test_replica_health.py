"""Replica health against the real lagging standby: lag limits, single-flight positions,
reads retried when their replica dies, pinned reads while the primary is down."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
from django.db import OperationalError, close_old_connections, connections, transaction
from django.db.models.expressions import RawSQL
from django.http import HttpRequest, JsonResponse
from django.test import Client
from django.urls import path

from multidb_routers import PrimaryReplicaRouter
from multidb_routers.conf import conf
from multidb_routers.exceptions import PinnedReadError
from multidb_routers.replication.freshness import POSITION_SQL, LsnFreshness, parse_lsn
from multidb_routers.replication.middleware import loads_pins
from tests.postgres import reviews as pg_reviews
from tests.postgres.plugin import _connect, wait_for_standby
from tests.postgres.reviews import PRIMARY, STANDBY, StatementLog
from tests.testapps.replica_app.models import Review

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from multidb_routers.replication.state import Pin
    from tests.postgres.cluster import PgCluster

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, databases=[PRIMARY, STANDBY]),
    pytest.mark.urls(__name__),
]


def _slow_read(pk: int, seconds: float = 1.0) -> bool:
    """Whether review ``pk`` exists, read by a statement that lasts ``seconds``."""
    slow = RawSQL("(SELECT 1 FROM pg_sleep(%s))", (seconds,))
    return Review.objects.filter(pk=pk).annotate(slow=slow).filter(slow=1).exists()


def show_review_slowly(request: HttpRequest, pk: int) -> JsonResponse:
    """Whether the review is visible, read by a statement lasting a second."""
    return JsonResponse({"found": _slow_read(pk)})


urlpatterns = [*pg_reviews.urlpatterns, path("reviews/<int:pk>/slow/", show_review_slowly)]


def _route(settings: Any, **options: Any) -> PrimaryReplicaRouter:
    replica_router = PrimaryReplicaRouter(
        primary=PRIMARY, replicas=[STANDBY], apps=["replica_app"], exclusive=True, **options
    )
    settings.DATABASE_ROUTERS = [replica_router]
    settings.MIDDLEWARE = ["multidb_routers.middleware.PinningMiddleware"]
    return replica_router


@pytest.fixture
def replay() -> Iterator[Callable[[bool], None]]:
    """Pause (``False``) or resume (``True``) the standby's replay; resumed after the test."""
    standby = _connect(STANDBY)

    def set_replay(running: bool) -> None:
        standby.execute(f"SELECT pg_wal_replay_{'resume' if running else 'pause'}()")

    try:
        yield set_replay
    finally:
        set_replay(True)
        standby.close()


def _hammer_positions(
    freshness: LsnFreshness, *, threads: int, seconds: float
) -> tuple[int, float]:
    """``threads`` threads ask the standby's position for ``seconds``; the queries sent."""
    asked: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)
    failures: list[BaseException] = []

    def count(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        if sql == POSITION_SQL:
            with lock:
                asked.append(time.monotonic())
        return execute(sql, *args)

    def run() -> None:
        try:
            with connections[STANDBY].execute_wrapper(count):
                start.wait()
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    assert freshness.position(STANDBY).lag is not None
        except BaseException as exc:  # reported by the test
            failures.append(exc)
        finally:
            connections[STANDBY].close()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not failures, failures
    return len(asked), time.monotonic() - started


def test_concurrent_threads_ask_a_standby_position_once_per_interval() -> None:
    interval, seconds, threads = 0.05, 1.5, 16
    freshness = LsnFreshness(cache_seconds=interval)

    queries, elapsed = _hammer_positions(freshness, threads=threads, seconds=seconds)

    allowed = int(elapsed / interval) + 1
    print(f"\n{threads} threads, {elapsed:.2f} s: {queries} position queries, allowed {allowed}")
    assert 0 < queries <= allowed


@pytest.mark.usefixtures("pg_review_tables")
def test_a_standby_behind_in_bytes_is_left_out_then_readmitted_after_staying_caught_up(
    settings: Any,
    statements: StatementLog,
    replay: Callable[[bool], None],
    pg_wait_for_standby: Callable[[], float],
) -> None:
    readmit = 1.0
    replica_router = _route(
        settings,
        pin_seconds=0,
        freshness="lsn",
        lsn_cache_seconds=0.05,
        max_lag_bytes=0,
        readmit_after_seconds=readmit,
    )
    freshness = replica_router.replica_set.freshness
    assert isinstance(freshness, LsnFreshness)
    review = Review.objects.using(PRIMARY).create(title="lagging")
    pg_wait_for_standby()

    def read() -> tuple[float, str, int | None]:
        statements.clear()
        assert Review.objects.filter(pk=review.pk).exists()
        (alias,) = statements.review_read_aliases()
        return time.monotonic(), alias, freshness.position(STANDBY).lag_bytes

    assert read()[1] == STANDBY
    replay(False)
    Review.objects.using(PRIMARY).create(title="not replayed")
    behind = [read() for _ in range(20) if not time.sleep(0.02)]
    assert behind[-1][1] == PRIMARY
    assert (behind[-1][2] or 0) > 0
    replay(True)  # the standby replays, 300 ms later, and stays caught up
    after = []
    deadline = time.monotonic() + 10
    while not after or after[-1][1] != STANDBY:
        assert time.monotonic() < deadline, "the standby was never readmitted"
        after.append(read())
        time.sleep(0.02)

    caught_up = next(when for when, _, lag_bytes in after if lag_bytes == 0)
    back = after[-1][0]
    print(f"\ncaught up, then readmitted {back - caught_up:.2f} s later ({len(after)} reads)")
    # Once it lags, no read is served by it until it stayed within the limit `readmit` s.
    first_out = next(index for index, (_, alias, _) in enumerate(behind) if alias == PRIMARY)
    assert all(alias == PRIMARY for _, alias, _ in behind[first_out:])
    assert all(alias == PRIMARY for _, alias, _ in after[:-1])
    assert readmit - 0.1 <= back - caught_up <= readmit + 1.0
    assert replica_router.replica_set.down_replicas() == frozenset()


# -- a read whose replica dies under it -------------------------------------------------------


def _standby_backends(action: str) -> None:
    """``pg_terminate_backend`` or ``pg_cancel_backend`` the standby's sleeping statements."""
    with _connect(STANDBY) as standby:
        deadline = time.monotonic() + 5
        while not standby.execute(
            f"SELECT {action}(pid) FROM pg_stat_activity "
            "WHERE query LIKE '%%pg_sleep%%' AND pid <> pg_backend_pid()"
        ).fetchall():
            assert time.monotonic() < deadline, "no sleeping statement on the standby"
            time.sleep(0.02)


def _in_a_moment(action: Callable[[], None]) -> threading.Thread:
    def run() -> None:
        time.sleep(0.3)
        action()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.fixture
def standby_back(pg_cluster: PgCluster) -> Iterator[PgCluster]:
    """The cluster, with the standby running again after the test whatever happened."""
    yield pg_cluster
    close_old_connections()
    connections[STANDBY].close()
    pg_cluster.start_server("standby")
    wait_for_standby()


@pytest.mark.usefixtures("pg_review_tables")
def test_a_read_running_when_its_standby_stops_is_retried_on_the_primary(
    settings: Any,
    statements: StatementLog,
    standby_back: PgCluster,
    pg_wait_for_standby: Callable[[], float],
) -> None:
    replica_router = _route(settings, recheck_seconds=60)
    review = Review.objects.using(PRIMARY).create(title="served twice")
    pg_wait_for_standby()
    assert Review.objects.filter(pk=review.pk).exists()
    statements.clear()

    stopping = _in_a_moment(lambda: standby_back.stop_server("standby"))
    try:
        assert _slow_read(review.pk)
    finally:
        stopping.join()

    assert statements.review_read_aliases() == [STANDBY, PRIMARY]
    assert replica_router.replica_set.down_replicas() == {STANDBY}
    statements.clear()
    assert Review.objects.filter(pk=review.pk).exists()  # and the next read goes there too
    assert statements.review_read_aliases() == [PRIMARY]


@pytest.mark.usefixtures("pg_review_tables")
def test_a_request_whose_standby_connection_is_terminated_mid_read_succeeds(
    settings: Any, statements: StatementLog, pg_wait_for_standby: Callable[[], float]
) -> None:
    replica_router = _route(settings, recheck_seconds=0.5)
    review = Review.objects.using(PRIMARY).create(title="terminated")
    pg_wait_for_standby()

    terminating = _in_a_moment(lambda: _standby_backends("pg_terminate_backend"))
    try:
        response = Client().get(f"/reviews/{review.pk}/slow/")
    finally:
        terminating.join()

    assert response.status_code == 200
    assert response.json() == {"found": True}
    assert statements.review_read_aliases() == [STANDBY, PRIMARY]
    # The standby itself is alive: after recheck_seconds it serves reads again.
    assert replica_router.replica_set.down_replicas() == {STANDBY}
    time.sleep(0.8)
    statements.clear()
    assert Client().get(f"/reviews/{review.pk}/").json() == {"found": True}
    assert statements.review_read_aliases() == [STANDBY]
    assert replica_router.replica_set.down_replicas() == frozenset()


@pytest.mark.usefixtures("pg_review_tables")
def test_a_read_inside_a_standby_transaction_that_loses_its_connection_fails(
    settings: Any, statements: StatementLog, pg_wait_for_standby: Callable[[], float]
) -> None:
    replica_router = _route(settings)
    review = Review.objects.using(PRIMARY).create(title="in a transaction")
    pg_wait_for_standby()
    assert Review.objects.filter(pk=review.pk).exists()  # the standby is chosen
    statements.clear()

    terminating = _in_a_moment(lambda: _standby_backends("pg_terminate_backend"))
    try:
        with pytest.raises(OperationalError), transaction.atomic(using=STANDBY):
            _slow_read(review.pk)
    finally:
        terminating.join()
    connections[STANDBY].close()

    assert statements.review_read_aliases() == [STANDBY]
    assert replica_router.replica_set.down_replicas() == frozenset()


@pytest.mark.usefixtures("pg_review_tables")
def test_a_read_cancelled_on_a_live_standby_is_not_retried(
    settings: Any, statements: StatementLog, pg_wait_for_standby: Callable[[], float]
) -> None:
    replica_router = _route(settings)
    review = Review.objects.using(PRIMARY).create(title="cancelled")
    pg_wait_for_standby()

    cancelling = _in_a_moment(lambda: _standby_backends("pg_cancel_backend"))
    try:
        with pytest.raises(OperationalError, match="canceling statement"):
            _slow_read(review.pk)
    finally:
        cancelling.join()

    assert statements.review_read_aliases() == [STANDBY]
    assert replica_router.replica_set.down_replicas() == frozenset()
    statements.clear()
    assert Review.objects.filter(pk=review.pk).exists()  # the connection still serves
    assert statements.review_read_aliases() == [STANDBY]


# -- pinned reads while the primary is down ---------------------------------------------------


@pytest.fixture
def primary_back(pg_cluster: PgCluster) -> Iterator[PgCluster]:
    """The cluster, with the primary running again (and the standby streaming) after the test."""
    yield pg_cluster
    close_old_connections()
    for alias in (PRIMARY, STANDBY):
        connections[alias].close()
    pg_cluster.start_server("primary")
    wait_for_standby()


@pytest.mark.usefixtures("pg_review_tables")
def test_while_the_primary_is_down_a_pinned_read_is_served_by_a_standby_that_replayed_it(
    settings: Any,
    statements: StatementLog,
    primary_back: PgCluster,
    pg_wait_for_standby: Callable[[], float],
) -> None:
    _route(settings, pin_seconds=30, freshness="lsn", lsn_cache_seconds=0.05)
    writer = Client()
    url = writer.post("/reviews/", {"title": "written before the crash"})["Location"]
    assert parse_lsn(
        loads_pins(writer.cookies[conf.PIN_COOKIE_NAME].value, now=time.time())[PRIMARY].position
    )
    pg_wait_for_standby()
    time.sleep(0.1)  # past lsn_cache_seconds: the standby's position is asked again

    primary_back.stop_server("primary")
    connections[PRIMARY].close()
    statements.clear()
    response = writer.get(url)

    assert response.status_code == 200
    assert response.json() == {"found": True}
    assert statements.review_read_aliases() == [STANDBY]


def _pin(client: Client) -> Pin:
    return loads_pins(client.cookies[conf.PIN_COOKIE_NAME].value, now=time.time())[PRIMARY]


@pytest.mark.usefixtures("pg_review_tables")
def test_a_pinned_read_no_database_can_serve_says_why(
    settings: Any,
    statements: StatementLog,
    primary_back: PgCluster,
    replay: Callable[[bool], None],
) -> None:
    _route(settings, pin_seconds=30, freshness="lsn", lsn_cache_seconds=0.05)
    writer = Client()
    replay(False)
    url = writer.post("/reviews/", {"title": "not replayed"})["Location"]
    position = _pin(writer).position
    assert position is not None
    primary_back.stop_server("primary")
    connections[PRIMARY].close()  # a new request (CONN_MAX_AGE = 0)
    time.sleep(0.1)

    with pytest.raises(PinnedReadError) as raised:
        writer.get(url)

    message = str(raised.value)
    print(f"\n{message}")
    assert message.startswith(
        "This read is pinned to the primary 'pg_primary' by a recent write (for "
    )
    assert "and the primary is unreachable (connection failed: " in message
    assert f"no replica has replayed the write's position {position}" in message
    assert "('pg_standby' has replayed " in message
    assert isinstance(raised.value, OperationalError)
    assert statements.review_read_aliases() == []
    # Once the standby replays it, the standby serves it.
    replay(True)
    deadline = time.monotonic() + 5
    while True:
        try:
            assert writer.get(url).json() == {"found": True}
        except PinnedReadError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        else:
            break
    assert statements.review_read_aliases()[-1] == STANDBY


@pytest.mark.usefixtures("pg_review_tables")
def test_with_the_time_window_a_pinned_read_while_the_primary_is_down_says_why(
    settings: Any, primary_back: PgCluster
) -> None:
    _route(settings, pin_seconds=30)
    writer = Client()
    url = writer.post("/reviews/", {"title": "time window"})["Location"]
    wait_for_standby()
    primary_back.stop_server("primary")
    connections[PRIMARY].close()

    with pytest.raises(PinnedReadError, match="TimeFreshness trusts no replica while a pin lasts"):
        writer.get(url)
    # A reader that wrote nothing is served by the standby meanwhile.
    assert Client().get(url).json() == {"found": True}


@pytest.mark.usefixtures("pg_review_tables")
def test_a_pinned_read_on_a_dead_persistent_primary_connection_says_why(
    settings: Any, primary_back: PgCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Persistent connections with health checks: the open connection to the primary
    # is checked, found dead, and reopening it fails.
    connections[PRIMARY].close()
    monkeypatch.setitem(connections[PRIMARY].settings_dict, "CONN_MAX_AGE", 60)
    monkeypatch.setitem(connections[PRIMARY].settings_dict, "CONN_HEALTH_CHECKS", True)
    _route(settings, pin_seconds=30, freshness="lsn")
    writer = Client()
    url = writer.post("/reviews/", {"title": "persistent"})["Location"]
    assert connections[PRIMARY].connection is not None
    primary_back.stop_server("primary")
    close_old_connections()  # request_started: the health check is due again

    with pytest.raises(PinnedReadError, match="the primary is unreachable"):
        writer.get(url)
