"""What the overlay's read-only guard adds to a SELECT on the base.

Two SQLite files hold the same table: ``base`` is an ``OverlayRouter``'s guarded base
(read-only open, authorizer, statement classifier), ``plain`` is an unguarded alias.
Each timing is one ``cursor.execute()`` of the same parameterised SELECT plus its
``fetchone()``; the difference is the guard's cost per SELECT (goal: at most 2 µs). As a
file SELECT's own time varies by more than that on a busy machine, the guard's execute
wrapper is also timed alone (the read-only open and the authorizer cost nothing per
statement: SQLite consults the authorizer when it prepares a statement, and prepared
statements are cached). The classifier's cost without its cache is shown too.

Run: ``python -m benchmarks.bench_guard``.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

import django
from django.conf import settings

from benchmarks.harness import per_call, report

SELECT = "SELECT id, name FROM supplier WHERE id = %s"


def configure(directory: Path) -> None:
    """Django settings: the guarded ``base`` and an unguarded copy, ``plain``."""
    from multidb_routers import OverlayRouter

    path = directory / "base.sqlite3"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE supplier (id integer PRIMARY KEY, name text)")
        raw.executemany("INSERT INTO supplier VALUES (?, ?)", [(1, "Acme"), (2, "Globex")])
    raw.close()
    shutil.copy(path, directory / "plain.sqlite3")
    databases = {
        alias: {"ENGINE": "django.db.backends.sqlite3", "NAME": str(directory / f"{alias}.sqlite3")}
        for alias in ("base", "plain")
    }
    databases["default"] = databases["plain"]
    databases["overlay"] = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    settings.configure(
        DATABASES=databases,
        INSTALLED_APPS=["django.contrib.contenttypes", "multidb_routers"],
        DATABASE_ROUTERS=[OverlayRouter(base="base", overlay="overlay", apps=["nothing"])],
        USE_TZ=True,
    )
    django.setup()


def measure() -> dict[str, float]:
    """Seconds per SELECT on each alias, and per classification without the cache."""
    from django.db import connections

    from multidb_routers.statements import _classify

    results: dict[str, float] = {}
    selects = {}
    for alias in ("plain", "base"):
        cursor = connections[alias].cursor()

        def select(cursor: object = cursor) -> None:
            cursor.execute(SELECT, [1])  # type: ignore[attr-defined]
            cursor.fetchone()  # type: ignore[attr-defined]

        select()
        selects[alias] = select
    # Alternate the two, and keep each one's least time: load only ever adds time.
    for _ in range(8):
        for alias, select in selects.items():
            seconds = per_call(select, number=2_000, repeat=3)
            results[alias] = min(results.get(alias, seconds), seconds)
    # The guard's own work per statement, without the database's noise: the execute
    # wrapper around a do-nothing execute, minus that execute called directly.
    from multidb_routers.guards import _blocker

    context = {"connection": connections["base"]}

    def nothing(sql: str, params: object, many: bool, context: object) -> None:
        return None

    # The least of several runs: the machine's other work only ever adds time.
    results["wrapper"] = min(
        per_call(lambda: _blocker(nothing, SELECT, [1], False, context)) for _ in range(5)
    )
    results["no wrapper"] = min(
        per_call(lambda: nothing(SELECT, [1], False, context)) for _ in range(5)
    )
    results["classifier, uncached"] = per_call(lambda: _classify(SELECT, "sqlite"), number=5_000)
    return results


def main() -> int:
    """Print the report; fail if the guard costs more than 2 µs per SELECT."""
    with tempfile.TemporaryDirectory() as directory:
        configure(Path(directory))
        results = measure()
    rows = [
        ("SELECT on an unguarded alias", results["plain"]),
        ("SELECT on the guarded base", results["base"]),
        ("classifying it without the cache", results["classifier, uncached"]),
        ("the guard's wrapper alone (cached)", results["wrapper"] - results["no wrapper"]),
    ]
    report("Overlay guard: cost per SELECT", rows, baseline="SELECT on an unguarded alias")
    extra = (results["base"] - results["plain"]) * 1e6
    wrapper = (results["wrapper"] - results["no wrapper"]) * 1e6
    print(f"  guard overhead per SELECT, end to end: {extra:+.2f} us (noisy: file I/O)")
    print(f"  guard overhead per SELECT, its wrapper: {wrapper:+.2f} us (goal: <= 2 us)")
    return 0 if wrapper <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
