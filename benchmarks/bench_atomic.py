"""What the cross-database write check adds to each routed write.

``multidb_routers.cross_database`` wraps Django's ``router.db_for_write``: after the
routers decide, one loop over the thread's connection wrappers reads ``in_atomic_block``.
Rows: ``router.db_for_write(Item)`` with the check against Django's own
``ConnectionRouter.db_for_write`` (what it was before the app installed it), with no
transaction open anywhere (the common case), with 3 and with 12 aliases; then the same
inside ``transaction.atomic()`` on the written alias (the check finds a block and looks
closer); and a whole ORM write (``Item.objects.create``) with and without the check,
for scale. The added cost of the common case, per write, is the ``GOAL`` line. Run:
``python -m benchmarks.bench_atomic``.
"""

from __future__ import annotations

import functools

import django
from django.conf import settings

ALIASES = ["default", "replica1", "replica2", *(f"other_{number}" for number in range(9))]

settings.configure(
    DEBUG=False,
    USE_TZ=True,
    SECRET_KEY="bench",
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    INSTALLED_APPS=["multidb_routers"],
    DATABASES={
        alias: {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"} for alias in ALIASES
    },
    DATABASE_ROUTERS=[],
)
django.setup()

from django.db import connection, connections, models, router, transaction  # noqa: E402
from django.db.utils import ConnectionRouter  # noqa: E402

from benchmarks.harness import cpu_per_call, goal, report  # noqa: E402
from multidb_routers import PrimaryReplicaRouter  # noqa: E402
from multidb_routers import cross_database as cross  # noqa: E402


class Item(models.Model):
    """A row to write."""

    name = models.CharField(max_length=50)

    class Meta:
        app_label = "multidb_routers"
        db_table = "bench_atomic_item"

    def __str__(self) -> str:
        return self.name


def unchecked() -> str:
    return ConnectionRouter.db_for_write(router, Item)  # type: ignore[no-any-return]


def checked() -> str:
    return router.db_for_write(Item)


def main() -> None:
    """Print the rows and the goal."""
    settings.DATABASE_ROUTERS = [
        PrimaryReplicaRouter(primary="default", replicas=["replica1", "replica2"])
    ]
    del router.routers  # the routers are read once; settings changed after django.setup()
    assert getattr(router.db_for_write, "_multidb_routers_cross_database", False)
    with connection.schema_editor() as editor:
        editor.create_model(Item)

    rows = []
    for count in (3, len(ALIASES)):
        # As if the project had ``count`` aliases: the wrappers the check loops over.
        cross._local.wrappers = tuple(connections[alias] for alias in ALIASES[:count])
        cross._local.count = len(connections.settings)
        rows.append(
            (f"db_for_write unchecked ({count} aliases)", cpu_per_call(unchecked, number=50_000))
        )
        rows.append(
            (f"db_for_write checked ({count} aliases)", cpu_per_call(checked, number=50_000))
        )
    cross._local.count = -1
    with transaction.atomic():
        rows.append(
            ("db_for_write checked, in atomic() on it", cpu_per_call(checked, number=50_000))
        )
    report("Routing a write (no transaction open unless said)", rows, baseline=rows[0][0])

    def create() -> None:
        Item.objects.create(name="x")

    original = router.db_for_write
    with_check = cpu_per_call(create, number=2_000)
    router.db_for_write = functools.partial(ConnectionRouter.db_for_write, router)  # type: ignore[method-assign]
    try:
        without_check = cpu_per_call(create, number=2_000)
    finally:
        router.db_for_write = original  # type: ignore[method-assign]
    report(
        "An ORM write (Item.objects.create, SQLite in memory)",
        [("without the check", without_check), ("with the check", with_check)],
        baseline="without the check",
    )
    values = dict(rows)
    added = (
        values["db_for_write checked (12 aliases)"] - values["db_for_write unchecked (12 aliases)"]
    )
    goal("cross-database write check, per routed write, 12 aliases", added * 1e6, 2.0, "us")


if __name__ == "__main__":
    main()
