"""DATABASES entries of PostgreSQL aliases reached through a connection pooler.

Used as is by the test suite (tests/postgres/cluster.py, tests/postgres/plugin.py), whose
replication, freshness, pooling and overlay tests run through PgBouncer and Django's pool
with these settings.
"""

from __future__ import annotations

# Through PgBouncer in transaction pooling mode (pool_mode = transaction): HOST and PORT
# are PgBouncer's, one PgBouncer database entry per PostgreSQL server.
BEHIND_PGBOUNCER = {
    "PORT": "6432",
    # .iterator() would DECLARE ... WITH HOLD a cursor outliving its transaction, on a
    # server connection PgBouncer then lends to other clients.
    "DISABLE_SERVER_SIDE_CURSORS": True,
    # No prepared statements (Django's default with psycopg 3, written out so that no one
    # raises it): PgBouncer < 1.21 cannot route them in transaction mode.
    "OPTIONS": {"prepare_threshold": None},
}

# Or Django's own pool (Django >= 5.1, pip install "psycopg[pool]"), one per alias.
WITH_DJANGO_POOL = {
    "CONN_MAX_AGE": 0,  # the pool replaces persistent connections
    # The pool checks a connection before lending it: else the pooled connections of a
    # server that died are lent, and each fails a request.
    "CONN_HEALTH_CHECKS": True,
    # timeout: seconds a request waits for a connection when the pool is exhausted or its
    # server down, before the router counts that replica down and reads from the primary.
    "OPTIONS": {"pool": {"min_size": 2, "max_size": 8, "timeout": 2}},
}

SHOP = {"ENGINE": "django.db.backends.postgresql", "NAME": "shop", "USER": "shop"}

DATABASES = {
    "default": {**SHOP, **BEHIND_PGBOUNCER, "HOST": "pgbouncer-primary.internal"},
    "replica": {
        **SHOP,
        **BEHIND_PGBOUNCER,
        "HOST": "pgbouncer-replica.internal",
        "TEST": {"MIRROR": "default"},
    },
}
