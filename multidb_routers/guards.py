"""A read-only guard for database connections that must never be written.

Routers name the aliases to guard through a ``guarded_aliases()`` method (the
:class:`~multidb_routers.OverlayRouter` guards its ``base``). The promise is kept by the
database, where no statement can lift it:

* SQLite: the base file is opened read-only (a ``file:...?mode=ro`` URI) and its
  connection gets an authorizer refusing every action but reading (see
  :mod:`multidb_routers.sqlite_lock`); every SQLite connection refuses to ``ATTACH`` a
  guarded file;
* PostgreSQL: the base connects as a role without write privileges, or to a hot standby;
  check ``multidb_routers.E033`` verifies it (no session ``SET`` is relied on: a statement
  could undo it, and a transaction pooler would leak it to other clients).

On top of that, every statement sent through Django (ORM or ``connection.cursor()``) is
classified first (:mod:`multidb_routers.statements`), and a write raises
:class:`~multidb_routers.exceptions.ReadOnlyDatabaseError` before it reaches the
database: an early, clear error, not the wall.

The only way around the SQLite locks is :func:`allow_writes`, meant for loading a snapshot
into the base and nothing else. Which aliases are guarded is read from
``DATABASE_ROUTERS`` once and cached until Django's ``setting_changed`` says it changed;
whether the guard is lifted is per execution context (a ``ContextVar``).
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from django.core.signals import setting_changed
from django.db import connections
from django.db import router as connection_router
from django.db.backends.signals import connection_created
from django.db.transaction import TransactionManagementError

from . import sqlite_lock
from .exceptions import ReadOnlyDatabaseError
from .statements import is_write_sql

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = [
    "allow_writes",
    "guard_connection",
    "guarded_aliases",
    "install",
    "is_write",
    "writes_allowed",
]

_lifted: ContextVar[frozenset[str]] = ContextVar(
    "multidb_routers.guards.lifted", default=frozenset()
)
_guarded: frozenset[str] | None = None
_DIALECTS = frozenset({"sqlite", "postgresql"})
_RO_PATCHED = "_multidb_routers_read_only_open"
_CURSOR_PATCHED = "_multidb_routers_guarded_cursor"


def is_write(sql: object, *, connection: BaseDatabaseWrapper | None = None) -> bool:
    """True unless ``sql`` is certainly read-only: every statement in it reads.

    Reads are ``SELECT``, ``VALUES``, ``WITH`` without a data-modifying part,
    ``EXPLAIN`` of a read, ``SHOW``, reading ``PRAGMA``\\s, transaction control and
    ``SET``\\s of presentation settings (time zone, date style...). Anything else, a call
    of a function known to write (``setval``, ``set_config``, ``lo_create``...), and
    anything that cannot be lexed with certainty, is a write. The statement is lexed as
    ``connection``'s engine would (every known engine must agree when none is given).
    """
    if isinstance(sql, bytes):
        sql = sql.decode("utf-8", errors="replace")
    elif not isinstance(sql, str) and hasattr(sql, "as_string"):  # psycopg's sql.Composable
        raw = connection.connection if connection is not None else None
        sql = sql.as_string(raw)
    if not isinstance(sql, str):
        return True
    vendor = connection.vendor if connection is not None else "other"
    return is_write_sql(sql, vendor if vendor in _DIALECTS else "other")


def guarded_aliases() -> frozenset[str]:
    """The aliases the routers in ``DATABASE_ROUTERS`` want guarded against writes (cached)."""
    global _guarded
    if _guarded is None:
        aliases: set[str] = set()
        for router in connection_router.routers:
            method = getattr(router, "guarded_aliases", None)
            if callable(method):
                aliases.update(method())
        _guarded = frozenset(aliases)
    return _guarded


def _forget_guarded_aliases(*, setting: str, **kwargs: Any) -> None:
    """``setting_changed``: the routers (or the databases) changed, so may the guarded aliases."""
    global _guarded
    if setting in ("DATABASE_ROUTERS", "DATABASES"):
        _guarded = None


def _is_guarded(alias: str) -> bool:
    """Whether statements on ``alias`` are checked now: guarded, and not lifted here."""
    guarded = _guarded if _guarded is not None else guarded_aliases()
    return alias in guarded and alias not in _lifted.get()


def _blocker(
    execute: Callable[[Any, Any, bool, dict[str, Any]], Any],
    sql: Any,
    params: Any,
    many: bool,
    context: dict[str, Any],
) -> Any:
    """The guard of a non-SQLite base, as one of its connection's execute wrappers."""
    connection: BaseDatabaseWrapper = context["connection"]
    alias = connection.alias
    if _is_guarded(alias):
        vendor = connection.vendor
        if type(sql) is str and vendor in _DIALECTS:  # the common case, without detours
            write = is_write_sql(sql, vendor)
        else:
            write = is_write(sql, connection=connection)
        if write:
            _refuse(alias, sql)
    return execute(sql, params, many, context)


