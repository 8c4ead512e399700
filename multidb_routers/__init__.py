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
        ReadOnlyDatabaseError,
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

__version__ = "0.1.0"

_EXPORTS = {
    "FunctionalRouter": "multidb_routers.functional",
    "OverlayRouter": "multidb_routers.overlay.router",
    "PrimaryReplicaRouter": "multidb_routers.replication.router",
    "ReadOnlyDatabaseError": "multidb_routers.exceptions",
    "RouterOptionError": "multidb_routers.exceptions",
    "ShardKeyError": "multidb_routers.exceptions",
    "ShardLockError": "multidb_routers.exceptions",
    "ShardMovingError": "multidb_routers.exceptions",
    "ShardRouter": "multidb_routers.sharding.router",
    "use_primary": "multidb_routers.replication.state",
}

__all__ = [
    "FunctionalRouter",
    "OverlayRouter",
    "PrimaryReplicaRouter",
    "ReadOnlyDatabaseError",
    "RouterOptionError",
    "ShardKeyError",
    "ShardLockError",
    "ShardMovingError",
    "ShardRouter",
    "use_primary",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
