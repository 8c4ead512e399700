"""What the read-only guard adds to a SELECT on an OverlayRouter's base.

Three SQLite files with the same rows: ``base``, the guarded base of an ``OverlayRouter``
(read-only open, authorizer, statement classifier); ``plain``, an alias no router guards
(its connection has the library's ``ATTACH`` authorizer, as every SQLite connection has);
``bare``, the same with that authorizer removed (no trace of the library). The same SELECT
runs on each through Django's cursor (and the same ORM read, for scale), in interleaved
rounds; base minus bare is the guard's whole cost per statement. Goal (issue 13): at
most 2 us.

The authorizers and the read-only open cost nothing per statement once it is prepared:
SQLite consults an authorizer when it prepares a statement, and the sqlite3 module keeps
prepared statements in a cache keyed by the SQL. As a file SELECT's own time varies by
more than the goal on a busy machine, the guard's check is also timed alone,
and the statement classifier without its cache (what a statement costs the first time).
Run: ``python -m benchmarks.bench_overlay``.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

import django
from django.conf import settings

DIRECTORY = Path(tempfile.mkdtemp(prefix="bench_overlay_"))


def make_base(path: Path) -> None:
    """A SQLite file holding the item table, written before Django opens it."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE bench_item (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL)")
        db.executemany(
            "INSERT INTO bench_item (id, name) VALUES (?, ?)",
            [(number, f"item {number}") for number in range(1, 101)],
        )
    db.close()


make_base(DIRECTORY / "base.sqlite3")
shutil.copy(DIRECTORY / "base.sqlite3", DIRECTORY / "plain.sqlite3")
shutil.copy(DIRECTORY / "base.sqlite3", DIRECTORY / "bare.sqlite3")

from multidb_routers import OverlayRouter  # noqa: E402

settings.configure(
    DEBUG=False,
    USE_TZ=True,
    SECRET_KEY="bench",
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    INSTALLED_APPS=["django.contrib.contenttypes", "multidb_routers"],
    DATABASES={
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
        "base": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DIRECTORY / "base.sqlite3")},
        **{
            alias: {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(DIRECTORY / f"{alias}.sqlite3"),
            }
            for alias in ("plain", "bare")
        },
    },
    DATABASE_ROUTERS=[OverlayRouter(base="base", overlay="default", apps=["bench"])],
)
django.setup()

from django.db import connections  # noqa: E402
from django.db.backends.signals import connection_created  # noqa: E402

from benchmarks.harness import cpu_per_call, goal, interleaved  # noqa: E402
from benchmarks.item import Item  # noqa: E402
from multidb_routers import ReadOnlyDatabaseError  # noqa: E402
from multidb_routers.guards import _check_sqlite, _on_connection_created  # noqa: E402
from multidb_routers.statements import _classify  # noqa: E402

ALIASES = ("base", "plain", "bare")

SQL = "SELECT name FROM bench_item WHERE id = %s"


def select(alias: str) -> object:
    """One SELECT through Django's cursor on ``alias``."""
    with connections[alias].cursor() as cursor:
        cursor.execute(SQL, [1])
        return cursor.fetchone()


def orm_read(alias: str) -> object:
    """The same row through the ORM."""
    return Item.objects.using(alias).filter(pk=1).first()


def check_guard() -> None:
    """Exit unless the base refuses a write and the plain alias accepts one."""
    try:
        with connections["base"].cursor() as cursor:
            cursor.execute("UPDATE bench_item SET name = 'written' WHERE id = 2")
    except ReadOnlyDatabaseError:
        pass
    else:
        sys.exit("benchmark set-up is wrong: the base accepted a write")
    with connections["plain"].cursor() as cursor:
        cursor.execute("UPDATE bench_item SET name = 'written' WHERE id = 2")


def check_alone() -> float:
    """Seconds the guard's check of a cached SELECT takes, without the database.

    The check the base's cursor runs before each statement (SQLite's guard sits in the
    cursor class, not in Django's execute wrappers).
    """
    return cpu_per_call(lambda: _check_sqlite("base", SQL), number=20_000)


def main() -> None:
    """Time the three aliases, print them and the goal."""
    check_guard()
    # bare's connection is opened while the library does not hear of new connections.
    connection_created.disconnect(dispatch_uid="multidb_routers.guards")
    connections["bare"].ensure_connection()
    connection_created.connect(_on_connection_created, dispatch_uid="multidb_routers.guards")
    for alias in ALIASES:
        select(alias)
        orm_read(alias)
    rounds = 11
    timings = [
        (
            f"{kind} {alias}",
            lambda op=op, alias=alias, n=n: cpu_per_call(lambda: op(alias), number=n),
        )
        for kind, op, n in (("select", select, 2_000), ("orm", orm_read, 300))
        for alias in ALIASES
    ]
    timings.append(("check", check_alone))
    best = interleaved(timings, rounds=rounds)
    uncached = cpu_per_call(lambda: _classify(SQL, "sqlite"), number=5_000)
    print(f"CPU microseconds per statement, SQLite files, fastest of 5 runs x {rounds} rounds")
    print(f"  {'':<40}{'guarded base':>14}{'plain alias':>14}{'bare':>10}{'added':>10}")
    for label, key in (
        ("cursor.execute(SELECT ... WHERE id = 1)", "select"),
        ("Item.objects.using(alias).filter(pk=1)", "orm"),
    ):
        base, plain, bare = (best[f"{key} {alias}"] * 1e6 for alias in ALIASES)
        print(f"  {label:<40}{base:12.2f}us{plain:12.2f}us{bare:8.2f}us{base - bare:+8.2f}us")
    print(
        f"  the guard's check alone, cached statement: {best['check'] * 1e6:+.2f} us\n"
        f"  the statement classifier without its cache (a statement's first run): "
        f"{uncached * 1e6:.2f} us\n"
        "  added: guarded base minus bare (no authorizer, no guard).\n"
    )
    added = (best["select base"] - best["select bare"]) * 1e6
    goal("SELECT on a guarded overlay base, added to an unguarded alias", added, 2.0, "us")
    connections.close_all()
    shutil.rmtree(DIRECTORY, ignore_errors=True)


if __name__ == "__main__":
    main()
