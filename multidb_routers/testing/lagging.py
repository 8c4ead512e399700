"""``lagging_replicas()``: replicas that do not see the writes made inside the block.

In tests, a replica is usually a ``TEST: {"MIRROR": ...}`` alias of its primary: it reads
the very same database, so a read routed to it sees every write at once, and a view that
forgot to pin its reads to the primary passes its tests. Inside ``lagging_replicas()``
each replica alias reads from a real, frozen view of its database taken on entry:

* SQLite: a private in-memory copy of the database, made on entry through the primary's
  connection (so the rows of a ``TestCase``'s open transaction are in it), opened with
  ``PRAGMA query_only``;
* PostgreSQL: a new connection to the replica's server holding a ``REPEATABLE READ READ
  ONLY`` transaction whose snapshot is taken on entry (after a streaming standby has
  replayed everything the primary had written, so only the block's writes are missing).

The replica alias's Django connection is pointed at that view for the block, then given
back its own. Inside the block, the routers also treat a ``TestCase``'s own transaction as
production has none: unpinned reads go to the replicas, as they would in production (the
code's own ``atomic()`` blocks still keep reads on the primary). Nothing of the router is
mocked: a read that is not pinned reaches the stale view and misses the row.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from django.db import connections

from ..replication.connections import test_forbids
from ..replication.discovery import replica_sets
from ..replication.state import ignore_test_transactions

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextvars import Token
    from types import TracebackType

    from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = ["lagging_replicas", "replica_primaries"]

F = TypeVar("F", bound="Callable[..., Any]")
CATCH_UP_SECONDS = 10.0


def replica_primaries() -> dict[str, str]:
    """Each replica alias of the routers in ``DATABASE_ROUTERS``, with its primary's alias.

    With several primaries, the one the replica mirrors in tests, else the first.
    """
    found: dict[str, str] = {}
    for replica_set in replica_sets():
        for replica in replica_set.replicas:
            mirror = connections.settings[replica].get("TEST", {}).get("MIRROR")
            found[replica] = mirror if mirror in replica_set.primaries else replica_set.primary
    return found


@dataclass
class _Frozen:
    """A replica alias whose connection reads a frozen view: what to give back on exit."""

    alias: str
    own: Any  # the wrapper's own DB-API connection (None if it had not connected)
    autocommit: bool  # the wrapper's autocommit flag
    guards: dict[str, Any]  # a test's guards of an alias left out of its databases
    view: Any  # the DB-API connection of the frozen view


def _source_of(replica: str, primary: str) -> BaseDatabaseWrapper:
    """The connection whose view of the data the replica must freeze.

    A test mirror reads its primary's database: freeze what the primary's connection sees
    (a TestCase's rows included). Any other replica: its own database.
    """
    mirror = connections[replica].settings_dict.get("TEST", {}).get("MIRROR")
    return connections[primary if mirror == primary else replica]


def _open_view(wrapper: BaseDatabaseWrapper) -> Any:
    """A new DB-API connection with the wrapper's own setup, in autocommit mode."""
    params = wrapper.get_connection_params()
    if wrapper.vendor == "sqlite":
        params["database"] = f"file:multidb_routers_lagging_{uuid.uuid4().hex}?mode=memory"
        params["uri"] = True
    view = wrapper.get_new_connection(params)
    if wrapper.vendor == "sqlite":
        view.isolation_level = None
    else:
        view.autocommit = True
    return view


def _freeze_sqlite(view: Any, source: BaseDatabaseWrapper) -> None:
    source.ensure_connection()
    # iterdump() reads through the source's own connection: a TestCase's uncommitted
    # rows are in the dump. Foreign keys off: a cross-database relation may name a table
    # this database does not hold.
    script = "\n".join(source.connection.iterdump())
    view.execute("PRAGMA foreign_keys = OFF")
    view.executescript(script)
    view.execute("PRAGMA query_only = ON")


def _wait_for_replay(view: Any, primary: BaseDatabaseWrapper, replica: str) -> None:
    """On a streaming standby, wait until it replayed all the primary had written."""
    with view.cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        if not cursor.fetchone()[0]:
            return
        with primary.cursor() as primary_cursor:
            # The insert position: with synchronous_commit off, a commit may not have
            # reached the write position (pg_current_wal_lsn()) yet.
            primary_cursor.execute("SELECT pg_current_wal_insert_lsn()::text")
            target = primary_cursor.fetchone()[0]
        deadline = time.monotonic() + CATCH_UP_SECONDS
        while True:
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target])
            if cursor.fetchone()[0]:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"lagging_replicas(): the standby {replica!r} did not replay the "
                    f"primary's writes ({target}) within {CATCH_UP_SECONDS:.0f} s."
                )
            time.sleep(0.01)


def _freeze_postgresql(view: Any, primary: BaseDatabaseWrapper, replica: str) -> None:
    _wait_for_replay(view, primary, replica)
    with view.cursor() as cursor:
        cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cursor.execute("SELECT 1")  # the snapshot is taken by the first statement


