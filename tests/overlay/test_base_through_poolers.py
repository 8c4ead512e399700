"""An overlay's PostgreSQL base stays unwritable when reached through PgBouncer or Django's pool.

The wall is the base's read-only role (docs/overlay.rst), and a pooler keeps it: PgBouncer
keeps one pool per database and role, so the base's server connections log in as that
role; Django's pool opens its connections with the alias's ``USER``. Every attempt of
``test_base_cannot_be_written`` runs again through each, and check ``E033``'s question
reaches the server's role through PgBouncer, so a PgBouncer entry that forces another
user is caught.
"""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING

import pytest
from django.db import connections

from multidb_routers.overlay.checks import base_write_privileges
from tests.overlay.pg_base import create_snapshot, drop_snapshot
from tests.overlay.test_base_cannot_be_written import PG_ATTEMPTS, _pg_state, _run_all
from tests.postgres.cluster import pooled_settings
from tests.postgres.plugin import django_pool_settings, django_pool_unavailable

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pytest_django import DjangoDbBlocker

    from tests.postgres.cluster import PgCluster

pytestmark = pytest.mark.postgres


@pytest.fixture(params=["pgbouncer", "django_pool"])
def pooled_base(
    request: pytest.FixtureRequest, pg_pooler: PgCluster, django_db_blocker: DjangoDbBlocker
) -> Iterator[dict[str, str]]:
    """A snapshot database on the primary, read as ``base`` by the docs' role, pooled."""
    if request.param == "django_pool" and (reason := django_pool_unavailable()) is not None:
        pytest.skip(reason)
    info = pg_pooler.info
    assert info is not None
    token = uuid.uuid4().hex[:8]
    names = {"database": f"snapshot_{token}", "role": f"reader_{token}", "path": request.param}
    port = str(info.ports["primary"])
    create_snapshot(info.host, port, names["database"], names["role"])
    server = connections["pg_primary"]
    settings_dict = copy.deepcopy(server.settings_dict)
    settings_dict.update(NAME=names["database"], USER=names["role"], HOST=info.host, PORT=port)
    if request.param == "pgbouncer":
        settings_dict.update(pooled_settings(info.pooler_ports["primary"]))
    else:
        settings_dict.update(django_pool_settings(settings_dict))
    connection = type(server)(settings_dict, alias="base")
    original, connections["base"] = connections["base"], connection
    try:
        with django_db_blocker.unblock():
            yield names
    finally:
        connection.close()
        if request.param == "django_pool":
            connection.close_pool()
        connections["base"] = original
        pg_pooler.release_pooled(names["database"])
        drop_snapshot(info.host, port, names["database"], names["role"])


def test_no_statement_through_a_pooler_changes_a_postgresql_base(
    pooled_base: dict[str, str], pg_pooler: PgCluster
) -> None:
    info = pg_pooler.info
    assert info is not None
    database = pooled_base["database"]
    before = _pg_state(info, "primary", database)
    connection = connections["base"]
    # The pooled connection logs in as the read-only role: the wall is in place.
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, session_user")
        assert cursor.fetchone() == (pooled_base["role"], pooled_base["role"])
    assert base_write_privileges(connection) == []

    for statements in PG_ATTEMPTS:  # through Django: statement guard, then the role
        _run_all(connection.cursor().execute, statements)
    connection.close()
    assert _pg_state(info, "primary", database) == before

    for statements in PG_ATTEMPTS:  # raw DB-API: the role alone
        connection.ensure_connection()
        _run_all(lambda sql: connection.connection.execute(sql), statements)
        connection.close()
    assert _pg_state(info, "primary", database) == before


@pytest.mark.parametrize("pooled_base", ["pgbouncer"], indirect=True)
def test_the_base_check_sees_a_pgbouncer_entry_that_logs_in_as_a_superuser(
    pooled_base: dict[str, str], pg_pooler: PgCluster
) -> None:
    forced = f"forced_{pooled_base['database']}"
    # A PgBouncer entry with user=: whatever role the client names, the server sees this one.
    pg_pooler.add_pooler_user(pooled_base["role"])
    pg_pooler.add_pooler_database(
        "primary", forced, f"dbname={pooled_base['database']} user=postgres"
    )
    connection = connections["base"]
    connection.close()
    connection.settings_dict["NAME"] = forced
    try:
        found = base_write_privileges(connection)
    finally:
        connection.close()
        pg_pooler.release_pooled(forced)

    assert any("is a superuser" in problem for problem, _fix in found), found