def _refuse(alias: str, sql: object) -> None:
    shown = sql if isinstance(sql, str) else repr(sql)
    if len(shown) > 200:
        shown = f"{shown[:200]}..."
    raise ReadOnlyDatabaseError(f"Refused to write to the read-only database {alias!r}: {shown}")


#: SQLite statements (by their text) classified as reads: the cursor's one-lookup path.
_sqlite_reads: set[str] = set()
_SQLITE_READS_MAX = 4096


def _check_sqlite(alias: str, sql: object) -> None:
    if not _is_guarded(alias):
        return
    if not isinstance(sql, str) or is_write_sql(sql, "sqlite"):
        _refuse(alias, sql)
    elif type(sql) is str and len(_sqlite_reads) < _SQLITE_READS_MAX:
        _sqlite_reads.add(sql)


_sqlite_cursor: type[Any] | None = None


def _guarded_sqlite_cursor() -> type[Any]:
    """Django's SQLite cursor class, checking each statement (script) before it runs.

    The guard sits in the cursor rather than in Django's execute wrappers, whose
    machinery alone costs about as much per statement as the check; a statement already
    known to read costs one set lookup. The cursor also sees ``executescript()``, which
    Django hands to the cursor unwrapped.
    """
    global _sqlite_cursor
    if _sqlite_cursor is None:
        from django.db.backends.sqlite3.base import SQLiteCursorWrapper

        execute = SQLiteCursorWrapper.execute
        executemany = SQLiteCursorWrapper.executemany
        reads = _sqlite_reads

        class GuardedSQLiteCursor(SQLiteCursorWrapper):
            """A cursor of a guarded SQLite alias: a write raises ``ReadOnlyDatabaseError``."""

            alias = ""

            def execute(self, query: Any, params: Any = None) -> Any:
                if type(query) is not str or query not in reads:
                    _check_sqlite(self.alias, query)
                return execute(self, query, params)

            def executemany(self, query: Any, param_list: Any) -> Any:
                if type(query) is not str or query not in reads:
                    _check_sqlite(self.alias, query)
                return executemany(self, query, param_list)

            def executescript(self, sql_script: Any) -> Any:
                _check_sqlite(self.alias, sql_script)
                return super().executescript(sql_script)

        _sqlite_cursor = GuardedSQLiteCursor
    return _sqlite_cursor


def _guard_sqlite_cursors(connection: BaseDatabaseWrapper) -> None:
    """Make ``connection`` create :func:`_guarded_sqlite_cursor` cursors (idempotent)."""
    if getattr(connection, _CURSOR_PATCHED, False):
        return
    cursor_class = _guarded_sqlite_cursor()
    alias = connection.alias

    def create_cursor(name: str | None = None) -> Any:
        cursor = connection.connection.cursor(factory=cursor_class)
        cursor.alias = alias
        return cursor

    connection.create_cursor = create_cursor  # type: ignore[method-assign]
    setattr(connection, _CURSOR_PATCHED, True)


def _guarded_sqlite_names() -> list[object]:
    """The ``NAME`` of every guarded SQLite alias (as this thread's connections have it)."""
    names: list[object] = []
    for alias in guarded_aliases():
        if alias in connections.settings:
            connection = connections[alias]
            if connection.vendor == "sqlite":
                names.append(connection.settings_dict["NAME"])
    return names


_attach_authorizer = sqlite_lock.make_attach_authorizer(_guarded_sqlite_names)


