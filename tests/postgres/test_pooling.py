"""Behind PgBouncer in transaction pooling mode: nothing the library does stays in a session.

Two clients share ONE server connection: a PgBouncer database entry with ``pool_size=1``
in front of the primary, and one in front of the standby. Client A is Django, routed by
the library (LSN freshness, pins, health checks, ``use_primary()``); client B is a plain
psycopg connection that, between A's steps, looks at what the shared server session holds
(settings changed with ``SET``, prepared statements, cursors, advisory locks, ``LISTEN``,
temporary tables, the role, read-only defaults) and checks that it is the same backend.
A control proves the probe sees a ``SET`` left behind. PgBouncer and its kills come from
``tests/postgres/cluster.py``; see docs/postgresql.rst.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
from django.db import OperationalError, close_old_connections, connections, transaction
from django.db.models.expressions import RawSQL
from django.test import Client

from multidb_routers import PrimaryReplicaRouter, use_primary
from multidb_routers.replication.freshness import LsnFreshness, writes_committed
from tests.postgres import reviews as pg_reviews
from tests.postgres.cluster import pooled_settings
from tests.postgres.plugin import django_pool_settings, django_pool_unavailable
from tests.postgres.reviews import PRIMARY, STANDBY, StatementLog
from tests.testapps.replica_app.models import Review

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.postgres.cluster import PgCluster

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, databases=[PRIMARY, STANDBY]),
    pytest.mark.urls(__name__),
    pytest.mark.usefixtures("pg_review_tables"),
]

urlpatterns = pg_reviews.urlpatterns
SERVERS = {PRIMARY: "primary", STANDBY: "standby"}
ONE_SERVER = "one_server"  # the PgBouncer database entry with pool_size=1

# What a server session can carry from one client's transaction into the next.
PROBE = """
SELECT pg_backend_pid(), current_user, session_user,
       (SELECT coalesce(string_agg(name || '=' || setting, ', ' ORDER BY name), '')
          FROM pg_settings WHERE source = 'session'),
       (SELECT count(*) FROM pg_prepared_statements),
       (SELECT count(*) FROM pg_cursors),
       (SELECT count(*) FROM pg_locks
         WHERE pid = pg_backend_pid() AND locktype = 'advisory'),
       (SELECT count(*) FROM pg_listening_channels()),
       (SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()),
       current_setting('default_transaction_read_only'),
       current_setting('default_transaction_isolation'),
       current_setting('search_path')
"""


def _route(settings: Any, **options: Any) -> PrimaryReplicaRouter:
    replica_router = PrimaryReplicaRouter(
        primary=PRIMARY, replicas=[STANDBY], apps=["replica_app"], **options
    )
    settings.DATABASE_ROUTERS = [replica_router]
    settings.MIDDLEWARE = ["multidb_routers.middleware.PinningMiddleware"]
    return replica_router


class SessionProbe:
    """Client B: one plain connection per server through the ``pool_size=1`` entries."""

    def __init__(self, cluster: PgCluster) -> None:
        import psycopg

        assert cluster.info is not None
        self.connections = {
            alias: psycopg.connect(
                host=cluster.info.host,
                port=cluster.info.pooler_ports[server],
                user="postgres",
                dbname=ONE_SERVER,
                autocommit=True,
                prepare_threshold=None,
            )
            for alias, server in SERVERS.items()
        }

    def look(self, alias: str) -> tuple[Any, ...]:
        """What the one server session behind ``alias`` holds, seen by another client."""
        row = self.connections[alias].execute(PROBE).fetchone()
        assert row is not None
        return tuple(row)

    def close(self) -> None:
        """Close both connections."""
        for connection in self.connections.values():
            connection.close()


@pytest.fixture
def one_server(
    pg_pooler: PgCluster, pg_pooled_test_database: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SessionProbe]:
    """``pg_primary``/``pg_standby`` through PgBouncer entries of ONE server connection each.

    Yields client B. Django's connections (client A) go through the same entries.
    """
    info = pg_pooler.info
    assert info is not None
    for server in SERVERS.values():
        if ONE_SERVER not in info.pooler_databases.get(server, {}):
            pg_pooler.add_pooler_database(
                server, ONE_SERVER, f"dbname={pg_pooled_test_database} pool_size=1"
            )
    for alias, server in SERVERS.items():
        connection = connections[alias]
        connection.close()
        changes = pooled_settings(info.pooler_ports[server])
        for key, value in {**changes, "NAME": ONE_SERVER}.items():
            monkeypatch.setitem(connection.settings_dict, key, value)
    probe = SessionProbe(pg_pooler)
    try:
        yield probe
    finally:
        probe.close()
        for alias in SERVERS:
            connections[alias].close()
        pg_pooler.release_pooled(ONE_SERVER)


def _reconfigure(alias: str, changes: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Change ``alias``'s ``DATABASES`` entry for this test only; its connection reopens."""
    connections[alias].close()
    for key, value in changes.items():
        monkeypatch.setitem(connections[alias].settings_dict, key, value)


