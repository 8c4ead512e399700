"""A read-only guard for database connections that must never be written.

Routers name the aliases to guard through a ``guarded_aliases()`` method (the
:class:`~multidb_routers.OverlayRouter` guards its ``base``). Each time Django opens a
connection for such an alias, two locks go on:

* the database itself refuses writes for the session (SQLite ``PRAGMA query_only``,
  PostgreSQL ``default_transaction_read_only``), which also covers a raw DB-API cursor
  that bypasses Django;
* every statement sent through Django (ORM or ``connection.cursor()``) is classified
  first, and a write raises :class:`~multidb_routers.exceptions.ReadOnlyDatabaseError`
  before it reaches the database.

The only way around both is :func:`allow_writes`, meant for loading a snapshot into the
base and nothing else. Which aliases are guarded is read from ``DATABASE_ROUTERS`` at
call time; whether the guard is lifted is per execution context (a ``ContextVar``).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from django.db import connections
from django.db import router as connection_router
from django.db.backends.signals import connection_created

from .exceptions import ReadOnlyDatabaseError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = [
    "allow_writes",
    "guard_connection",
    "guarded_aliases",
    "install",
    "is_write",
]

_lifted: ContextVar[frozenset[str]] = ContextVar("multidb_routers.lifted", default=frozenset())

# Comments and quoted text, removed before looking at keywords: a keyword inside a
# string literal or a quoted identifier says nothing about what the statement does.
_NOISE = re.compile(
    r"""
      --[^\n]*
    | /\*.*?\*/
    | (?<![\w$])[Ee]'(?:[^'\\]|\\.|'')*'
    | '(?:[^']|'')*'
    | "(?:[^"]|"")*"
    | `(?:[^`]|``)*`
    | \[[^\]]*\]
    | \$(?P<tag>[A-Za-z_]\w*)?\$.*?\$(?P=tag)\$
    """,
    re.DOTALL | re.VERBOSE,
)
_TOKEN = re.compile(r"[A-Za-z_][\w$]*|[();=.]")
_UNPARSED = re.compile(r"['\"`]|/\*|\$[A-Za-z_]*\$")

