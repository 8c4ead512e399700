"""SQLite's read-only wall: a read-only open and authorizers no SQL statement can lift.

* A guarded SQLite base file is opened with a ``file:...?mode=ro`` URI: the SQLite library
  itself refuses every write to the file, whatever ``PRAGMA`` a statement sends.
* The base's connection gets an authorizer (``sqlite3.Connection.set_authorizer``) that
  refuses, at prepare time, every action but reading: it also covers an in-memory base,
  which cannot be opened read-only, and ``executescript``/raw DB-API statements.
* Every other SQLite connection gets an authorizer that refuses ``ATTACH`` of a guarded
  file, however it is spelled (path, ``file:`` URI, symbolic or hard link), and of any
  name that is not a plain string literal while a guarded file exists.

Only Python code holding the raw connection can change an authorizer; no SQL can.
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .statements import ACTION_PRAGMAS, CONNECTION_PRAGMAS, READ_PRAGMAS_WITH_ARGUMENT

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = [
    "base_authorizer",
    "database_key",
    "is_in_memory",
    "make_attach_authorizer",
    "readonly_name",
]

_OK = sqlite3.SQLITE_OK
_DENY = sqlite3.SQLITE_DENY
_READ_ACTIONS = frozenset(
    {
        sqlite3.SQLITE_SELECT,
        sqlite3.SQLITE_READ,
        sqlite3.SQLITE_FUNCTION,
        sqlite3.SQLITE_RECURSIVE,
        sqlite3.SQLITE_TRANSACTION,
        sqlite3.SQLITE_SAVEPOINT,
    }
)
_WRITE_FUNCTIONS = frozenset({"load_extension", "writefile", "edit"})
_COMPANIONS = ("-journal", "-wal", "-shm")


def _split_uri(name: str) -> tuple[str, dict[str, list[str]]] | None:
    if not name.lower().startswith("file:"):
        return None
    parts = urllib.parse.urlsplit(name)
    return urllib.parse.unquote(parts.path), urllib.parse.parse_qs(parts.query)


def is_in_memory(name: object) -> bool:
    """Whether an SQLite ``NAME`` is an in-memory database (which cannot be opened read-only)."""
    text = str(name)
    if text in ("", ":memory:"):
        return True
    uri = _split_uri(text)
    return uri is not None and (uri[1].get("mode") == ["memory"] or uri[0] == ":memory:")


def readonly_name(name: object) -> str:
    """The ``file:`` URI opening the SQLite file ``name`` read-only."""
    text = str(name)
    uri = _split_uri(text)
    if uri is None:
        return f"{Path(text).resolve().as_uri()}?mode=ro"
    parts = urllib.parse.urlsplit(text)
    query = [(key, value) for key, value in urllib.parse.parse_qsl(parts.query) if key != "mode"]
    query.append(("mode", "ro"))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def database_key(name: object) -> tuple[Any, ...] | None:
    """What an SQLite filename or URI opens, comparable across spellings and links.

    ``None`` for a private in-memory or temporary database (no other connection reaches it).
    """
    text = str(name)
    if text in ("", ":memory:"):
        return None
    uri = _split_uri(text)
    if uri is not None:
        path, query = uri
        if query.get("mode") == ["memory"] or path == ":memory:":
            return ("memory", path) if path not in ("", ":memory:") else None
        text = path
    try:
        stat = os.stat(text)
    except OSError:
        return ("path", os.path.realpath(text))
    return ("file", stat.st_dev, stat.st_ino)


def make_attach_authorizer(
    guarded_names: Callable[[], Iterable[object]],
) -> Callable[[int, str | None, str | None, str | None, str | None], int]:
    """An authorizer refusing ``ATTACH`` of a database named by ``guarded_names()``."""

    def authorizer(
        action: int, arg1: str | None, arg2: str | None, dbname: str | None, source: str | None
    ) -> int:
        if action != sqlite3.SQLITE_ATTACH:
            return _OK
        keys = {database_key(name) for name in guarded_names()} - {None}
        if not keys:
            return _OK
        if arg1 is None:  # the file name is an expression or a parameter: cannot tell
            return _DENY
        names = [arg1]
        # A database written at the base's journal path would be replayed into the base
        # as a hot journal by the next writable open.
        names += [arg1[: -len(suffix)] for suffix in _COMPANIONS if arg1.endswith(suffix)]
        return _DENY if any(database_key(name) in keys for name in names) else _OK

    return authorizer


def base_authorizer(
    action: int, arg1: str | None, arg2: str | None, dbname: str | None, source: str | None
) -> int:
    """The guarded base's authorizer: reading, transaction control and harmless PRAGMAs."""
    if action in _READ_ACTIONS:
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _WRITE_FUNCTIONS:
            return _DENY
        return _OK
    if action == sqlite3.SQLITE_PRAGMA:
        name = (arg1 or "").upper()
        if arg2 is None:
            return _DENY if name in ACTION_PRAGMAS else _OK
        if name in CONNECTION_PRAGMAS or name in READ_PRAGMAS_WITH_ARGUMENT:
            return _OK
    return _DENY


def lock(
    connection: BaseDatabaseWrapper,
    read_only: bool,
    otherwise: Callable[[int, str | None, str | None, str | None, str | None], int],
) -> None:
    """Set or lift the base's authorizer and ``PRAGMA query_only`` on an open connection.

    Lifted, the connection keeps ``otherwise`` (the authorizer every connection has).
    """
    raw = connection.connection
    raw.set_authorizer(otherwise)
    raw.execute(f"PRAGMA query_only = {'ON' if read_only else 'OFF'}")
    if read_only:
        raw.set_authorizer(base_authorizer)
