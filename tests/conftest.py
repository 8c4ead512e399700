"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

import pytest
from django.db.backends.signals import connection_created

from multidb_routers.replication.state import fresh_state

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def _fresh_pinning_state() -> Iterator[None]:
    """No read-your-writes pin of an earlier test (they live in the thread's context)."""
    with fresh_state():
        yield


# SQLite connections that threads other than the main one opened, with their thread.
_thread_connections: list[tuple[weakref.ref[threading.Thread], Any]] = []


def _record_thread_connection(sender: object, connection: Any, **kwargs: Any) -> None:
    thread = threading.current_thread()
    if connection.vendor == "sqlite" and thread is not threading.main_thread():
        _thread_connections.append((weakref.ref(thread), connection.connection))


connection_created.connect(_record_thread_connection, dispatch_uid="tests.thread_connections")


@pytest.fixture(autouse=True)
def _close_sqlite_connections_of_ended_threads() -> Iterator[None]:
    """Close the SQLite connections of threads that ended, between tests.

    Django never closes a connection to an in-memory database (the test databases), so a
    thread's connection outlives the thread and is closed by the garbage collector,
    wherever it runs, holding the GIL (CPython 3.10, python/cpython#86864): inside a
    Python callback of SQLite's shared cache (the overlay's authorizer), that waits
    forever. Closed here, between tests, nothing is left for the collector.
    """
    yield
    alive = []
    for thread_ref, raw in _thread_connections:
        thread = thread_ref()
        if thread is not None and thread.is_alive():
            alive.append((thread_ref, raw))
        else:
            raw.close()
    _thread_connections[:] = alive


# The PostgreSQL test cluster: started only when tests marked postgres run.
pytest_plugins = ["tests.postgres.plugin", "tests.postgres.reviews", "tests.contrib.broker"]


def pytest_configure(config: pytest.Config) -> None:
    """The package's pytest plugin, when its entry point is not installed (an editable checkout)."""
    from multidb_routers.testing import pytest_plugin

    if not config.pluginmanager.is_registered(pytest_plugin):
        config.pluginmanager.register(pytest_plugin, "multidb_routers")
