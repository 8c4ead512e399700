"""Django settings of the test suite: several SQLite aliases, every router chained."""

from __future__ import annotations

from typing import Any

from multidb_routers import FunctionalRouter, OverlayRouter, PrimaryReplicaRouter, ShardRouter
from tests.postgres.cluster import databases_from_env

SECRET_KEY = "multidb-routers-tests-not-secret"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["*"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def _sqlite(*, TEST: dict[str, Any] | None = None) -> dict[str, Any]:
    # Without a TEST NAME, Django gives every alias its own in-memory test database. No
    # alias depends on "default", so a test may ask for any set of aliases.
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": ":memory:",
        "TEST": {"DEPENDENCIES": [], **(TEST or {})},
    }


DATABASES: dict[str, dict[str, Any]] = {
    "default": _sqlite(),
    # Functional separation.
    "users": _sqlite(),
    "library": _sqlite(),
    "legacy": _sqlite(),
    # Primary/replica.
    "reviews": _sqlite(),
    "reviews_replica1": _sqlite(TEST={"MIRROR": "reviews"}),
    "reviews_replica2": _sqlite(TEST={"MIRROR": "reviews"}),
    # Several primaries, named as RestAuth's routers expect: "slave" replicates master-a.
    "master-a": _sqlite(),
    "master-b": _sqlite(),
    "slave": _sqlite(TEST={"MIRROR": "master-a"}),
    # django-multidb-router's naming: a replica of default.
    "shadow-1": _sqlite(TEST={"MIRROR": "default"}),
    # Sharding: four shards in use, a fifth to grow into.
    **{f"shard_{number}": _sqlite() for number in range(5)},
    # A replica of shard_3, for the tests of a shard with replicas.
    "shard_3_replica": _sqlite(TEST={"MIRROR": "shard_3"}),
    # Overlay.
    # The test runner must not migrate the read-only base (Django would record migrations).
    "base": _sqlite(TEST={"MIGRATE": False}),
    "overlay": _sqlite(),
}
# The real PostgreSQL cluster (pg_primary, the lagging pg_standby, pg_shard_0/1) when
# MULTIDB_ROUTERS_PG_DIR names a running one; else tests/postgres/plugin.py adds these aliases at
# run time, only if tests marked postgres are selected. See docs/postgresql.rst.
DATABASES.update(databases_from_env())

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "multidb_routers",
    "tests.testapps.functional_app",
    "tests.testapps.legacy_app",
    "tests.testapps.replica_app",
    "tests.testapps.shard_app",
    "tests.testapps.overlay_app",
    "tests.testapps.moving_app",
]

DATABASE_ROUTERS = [
    FunctionalRouter(
        routes={
            # django.contrib.auth moved off default, with the apps that hold foreign keys to it.
            "auth": "users",
            "contenttypes": "users",
            "admin": "users",
            "sessions": "users",
            "functional_app": "library",
            "legacy_app.Customer": "legacy",
            "moving_app": "legacy",
        }
    ),
    PrimaryReplicaRouter(
        primary="reviews",
        replicas=["reviews_replica1", "reviews_replica2"],
        apps=["replica_app"],
        exclusive=True,  # reviews holds replica_app only (else W002)
    ),
    OverlayRouter(
        base="base", overlay="overlay", apps=["overlay_app"], replace=["overlay_app.Note"]
    ),
    ShardRouter(
        shards=[f"shard_{number}" for number in range(4)],  # shard_4 is for growth tests
        apps=["shard_app.Review", "shard_app.Event", "shard_app.Ticket"],
        shard_key={"shard_app.Review": "product_id"},
    ),
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "multidb_routers.middleware.PinningMiddleware",
]

ROOT_URLCONF = "tests.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