def _freeze(replica: str, primary: str) -> _Frozen:
    wrapper = connections[replica]
    if wrapper.vendor not in ("sqlite", "postgresql"):
        raise NotImplementedError(
            f"lagging_replicas() freezes SQLite and PostgreSQL replicas, not "
            f"{wrapper.vendor} ({replica!r})."
        )
    view = _open_view(wrapper)
    try:
        if wrapper.vendor == "sqlite":
            _freeze_sqlite(view, _source_of(replica, primary))
    except BaseException:
        view.close()
        raise
    # A replica left out of the test's databases (a SQLite mirror must be, in a TestCase:
    # its own connection finds the tables the test's transaction locked) reads the view.
    guards = {name: guard for name, guard in vars(wrapper).items() if test_forbids(guard)}
    for name in guards:
        delattr(wrapper, name)
    frozen = _Frozen(replica, wrapper.connection, wrapper.autocommit, guards, view)
    wrapper.connection = view
    wrapper.autocommit = True
    try:
        if wrapper.vendor == "postgresql":
            wrapper.init_connection_state()  # time zone and role, on the view
            _freeze_postgresql(view, connections[primary], replica)
    except BaseException:
        _thaw(frozen)
        raise
    return frozen


def _thaw(frozen: _Frozen) -> None:
    wrapper = connections[frozen.alias]
    try:
        if wrapper.vendor == "postgresql" and not frozen.view.closed:
            with frozen.view.cursor() as cursor:  # psycopg 2 connections have no execute()
                cursor.execute("ROLLBACK")
    finally:
        frozen.view.close()
        if wrapper.connection is frozen.view:
            wrapper.connection = frozen.own
            wrapper.autocommit = frozen.autocommit
        elif frozen.own is not None:  # the block closed or replaced it: leave Django's
            frozen.own.close()
        for name, guard in frozen.guards.items():
            setattr(wrapper, name, guard)


class _Entry:
    __slots__ = ("frozen", "token")

    def __init__(self, frozen: list[_Frozen], token: Token[bool]) -> None:
        self.frozen = frozen
        self.token = token


class lagging_replicas:
    """A block in which replica reads do not see the writes made inside it.

    ``lagging_replicas()`` freezes every replica of the routers in ``DATABASE_ROUTERS``;
    ``lagging_replicas("reviews_replica")`` only the aliases named. The replicas may be
    among the test's databases or not. Works in ``TestCase``, ``TransactionTestCase`` and
    pytest-django's ``db`` and ``transactional_db``; a context manager and a decorator
    of sync functions. Blocks nest (an inner block keeps the outer block's view).

    On PostgreSQL inside a ``TestCase``, a replica's view holds only committed rows: the
    rows the test wrote before the block are as invisible to it as those written inside.
    The views belong to the thread that entered the block (Django's connections are per
    thread): the test client's requests run in it, a live server's threads do not.
    """

    def __init__(self, *aliases: str) -> None:
        for alias in aliases:
            if not isinstance(alias, str):
                raise TypeError(
                    f"lagging_replicas() takes replica aliases (str), not {alias!r}; call "
                    "it: @lagging_replicas(), not @lagging_replicas."
                )
        self.aliases = aliases
        self._local = threading.local()

    def _replicas(self) -> dict[str, str]:
        primaries = replica_primaries()
        if not self.aliases:
            if not primaries:
                raise AssertionError(
                    "lagging_replicas(): no router of DATABASE_ROUTERS has replicas."
                )
            return primaries
        unknown = [alias for alias in self.aliases if alias not in primaries]
        if unknown:
            known = ", ".join(repr(alias) for alias in sorted(primaries)) or "none"
            raise AssertionError(
                f"lagging_replicas(): {', '.join(map(repr, unknown))} is not a replica of "
                f"the routers in DATABASE_ROUTERS (replicas: {known})."
            )
        return {alias: primaries[alias] for alias in self.aliases}

    def _enter(self) -> _Entry:
        already = _frozen_here()
        frozen: list[_Frozen] = []
        try:
            for replica, primary in self._replicas().items():
                if replica not in already:
                    frozen.append(_freeze(replica, primary))
                    already.add(replica)
        except BaseException:
            _exit_frozen(frozen)
            raise
        return _Entry(frozen, ignore_test_transactions.set(True))

    def _exit(self, entry: _Entry) -> None:
        ignore_test_transactions.reset(entry.token)
        _exit_frozen(entry.frozen)

    def __enter__(self) -> None:
        stack: list[_Entry] | None = getattr(self._local, "entries", None)
        if stack is None:
            stack = self._local.entries = []
        stack.append(self._enter())

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._exit(self._local.entries.pop())

    def __call__(self, func: F) -> F:
        """Decorate a sync function (a test) so that it runs inside the block."""
        if inspect.iscoroutinefunction(func):
            raise TypeError(
                f"lagging_replicas() cannot decorate the coroutine function "
                f"{func.__qualname__}: use it as a with-block inside the test."
            )

        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            entry = self._enter()
            try:
                return func(*args, **kwargs)
            finally:
                self._exit(entry)

        return cast("F", inner)


class _Here(threading.local):
    def __init__(self) -> None:
        self.aliases: set[str] = set()


_here = _Here()


def _frozen_here() -> set[str]:
    """The replica aliases frozen in this thread (connections are per thread)."""
    return _here.aliases


def _exit_frozen(frozen: list[_Frozen]) -> None:
    errors: list[BaseException] = []
    for item in reversed(frozen):
        _here.aliases.discard(item.alias)
        try:
            _thaw(item)
        except Exception as exc:  # thaw the others, then report
            errors.append(exc)
    if errors:
        raise errors[0]
