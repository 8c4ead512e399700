"""Replica health against the real lagging standby: lag limits, single-flight positions,
reads retried when their replica dies, pinned reads while the primary is down."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
from django.db import connections

from multidb_routers import PrimaryReplicaRouter
from multidb_routers.replication.freshness import POSITION_SQL, LsnFreshness
from tests.postgres.plugin import _connect
from tests.postgres.reviews import PRIMARY, STANDBY, StatementLog
from tests.testapps.replica_app.models import Review

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, databases=[PRIMARY, STANDBY]),
]


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
