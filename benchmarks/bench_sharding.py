"""ShardRouter.shard_for per key, and a fan-out top-20 query concurrent vs sequential.

``shard_for``: seconds per key for each strategy over 4 shards (int and str keys).
Fan-out: the 20 latest of 160,000 reviews spread over 4 SQLite file databases
(``across_shards(Review.objects.order_by("-created"))[:20]``, a scan; then by the
primary key's index), with the shards queried
one after another, concurrently (on the persistent workers, which keep their
connections), and as ``MULTIDB_ROUTERS_FANOUT="auto"`` chooses; the ratios are each
time / the sequential time. On SQLite the query is work of this process: threads gain
on a heavy query like this one (``sqlite3`` lets go of the GIL while a statement runs,
so two CPUs share it) and lose on light ones (handing the query to a worker costs more
than it runs), so "auto" queries SQLite shards one after another, which is the
sequential way itself; concurrency pays off when each shard is a server the query
waits on (``bench_postgres``). The goal's ratio pairs single calls of "auto" and
sequential (``harness.paired_ratio``): two ways that run the same code differ by several
percent between separate rounds.

Run: ``python -m benchmarks.bench_sharding`` (``--memory`` for shared-cache in-memory
databases).
"""

from __future__ import annotations

import datetime
import os
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import django
from django.conf import settings

from benchmarks.harness import goal, interleaved, paired_ratio, per_call, report, scaled

AUTO = 'auto (MULTIDB_ROUTERS_FANOUT="auto")'
#: Single calls of "auto" and of sequential paired for the goal's ratio (the same code on
#: SQLite: 200 pairs left the median 1.000-1.010x between runs, 1,000 pairs 1.000-1.002x).
PAIRS = 1000
SHARDS = [f"shard_{number}" for number in range(4)]
ROWS_PER_SHARD = scaled(40_000)


def configure(directory: Path, *, memory: bool) -> None:
    """Django settings: four SQLite shards and the test suite's sharded reviews."""

    databases: dict[str, dict[str, Any]] = {
        alias: {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": f"file:bench_{alias}?mode=memory&cache=shared"
            if memory
            else str(directory / f"{alias}.db"),
            "OPTIONS": {"uri": True} if memory else {},
        }
        for alias in ["default", *SHARDS]
    }
    configure_sharded_reviews(databases, SHARDS)


def configure_sharded_reviews(databases: dict[str, dict[str, Any]], shards: list[str]) -> None:
    """Configure Django with ``databases`` and the suite's reviews sharded over ``shards``."""
    from multidb_routers import ShardRouter

    settings.configure(
        DATABASES=databases,
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "multidb_routers",
            "tests.testapps.shard_app",
        ],
        DATABASE_ROUTERS=[
            ShardRouter(
                shards=shards,
                apps=["shard_app.Review"],
                shard_key={"shard_app.Review": "product_id"},
            )
        ],
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    )
    django.setup()


def fill() -> None:
    """The review table on every shard, 160,000 reviews placed by their product."""
    fill_reviews(SHARDS, ROWS_PER_SHARD, batch_size=2000)


def fill_reviews(shards: list[str], rows_per_shard: int, *, batch_size: int) -> None:
    """Create the review table on every shard and insert reviews placed by their product."""
    from django.db import connections

    from tests.testapps.shard_app.models import Review

    for alias in shards:
        with connections[alias].schema_editor() as editor:
            editor.create_model(Review)
    rng = random.Random(1)
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    reviews = [
        Review(
            product_id=rng.randrange(5000),
            author=f"author {rng.randrange(1000)}",
            rating=rng.randrange(1, 6),
            created=start + datetime.timedelta(seconds=rng.randrange(10**8)),
        )
        for _ in range(rows_per_shard * len(shards))
    ]
    Review.objects.bulk_create(reviews, batch_size=batch_size)


def bench_shard_for() -> None:
    """Seconds per ``shard_for`` call, per strategy and key type."""
    from multidb_routers import ShardRouter

    rows = []
    for strategy in ("jump", "modulo", "rendezvous"):
        router = ShardRouter(shards=SHARDS, apps=["shard_app"], strategy=strategy)
        rows.append((f"{strategy}, int key", per_call(lambda r=router: r.shard_for(123456789))))
        rows.append((f"{strategy}, str key", per_call(lambda r=router: r.shard_for("user-42"))))
    report("shard_for(key), 4 shards", rows, baseline="jump, int key")


