"""Composable Django database routers for the four classic multi-database patterns."""

from __future__ import annotations

from .exceptions import ReadOnlyDatabaseError, ShardKeyError
from .functional import FunctionalRouter
from .overlay import OverlayRouter
from .replication.state import use_primary
from .replication.router import PrimaryReplicaRouter
from .sharding.router import ShardRouter

__version__ = "0.1.0"

__all__ = [
    "FunctionalRouter",
    "OverlayRouter",
    "PrimaryReplicaRouter",
    "ReadOnlyDatabaseError",
    "ShardKeyError",
    "ShardRouter",
    "use_primary",
]
