"""across_shards() over real PostgreSQL shards: concurrent vs one shard after another.

Starts the test suite's throwaway cluster (``tests/postgres/cluster.py``), makes four shard
databases on its shard server, spreads 400,000 reviews over them by product, and times
the 20 latest (``across_shards(Review.objects.order_by("-created"))[:20]``, no index on
``created``, so each shard scans its rows) with the shards queried one after the other,
concurrently on the persistent fan-out workers (which keep one connection per shard
between calls), and as ``MULTIDB_ROUTERS_FANOUT="auto"`` chooses (concurrently, for
network databases). Each shard's scan is work of its own server process that the client
waits on, so concurrency pays off as far as the server has cores to spare: on 2 CPUs
the four scans take at least half the sequential time. The table shows each way's best
single call; the goal, auto / sequential <= 0.6, pairs single calls of the two
(``harness.paired_ratio``): a way's best needs a quiet spell of the machine, and the
concurrent way needs both CPUs quiet at once, so "concurrent" and "auto", the same
code here, differed by 0.1x in one run. Printed beside: the same SQL on bare psycopg
connections, one after another and on one thread per shard, without Django: what this
machine allows.
Skipped with a message when PostgreSQL is unavailable.

Run: ``python -m benchmarks.bench_postgres``.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from benchmarks.bench_sharding import bench_fan_out, configure_sharded_reviews, fill_reviews
from benchmarks.harness import goal, interleaved, per_call

SHARDS = [f"pg_shard_{number}" for number in range(4)]
ROWS_PER_SHARD = 100_000
#: Single calls per way of the heavy query (each way's best is kept).
ROUNDS = 30


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


def bare_psycopg_ratio() -> float:
    """Threads / one after another for the fan-out's SQL on bare psycopg connections.

    One connection per shard, opened beforehand; one new thread per shard and call; each
    way's best of ``ROUNDS`` single calls. No Django, no merge: the ratio this machine
    allows the fan-out.
    """
    import psycopg
    from django.db import connections

    from tests.testapps.shard_app.models import Review

    # The statement across_shards() sends each shard: its ordering ends with the pk.
    query = Review.objects.order_by("-created", "pk")[:20].query
    sql, params = query.get_compiler(SHARDS[0]).as_sql()
    bare = []
    for alias in SHARDS:
        settings_dict = connections[alias].settings_dict
        bare.append(
            psycopg.connect(
                host=settings_dict["HOST"],
                port=settings_dict["PORT"],
                user=settings_dict["USER"],
                dbname=settings_dict["NAME"],
                autocommit=True,
            )
        )

    def fetch(connection: Any) -> None:
        connection.execute(sql, params).fetchall()

    def one_after_another() -> None:
        for connection in bare:
            fetch(connection)

    def threads() -> None:
        started = [threading.Thread(target=fetch, args=(connection,)) for connection in bare]
        for thread in started:
            thread.start()
        for thread in started:
            thread.join()

    try:
        best = interleaved(
            [
                (name, lambda run=run: per_call(run, number=1, repeat=1))
                for name, run in (("sequential", one_after_another), ("threads", threads))
            ],
            rounds=ROUNDS,
        )
    finally:
        for connection in bare:
            connection.close()
    return best["threads"] / best["sequential"]


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
            number=1,
            repeat=1,
            rounds=ROUNDS,
        )
        print(
            f"  the same SQL on bare psycopg connections (no Django), threads / one after "
            f"another: x{bare_psycopg_ratio():.2f}"
        )
        goal(
            "across_shards top-20 ordered over 4 PostgreSQL shards, auto vs sequential",
            # Paired calls: each way's best moved by 0.1x between runs, and between
            # "concurrent" and "auto" (the same code here) in one run.
            times["auto vs sequential"],
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
