"""docs/migrating.rst, step 1: the same settings, import paths changed (after)."""

from __future__ import annotations

DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "primary.sqlite3"},
    "replica-1": {"ENGINE": "django.db.backends.sqlite3", "NAME": "replica-1.sqlite3"},
    "replica-2": {"ENGINE": "django.db.backends.sqlite3", "NAME": "replica-2.sqlite3"},
}
REPLICA_DATABASES = ["replica-1", "replica-2"]
MULTIDB_PINNING_SECONDS = 5

DATABASE_ROUTERS = ["multidb_routers.compat.multidb.PinningReplicaRouter"]
MIDDLEWARE = [
    "multidb_routers.compat.multidb.middleware.PinningRouterMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
]
