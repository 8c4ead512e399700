"""Routing reasons cost nothing while nobody listens (issue 16).

Times Django's ``router.db_for_read(Item)`` and an ORM read with a
``PrimaryReplicaRouter``, in a request's routing state: before anyone listened; after a
listener came and went (the instrumented methods are off again); while a no-op listener
listens; inside ``record_routes()`` (reasons and SQL recorded). Interleaved rounds, each
row's best. The goals: the routing path after listening ended is the one before.
Run: ``python -m benchmarks.bench_routes``.
"""

from __future__ import annotations

# First: importing it configures Django.
from benchmarks.replica_site import REPLICAS, Item, create_tables, read  # isort: skip
from django.db import router

from benchmarks.harness import (
    cpu_per_call,
    goal,
    interleaved,
    ours_request_state,
    report,
)
from multidb_routers import PrimaryReplicaRouter
from multidb_routers.routes import listen
from multidb_routers.testing import record_routes

NUMBERS = {"decision": 20_000, "orm": 500}
NEVER, AFTER, LISTENING, RECORDING = (
    "nobody ever listened",
    "after a listener left",
    "a no-op listener listens",
    "inside record_routes()",
)


def decision() -> str:
    """Django's routing of one read."""
    return router.db_for_read(Item)


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
    create_tables()
    results = {}
    with ours_request_state():
        for kind, operation in (("decision", decision), ("orm", read)):
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
