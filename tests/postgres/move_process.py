"""Run move_shard_key in a process of its own, killed with SIGKILL at a chosen step.

``python -m tests.postgres.move_process CONFIG STEP KEY TARGET``: CONFIG is the JSON of
the ``pg_primary``/``pg_shard_0``/``pg_shard_1`` entries of ``DATABASES`` (the test
databases), STEP one of :data:`STEPS` (or ``none``). Prints ``killed at STEP`` just
before killing itself, ``finished`` when the move ran to its end.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

STEPS = ("capture", "copy", "catchup", "blocked", "verify", "switched", "cleanup")


def _kill(step: str) -> None:
    sys.stdout.write(f"killed at {step}\n")
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _after(owner: Any, name: str, step: str) -> None:
    original = getattr(owner, name)

    def patched(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        _kill(step)
        return result

    setattr(owner, name, patched)


def _before(owner: Any, name: str, step: str) -> None:
    setattr(owner, name, lambda *args, **kwargs: _kill(step))


def main(config: str, step: str, key: str, target: str) -> None:
    import django
    from django.conf import settings

    from multidb_routers import ShardRouter

    settings.configure(
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
            **json.loads(config),
        },
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "multidb_routers",
            "tests.testapps.shard_app",
        ],
        DATABASE_ROUTERS=[
            ShardRouter(
                shards=["pg_shard_0", "pg_shard_1"],
                apps=["shard_app.Review"],
                shard_key="product_id",
                directory="pg",
            )
        ],
        MULTIDB_ROUTERS_PLACEMENT_DATABASE="pg_primary",
        MULTIDB_ROUTERS_PLACEMENT_TTL=0.2,
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    )
    django.setup()
    from multidb_routers.moving import capture, tenant
    from tests.testapps.shard_app.models import Review

    if step == "capture":
        _after(capture.PgCapture, "install", step)
    elif step == "copy":
        _after(tenant.TenantMove, "insert", step)
    elif step == "catchup":
        _after(tenant.TenantMove, "catch_up", step)
    elif step == "blocked":
        _before(tenant.TenantMove, "blocked", step)
    elif step == "verify":  # switched, the full comparison not done
        compare = tenant.TenantMove.compare_sql

        def compare_or_die(self: Any, *args: Any, **kwargs: Any) -> Any:
            if kwargs.get("target") is not None:
                _kill(step)
            return compare(self, *args, **kwargs)

        tenant.TenantMove.compare_sql = compare_or_die  # type: ignore[method-assign]
    elif step == "switched":
        _before(tenant.TenantMove, "clean_up", step)
    elif step == "cleanup":
        _before(capture.PgCapture, "remove", step)
    tenant.move_shard_key(Review, int(key), target, batch_size=100)
    sys.stdout.write("finished\n")


if __name__ == "__main__":
    main(*sys.argv[1:5])
