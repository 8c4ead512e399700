"""The one place the compat layer reaches into multidb_routers' internals.

The compat ``pin_this_thread()`` / ``unpin_this_thread()`` set the same flag that
:class:`multidb_routers.use_primary` sets, so a pin of either API is seen by both;
nothing public sets it without a block, hence this import.
"""

from __future__ import annotations

from multidb_routers.replication.state import primary_forced, set_forced

__all__ = ["primary_forced", "set_primary_forced"]


def set_primary_forced(value: bool) -> None:
    """Set the ``use_primary()`` flag of the current context, without a block to end it."""
    set_forced(value)
