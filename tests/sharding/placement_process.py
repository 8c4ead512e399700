"""A process of the two-process placement test: ``migrate``, ``place`` or ``watch``.

``python -m tests.sharding.placement_process DIR migrate`` creates the directory's table in
``DIR/default.sqlite3``; ``place KEY ALIAS`` places a key and prints the time it committed;
``watch KEY TTL`` prints the key's shard, then polls until it changes and prints when.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import django
from django.conf import settings

SHARDS = ["shard_a", "shard_b", "shard_c"]


def setup(folder: Path, ttl: float) -> None:
    """Configure Django on SQLite files in ``folder``, one ShardRouter with a directory."""
    from multidb_routers import ShardRouter

    settings.configure(
        DATABASES={
            alias: {"ENGINE": "django.db.backends.sqlite3", "NAME": str(folder / f"{alias}.db")}
            for alias in ["default", *SHARDS]
        },
        INSTALLED_APPS=["django.contrib.contenttypes", "multidb_routers"],
        DATABASE_ROUTERS=[ShardRouter(shards=SHARDS, apps=["nothing"], directory="shops")],
        MULTIDB_ROUTERS_PLACEMENT_TTL=ttl,
        USE_TZ=True,
    )
    django.setup()


def main(folder: str, command: str, *args: str) -> None:
    """Run ``command``."""
    from django.core.management import call_command
    from django.db import router as django_router

    setup(Path(folder), ttl=float(args[1]) if command == "watch" else 5.0)
    router = django_router.routers[0]
    if command == "migrate":
        call_command("migrate", "multidb_routers", database="default", verbosity=0)
    elif command == "place":
        router.place(args[0], args[1])
        print(time.time(), flush=True)
    elif command == "watch":
        first = router.shard_for(args[0])
        print(first, flush=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = router.shard_for(args[0])
            if now != first:
                print(now, time.time(), flush=True)
                return
            time.sleep(0.01)
        print("unchanged", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
