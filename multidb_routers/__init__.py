"""Composable Django database routers for the four classic multi-database patterns.

The names below are imported on first use (PEP 562), so that naming a router in
settings.py imports that router and what it needs, not the admin, the merged querysets
or the management commands.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .exceptions import ReadOnlyDatabaseError, RouterOptionError, ShardKeyError, ShardLockError
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
    "ShardRouter",
    "use_primary",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access (PEP 562)."""
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
