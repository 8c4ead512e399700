"""docs/migrating.rst: a project's settings with django-multidb-router 0.11 (before)."""

from __future__ import annotations

DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "primary.sqlite3"},
    "replica-1": {"ENGINE": "django.db.backends.sqlite3", "NAME": "replica-1.sqlite3"},
    "replica-2": {"ENGINE": "django.db.backends.sqlite3", "NAME": "replica-2.sqlite3"},
}
REPLICA_DATABASES = ["replica-1", "replica-2"]
MULTIDB_PINNING_SECONDS = 5

DATABASE_ROUTERS = ["multidb.PinningReplicaRouter"]
MIDDLEWARE = [
    "multidb.middleware.PinningRouterMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
]
