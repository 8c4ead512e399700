"""The example's primary/replica pattern, with reviews on the suite's PostgreSQL cluster.

``benchmarks/loadtest/run.py`` starts gunicorn and uvicorn with this settings module
and these environment variables (all required except the last three):

``LOADTEST_PG_HOST``, ``LOADTEST_PRIMARY_PORT``, ``LOADTEST_STANDBY_PORT``
    where the primary and its lagging standby listen;
``LOADTEST_DB``
    the database holding the reviews (made on the primary, replicated to the standby);
``LOADTEST_VAR_DIR``
    the folder of the SQLite ``default`` database (products, Django's own tables);
``LOADTEST_FRESHNESS``
    ``time`` (default) or ``lsn``;
``LOADTEST_PINNING``
    ``1`` (default), or ``0`` for the control run: ``pin_writes=False``, so a client's
    read right after its write goes to the standby;
``LOADTEST_CONN_MAX_AGE``
    Django's ``CONN_MAX_AGE`` for the PostgreSQL aliases (default ``0``); health checks
    are on whenever connections persist.

As in ``example_project.settings.replica``, ``reviews`` is the primary and the
products stay on ``default``; the one replica is the real hot standby.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from example_project.settings.replica import *  # noqa: F403
from example_project.settings.replica import MIDDLEWARE
from multidb_routers import PrimaryReplicaRouter

PRIMARY = "reviews"
STANDBY = "reviews_standby"
REPLICAS = [STANDBY]

DEBUG = False
EXAMPLE_PATTERN = "replica (load test)"
_CONN_MAX_AGE = int(os.environ.get("LOADTEST_CONN_MAX_AGE", "0"))


def postgres(port_variable: str, **extra: Any) -> dict[str, Any]:
    """A ``DATABASES`` entry for the cluster's server whose port is in ``port_variable``."""
    return {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ["LOADTEST_PG_HOST"],
        "PORT": os.environ[port_variable],
        "USER": "postgres",
        "NAME": os.environ["LOADTEST_DB"],
        "CONN_MAX_AGE": _CONN_MAX_AGE,
        "CONN_HEALTH_CHECKS": _CONN_MAX_AGE != 0,
        # A server that is down must fail a request quickly, not hang it.
        "OPTIONS": {"connect_timeout": 2},
        **extra,
    }


DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": Path(os.environ["LOADTEST_VAR_DIR"]) / "default.sqlite3",
        # 32 server threads read products at once.
        "OPTIONS": {"timeout": 20},
    },
    PRIMARY: postgres("LOADTEST_PRIMARY_PORT"),
    STANDBY: postgres("LOADTEST_STANDBY_PORT", TEST={"MIRROR": PRIMARY}),
}

DATABASE_ROUTERS = [
    PrimaryReplicaRouter(
        primary=PRIMARY,
        replicas=REPLICAS,
        apps=["reviews"],
        exclusive=True,
        freshness=os.environ.get("LOADTEST_FRESHNESS", "time"),
        pin_writes=os.environ.get("LOADTEST_PINNING", "1") == "1",
    ),
]

# First, so that it sees every query of the request and every error (served.py).
MIDDLEWARE = ["benchmarks.loadtest.served.ServedByMiddleware", *MIDDLEWARE]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"line": {"format": "%(asctime)s %(process)d %(name)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "line"}},
    "loggers": {
        "django.request": {"handlers": ["stderr"], "level": "ERROR"},
        "multidb_routers": {"handlers": ["stderr"], "level": "WARNING"},
    },
}
