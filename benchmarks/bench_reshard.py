"""Rows per second moved by ``manage.py reshard`` vs a naive ``save(using=)`` + ``delete()`` loop.

The same 20,000 orders are laid out over 4 SQLite file databases, then moved to where
a 5-shard router wants them (about a fifth of them, all to the new shard): once by the
``reshard`` command (batches of 500: a copy transaction, then a delete transaction; the
time includes its two scans and the verification), once by a loop that saves each
misplaced row on its new shard and deletes it from the old one.

Run: ``python -m benchmarks.bench_reshard`` (``--memory`` for in-memory databases).
"""

from __future__ import annotations

import datetime
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import django
from django.conf import settings

ROWS = 20_000
SHARDS = [f"shard_{number}" for number in range(5)]


def configure(directory: Path, *, memory: bool) -> None:
    """Django settings: five SQLite shards, the moving test app, a 5-shard router."""
    from multidb_routers.sharding import ShardRouter

    databases: dict[str, dict[str, Any]] = {
        alias: {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": f"file:{alias}?mode=memory&cache=shared"
            if memory
            else str(directory / f"{alias}.sqlite3"),
            "OPTIONS": {"uri": True} if memory else {},
        }
        for alias in ["default", *SHARDS]
    }
    settings.configure(
        DATABASES=databases,
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "multidb_routers",
            "tests.testapps.moving_app",
        ],
        DATABASE_ROUTERS=[
            ShardRouter(shards=SHARDS, apps=["moving_app.Order"], shard_key="customer_id")
        ],
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    )
    django.setup()


def create_tables() -> None:
    """The moving test app's tables on every shard (deleting an order cascades to them)."""
    from django.apps import apps
    from django.db import connections

    for alias in SHARDS:
        with connections[alias].schema_editor() as editor:
            for model in apps.get_app_config("moving_app").get_models():
                tables = connections[alias].introspection.table_names()
                if model._meta.managed and model._meta.db_table not in tables:
                    editor.create_model(model)


def place_on_four_shards() -> None:
    """Empty the shards, then lay the orders out as a 4-shard router does."""
    from multidb_routers.sharding import ShardRouter
    from tests.testapps.moving_app.models import Order

    four = ShardRouter(shards=SHARDS[:4], apps=["moving_app.Order"], shard_key="customer_id")
    for alias in SHARDS:
        Order.objects.using(alias).all().delete()
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    groups: dict[str, list[Order]] = {}
    for n in range(1, ROWS + 1):
        order = Order(
            id=n,
            customer_id=n,
            total=Decimal(n) / 100,
            placed_at=start + datetime.timedelta(seconds=n),
        )
        groups.setdefault(four.shard_for(n), []).append(order)
    for alias, group in groups.items():
        Order.objects.using(alias).bulk_create(group, batch_size=1000)


def run_reshard() -> tuple[int, float]:
    """Moved rows and seconds taken by the command."""
    from io import StringIO

    from django.core.management import call_command

    from tests.testapps.moving_app.models import Order

    before = Order.objects.using("shard_4").count()
    started = time.perf_counter()
    call_command("reshard", "moving_app.Order", "--verbosity", "0", stdout=StringIO())
    seconds = time.perf_counter() - started
    return Order.objects.using("shard_4").count() - before, seconds


def run_naive() -> tuple[int, float]:
    """Moved rows and seconds taken by a save(using=) + delete() loop over every row."""
    from multidb_routers.sharding import require_shard_router
    from tests.testapps.moving_app.models import Order

    router = require_shard_router(Order)
    moved = 0
    started = time.perf_counter()
    for alias in SHARDS:
        for order in list(Order.objects.using(alias).all()):
            target = router.shard_for(order.customer_id)
            if target != alias:
                order.save(using=target, force_insert=True)
                Order.objects.using(alias).filter(pk=order.pk).delete()
                moved += 1
    return moved, time.perf_counter() - started


def main(argv: list[str]) -> None:
    """Time both ways on the same rows and print rows per second and their ratio."""
    with tempfile.TemporaryDirectory() as directory:
        configure(Path(directory), memory="--memory" in argv)
        create_tables()
        place_on_four_shards()
        moved, reshard_seconds = run_reshard()
        place_on_four_shards()
        naive_moved, naive_seconds = run_naive()
        assert naive_moved == moved, (naive_moved, moved)
        fast, slow = moved / reshard_seconds, moved / naive_seconds
        kind = "in-memory" if "--memory" in argv else "file"
        print(f"{moved} of {ROWS} rows moved from 4 to 5 shards ({kind} SQLite)")
        print(f"  reshard (batches of 500)     {reshard_seconds:8.2f} s  {fast:10.0f} rows/s")
        print(f"  save(using=) + delete() loop {naive_seconds:8.2f} s  {slow:10.0f} rows/s")
        print(f"  ratio: reshard is x{fast / slow:.1f} the naive loop")


if __name__ == "__main__":
    main(sys.argv[1:])
