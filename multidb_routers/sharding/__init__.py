"""Hash-based sharding: the router, a shard-aware manager, fan-out queries, shard-safe ids."""

from __future__ import annotations

from .fanout import across_shards
from .ids import IdGenerator, id_datetime, new_id
from .manager import ShardedManager, ShardedQuerySet, on_shard
from .router import ShardRouter, find_shard_router, shard_router_for

__all__ = [
    "IdGenerator",
    "ShardRouter",
    "ShardedManager",
    "ShardedQuerySet",
    "across_shards",
    "find_shard_router",
    "id_datetime",
    "new_id",
    "on_shard",
    "shard_router_for",
]
