"""Routing reasons cost nothing while nobody listens (issue 16).

Times Django's ``router.db_for_read(Item)`` and an ORM read with a
``PrimaryReplicaRouter``, in a request's routing state: before anyone listened; after a
listener came and went (the instrumented methods are off again); while a no-op listener
listens; inside ``record_routes()`` (reasons and SQL recorded). Interleaved rounds, each
row's best. The goals: the routing path after listening ended is the one before.
Run: ``python -m benchmarks.bench_routes``.
"""

from __future__ import annotations

import django
from django.conf import settings

REPLICAS = ["replica1", "replica2"]
ALIASES = ["default", *REPLICAS]

settings.configure(
    DEBUG=False,
    USE_TZ=True,
    SECRET_KEY="bench",
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    INSTALLED_APPS=["multidb_routers"],
    DATABASES={
        alias: {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": f"file:bench_routes_{alias}?mode=memory&cache=shared",
            "OPTIONS": {"uri": True},
        }
        for alias in ALIASES
    },
    DATABASE_ROUTERS=[],
)
django.setup()

from django.db import connections, models, router  # noqa: E402

from benchmarks.harness import (  # noqa: E402
    cpu_per_call,
    goal,
    interleaved,
    ours_request_state,
    report,
)
from multidb_routers import PrimaryReplicaRouter  # noqa: E402
from multidb_routers.routes import listen  # noqa: E402
from multidb_routers.testing import record_routes  # noqa: E402

NUMBERS = {"decision": 20_000, "orm": 500}
NEVER, AFTER, LISTENING, RECORDING = (
    "nobody ever listened",
    "after a listener left",
    "a no-op listener listens",
    "inside record_routes()",
)


class Item(models.Model):
    """The model read by the benchmark."""

    name = models.CharField(max_length=50)

    class Meta:
        app_label = "bench"

    def __str__(self) -> str:
        return self.name


def decision() -> str:
    """Django's routing of one read."""
    return router.db_for_read(Item)


def orm_read() -> Item | None:
    """One ORM read."""
    return Item.objects.filter(pk=1).first()


def timed(operation: object, kind: str, state: str) -> float:
    """Seconds per call of ``operation`` in the listening ``state``."""
    assert callable(operation)
    number = NUMBERS[kind]
    if state == LISTENING:
        with listen(lambda route: None):
            operation()
            return cpu_per_call(operation, number=number)
    if state == RECORDING:
        # A new recording every 100 calls: one recording's lists grow with its queries.
        def recorded() -> None:
            with record_routes():
                for _ in range(100):
                    operation()

        return cpu_per_call(recorded, number=max(1, number // 100)) / 100
    if state == AFTER:
        with listen(lambda route: None):
            operation()
    assert "db_for_read" not in vars(router)
    operation()
    return cpu_per_call(operation, number=number)


def main() -> None:
    """Print the table and the goals."""
    router.routers = [PrimaryReplicaRouter(primary="default", replicas=REPLICAS)]
    for alias in ALIASES:
        with connections[alias].schema_editor() as editor:
            editor.create_model(Item)
        Item.objects.using(alias).create(name="one")
    results = {}
    with ours_request_state():
        for kind, operation in (("decision", decision), ("orm", orm_read)):
            states = (NEVER, AFTER, LISTENING, RECORDING)
            rows = [
                (state, lambda op=operation, k=kind, s=state: timed(op, k, s)) for state in states
            ]
            best = interleaved(rows)
            title = "router.db_for_read(Item)" if kind == "decision" else "ORM read"
            report(title, [(state, best[state]) for state in states], baseline=NEVER)
            results[kind] = best
    # The same code runs in both rows (timed() asserts that nothing is left on the
    # router); an ORM read takes ~400 us of SQLite work, whose noise on a busy machine
    # is wider than a decision's, hence its wider target.
    for kind, title, target in (
        ("decision", "router.db_for_read", 1.05),
        ("orm", "ORM read", 1.10),
    ):
        best = results[kind]
        ratio = best[AFTER] / best[NEVER]
        goal(f"{title} after listening ended, vs never listened", ratio, target, "x")


if __name__ == "__main__":
    main()
