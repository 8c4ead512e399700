"""Primary/replica: reviews written to ``reviews``, read from two replicas unless pinned.

The replicas are SQLite files that nothing replicates into: the demo copies the
primary's file over them after each write step, and says so. Real replication is the
database server's job (PostgreSQL streaming replication: see docs/postgresql.rst).
``PinningMiddleware`` gives read-your-writes: after a client wrote reviews, its next
requests read them from the primary for ``pin_seconds``, stale replicas or not.
"""

from __future__ import annotations

from multidb_routers import PrimaryReplicaRouter

from .base import *  # noqa: F403
from .base import MIDDLEWARE, sqlite

EXAMPLE_PATTERN = "replica"

REPLICAS = ["reviews_replica_1", "reviews_replica_2"]

DATABASES = {
    "default": sqlite("replica", "default"),
    "reviews": sqlite("replica", "reviews"),
    # A replica mirrors its primary in tests (multidb_routers.E010 asks for it).
    **{alias: sqlite("replica", alias, TEST={"MIRROR": "reviews"}) for alias in REPLICAS},
}

DATABASE_ROUTERS = [
    # exclusive: every other model (products, Django's apps) stays off the reviews databases.
    PrimaryReplicaRouter(primary="reviews", replicas=REPLICAS, apps=["reviews"], exclusive=True),
]

MIDDLEWARE = [*MIDDLEWARE, "multidb_routers.middleware.PinningMiddleware"]