def _open_read_only_from_now_on(connection: BaseDatabaseWrapper) -> bool:
    """Make a SQLite base's wrapper open its file read-only; True if it was not doing so yet."""
    if getattr(connection, _RO_PATCHED, False):
        return False
    original = connection.get_connection_params

    def get_connection_params() -> dict[str, Any]:
        params: dict[str, Any] = original()
        if _is_guarded(connection.alias):
            params["database"] = sqlite_lock.readonly_name(params["database"])
        return params

    connection.get_connection_params = get_connection_params  # type: ignore[method-assign]
    setattr(connection, _RO_PATCHED, True)
    return True


def _reopen(connection: BaseDatabaseWrapper) -> None:
    """Replace an open DB-API connection with one opened by the current parameters."""
    previous = connection.connection
    connection.connection = connection.get_new_connection(connection.get_connection_params())
    previous.close()
    connection.set_autocommit(connection.autocommit)  # applied to the new DB-API connection


def guard_connection(connection: BaseDatabaseWrapper) -> None:
    """Put the guard on an open connection of a guarded alias (idempotent).

    SQLite: reopens a base file read-only if it was opened otherwise, and sets the base's
    authorizer and ``PRAGMA query_only`` (unless lifted by :func:`allow_writes`).
    """
    if connection.vendor != "sqlite":
        if _blocker not in connection.execute_wrappers:
            connection.execute_wrappers.insert(0, _blocker)
        return  # PostgreSQL: the base's role is the wall (check E033); others: W030
    _guard_sqlite_cursors(connection)
    read_only = _is_guarded(connection.alias)
    in_memory = sqlite_lock.is_in_memory(connection.settings_dict["NAME"])
    if not in_memory and _open_read_only_from_now_on(connection) and read_only:
        _reopen(connection)
    sqlite_lock.lock(connection, read_only, _attach_authorizer)


def _on_connection_created(sender: object, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    if connection.alias in guarded_aliases():
        guard_connection(connection)
    elif connection.vendor == "sqlite":
        connection.connection.set_authorizer(_attach_authorizer)


def install() -> None:
    """Guard every guarded alias's connection from now on (called by the app's ``ready()``)."""
    connection_created.connect(_on_connection_created, dispatch_uid="multidb_routers.guards")
    setting_changed.connect(_forget_guarded_aliases, dispatch_uid="multidb_routers.guards")
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None:
            _on_connection_created(type(connection), connection)


def writes_allowed(alias: str) -> bool:
    """Whether :func:`allow_writes` lifted the guard on ``alias`` in the current context."""
    return alias in _lifted.get()


def _relock(connection: BaseDatabaseWrapper) -> None:
    """Bring an open SQLite connection's locks in line with the current lift."""
    if connection.connection is None or connection.vendor != "sqlite":
        return
    if sqlite_lock.is_in_memory(connection.settings_dict["NAME"]):
        sqlite_lock.lock(connection, _is_guarded(connection.alias), _attach_authorizer)
    else:
        connection.close()  # reopened on next use, read-only or not as the lift says


@contextmanager
def allow_writes(alias: str) -> Iterator[None]:
    """Lift the guard on ``alias`` inside the block: only for loading a snapshot into a base.

    Application code must never need this; the merged manager and the overlay router
    write to the overlay on their own. It refuses to start inside a transaction on the
    alias (``atomic()``, or a connection that is not in autocommit mode), because it
    reopens the connection: commit or roll back first. On SQLite the base is reopened
    writable inside the block and read-only after it. On PostgreSQL it lifts only the
    statement guard: the base's role still cannot write (load snapshots as their owner).
    """
    connection = connections[alias]
    if connection.in_atomic_block or (
        connection.connection is not None and not connection.get_autocommit()
    ):
        raise TransactionManagementError(
            f"allow_writes({alias!r}) cannot start inside a transaction on {alias!r} "
            "(atomic() or AUTOCOMMIT off): it reopens the connection, which would end your "
            "transaction. Commit or roll back first, then enter allow_writes() and open "
            "atomic() inside it."
        )
    token = _lifted.set(_lifted.get() | {alias})
    try:
        _relock(connection)
        yield
    finally:
        _lifted.reset(token)
        _relock(connection)
