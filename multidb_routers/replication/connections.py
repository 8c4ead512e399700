"""The database connections a replica set reads through: cached per thread, checked.

Shared by :mod:`.replica_set` (which chooses a replica) and :mod:`.freshness` (which
asks the primary where it stands), so that neither imports the other's module.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from django.db import connections

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = [
    "PerThread",
    "cached_connection",
    "drop_if_dead",
    "per_thread",
    "test_forbids",
    "transaction_open",
    "user_transaction_open",
]


class PerThread(threading.local):
    """What a thread remembers for routing: its connection wrappers, by alias.

    ``connections[alias]`` costs about as much as the rest of a routing decision, and
    Django keeps one wrapper per alias and thread for the thread's life (``DATABASES``
    cannot be overridden in tests), so a remembered wrapper is never stale.

    The wrappers are the instance's own ``__dict__`` (alias -> wrapper; a
    ``threading.local`` has one per thread), not an attribute of it: Python hands back a
    ``threading.local``'s ``__dict__`` without the attribute lookup an attribute costs,
    about 45 ns of each routing decision.
    """


#: This thread's :class:`PerThread`: ``per_thread.__dict__`` is its wrappers by alias.
per_thread = PerThread()


def cached_connection(alias: str) -> BaseDatabaseWrapper:
    """``connections[alias]``, remembered for this thread."""
    wrappers: dict[str, BaseDatabaseWrapper] = per_thread.__dict__
    connection = wrappers.get(alias)
    if connection is None:
        connection = wrappers[alias] = connections[alias]
    return connection


def user_transaction_open(connection: BaseDatabaseWrapper) -> bool:
    """True when code (not Django's ``TestCase``) holds a transaction open on ``connection``.

    The atomic blocks ``TestCase`` wraps each test in are ignored: for a freshness
    strategy, a write inside them is as committed as a test can make it; with several
    primaries, they open on every primary, so they name none (reads then go to the
    primary the test wrote to, else the first one).
    """
    if connection.in_atomic_block:
        blocks: list[Any] = connection.atomic_blocks
        return not blocks or not getattr(blocks[-1], "_from_testcase", False)
    # set_autocommit(False) by hand; before the first connection autocommit reads False too.
    return not connection.autocommit and connection.connection is not None


def transaction_open(connection: BaseDatabaseWrapper) -> bool:
    """True when a transaction is open on ``connection``, ``TestCase``'s own included."""
    return connection.in_atomic_block or (
        not connection.autocommit and connection.connection is not None
    )


def test_forbids(guard: object) -> bool:
    """Whether ``guard`` (a connection's own ``cursor`` attribute) is Django's test guard.

    ``SimpleTestCase`` and ``TestCase`` replace the methods of the connections of the
    aliases left out of ``databases`` with objects raising ``DatabaseOperationForbidden``.
    """
    from django.test.testcases import _DatabaseFailure

    return isinstance(guard, _DatabaseFailure)


def drop_if_dead(connection: BaseDatabaseWrapper) -> None:
    """Close an open connection whose server is gone, so that the caller reopens it.

    This is Django's own check, run before a replica is chosen instead of at its first
    query (where a failure would reach the caller): with ``CONN_HEALTH_CHECKS = True``,
    ``close_if_health_check_failed()`` asks ``is_usable()`` once per request, and the
    query that follows skips its own check. A connection that failed since its last
    commit (``errors_occurred``, which Django only checks when a request ends) is checked
    the same way, once per failure.
    """
    if connection.errors_occurred:
        if connection.is_usable():
            connection.errors_occurred = False
            connection.health_check_done = True  # type: ignore[attr-defined]
        else:
            connection.close()
        return
    connection.close_if_health_check_failed()
