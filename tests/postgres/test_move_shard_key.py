"""move_shard_key online on the real PostgreSQL shard server, with writers running.

``shard_app.Review`` is sharded by ``product_id`` over ``pg_shard_0``/``pg_shard_1``
(two databases of the suite's ``shards`` server); the directory lives on ``pg_primary``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.db import connections, transaction

from multidb_routers import ShardMovingError, ShardRouter
from multidb_routers.exceptions import MoveError
from multidb_routers.models import Placement, ShardMove
from multidb_routers.moving import tenant
from multidb_routers.moving.checksum import Checksum, row_digest
from multidb_routers.sharding import move_shard_key, placement
from tests.postgres.move_process import STEPS
from tests.testapps.shard_app.models import Review, Ticket

if TYPE_CHECKING:
    from collections.abc import Iterator

SHARDS = ["pg_shard_0", "pg_shard_1"]
ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
BENCH = ROOT / "docs" / "_static" / "move_shard_key.json"
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, databases=["pg_primary", *SHARDS]),
]


def _create(model: Any, alias: str) -> None:
    connection = connections[alias]
    if model._meta.db_table not in connection.introspection.table_names():
        with connection.schema_editor() as editor:
            editor.create_model(model)


def _truncate(model: Any, alias: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute(f"TRUNCATE {model._meta.db_table}")


def _reset() -> None:
    for alias in SHARDS:
        with connections[alias].cursor() as cursor:
            for table in (Review._meta.db_table, Ticket._meta.db_table):
                cursor.execute(
                    "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname "
                    "LIKE 'mdbmv%%'",
                    [table],
                )
                for (name,) in cursor.fetchall():
                    cursor.execute(f'DROP TRIGGER "{name}" ON {table}')
    for model, alias in [(Placement, "pg_primary"), (ShardMove, "pg_primary")] + [
        (model, alias) for alias in SHARDS for model in (Review, Ticket)
    ]:
        _truncate(model, alias)
    placement.clear_cache()


@pytest.fixture
def router(settings: Any) -> Iterator[ShardRouter]:
    shard_router = ShardRouter(
        shards=SHARDS, apps=["shard_app.Review"], shard_key="product_id", directory="pg"
    )
    settings.DATABASE_ROUTERS = [shard_router]
    settings.MULTIDB_ROUTERS_PLACEMENT_DATABASE = "pg_primary"
    settings.MULTIDB_ROUTERS_PLACEMENT_TTL = 0.2
    for model in (Placement, ShardMove):
        _create(model, "pg_primary")
    for alias in SHARDS:
        _create(Review, alias)
        _create(Ticket, alias)
    _reset()
    yield shard_router
    _reset()


def _keys(router: ShardRouter) -> tuple[int, int, str, str]:
    """A key to move, another key on the same shard, the source and the target."""
    key = 1000
    source = router.shard_for(key)
    other = next(k for k in range(1001, 2000) if router.shard_for(k) == source)
    target = next(alias for alias in SHARDS if alias != source)
    return key, other, source, target


def _fill(key: int, count: int, start: int = 0) -> dict[int, tuple[str, int]]:
    rows = {(key << 32) + n: (f"author {n} ✓", n % 5) for n in range(start, start + count)}
    for batch_start in range(0, count, 5000):
        items = list(rows.items())[batch_start : batch_start + 5000]
        Review.objects.bulk_create(
            Review(id=pk, product_id=key, author=a, rating=r, created=NOW) for pk, (a, r) in items
        )
    return rows


def _checksum(rows: dict[int, tuple[str, int]]) -> Checksum:
    checksum = Checksum()
    for pk, (author, rating) in rows.items():
        checksum.add(row_digest((pk, author, rating)))
    return checksum


def _stored(alias: str, key: int) -> Checksum:
    checksum = Checksum()
    for row in (
        Review.objects.using(alias).filter(product_id=key).values_list("id", "author", "rating")
    ):
        checksum.add(row_digest(row))
    return checksum


@dataclasses.dataclass
class Writer:
    """Writes rows of one key until stopped, retrying refused writes; knows what it wrote."""

    key: int
    rows: dict[int, tuple[str, int]]
    errors: list[str] = dataclasses.field(default_factory=list)
    refused: int = 0
    writes: int = 0
    longest_block: float = 0.0
    stop: threading.Event = dataclasses.field(default_factory=threading.Event)

    def write(self, n: int) -> None:
        pk = (self.key << 32) + 10_000_000 + n
        if n % 3 == 0 or not self.rows:
            Review.objects.create(id=pk, product_id=self.key, author=f"w{n}", rating=1, created=NOW)
            self.rows[pk] = (f"w{n}", 1)
        elif n % 3 == 1:
            victim = sorted(self.rows)[n % len(self.rows)]
            Review.objects.shard(self.key).filter(pk=victim).update(rating=n % 7)
            self.rows[victim] = (self.rows[victim][0], n % 7)
        else:
            victim = sorted(self.rows)[(n * 7) % len(self.rows)]
            with connections[Review.objects.shard(self.key).db].cursor() as cursor:
                # Raw SQL is captured (and refused) too.
                cursor.execute(f"DELETE FROM {Review._meta.db_table} WHERE id = %s", [victim])
            del self.rows[victim]

    def run(self) -> None:
        n = 0
        try:
            while not self.stop.is_set():
                refused_since: float | None = None
                while True:
                    try:
                        with transaction.atomic(using=Review.objects.shard(self.key).db):
                            self.write(n)
                        break
                    except ShardMovingError:
                        self.refused += 1
                        refused_since = refused_since or time.monotonic()
                        time.sleep(0.005)
                    except Exception as exc:
                        self.errors.append(f"{type(exc).__name__}: {exc}")
                        break
                if refused_since is not None:
                    self.longest_block = max(self.longest_block, time.monotonic() - refused_since)
                self.writes += 1
                n += 1
                time.sleep(0.001)
        finally:
            for connection in connections.all(initialized_only=True):
                connection.close()


def _run_with_writers(router: ShardRouter, count: int) -> tuple[Writer, Writer, ShardMove, float]:
    key, other, source, target = _keys(router)
    moving = Writer(key, _fill(key, count))
    bystander = Writer(other, _fill(other, 200))
    threads = [threading.Thread(target=w.run) for w in (moving, bystander)]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    try:
        time.sleep(0.2)
        move = move_shard_key(Review, key, to=target, batch_size=2000, say=print)
        time.sleep(0.2)
    finally:
        for writer in (moving, bystander):
            writer.stop.set()
        for thread in threads:
            thread.join()
    assert move is not None
    elapsed = time.monotonic() - started

    assert moving.errors == []
    assert bystander.errors == []
    assert bystander.refused == 0
    assert router.shard_for(key) == target
    # 0 rows lost or duplicated: what the writer wrote is exactly what the target holds.
    assert _stored(target, key) == _checksum(moving.rows)
    assert not Review.objects.using(source).filter(product_id=key).exists()
    assert _stored(source, other) == _checksum(bystander.rows)
    assert moving.longest_block <= 1.0
    assert move.blocked_ms is not None
    assert move.blocked_ms <= 1000
    assert move.phase == "done"
    return moving, bystander, move, elapsed


def test_a_key_moves_online_while_it_and_another_key_keep_writing(router: ShardRouter) -> None:
    moving, bystander, move, _ = _run_with_writers(router, 5000)
    assert moving.writes > 20
    assert bystander.writes > 20
    with connections[move.source].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'mdbmv%%'")
        assert cursor.fetchone() == (0,)


@pytest.mark.once
def test_moving_100000_rows_blocks_the_keys_writes_under_a_second(router: ShardRouter) -> None:
    load_before = os.getloadavg()[0]
    moving, bystander, move, elapsed = _run_with_writers(router, 100_000)
    figures = {
        "rows": 100_000,
        "load_average_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "move_seconds": round(elapsed, 2),
        "blocked_ms_recorded": round(move.blocked_ms or 0, 1),
        "longest_refusal_seen_by_the_writer_ms": round(moving.longest_block * 1000, 1),
        "moving_tenant_writes": moving.writes,
        "moving_tenant_refused_attempts": moving.refused,
        "other_tenant_writes": bystander.writes,
        "other_tenant_errors": len(bystander.errors) + bystander.refused,
    }
    BENCH.write_text(json.dumps(figures, indent=2) + "\n")


def _config() -> str:
    keep = ("ENGINE", "NAME", "HOST", "PORT", "USER", "PASSWORD")
    return json.dumps(
        {
            alias: {k: connections[alias].settings_dict[k] for k in keep}
            for alias in ["pg_primary", *SHARDS]
        }
    )


@pytest.mark.parametrize("step", STEPS)
def test_a_move_killed_at_any_step_leaves_the_rows_in_one_place_and_a_rerun_finishes(
    router: ShardRouter, step: str
) -> None:
    key, other, source, target = _keys(router)
    rows = _fill(key, 700)
    _fill(other, 10)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [sys.executable, "-m", "tests.postgres.move_process", _config(), step, str(key), target],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == -9, done.stderr
    assert f"killed at {step}" in done.stdout
    placement.clear_cache()
    authoritative = router.shard_for(key)
    assert authoritative == (target if step in ("verify", "switched", "cleanup") else source)
    # Every row readable, exactly once, where the directory says.
    assert _stored(authoritative, key) == _checksum(rows)
    if step == "blocked":  # the key's writes stay refused until the move is run again
        with pytest.raises(ShardMovingError), transaction.atomic(using=source):
            Review.objects.create(id=1, product_id=key, author="late", created=NOW)

    move_shard_key(Review, key, to=target)

    assert router.shard_for(key) == target
    assert _stored(target, key) == _checksum(rows)
    assert not Review.objects.using(source).filter(product_id=key).exists()
    assert Review.objects.using(source).filter(product_id=other).count() == 10
    assert ShardMove.objects.using("pg_primary").get().phase == "done"
    Review.objects.create(product_id=key, author="after", created=NOW)
    assert Review.objects.using(target).filter(product_id=key).count() == 701


def test_an_unswitched_online_move_rolls_back(router: ShardRouter) -> None:
    key, _, source, target = _keys(router)
    rows = _fill(key, 300)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.postgres.move_process",
            _config(),
            "catchup",
            str(key),
            target,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )

    move_shard_key(Review, key, to=target, rollback=True)

    assert router.shard_for(key) == source
    assert _stored(source, key) == _checksum(rows)
    assert not Review.objects.using(target).filter(product_id=key).exists()
    with connections[source].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'mdbmv%%'")
        assert cursor.fetchone() == (0,)
    Review.objects.create(product_id=key, author="still here", created=NOW)


def _killed_at(step: str, key: int, target: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [sys.executable, "-m", "tests.postgres.move_process", _config(), step, str(key), target],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert f"killed at {step}" in done.stdout, done.stderr
    placement.clear_cache()


def test_a_switched_move_never_verified_keeps_the_source_rows_when_the_copies_differ(
    router: ShardRouter,
) -> None:
    key, _, source, target = _keys(router)
    _fill(key, 200)
    _killed_at("verify", key, target)
    Review.objects.create(product_id=key, author="written after the switch", created=NOW)

    with pytest.raises(MoveError, match="never verified"):
        move_shard_key(Review, key, to=target)
    assert Review.objects.using(source).filter(product_id=key).count() == 200

    move_shard_key(Review, key, to=target, delete_unverified=True)
    assert not Review.objects.using(source).filter(product_id=key).exists()
    assert Review.objects.using(target).filter(product_id=key).count() == 201


def test_a_second_process_cannot_run_a_move_another_is_running(router: ShardRouter) -> None:
    from tests.postgres.plugin import _connect

    key, _, source, target = _keys(router)
    _fill(key, 50)
    _killed_at("capture", key, target)
    move = ShardMove.objects.using("pg_primary").get()
    with _connect(source) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [tenant.RUN_LOCK_CLASS, move.id])
        with pytest.raises(MoveError, match="Another process is running"):
            move_shard_key(Review, key, to=target)
    move_shard_key(Review, key, to=target)
    assert Review.objects.using(target).filter(product_id=key).count() == 50


def test_a_process_with_a_stale_directory_is_refused_then_follows_the_move(
    router: ShardRouter, settings: Any
) -> None:
    # This process would not read the directory again for a minute: only the database's
    # refusal can keep its writes off the source once another process switched the key.
    settings.MULTIDB_ROUTERS_PLACEMENT_TTL = 60
    key, _, source, target = _keys(router)
    writer = Writer(key, _fill(key, 2000))
    assert router.shard_for(key) == source  # cached for a minute
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    mover = subprocess.Popen(
        [sys.executable, "-m", "tests.postgres.move_process", _config(), "none", str(key), target],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    thread = threading.Thread(target=writer.run)
    thread.start()
    try:
        out, err = mover.communicate(timeout=120)
    finally:
        writer.stop.set()
        thread.join()
    assert "finished" in out, err

    assert writer.errors == []
    assert writer.refused > 0  # its stale copy sent writes to the source after the switch
    assert router.shard_for(key) == target
    assert _stored(target, key) == _checksum(writer.rows)
    assert not Review.objects.using(source).filter(product_id=key).exists()


def test_every_model_of_the_router_moves_with_the_key_uuid_keys_and_foreign_keys_included(
    router: ShardRouter, settings: Any
) -> None:
    both = ShardRouter(
        shards=SHARDS,
        apps=["shard_app.Review", "shard_app.Ticket"],
        shard_key={"shard_app.Review": "product_id", "shard_app.Ticket": "review"},
        directory="pg",
    )
    settings.DATABASE_ROUTERS = [both]
    key, other, source, target = _keys(both)
    reviews = _fill(key, 300)
    Review.objects.create(
        id=key, product_id=other, author="the review tickets point to", created=NOW
    )
    Ticket.objects.bulk_create(Ticket(review_id=key) for _ in range(200))
    Ticket.objects.bulk_create(Ticket(review_id=other) for _ in range(7))
    tickets: set[Any] = set(
        Ticket.objects.shard(key).filter(review_id=key).values_list("pk", flat=True)
    )
    stop = threading.Event()
    errors: list[str] = []

    def write_tickets() -> None:
        try:
            while not stop.is_set():
                try:
                    with transaction.atomic(using=Ticket.objects.shard(key).db):
                        made = Ticket.objects.create(review_id=key, day=dt.date(2024, 1, 2))
                    tickets.add(made.pk)
                    gone = next(iter(tickets))
                    with transaction.atomic(using=Ticket.objects.shard(key).db):
                        Ticket.objects.shard(key).filter(pk=gone).delete()
                    tickets.discard(gone)
                except ShardMovingError:
                    time.sleep(0.005)
                except Exception as exc:
                    errors.append(repr(exc))
                    return
        finally:
            for connection in connections.all(initialized_only=True):
                connection.close()

    thread = threading.Thread(target=write_tickets)
    thread.start()
    try:
        time.sleep(0.1)
        move_shard_key(Review, key, to=target)
    finally:
        stop.set()
        thread.join()

    assert errors == []
    assert _stored(target, key) == _checksum(reviews)
    assert (
        set(Ticket.objects.using(target).filter(review_id=key).values_list("pk", flat=True))
        == tickets
    )
    assert not Ticket.objects.using(source).filter(review_id=key).exists()
    assert Ticket.objects.using(source).filter(review_id=other).count() == 7
