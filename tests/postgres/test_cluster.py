"""The real PostgreSQL test cluster: a lagging, read-only standby and two shard databases."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from django.db import DatabaseError, connections

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.postgres.cluster import ClusterInfo, PgCluster

pytestmark = pytest.mark.postgres

REPLICATION = ["pg_primary", "pg_standby"]
SHARDS = ["pg_shard_0", "pg_shard_1"]
WHERE_AM_I = "SELECT current_database(), inet_server_port(), pg_is_in_recovery()"


def _row(alias: str, sql: str, params: list[Any] | None = None) -> tuple[Any, ...] | None:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()  # type: ignore[no-any-return]


def _has_token(alias: str, token: str) -> bool:
    return _row(alias, "SELECT 1 FROM pg_smoke WHERE token = %s", [token]) is not None


@pytest.mark.django_db(transaction=True, databases=REPLICATION)
def test_standby_serves_the_primary_test_database_through_replication(
    pg_info: ClusterInfo, pg_wait_for_standby: Callable[[], float]
) -> None:
    primary = _row(
        "pg_primary", "SELECT current_database(), inet_server_port(), pg_is_in_recovery()"
    )
    standby = _row(
        "pg_standby", "SELECT current_database(), inet_server_port(), pg_is_in_recovery()"
    )

    assert primary == ("test_multidb_routers", pg_info.ports["primary"], False)
    # Same (test) database name, but another server, in recovery: the streaming standby.
    assert standby == ("test_multidb_routers", pg_info.ports["standby"], True)
    assert _row("pg_standby", "SELECT current_setting('recovery_min_apply_delay')") == (
        f"{pg_info.apply_delay_ms}ms",
    )
    pg_wait_for_standby()
    primary_tables = connections["pg_primary"].introspection.table_names()
    assert "django_migrations" in primary_tables
    assert connections["pg_standby"].introspection.table_names() == primary_tables


@pytest.mark.django_db(transaction=True, databases=REPLICATION)
def test_a_write_reaches_the_standby_only_after_the_apply_delay(
    pg_info: ClusterInfo, pg_wait_for_standby: Callable[[], float]
) -> None:
    delay = pg_info.apply_delay_ms / 1000
    with connections["pg_primary"].cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS pg_smoke (token text PRIMARY KEY)")
    pg_wait_for_standby()

    # Judge "right after the write" only when the machine was quick enough to look in time.
    for _attempt in range(5):
        token = uuid.uuid4().hex
        with connections["pg_primary"].cursor() as cursor:
            cursor.execute("INSERT INTO pg_smoke VALUES (%s)", [token])
        written = time.monotonic()
        seen_at_once = _has_token("pg_standby", token)
        if time.monotonic() - written < delay / 2:
            break
    else:
        pytest.fail("the standby could never be read within half the apply delay")
    assert _has_token("pg_primary", token)
    assert not seen_at_once, "the standby already had a row committed a moment ago"

    while not _has_token("pg_standby", token):
        assert time.monotonic() - written < 10, "the row never reached the standby"
        time.sleep(0.01)
    assert time.monotonic() - written >= delay * 0.8


@pytest.mark.django_db(transaction=True, databases=REPLICATION)
def test_the_standby_refuses_writes() -> None:
    with pytest.raises(DatabaseError, match="read-only"), connections["pg_standby"].cursor() as c:
        c.execute("CREATE TABLE pg_refused (id int)")

    # The connection stays usable and the failed write left nothing behind, on either side.
    assert _row("pg_standby", "SELECT to_regclass('pg_refused')") == (None,)
    assert _row("pg_primary", "SELECT to_regclass('pg_refused')") == (None,)


@pytest.mark.django_db(transaction=True, databases=["pg_primary", *SHARDS])
def test_shards_are_separate_databases_on_their_own_server(pg_info: ClusterInfo) -> None:
    facts = {alias: _row(alias, WHERE_AM_I) for alias in SHARDS}
    assert facts == {
        "pg_shard_0": ("test_shard_0", pg_info.ports["shards"], False),
        "pg_shard_1": ("test_shard_1", pg_info.ports["shards"], False),
    }
    assert pg_info.ports["shards"] not in {pg_info.ports["primary"], pg_info.ports["standby"]}

    token = uuid.uuid4().hex
    with connections["pg_shard_0"].cursor() as cursor:
        cursor.execute("CREATE TABLE shard_probe (token text)")
        cursor.execute("INSERT INTO shard_probe VALUES (%s)", [token])
    try:
        assert _row("pg_shard_0", "SELECT token FROM shard_probe") == (token,)
        assert _row("pg_shard_1", "SELECT to_regclass('shard_probe')") == (None,)
        assert _row("pg_primary", "SELECT to_regclass('shard_probe')") == (None,)
    finally:
        with connections["pg_shard_0"].cursor() as cursor:
            cursor.execute("DROP TABLE shard_probe")


@pytest.mark.django_db(transaction=True, databases=[*REPLICATION, "pgb_primary", "pgb_standby"])
def test_the_pgb_aliases_reach_the_same_servers_through_pgbouncer_in_transaction_mode(
    pg_pooler: PgCluster,
) -> None:
    info = pg_pooler.info
    assert info is not None
    for server in ("primary", "standby"):
        direct, pooled = f"pg_{server}", f"pgb_{server}"
        assert connections[pooled].settings_dict["PORT"] == str(info.pooler_ports[server])
        assert connections[pooled].settings_dict["DISABLE_SERVER_SIDE_CURSORS"] is True
        # PgBouncer forwards to the server: the same database, port and recovery state.
        assert _row(pooled, WHERE_AM_I) == _row(direct, WHERE_AM_I)
        pools = pg_pooler.pooler_admin(server, "SHOW POOLS").splitlines()
        assert any(line.endswith("|transaction") for line in pools), pools


def test_no_pgbouncer_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.postgres.cluster import ENV_PGBOUNCER, PgUnavailableError, ensure_pgbouncer

    monkeypatch.setenv(ENV_PGBOUNCER, "0")
    with pytest.raises(PgUnavailableError, match="MULTIDB_ROUTERS_PGBOUNCER=0"):
        ensure_pgbouncer()
    monkeypatch.setenv(ENV_PGBOUNCER, "/nonexistent/pgbouncer")
    with pytest.raises(PgUnavailableError, match="/nonexistent/pgbouncer is not executable"):
        ensure_pgbouncer()
