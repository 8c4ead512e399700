"""Exceptions raised by multidb_routers."""

from __future__ import annotations

from django.db.utils import DatabaseError

__all__ = ["MultiDBRoutersError", "ReadOnlyDatabaseError", "ShardKeyError"]


class MultiDBRoutersError(Exception):
    """Base class of the errors this library raises on purpose."""


class ShardKeyError(MultiDBRoutersError, LookupError):
    """The shard of a sharded model's row or query cannot be known.

    Raised instead of falling back to some shard, so a row is never written to
    (or looked for on) the wrong database.
    """


class ReadOnlyDatabaseError(MultiDBRoutersError, DatabaseError):
    """A statement would have written to a database that must never be written."""
