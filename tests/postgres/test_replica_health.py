"""Replica health against the real lagging standby: lag limits, single-flight positions,
reads retried when their replica dies, pinned reads while the primary is down."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
from django.db import connections

from multidb_routers.replication.freshness import POSITION_SQL, LsnFreshness
from tests.postgres.reviews import PRIMARY, STANDBY

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, databases=[PRIMARY, STANDBY]),
]


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
        except BaseException as exc:  # noqa: BLE001 - reported by the test
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
