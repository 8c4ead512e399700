"""MULTIDB_ROUTERS_FANOUT: SQLite shards one after another, persistent workers otherwise."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db.backends.signals import connection_created

from multidb_routers import concurrency
from multidb_routers.concurrency import (
    check_fanout_setting,
    close_workers,
    concurrent_for,
    run_all,
)
from multidb_routers.sharding import across_shards
from tests.sharding.oracle import DATABASES, SHARDS, fill
from tests.testapps.shard_app.models import Review

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.django_db(databases=DATABASES, transaction=True)


@pytest.fixture(autouse=True)
def no_workers() -> Iterator[None]:
    close_workers()
    yield
    close_workers()


@pytest.fixture
def created() -> Iterator[list[str]]:
    """Names of the threads that open a database connection during the test."""
    names: list[str] = []

    def record(sender: Any, connection: Any, **kwargs: Any) -> None:
        names.append(threading.current_thread().name)

    connection_created.connect(record)
    yield names
    connection_created.disconnect(record)


def _workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("merged-query")]


def _top() -> list[int]:
    return [review.pk for review in across_shards(Review.objects.order_by("-created"))[:20]]


def test_auto_queries_sqlite_shards_in_the_calling_thread(
    created: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(60)
    expected = _top()
    assert not _workers()
    assert not [name for name in created if name.startswith("merged-query")]
    assert concurrent_for(SHARDS, None) is False
    assert len(expected) == 20
    # Were SQLite a network engine, "auto" would run the shards concurrently.
    monkeypatch.setattr(concurrency, "IN_PROCESS_VENDORS", frozenset())
    assert concurrent_for(SHARDS, None) is True
    assert _top() == expected
    assert len([name for name in created if name.startswith("merged-query")]) == len(SHARDS)


def test_the_setting_and_the_argument_choose(settings: Any) -> None:
    settings.MULTIDB_ROUTERS_FANOUT = "concurrent"
    assert concurrent_for(SHARDS, None) is True
    assert concurrent_for(SHARDS, False) is False
    assert concurrent_for(["shard_0"], True) is False  # one source: nothing to overlap
    settings.MULTIDB_ROUTERS_FANOUT = "sequential"
    assert concurrent_for(["pg_shard_0", "pg_shard_1"], None) is False
    assert concurrent_for(SHARDS, True) is True


def test_workers_keep_their_connections_between_fan_outs(settings: Any, created: list[str]) -> None:
    settings.MULTIDB_ROUTERS_FANOUT = "concurrent"
    fill(60)
    sequential = [
        r.pk for r in across_shards(Review.objects.order_by("-created"), concurrent=False)[:20]
    ]
    first = _top()
    opened = [name for name in created if name.startswith("merged-query")]
    assert len(opened) == len(SHARDS)
    for _ in range(3):
        assert _top() == first == sequential
    assert [name for name in created if name.startswith("merged-query")] == opened
    assert len(_workers()) == len(SHARDS)
    close_workers()
    assert not _workers()
    assert _top() == first  # new workers, new connections
    assert len([name for name in created if name.startswith("merged-query")]) == 2 * len(SHARDS)


def test_an_idle_worker_closes_its_connection_and_ends(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.MULTIDB_ROUTERS_FANOUT = "concurrent"
    monkeypatch.setattr(concurrency, "IDLE_SECONDS", 0.2)
    fill(20)
    _top()
    assert _workers()
    deadline = time.monotonic() + 5
    while _workers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _workers()


def test_concurrent_fan_outs_from_many_threads_agree(settings: Any) -> None:
    settings.MULTIDB_ROUTERS_FANOUT = "concurrent"
    fill(80)
    expected = _top()
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            for _ in range(5):
                results.append(_top())
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert results == [expected] * 20


@pytest.mark.parametrize("value", ["parallel", "AUTO", "", None, True])
def test_a_bad_setting_fails_the_check_and_the_call(settings: Any, value: Any) -> None:
    settings.MULTIDB_ROUTERS_FANOUT = value
    [error] = check_fanout_setting()
    assert error.id == "multidb_routers.E050"
    assert "MULTIDB_ROUTERS_FANOUT" in error.msg
    with pytest.raises(SystemCheckError, match="E050"):
        call_command("check")
    with pytest.raises(ImproperlyConfigured, match="'auto', 'sequential', 'concurrent'"):
        across_shards(Review.objects.all()).count()


def test_a_good_setting_passes_the_check(settings: Any) -> None:
    for value in ("auto", "sequential", "concurrent"):
        settings.MULTIDB_ROUTERS_FANOUT = value
        assert check_fanout_setting() == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_starts_its_own_workers(settings: Any) -> None:
    settings.MULTIDB_ROUTERS_FANOUT = "concurrent"
    fill(20)
    assert len(_top()) == 20
    assert _workers()  # the parent's, idle
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child reports through the pipe)
        try:
            # The parent's in-memory test databases do not follow a fork: run plain calls.
            calls = [(alias, lambda alias=alias: alias.upper()) for alias in SHARDS]
            done = run_all(calls) == [alias.upper() for alias in SHARDS]
            os.write(write, b"ok" if done else b"wrong")
        except BaseException as error:  # reported to the parent
            os.write(write, repr(error).encode()[:200])
        finally:
            os._exit(0)
    os.close(write)
    deadline = time.monotonic() + 20
    while (waited := os.waitpid(child, os.WNOHANG)) == (0, 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    if waited == (0, 0):
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        pytest.fail("the child's fan-out hung: it waited on workers that did not survive fork()")
    status = waited[1]
    answer = os.read(read, 300)
    os.close(read)
    assert answer == b"ok"
    assert status == 0


def test_a_worker_that_ends_closes_its_in_memory_connections_too(settings: Any) -> None:
    # Django ignores close() on an in-memory SQLite database (the test databases), so a
    # worker's connection used to be left for the garbage collector, which closes it in
    # whatever thread it runs, holding the GIL: with another thread inside SQLite's
    # shared cache waiting for the GIL (a Python authorizer or function), both waited.
    import sqlite3

    settings.MULTIDB_ROUTERS_FANOUT = "concurrent"
    fill(8)
    raw: list[sqlite3.Connection] = []

    def record(sender: Any, connection: Any, **kwargs: Any) -> None:
        if threading.current_thread().name.startswith("merged-query"):
            raw.append(connection.connection)

    connection_created.connect(record)
    try:
        _top()
    finally:
        connection_created.disconnect(record)
    assert len(raw) == len(SHARDS)
    close_workers()

    for connection in raw:
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            connection.execute("SELECT 1")


def test_auto_follows_a_change_of_databases(settings: Any) -> None:
    """The vendors "auto" remembers per alias are forgotten when DATABASES changes."""
    from django.core.signals import setting_changed
    from django.db import connections

    assert concurrent_for(SHARDS, None) is False
    original = {alias: connections[alias].vendor for alias in SHARDS}
    try:
        for alias in SHARDS:
            connections[alias].vendor = "postgresql"  # as if the alias now named a server
        assert concurrent_for(SHARDS, None) is False  # remembered
        with pytest.warns(UserWarning, match="Overriding setting DATABASES"):  # Django's
            setting_changed.send(sender=None, setting="DATABASES", value=None, enter=True)
        assert concurrent_for(SHARDS, None) is True
    finally:
        for alias, vendor in original.items():
            del connections[alias].vendor
            assert connections[alias].vendor == vendor
        setting_changed.send(sender=None, setting="DATABASES", value=None, enter=False)
    assert concurrent_for(SHARDS, None) is False
