"""docs/migrating.rst, step 2: the native router and middleware."""

from __future__ import annotations

from multidb_routers import PrimaryReplicaRouter

DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "primary.sqlite3"},
    "replica-1": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": "replica-1.sqlite3",
        "TEST": {"MIRROR": "default"},
    },
    "replica-2": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": "replica-2.sqlite3",
        "TEST": {"MIRROR": "default"},
    },
}
DATABASE_ROUTERS = [
    PrimaryReplicaRouter(primary="default", replicas=["replica-1", "replica-2"], pin_seconds=5),
]
MIDDLEWARE = [
    "multidb_routers.middleware.PinningMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
]
