"""The one place the compat layer reaches into multidb_routers' internals.

The compat ``pin_this_thread()`` / ``unpin_this_thread()`` set the same context
variable that :class:`multidb_routers.use_primary` sets, so a pin of either API is seen
by both; nothing public sets it without a block, hence this import.
"""

from __future__ import annotations

from multidb_routers.replication.state import _primary_forced, primary_forced

__all__ = ["primary_forced", "set_primary_forced"]


def set_primary_forced(value: bool) -> None:
    """Set the ``use_primary()`` flag of the current context, without a block to end it."""
    _primary_forced.set(value)
