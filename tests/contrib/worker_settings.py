"""Settings of the Celery worker process of tests/contrib/test_celery.py.

The test suite's settings, with the PostgreSQL aliases of the running test session (their
test database names included) from ``MULTIDB_ROUTERS_TEST_WORKER_DATABASES`` and
replica_app routed to the real primary and its lagging standby with LSN freshness.
"""

from __future__ import annotations

import json
import os

from multidb_routers import PrimaryReplicaRouter
from tests.settings import *  # noqa: F403
from tests.settings import DATABASES

DATABASES = {**DATABASES, **json.loads(os.environ["MULTIDB_ROUTERS_TEST_WORKER_DATABASES"])}
# Already the test database's name; the mirror keeps the system check E010 quiet.
DATABASES["pg_standby"]["TEST"] = {"MIRROR": "pg_primary"}
DATABASE_ROUTERS = [
    PrimaryReplicaRouter(
        primary="pg_primary",
        replicas=["pg_standby"],
        apps=["replica_app"],
        freshness=os.environ.get("MULTIDB_ROUTERS_TEST_WORKER_FRESHNESS", "lsn"),
        lsn_cache_seconds=0,
        exclusive=True,
    )
]
