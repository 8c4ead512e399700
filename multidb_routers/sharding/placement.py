"""The placement directory: key -> alias overrides of the hash, and this process's copy.

Entries live in the :class:`~multidb_routers.models.Placement` table on
``MULTIDB_ROUTERS_PLACEMENT_DATABASE``. Each process keeps a copy of the whole table
(every directory, one query) and reads it again once it is older than
``MULTIDB_ROUTERS_PLACEMENT_TTL`` seconds, so a change made by any process is seen by
every other within that time; a change made by this process is seen by it at once. A key
with no entry costs a dictionary lookup, never a query.

This copy is process-wide on purpose (like Django's content type cache): it is no
request state, and it is replaced whole, never edited in place, so threads read it
without a lock.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.core.signals import setting_changed
from django.db import DatabaseError, connections, transaction

from ..conf import conf

__all__ = ["clear_cache", "entries", "key_text", "lookup"]

_EMPTY: dict[bytes, str] = {}
_entries: dict[str, dict[bytes, str]] = {}
_expires = 0.0  # time.monotonic() after which the copy is read again
_refresh_lock = threading.Lock()


def key_text(raw: bytes) -> str:
    """The text a key's canonical bytes are stored as (``UnicodeDecodeError`` if no UTF-8)."""
    return raw.decode("utf-8")


def lookup(directory: str, raw: bytes) -> str | None:
    """The alias ``directory`` places the key ``raw`` (its canonical bytes) on, if any."""
    if time.monotonic() >= _expires:
        _refresh()
    return _entries.get(directory, _EMPTY).get(raw)


def entries(directory: str) -> dict[str, str]:
    """Every entry of ``directory`` as key text -> alias, read from the table now."""
    _refresh(force=True)
    return {key_text(raw): alias for raw, alias in _entries.get(directory, _EMPTY).items()}


def clear_cache() -> None:
    """Forget this process's copy: the next lookup reads the table."""
    global _expires
    _expires = 0.0


def _refresh(*, force: bool = False) -> None:
    global _entries, _expires
    with _refresh_lock:
        if not force and time.monotonic() < _expires:
            return  # another thread refreshed it meanwhile
        ttl = conf.PLACEMENT_TTL
        loaded = _load(conf.PLACEMENT_DATABASE)
        _entries = loaded
        _expires = time.monotonic() + ttl


def _load(alias: str) -> dict[str, dict[bytes, str]]:
    from ..models import Placement

    table = Placement._meta.db_table
    try:
        # A savepoint: a failed read must not break a transaction open on that database.
        with transaction.atomic(using=alias):
            rows = list(
                Placement.objects.using(alias).values_list("directory", "key", "alias").iterator()
            )
    except DatabaseError:
        with connections[alias].cursor() as cursor:
            tables = connections[alias].introspection.table_names(cursor)
        if table not in tables:
            return {}  # not migrated yet: no entry can exist
        raise  # the directory exists but cannot be read: never guess a shard
    loaded: dict[str, dict[bytes, str]] = {}
    for directory, key, placed in rows:
        loaded.setdefault(directory, {})[key.encode("utf-8")] = placed
    return loaded


def _forget(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("MULTIDB_ROUTERS_PLACEMENT") or setting == "DATABASES":
        clear_cache()


def placement_changed(**kwargs: Any) -> None:
    """Receiver of ``Placement``'s ``post_save``/``post_delete`` (connected by the app)."""
    clear_cache()


setting_changed.connect(_forget, dispatch_uid="multidb_routers.sharding.placement")
