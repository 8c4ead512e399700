"""Every exception multidb_routers raises on purpose, in one module.

A bad router option (an unknown keyword, a value of the wrong type or out of range, a
missing required option) always raises :class:`RouterOptionError`, a subclass of
Django's ``ImproperlyConfigured``: settings.py fails to load with a message naming the
option and what it accepts.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.db.utils import DatabaseError, OperationalError

__all__ = [
    "CannotMergeError",
    "MergedQueryError",
    "MoveError",
    "MultiDBRoutersError",
    "ReadOnlyDatabaseError",
    "RouterOptionError",
    "ShardKeyError",
    "ShardLockError",
    "ShardMovingError",
]


class MultiDBRoutersError(Exception):
    """Base class of the errors this library raises on purpose."""


class RouterOptionError(MultiDBRoutersError, ImproperlyConfigured):
    """A router (or its replica set, shards, freshness strategy) was given a bad option."""


class ShardKeyError(MultiDBRoutersError, LookupError):
    """The shard of a sharded model's row or query cannot be known.

    Raised instead of falling back to some shard, so a row is never written to
    (or looked for on) the wrong database.
    """


class ShardLockError(ShardKeyError):
    """A query inside a locked ``use_shard(key, lock=True)`` block would reach another shard.

    Raised by the router, by ``across_shards()`` and by a guard on the shards' connections
    (``using()``, raw SQL), so a request locked to one tenant's shard never reaches another.
    """


class ReadOnlyDatabaseError(MultiDBRoutersError, DatabaseError):
    """A statement would have written to a database that must never be written."""


class MergedQueryError(MultiDBRoutersError, DatabaseError):
    """A source of a merged query failed; ``label`` names it, ``__cause__`` is the error."""

    def __init__(self, label: str, error: BaseException) -> None:
        super().__init__(f"The query on {label} failed: {type(error).__name__}: {error}")
        self.label = label
        self.error = error


class MoveError(MultiDBRoutersError):
    """Rows cannot be moved without losing or overwriting data; nothing unsafe was done."""


class ShardMovingError(MultiDBRoutersError, OperationalError):
    """A write of a shard key refused while its rows move to another shard: retry it.

    Raised by the database itself (a trigger ``move_shard_key`` puts on the source
    tables), so every process and raw SQL are refused alike; the write was not made and
    nothing is lost. Online moves (PostgreSQL) refuse for the cut-over only (well under
    a second), offline moves (SQLite) for the whole copy. Retrying after
    ``retry_after`` seconds reaches the key's new shard once the move switched it: the
    error makes this process read the placement directory again.
    """

    retry_after = 0.1


class CannotMergeError(MultiDBRoutersError, TypeError):
    """A query whose merged result would differ from one database's: refused before it runs.

    A ``TypeError``, as the merge raised for what it cannot follow before this class
    existed; the message names what is unsupported and what to do instead.
    """
