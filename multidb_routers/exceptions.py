"""Every exception multidb_routers raises on purpose, in one module.

A bad router option (an unknown keyword, a value of the wrong type or out of range, a
missing required option) always raises :class:`RouterOptionError`, a subclass of
Django's ``ImproperlyConfigured``: settings.py fails to load with a message naming the
option and what it accepts.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.db.transaction import TransactionManagementError
from django.db.utils import DatabaseError, OperationalError

__all__ = [
    "CannotMergeError",
    "CrossDatabaseWriteError",
    "CrossDatabaseWriteWarning",
    "MergedQueryError",
    "MoveError",
    "MultiDBRoutersError",
    "PinnedReadError",
    "ReadOnlyDatabaseError",
    "ReplicaLagError",
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


class PinnedReadError(MultiDBRoutersError, OperationalError):
    """A read pinned to a primary (by a recent write) that no database can serve now.

    The primary is unreachable and no replica is known to hold the write; the message
    says which and why, ``__cause__`` is the primary's connection error.
    """


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


class CrossDatabaseWriteWarning(UserWarning):
    """A write was routed to an alias outside the transaction the code holds open.

    Emitted when code inside ``atomic()`` on one alias writes a model the routers send
    to another alias on which no transaction is open: that write commits on its own,
    whatever becomes of the transaction. ``MULTIDB_ROUTERS_CROSS_DATABASE_WRITES``
    chooses between this warning (``"warn"``), :class:`CrossDatabaseWriteError`
    (``"error"``) and nothing (``"ignore"``).
    """


class CrossDatabaseWriteError(MultiDBRoutersError, TransactionManagementError):
    """:class:`CrossDatabaseWriteWarning` raised as an error (the setting is ``"error"``).

    Raised before the write reaches any database.
    """


class ReplicaLagError(MultiDBRoutersError):
    """No replica has caught up with a consistency token restored in ``"delayed"`` mode.

    Raised on entering ``restore(token, mode="delayed")`` while the token's window lasts,
    so that a job queue can retry the job later. ``primary`` names the primary,
    ``position`` the WAL position no replica has replayed (``None`` for a time window),
    ``retry_after`` the seconds left in the window (after it, the block reads the
    primary instead of raising).
    """

    def __init__(self, primary: str, position: str | None, *, retry_after: float) -> None:
        what = f"WAL position {position}" if position else "the write's time window"
        super().__init__(
            f"No replica of {primary!r} has caught up with {what} yet; retry in "
            f"{max(0.0, retry_after):.2f} s or restore the token in mode 'sticky' or 'primary'."
        )
        self.primary = primary
        self.position = position
        self.retry_after = max(0.0, retry_after)
