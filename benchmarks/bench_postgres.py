"""across_shards() over real PostgreSQL shards: concurrent vs one shard after another.

Starts the test suite's throwaway cluster (``tests/postgres/cluster.py``), makes four shard
databases on its shard server, spreads 400,000 reviews over them by product, and times
the 20 latest (``across_shards(Review.objects.order_by("-created"))[:20]``, no index on
``created``, so each shard scans its rows) with the shards queried one after the other,
concurrently on the persistent fan-out workers (which keep one connection per shard
between calls), and as ``MULTIDB_ROUTERS_FANOUT="auto"`` chooses (concurrently, for
network databases). Each shard's scan is work of its own server process that the client
waits on, so concurrency pays off as far as the server has cores to spare. The goal is
concurrent / sequential <= 0.6. Skipped with a message when PostgreSQL is unavailable.

Run: ``python -m benchmarks.bench_postgres``.
"""

from __future__ import annotations

import sys
from typing import Any

from benchmarks.bench_sharding import bench_fan_out, configure_sharded_reviews, fill_reviews
from benchmarks.harness import goal

SHARDS = [f"pg_shard_{number}" for number in range(4)]
ROWS_PER_SHARD = 100_000


def configure(info: Any) -> None:
    """Django settings: four PostgreSQL shard databases and the suite's sharded reviews."""
    from tests.postgres.cluster import SUPERUSER

    def entry(name: str) -> dict[str, Any]:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": info.host,
            "PORT": str(info.ports["shards"]),
            "USER": SUPERUSER,
            "NAME": name,
        }

    configure_sharded_reviews(
        {"default": entry("postgres"), **{alias: entry(alias) for alias in SHARDS}}, SHARDS
    )


def fill() -> None:
    """The shard databases, their review table, and the reviews placed by product."""
    from django.db import connections

    from tests.testapps.shard_app.models import Review

    with connections["default"].cursor() as cursor:
        for alias in SHARDS:
            cursor.execute(f'CREATE DATABASE "{alias}"')
    fill_reviews(SHARDS, ROWS_PER_SHARD, batch_size=5000)
    for alias in SHARDS:
        with connections[alias].cursor() as cursor:
            cursor.execute(f"ANALYZE {Review._meta.db_table}")


def main() -> int:
    """Start a throwaway cluster, run the benchmark, stop the cluster."""
    from tests.postgres.cluster import PgCluster, PgUnavailableError

    cluster = PgCluster()
    try:
        cluster.start()
    except (PgUnavailableError, OSError) as exc:
        print(f"skipped: PostgreSQL unavailable ({exc})")
        cluster.stop()
        return 0
    try:
        configure(cluster.info)
        fill()
        times = bench_fan_out(
            SHARDS,
            ROWS_PER_SHARD,
            where="PostgreSQL ",
            note="client and server on one machine",
            number=5,
        )
        goal(
            "across_shards top-20 ordered over 4 PostgreSQL shards, auto vs sequential",
            times["auto"] / times["sequential"],  # two ways, two codes: each one's best
            0.60,
            "x",
        )
        # A light query (the primary key's index): there the cost of connecting shows.
        bench_fan_out(
            SHARDS,
            ROWS_PER_SHARD,
            where="PostgreSQL ",
            note="client and server on one machine",
            number=20,
            ordering="-pk",
        )
    finally:
        from django.db import connections

        from multidb_routers.concurrency import close_workers

        close_workers()
        connections.close_all()
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
