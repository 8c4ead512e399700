"""Tenants: each product is a shop whose reviews live on one shard; requests are locked to it.

The sharded pattern, plus what a multi-tenant site adds: ``ShardMiddleware`` runs each
product page inside ``use_shard(product_id, lock=True)`` (the resolver reads the product
from the URL, or the ``X-Shop`` header), and a placement directory puts a big shop on a
database of its own, ``reviews_big``, which hashing never picks.
"""

from __future__ import annotations

from multidb_routers import ShardRouter

from .base import *  # noqa: F403
from .base import MIDDLEWARE, sqlite

EXAMPLE_PATTERN = "tenants"

SHARDS = [f"reviews_{number}" for number in range(4)]

DATABASES = {
    "default": sqlite("tenants", "default"),  # products, users, the placement directory
    **{alias: sqlite("tenants", alias) for alias in [*SHARDS, "reviews_big"]},
}

DATABASE_ROUTERS = [
    ShardRouter(
        shards=[*SHARDS, {"primary": "reviews_big", "placed_only": True}],
        apps=["reviews"],
        shard_key="product_id",
        directory="shops",
    ),
]

MIDDLEWARE = [*MIDDLEWARE, "multidb_routers.sharding.middleware.ShardMiddleware"]
MULTIDB_ROUTERS_SHARD_RESOLVER = "example_project.tenancy.shop_key"
