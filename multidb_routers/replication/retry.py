"""A read whose replica connection is lost while it runs is run again elsewhere, once.

:class:`RetryLostReplica` is an execute wrapper (``connection.execute_wrappers``) that a
:class:`~multidb_routers.replication.replica_set.ReplicaSet` puts on a replica's
connection when it chooses that replica. When a statement fails with
``OperationalError`` and the connection is found lost (closed or no longer answering
``SELECT 1``), outside a transaction, it marks the replica down, asks the replica set
for the read's alias again (another live replica that is fresh enough, or the primary),
runs the statement there and hands its rows to the caller's cursor. Inside a
transaction, for ``executemany()``, or for any other error the exception propagates as
before.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from django.db import OperationalError, connections

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.db.backends.base.base import BaseDatabaseWrapper

    from .replica_set import ReplicaSet

__all__ = ["RetryLostReplica", "install_retry", "retries_for"]

logger = logging.getLogger("multidb_routers")

# Set while a statement runs again: a second lost connection is not retried.
_retrying: ContextVar[bool] = ContextVar("multidb_routers.retrying", default=False)


class RetryLostReplica:
    """Execute wrapper of a replica connection: a read that lost it runs again elsewhere."""

    __slots__ = ("replica_set",)

    def __init__(self, replica_set: ReplicaSet) -> None:
        #: The replica set that chose this replica last in this thread.
        self.replica_set = replica_set

    def __call__(
        self,
        execute: Callable[..., Any],
        sql: str,
        params: Any,
        many: bool,
        context: dict[str, Any],
    ) -> Any:
        """Run the statement; on a lost replica connection, run it once on another alias."""
        try:
            return execute(sql, params, many, context)
        except OperationalError as exc:
            connection: BaseDatabaseWrapper = context["connection"]
            if many or _retrying.get() or not _lost(connection):
                raise
            replica_set = self.replica_set
            replica_set.mark_down(connection.alias, exc)
            alias = replica_set.read_alias()
            if alias == connection.alias:
                raise
            connection.close()  # reopened (or found down) when it is chosen again
            token = _retrying.set(True)
            try:
                cursor = connections[alias].cursor()
                result = cursor.execute(sql, params)
            finally:
                _retrying.reset(token)
            # The caller fetches through its own cursor wrapper: give it the new rows.
            context["cursor"].cursor = cursor.cursor
            logger.warning(
                "A read on replica %r lost its connection (%s); it ran again on %r.",
                connection.alias,
                str(exc).strip(),
                alias,
            )
            return result


def _lost(connection: BaseDatabaseWrapper) -> bool:
    """Whether ``connection`` is gone, outside a transaction (which a retry would break)."""
    if connection.in_atomic_block or not connection.autocommit:
        return False
    return connection.connection is None or not connection.is_usable()


def retries_for(connection: BaseDatabaseWrapper, replica_set: ReplicaSet) -> bool:
    """Whether :class:`RetryLostReplica` is outermost on ``connection``, for ``replica_set``."""
    wrappers = connection.execute_wrappers
    return bool(wrappers) and getattr(wrappers[0], "replica_set", None) is replica_set


def install_retry(connection: BaseDatabaseWrapper, replica_set: ReplicaSet) -> None:
    """Put (or keep) :class:`RetryLostReplica` outermost on ``connection``, for ``replica_set``.

    First in ``execute_wrappers``: Django's ``execute_wrapper()`` blocks pop the last one.
    """
    wrappers = connection.execute_wrappers
    first = wrappers[0] if wrappers else None
    if type(first) is RetryLostReplica:
        first.replica_set = replica_set
    else:
        wrappers.insert(0, RetryLostReplica(replica_set))
