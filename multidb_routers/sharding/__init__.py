"""Hash-based sharding: the router, a shard-aware manager, fan-out queries, shard-safe ids.

The names below are imported on first use (PEP 562): the router does not pull in the
manager or the merged querysets of the fan-out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from ..moving.tenant import move_shard_key
    from .fanout import across_shards
    from .ids import IdGenerator, id_datetime, new_id
    from .manager import ShardedManager, ShardedQuerySet, on_shard
    from .router import ShardRouter, find_shard_router, require_shard_router
    from .selection import use_shard

_EXPORTS = {
    "IdGenerator": "multidb_routers.sharding.ids",
    "ShardRouter": "multidb_routers.sharding.router",
    "ShardedManager": "multidb_routers.sharding.manager",
    "ShardedQuerySet": "multidb_routers.sharding.manager",
    "across_shards": "multidb_routers.sharding.fanout",
    "find_shard_router": "multidb_routers.sharding.router",
    "id_datetime": "multidb_routers.sharding.ids",
    "move_shard_key": "multidb_routers.moving.tenant",
    "new_id": "multidb_routers.sharding.ids",
    "on_shard": "multidb_routers.sharding.manager",
    "require_shard_router": "multidb_routers.sharding.router",
    "use_shard": "multidb_routers.sharding.selection",
}

__all__ = [
    "IdGenerator",
    "ShardRouter",
    "ShardedManager",
    "ShardedQuerySet",
    "across_shards",
    "find_shard_router",
    "id_datetime",
    "move_shard_key",
    "new_id",
    "on_shard",
    "require_shard_router",
    "use_shard",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
