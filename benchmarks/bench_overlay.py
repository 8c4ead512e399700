"""What the read-only guard adds to a SELECT on an OverlayRouter's base.

Two SQLite files with the same rows: ``base``, the guarded base of an ``OverlayRouter``,
and ``plain``, an alias no router guards. The same SELECT runs on each through Django's
cursor (and the same ORM read, for scale), in interleaved rounds; the difference is the
guard's cost per statement. Goal (issue 13): at most 2 us. Run:
``python -m benchmarks.bench_overlay``.
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
        "plain": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DIRECTORY / "plain.sqlite3"),
        },
    },
    DATABASE_ROUTERS=[OverlayRouter(base="base", overlay="default", apps=["bench"])],
)
django.setup()

from django.db import connections, models  # noqa: E402

from benchmarks.harness import cpu_per_call, goal, interleaved  # noqa: E402
from multidb_routers import ReadOnlyDatabaseError  # noqa: E402

SQL = "SELECT name FROM bench_item WHERE id = %s"


class Item(models.Model):
    """The rows both files hold."""

    name = models.CharField(max_length=50)

    class Meta:
        app_label = "bench"

    def __str__(self) -> str:
        return self.name


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


def main() -> None:
    """Time both aliases, print them and the goal."""
    check_guard()
    for alias in ("base", "plain"):
        select(alias)
        orm_read(alias)
    rounds = 7
    best = interleaved(
        [
            ("select base", lambda: cpu_per_call(lambda: select("base"), number=1_000)),
            ("select plain", lambda: cpu_per_call(lambda: select("plain"), number=1_000)),
            ("orm base", lambda: cpu_per_call(lambda: orm_read("base"), number=300)),
            ("orm plain", lambda: cpu_per_call(lambda: orm_read("plain"), number=300)),
        ],
        rounds=rounds,
    )
    print(f"CPU microseconds per statement, SQLite files, fastest of 5 runs x {rounds} rounds")
    print(f"  {'':<40}{'guarded base':>14}{'plain alias':>14}{'added':>10}")
    for label, key in (
        ("cursor.execute(SELECT ... WHERE id = 1)", "select"),
        ("Item.objects.using(alias).filter(pk=1)", "orm"),
    ):
        base, plain = best[f"{key} base"], best[f"{key} plain"]
        print(
            f"  {label:<40}{base * 1e6:12.2f}us{plain * 1e6:12.2f}us{(base - plain) * 1e6:+8.2f}us"
        )
    print()
    added = (best["select base"] - best["select plain"]) * 1e6
    goal("SELECT on a guarded overlay base, added to an unguarded alias", added, 2.0, "us")
    connections.close_all()
    shutil.rmtree(DIRECTORY, ignore_errors=True)


if __name__ == "__main__":
    main()
