"""Sharding: reviews spread over four databases by ``product_id``; the rest on ``default``.

Every review of a product lives on one shard, so a product page reads one database;
the "latest reviews" page and the product list's stats fan out over the four.
"""

from __future__ import annotations

from multidb_routers import ShardRouter

from .base import *  # noqa: F403
from .base import sqlite

EXAMPLE_PATTERN = "sharded"

SHARDS = [f"reviews_{number}" for number in range(4)]

DATABASES = {
    "default": sqlite("sharded", "default"),
    **{alias: sqlite("sharded", alias) for alias in SHARDS},
}

DATABASE_ROUTERS = [
    ShardRouter(shards=SHARDS, apps=["reviews"], shard_key="product_id", strategy="jump"),
]