def bench_fan_out(
    shards: list[str],
    rows_per_shard: int,
    *,
    where: str,
    note: str,
    number: int = 10,
    repeat: int = 3,
    rounds: int = 5,
    ordering: str = "-created",
) -> dict[str, float]:
    """Top 20 by ``ordering`` over ``shards``: sequential, concurrent and "auto", with ratios.

    ``where`` names the databases in the title ("PostgreSQL "), ``note`` explains the
    ratio on this machine; each way's time is its best of ``rounds`` (the median of
    ``repeat`` runs of ``number`` calls each). "concurrent, fresh connections" stops the
    workers after each call, so each call connects anew, as every fan-out did before the
    workers kept their connections. Shared with ``bench_postgres``. Returns seconds per call by way.
    """
    from multidb_routers.concurrency import close_workers
    from multidb_routers.sharding import across_shards
    from tests.testapps.shard_app.models import Review

    def top(concurrent: bool | None) -> list[Any]:
        return list(across_shards(Review.objects.order_by(ordering), concurrent=concurrent)[:20])

    def top_fresh() -> list[Any]:
        try:
            return top(True)
        finally:
            close_workers()

    expected = [r.pk for r in top(False)]
    assert [r.pk for r in top(True)] == [r.pk for r in top(None)] == expected
    ways = {
        "sequential": lambda: top(False),
        "concurrent": lambda: top(True),
        "concurrent, fresh connections": top_fresh,
        AUTO: lambda: top(None),
    }
    # Interleaved rounds, each way's best: the ways are compared under the same load.
    best = interleaved(
        [
            (name, lambda run=run: per_call(run, number=number, repeat=repeat))
            for name, run in ways.items()
        ],
        rounds=rounds,
    )
    rows = [(name, best[name]) for name in ways]
    # The goal's ratio: "auto" and sequential one call each, paired (see paired_ratio).
    auto_vs_sequential = paired_ratio(ways[AUTO], ways["sequential"], pairs=PAIRS)
    close_workers()
    index = "no index on created" if ordering.endswith("created") else "indexed"
    report(
        f"across_shards(...order_by({ordering!r}))[:20], {len(shards)} {where}shards x "
        f"{rows_per_shard} rows ({index})",
        rows,
        baseline="sequential",
    )
    times = dict(
        zip(["sequential", "concurrent", "fresh", "auto"], dict(rows).values(), strict=True)
    )
    print(
        f"  concurrent / sequential: x{times['concurrent'] / times['sequential']:.2f} "
        f"(x{times['fresh'] / times['sequential']:.2f} connecting each call), "
        f"auto / sequential: x{times['auto'] / times['sequential']:.2f} "
        f"on {os.cpu_count()} CPUs ({note})\n"
        f"  auto / sequential, median of {PAIRS} paired calls: x{auto_vs_sequential:.3f}"
    )
    times["auto vs sequential"] = auto_vs_sequential
    return times


def main() -> None:
    """Configure Django on temporary databases and run both benchmarks."""
    memory = "--memory" in sys.argv
    with tempfile.TemporaryDirectory() as directory:
        configure(Path(directory), memory=memory)
        bench_shard_for()
        fill()
        times = bench_fan_out(
            SHARDS,
            ROWS_PER_SHARD,
            where="",
            note='"auto" runs SQLite shards in turn, the sequential way',
        )
        goal(
            "across_shards top-20 over 4 SQLite shards, auto vs sequential",
            # "auto" runs the sequential code itself: paired calls, not each one's best
            # (which differ by noise alone, 0.94-1.05x between runs).
            times["auto vs sequential"],
            1.00,
            "x",
        )
        # A light query (the primary key's index): there threads cost more than they save.
        bench_fan_out(
            SHARDS,
            ROWS_PER_SHARD,
            where="",
            note='"auto" runs SQLite shards in turn, the sequential way',
            number=50,
            ordering="-pk",
        )


if __name__ == "__main__":
    main()