def _backend(alias: str) -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def test_nothing_the_library_does_stays_in_a_server_session_shared_with_another_client(
    settings: Any,
    one_server: SessionProbe,
    statements: StatementLog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    probe = one_server
    before = {alias: probe.look(alias) for alias in SERVERS}
    replica_router = _route(
        settings, pin_seconds=2, freshness="lsn", lsn_cache_seconds=0, max_lag_seconds=30
    )
    monkeypatch.setitem(connections[STANDBY].settings_dict, "CONN_HEALTH_CHECKS", True)
    seen: list[str] = []

    def step(name: str) -> None:
        """After each step of client A, client B finds the session as it was."""
        for alias in SERVERS:
            assert probe.look(alias) == before[alias], f"{name}: {alias}'s session changed"
        seen.append(name)

    # Client A shares B's backend: pool_size=1, and A's connections stay open throughout.
    assert _backend(PRIMARY) == before[PRIMARY][0]
    assert _backend(STANDBY) == before[STANDBY][0]
    step("connected")

    client = Client()
    response = client.post("/reviews/", {"title": "shared"})  # a write, an LSN pin
    step("write and pin")
    url = response["Location"]
    stale = 0
    for _ in range(8):  # pinned reads: primary until the standby replayed the pin's LSN
        stale += not client.get(url).json()["found"]
        step("pinned read")
        time.sleep(0.1)
    assert Client().get(url).json() == {"found": True}  # an unpinned read (and the lag check)
    step("unpinned read")
    with use_primary():
        assert Review.objects.filter(title="shared").exists()
    step("use_primary")
    freshness = replica_router.replica_set.freshness
    assert isinstance(freshness, LsnFreshness)
    with writes_committed():
        pin = freshness.make_pin(PRIMARY, seconds=1)
    assert freshness.fresh_replicas([STANDBY], pin) in ([], [STANDBY])
    step("positions")
    with transaction.atomic(using=PRIMARY):
        Review.objects.create(title="in a transaction")
        Review.objects.filter(title="in a transaction").update(stars=2)
    step("atomic")
    assert [review.title for review in Review.objects.filter(title="shared").iterator()] == [
        "shared"
    ]
    step("iterator")
    close_old_connections()
    step("request end")

    reads = statements.review_reads()
    print(f"\n{len(seen)} steps, session unchanged; {stale} stale reads; reads {dict(reads)}")
    assert stale == 0
    assert reads[STANDBY] >= 1  # the standby served reads through its one server connection
    assert reads[PRIMARY] >= 1
    # Still the same two server connections: nothing was closed or reset under A or B.
    assert probe.look(PRIMARY)[0] == before[PRIMARY][0] == _backend(PRIMARY)
    assert probe.look(STANDBY)[0] == before[STANDBY][0] == _backend(STANDBY)


@pytest.mark.parametrize(
    ("statement", "left"),
    [
        ("SET statement_timeout = '17s'", "statement_timeout=17000"),
        # What a read-only guard made of SET SESSION would leave to the next client.
        ("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", "on"),
    ],
)
def test_the_probe_sees_a_session_setting_a_client_left_behind(
    one_server: SessionProbe, statement: str, left: str
) -> None:
    before = one_server.look(PRIMARY)

    with connections[PRIMARY].cursor() as cursor:
        cursor.execute(statement)

    after = one_server.look(PRIMARY)
    assert after[0] == before[0]  # the same backend...
    assert after != before  # ...that now carries A's setting into B's transactions
    assert left in (after[3], after[9])
    one_server.connections[PRIMARY].execute("RESET ALL")


def test_without_disable_server_side_cursors_an_iterator_leaves_a_cursor_in_the_session(
    one_server: SessionProbe, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Why DISABLE_SERVER_SIDE_CURSORS is needed: outside a transaction, .iterator() declares
    # a WITH HOLD cursor that outlives its transaction, on a server connection that
    # PgBouncer then lends to other clients (and its FETCHes may land on another one).
    Review.objects.using(PRIMARY).bulk_create([Review(title=f"row {n}") for n in range(3)])
    monkeypatch.setitem(connections[PRIMARY].settings_dict, "DISABLE_SERVER_SIDE_CURSORS", False)
    rows = Review.objects.using(PRIMARY).iterator(chunk_size=1)
    next(rows)

    assert one_server.look(PRIMARY)[5] == 1  # pg_cursors: A's cursor, in B's session
    rows.close()


def test_a_transaction_held_open_keeps_the_one_server_connection_from_other_clients(
    one_server: SessionProbe,
) -> None:
    # The other side of the proof above: if the library left a transaction open, client B
    # could not get the server connection at all (PgBouncer's query_wait_timeout, 2 s here).
    import psycopg

    with transaction.atomic(using=PRIMARY):
        _backend(PRIMARY)
        started = time.monotonic()
        with pytest.raises(psycopg.OperationalError, match="query_wait_timeout"):
            one_server.look(PRIMARY)
        waited = time.monotonic() - started
    assert 1.5 < waited < 5
    close_old_connections()


# -- faults: PgBouncer killed mid-query, pools exhausted -----------------------------------


def _slow_read(seconds: float) -> Any:
    """A read of the review table that takes ``seconds`` on the server."""
    return Review.objects.annotate(slept=RawSQL(f"(SELECT 1 FROM pg_sleep({seconds}))", []))


def test_the_standby_pgbouncer_killed_mid_read_costs_no_read_and_comes_back(
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    pg_pooler: PgCluster,
    statements: StatementLog,
    pg_wait_for_standby: Callable[[], float],
) -> None:
    info = pg_pooler.info
    assert info is not None
    for alias, server in SERVERS.items():
        _reconfigure(alias, pooled_settings(info.pooler_ports[server]), monkeypatch)
    try:
        _route(settings, pin_seconds=2, recheck_seconds=0.2, freshness="lsn")
        review = Review.objects.using(PRIMARY).create(title="before the kill")
        pg_wait_for_standby()
        killer = threading.Timer(0.3, pg_pooler.stop_pooler, ["standby"], {"kill": True})
        killer.start()
        outcome = "served"
        try:
            assert [row.pk for row in _slow_read(1.5).filter(pk=review.pk)] == [review.pk]
        except OperationalError as exc:  # the read that was running when it died
            outcome = f"failed: {exc}"
        killer.join()
        connections[STANDBY].close()
        statements.clear()
        stale = 0
        for number in range(10):  # while it is down: write, then read it back pinned
            client = Client()
            url = client.post("/reviews/", {"title": f"during {number}"})["Location"]
            stale += not client.get(url).json()["found"]
            assert Client().get(f"/reviews/{review.pk}/").json() == {"found": True}
            close_old_connections()
        during = statements.review_reads()
        pg_pooler.start_pooler("standby")
        deadline = time.monotonic() + 10
        statements.clear()
        while not statements.review_reads()[STANDBY]:
            assert time.monotonic() < deadline, "reads never went back to the standby"
            time.sleep(0.1)
            assert Client().get(f"/reviews/{review.pk}/").json() == {"found": True}
            close_old_connections()
    finally:
        for alias in SERVERS:
            connections[alias].close()

    print(f"\nread running at the kill: {outcome}; reads while down {dict(during)}")
    # The read running at the kill lost its connection: it ran again on the primary.
    assert outcome == "served"
    assert stale == 0
    assert during == {PRIMARY: 20}


def _write_then_read_slowly() -> None:
    with transaction.atomic(using=PRIMARY):
        Review.objects.create(title="half written")
        list(_slow_read(1.5).using(PRIMARY))


def test_the_primary_pgbouncer_killed_mid_transaction_loses_the_whole_transaction(
    settings: Any, monkeypatch: pytest.MonkeyPatch, pg_pooler: PgCluster
) -> None:
    info = pg_pooler.info
    assert info is not None
    _reconfigure(PRIMARY, pooled_settings(info.pooler_ports["primary"]), monkeypatch)
    _route(settings)
    killer = threading.Timer(0.3, pg_pooler.stop_pooler, ["primary"], {"kill": True})
    killer.start()
    try:
        with pytest.raises(OperationalError):
            _write_then_read_slowly()
    finally:
        killer.join()
        pg_pooler.start_pooler("primary")
        connections[PRIMARY].close()

    # PgBouncer's death closed the server connection: PostgreSQL rolled the transaction back.
    assert not Review.objects.using(PRIMARY).filter(title="half written").exists()
    Review.objects.create(title="after the restart")
    assert Review.objects.using(PRIMARY).filter(title="after the restart").count() == 1
    connections[PRIMARY].close()


def test_an_exhausted_pgbouncer_pool_on_the_standby_sends_pinned_reads_to_the_primary(
    settings: Any, one_server: SessionProbe, statements: StatementLog
) -> None:
    # Another client holds the standby's only server connection in a transaction.
    _route(settings, pin_seconds=5, freshness="lsn", lsn_cache_seconds=0)
    holder = one_server.connections[STANDBY]
    holder.autocommit = False
    holder.execute("SELECT 1")  # BEGIN: the server connection is now this client's
    try:
        client = Client()
        started = time.monotonic()
        url = client.post("/reviews/", {"title": "while exhausted"})["Location"]
        found = client.get(url).json()["found"]
        took = time.monotonic() - started
    finally:
        holder.rollback()
        holder.autocommit = True

    reads = statements.review_reads()
    print(f"\npinned read with the standby's pool exhausted: {took:.2f}s, reads {dict(reads)}")
    # The standby's position could not be asked (query_wait_timeout): the pin's read went
    # to the primary, after the wait, and was not stale.
    assert found
    assert reads == Counter({PRIMARY: 1})
    assert took < 5


def test_an_exhausted_django_pool_on_the_standby_sends_reads_to_the_primary(
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    pg_pooled_test_database: str,
    statements: StatementLog,
    pg_wait_for_standby: Callable[[], float],
) -> None:
    if (reason := django_pool_unavailable()) is not None:
        pytest.skip(reason)
    standby = connections[STANDBY]
    changes = django_pool_settings(standby.settings_dict)
    changes["OPTIONS"]["pool"].update(min_size=0, max_size=1, timeout=1)
    _reconfigure(STANDBY, changes, monkeypatch)
    replica_router = _route(settings, recheck_seconds=30)
    review = Review.objects.using(PRIMARY).create(title="pooled")
    pg_wait_for_standby()
    held = threading.Event()
    release = threading.Event()

    def hold_the_only_connection() -> None:
        """Another thread's request: it keeps the pool's one connection in a transaction."""
        try:
            with transaction.atomic(using=STANDBY):
                _backend(STANDBY)
                held.set()
                release.wait(10)
        finally:
            connections[STANDBY].close()

    holder = threading.Thread(target=hold_the_only_connection)
    holder.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        found = Client().get(f"/reviews/{review.pk}/").json()["found"]
        took = time.monotonic() - started
    finally:
        release.set()
        holder.join()
        standby.close()
        standby.close_pool()

    print(
        f"\nread with the standby's pool exhausted: {took:.2f}s, reads {statements.review_reads()}"
    )
    # The pool's timeout (1 s) counts the replica down; the read is served by the primary.
    assert found
    assert statements.review_reads() == {PRIMARY: 1}
    assert replica_router.replica_set.down_replicas() == {STANDBY}
    assert 0.9 < took < 4
