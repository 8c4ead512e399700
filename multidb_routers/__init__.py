"""Composable Django database routers for the four classic multi-database patterns.

The names below are imported on first use (PEP 562), so that naming a router in
settings.py imports that router and what it needs, not the admin, the merged querysets
or the management commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_exports

if TYPE_CHECKING:
    from .exceptions import (
        CrossDatabaseWriteError,
        CrossDatabaseWriteWarning,
        PinnedReadError,
        ReadOnlyDatabaseError,
        ReplicaLagError,
        RouterOptionError,
        ShardKeyError,
        ShardLockError,
        ShardMovingError,
    )
    from .functional import FunctionalRouter
    from .overlay.router import OverlayRouter
    from .replication.router import PrimaryReplicaRouter
    from .replication.state import use_primary
    from .sharding.router import ShardRouter
    from .transactions import atomic

__version__ = "0.1.0"

_EXPORTS = {
    "CrossDatabaseWriteError": "multidb_routers.exceptions",
    "CrossDatabaseWriteWarning": "multidb_routers.exceptions",
    "FunctionalRouter": "multidb_routers.functional",
    "OverlayRouter": "multidb_routers.overlay.router",
    "PrimaryReplicaRouter": "multidb_routers.replication.router",
    "PinnedReadError": "multidb_routers.exceptions",
    "ReadOnlyDatabaseError": "multidb_routers.exceptions",
    "ReplicaLagError": "multidb_routers.exceptions",
    "RouterOptionError": "multidb_routers.exceptions",
    "ShardKeyError": "multidb_routers.exceptions",
    "ShardLockError": "multidb_routers.exceptions",
    "ShardMovingError": "multidb_routers.exceptions",
    "ShardRouter": "multidb_routers.sharding.router",
    "use_primary": "multidb_routers.replication.state",
    "atomic": "multidb_routers.transactions",
}

__all__ = [
    "CrossDatabaseWriteError",
    "CrossDatabaseWriteWarning",
    "FunctionalRouter",
    "OverlayRouter",
    "PinnedReadError",
    "PrimaryReplicaRouter",
    "ReadOnlyDatabaseError",
    "ReplicaLagError",
    "RouterOptionError",
    "ShardKeyError",
    "ShardLockError",
    "ShardMovingError",
    "ShardRouter",
    "atomic",
    "use_primary",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