_READ_STARTS = frozenset({"SELECT", "WITH", "VALUES", "SHOW", "TABLE"})
# Found anywhere in a SELECT/WITH statement, these make it a write (a data-modifying
# CTE, SELECT ... INTO, SELECT ... FOR UPDATE).
_WRITE_WORDS = frozenset(
    {"INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "INTO", "CREATE", "DROP", "ALTER", "TRUNCATE"}
)
_TRANSACTION_CONTROL = frozenset(
    {"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "START", "ABORT"}
)
# A SET statement naming one of these could lift the database-level lock or change role.
_UNSAFE_SET_WORDS = frozenset(
    {
        "TRANSACTION",
        "CHARACTERISTICS",
        "DEFAULT_TRANSACTION_READ_ONLY",
        "TRANSACTION_READ_ONLY",
        "ROLE",
        "AUTHORIZATION",
    }
)
_EXPLAIN_OPTIONS = frozenset({"ANALYZE", "ANALYSE", "VERBOSE", "QUERY", "PLAN"})
# PRAGMAs that only change this connection's behaviour, never the database file.
# ``query_only`` is deliberately absent: setting it is how the lock would be lifted.
_CONNECTION_PRAGMAS = frozenset(
    {
        "AUTOMATIC_INDEX",
        "BUSY_TIMEOUT",
        "CACHE_SIZE",
        "CASE_SENSITIVE_LIKE",
        "DEFER_FOREIGN_KEYS",
        "FOREIGN_KEYS",
        "LEGACY_ALTER_TABLE",
        "RECURSIVE_TRIGGERS",
        "TEMP_STORE",
    }
)
# PRAGMAs whose parenthesised argument names what to read, not a value to set.
_READ_PRAGMAS_WITH_ARGUMENT = frozenset(
    {
        "FOREIGN_KEY_CHECK",
        "FOREIGN_KEY_LIST",
        "INDEX_INFO",
        "INDEX_LIST",
        "INDEX_XINFO",
        "INTEGRITY_CHECK",
        "QUICK_CHECK",
        "TABLE_INFO",
        "TABLE_LIST",
        "TABLE_XINFO",
    }
)


def _statements(sql: str) -> list[list[str]] | None:
    """The statements of ``sql`` as upper-case keyword tokens; ``None`` if it cannot be read."""
    cleaned = _NOISE.sub(" ? ", sql)
    if _UNPARSED.search(cleaned):
        return None  # an unterminated literal or comment: refuse to guess
    statements: list[list[str]] = [[]]
    for token in _TOKEN.findall(cleaned):
        if token == ";":
            statements.append([])
        else:
            statements[-1].append(token.upper())
    return [statement for statement in statements if statement]


def _is_read_pragma(tokens: Sequence[str]) -> bool:
    rest = list(tokens[1:])
    if len(rest) >= 3 and rest[1] == ".":  # PRAGMA schema.name
        rest = rest[2:]
    if not rest:
        return False  # no pragma named: incomplete, so not certainly a read
    name, value = rest[0], rest[1:]
    if not value:
        return True
    if name in _CONNECTION_PRAGMAS:
        return True
    return value[0] == "(" and name in _READ_PRAGMAS_WITH_ARGUMENT


def _is_read_statement(tokens: Sequence[str]) -> bool:
    start = 0
    while start < len(tokens) and tokens[start] == "(":
        start += 1
    tokens = tokens[start:]
    if not tokens:
        return False  # nothing after "(" or EXPLAIN: incomplete, so not certainly a read
    first = tokens[0]
    if first in _READ_STARTS:
        return _WRITE_WORDS.isdisjoint(tokens)
    if first == "EXPLAIN":
        rest = list(tokens[1:])
        if rest and rest[0] == "(":
            rest = rest[rest.index(")") + 1 :] if ")" in rest else []
        while rest and rest[0] in _EXPLAIN_OPTIONS:
            rest = rest[1:]
        return _is_read_statement(rest)
    if first in _TRANSACTION_CONTROL:
        return "WRITE" not in tokens
    if first == "SET":
        return _UNSAFE_SET_WORDS.isdisjoint(tokens)
    if first == "PRAGMA":
        return _is_read_pragma(tokens)
    return False


def is_write(sql: object, *, connection: BaseDatabaseWrapper | None = None) -> bool:
    """True unless ``sql`` is certainly read-only: every statement in it reads.

    Reads are ``SELECT``, ``VALUES``, ``WITH`` without a data-modifying part,
    ``EXPLAIN`` of a read, ``SHOW``, reading ``PRAGMA``\\s, transaction control and
    session ``SET``\\s. Anything else, and anything that cannot be parsed, is a write.
    Keywords in comments, string literals and quoted identifiers are ignored.
    """
    if isinstance(sql, bytes):
        sql = sql.decode("utf-8", errors="replace")
    elif not isinstance(sql, str) and hasattr(sql, "as_string"):  # psycopg's sql.Composable
        raw = connection.connection if connection is not None else None
        sql = sql.as_string(raw)
    if not isinstance(sql, str):
        return True
    statements = _statements(sql)
    if statements is None:
        return True
    return not all(_is_read_statement(statement) for statement in statements)


def guarded_aliases() -> frozenset[str]:
    """The aliases the routers in ``DATABASE_ROUTERS`` want guarded against writes."""
    aliases: set[str] = set()
    for router in connection_router.routers:
        method = getattr(router, "guarded_aliases", None)
        if callable(method):
            aliases.update(method())
    return frozenset(aliases)


def _is_guarded(alias: str) -> bool:
    return alias in guarded_aliases() and alias not in _lifted.get()


def _blocker(
    execute: Callable[[Any, Any, bool, dict[str, Any]], Any],
    sql: Any,
    params: Any,
    many: bool,
    context: dict[str, Any],
) -> Any:
    connection: BaseDatabaseWrapper = context["connection"]
    if _is_guarded(connection.alias) and is_write(sql, connection=connection):
        shown = sql if isinstance(sql, str) else repr(sql)
        if len(shown) > 200:
            shown = f"{shown[:200]}..."
        raise ReadOnlyDatabaseError(
            f"Refused to write to the read-only database {connection.alias!r}: {shown}"
        )
    return execute(sql, params, many, context)


#: The database-level read-only lock of each vendor that has one (set below).
DATABASE_LOCKS = {"sqlite": "PRAGMA query_only", "postgresql": "default_transaction_read_only"}


def _set_database_read_only(connection: BaseDatabaseWrapper, read_only: bool) -> None:
    """Switch the database-level lock of an open connection, bypassing the statement guard."""
    vendor = connection.vendor
    if vendor == "sqlite":
        statement = f"PRAGMA query_only = {'ON' if read_only else 'OFF'}"
    elif vendor == "postgresql":
        statement = f"SET SESSION default_transaction_read_only = {'on' if read_only else 'off'}"
    else:  # no database-level lock known: the statement guard alone protects it
        return
    raw = connection.connection
    cursor = raw.cursor()
    try:
        cursor.execute(statement)
    finally:
        cursor.close()
    if vendor == "postgresql" and not connection.get_autocommit():
        raw.commit()  # a session SET inside a transaction would be undone by a rollback


def guard_connection(connection: BaseDatabaseWrapper) -> None:
    """Put both locks on an open connection (idempotent)."""
    if _blocker not in connection.execute_wrappers:
        connection.execute_wrappers.insert(0, _blocker)
    _set_database_read_only(connection, connection.alias not in _lifted.get())


def _on_connection_created(sender: object, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    if connection.alias in guarded_aliases():
        guard_connection(connection)


def install() -> None:
    """Guard every guarded alias's connection from now on (called by the app's ``ready()``)."""
    connection_created.connect(_on_connection_created, dispatch_uid="multidb_routers.guards")
    aliases = guarded_aliases()
    for connection in connections.all(initialized_only=True):
        if connection.alias in aliases and connection.connection is not None:
            guard_connection(connection)


@contextmanager
def allow_writes(alias: str) -> Iterator[None]:
    """Lift both locks on ``alias`` inside the block: only for loading a snapshot into a base.

    Application code must never need this; the merged manager and the overlay
    router write to the overlay on their own. On PostgreSQL, enter it outside any
    transaction: a transaction that already started read-only stays read-only.
    """
    token = _lifted.set(_lifted.get() | {alias})
    connection = connections[alias]
    try:
        if connection.connection is not None and alias in guarded_aliases():
            _set_database_read_only(connection, False)
        yield
    finally:
        _lifted.reset(token)
        if connection.connection is not None and _is_guarded(alias):
            _set_database_read_only(connection, True)
