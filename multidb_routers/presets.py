"""The public home of the naming-convention presets (``DATABASE_ROUTERS`` names them here).

The implementation lives in :mod:`multidb_routers.replication.presets`.
"""

from __future__ import annotations

from .replication.presets import (
    MasterSlave,
    MultipleMasterSlave,
    PinningReplicaRouter,
    ReplicaRouter,
)

__all__ = ["MasterSlave", "MultipleMasterSlave", "PinningReplicaRouter", "ReplicaRouter"]
