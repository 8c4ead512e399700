"""Cost of PrimaryReplicaRouter: one read decision, and one whole ORM read on SQLite.

Compared side by side with no router and with django-multidb-router's
``PinningReplicaRouter`` (``pip install -r benchmarks/requirements.txt``). Run with
``python -m benchmarks.bench_replica``. Targets: a routed ORM read at most 3% over an
unrouted one; a decision at most 2x the peer's.
"""

from __future__ import annotations

import django
from django.conf import settings

REPLICAS = ["replica1", "replica2"]

settings.configure(
    DEBUG=False,
    USE_TZ=True,
    SECRET_KEY="bench",
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    INSTALLED_APPS=["multidb_routers"],
    # Every alias its own in-memory SQLite database, each holding the same rows.
    DATABASES={
        alias: {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
        for alias in ["default", *REPLICAS]
    },
    DATABASE_ROUTERS=[],
    REPLICA_DATABASES=REPLICAS,  # django-multidb-router's setting
)
django.setup()

import time  # noqa: E402
from collections.abc import Callable  # noqa: E402, TC003

from django.db import connections, models, router  # noqa: E402
from multidb import PinningReplicaRouter  # noqa: E402

from benchmarks.harness import per_call, report  # noqa: E402
from multidb_routers import PrimaryReplicaRouter, use_primary  # noqa: E402
from multidb_routers.replication.state import Pin, begin_request, end_request  # noqa: E402


class Item(models.Model):
    """The model read by the benchmark."""

    name = models.CharField(max_length=50)

    class Meta:
        app_label = "bench"

    def __str__(self) -> str:
        return self.name


def create_tables() -> None:
    for alias in connections:
        with connections[alias].schema_editor() as editor:
            editor.create_model(Item)
        Item.objects.using(alias).create(name="one")


def in_request(timing: Callable[[], float], pins: dict[str, Pin]) -> float:
    """``timing()`` inside one request's routing state, as PinningMiddleware sets it.

    The state is set once: a page runs many queries in one request.
    """
    _, token = begin_request(pins)
    try:
        return timing()
    finally:
        end_request(token)


def interleaved(
    rows: list[tuple[str, Callable[[], object], Callable[[], float]]], *, rounds: int = 7
) -> list[tuple[str, float]]:
    """Measure ``rows`` (name, setup, timing) in alternating rounds; keep each one's best.

    Other processes on the machine slow some runs down; alternating the rows and keeping
    the minimum compares them under the same conditions.
    """
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, setup, timing in rows:
            setup()
            seconds = timing()
            best[name] = min(best.get(name, seconds), seconds)
    return [(name, best[name]) for name, _, _ in rows]


def main() -> None:
    """Measure and print the decision and ORM read tables."""
    create_tables()
    ours = PrimaryReplicaRouter(primary="default", replicas=REPLICAS)
    peer = PinningReplicaRouter()
    pinned = {"default": Pin(until=time.time() + 3600)}
    peer_name = "django-multidb-router PinningReplicaRouter"

    def decision(chosen: object, pins: dict[str, Pin] | None = None) -> Callable[[], float]:
        def decide() -> object:
            return chosen.db_for_read(Item)  # type: ignore[attr-defined]

        def timing() -> float:
            return per_call(decide, number=20_000, repeat=5)

        return timing if pins is None else lambda: in_request(timing, pins)

    def forced() -> float:
        with use_primary():
            return per_call(lambda: ours.db_for_read(Item), number=20_000, repeat=5)

    def nothing() -> None:
        pass

    report(
        "One db_for_read decision (the router's method; best of 7 interleaved rounds)",
        interleaved(
            [
                (peer_name, nothing, decision(peer)),
                ("PrimaryReplicaRouter, outside a request", nothing, decision(ours)),
                ("PrimaryReplicaRouter, in a request", nothing, decision(ours, {})),
                ("PrimaryReplicaRouter, pinned by cookie", nothing, decision(ours, pinned)),
                ("PrimaryReplicaRouter, use_primary()", nothing, forced),
            ]
        ),
        baseline=peer_name,
    )

    def read() -> object:
        return Item.objects.get(pk=1)

    def orm_read(
        routers: list[object], pins: dict[str, Pin] | None = None
    ) -> tuple[Callable[[], object], Callable[[], float]]:
        def setup() -> None:
            router.routers = routers
            read()  # open the connections first

        def timing() -> float:
            return per_call(read, number=2_000, repeat=5)

        return setup, timing if pins is None else lambda: in_request(timing, pins)

    rows = [
        ("no router", *orm_read([])),
        (peer_name, *orm_read([peer])),
        ("PrimaryReplicaRouter, outside a request", *orm_read([ours])),
        ("PrimaryReplicaRouter, in a request", *orm_read([ours], {})),
        ("PrimaryReplicaRouter, pinned by cookie", *orm_read([ours], pinned)),
    ]
    print()
    report(
        "One ORM read, Item.objects.get(pk=1), SQLite in memory (best of 7 interleaved rounds)",
        interleaved(rows),
        baseline="no router",
    )


if __name__ == "__main__":
    main()
