"""E033: a PostgreSQL base must connect as a role that cannot write (real cluster)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connections

from multidb_routers.overlay.checks import base_write_privileges, check_base_is_read_only
from tests.overlay.pg_base import connect_as_owner

if TYPE_CHECKING:
    from tests.postgres.cluster import ClusterInfo

pytestmark = pytest.mark.postgres


def test_the_documented_read_only_role_passes_the_check(pg_base: dict[str, str]) -> None:
    assert base_write_privileges(connections["base"]) == []
    assert check_base_is_read_only(databases=["base"]) == []
    call_command("check", "--database", "base")


def test_the_check_runs_only_for_the_databases_asked_for(pg_base: dict[str, str]) -> None:
    with connect_as_owner(pg_base, connections["base"]) as owner:
        owner.execute(f'ALTER ROLE "{pg_base["role"]}" SUPERUSER')
    assert check_base_is_read_only(databases=None) == []
    assert check_base_is_read_only(databases=["overlay"]) == []


def test_a_superuser_base_fails_the_check_naming_the_fix(pg_base: dict[str, str]) -> None:
    connection = connections["base"]
    settings_dict = copy.deepcopy(connection.settings_dict)
    settings_dict["USER"] = "postgres"
    superuser = type(connection)(settings_dict, alias="base")
    connections["base"] = superuser
    try:
        [error] = check_base_is_read_only(databases=["base"])
        assert error.id == "multidb_routers.E033"
        assert "role postgres is a superuser" in error.msg
        assert "ALTER ROLE postgres NOSUPERUSER;" in (error.hint or "")
        with pytest.raises(SystemCheckError, match="E033"):
            call_command("check", "--database", "base")
    finally:
        superuser.close()
        connections["base"] = connection


def test_each_write_privilege_is_named_and_the_hint_s_sql_removes_it(
    pg_base: dict[str, str], pg_info: ClusterInfo
) -> None:
    role = pg_base["role"]
    with connect_as_owner(pg_base, connections["base"]) as owner:
        owner.execute(
            f"GRANT INSERT ON t TO {role}; GRANT UPDATE (v) ON t TO {role};"
            f"GRANT USAGE ON SEQUENCE t_id_seq TO {role};"
            f"GRANT CREATE ON SCHEMA public TO {role};"
            f"GRANT CREATE ON DATABASE {pg_base['database']} TO {role};"
            "CREATE FUNCTION wipe() RETURNS void SECURITY DEFINER LANGUAGE sql"
            " AS $$ DELETE FROM t $$;"
            f"ALTER ROLE {role} IN DATABASE {pg_base['database']}"
            " RESET default_transaction_read_only;"
            f"GRANT EXECUTE ON FUNCTION pg_catalog.lo_from_bytea(oid, bytea) TO {role};"
        )
    connections["base"].close()

    found = base_write_privileges(connections["base"])
    problems = [problem for problem, _ in found]

    assert problems == [
        f"role {role} may create schemas in database {pg_base['database']}",
        f"role {role} may create objects in schema public",
        f"role {role} may write tables in schema public",
        f"role {role} may change sequences in schema public",
        f"role {role} may run SECURITY DEFINER function wipe()",
        f"role {role} may create large objects (lo_from_bytea(oid,bytea))",
    ]
    [error] = check_base_is_read_only(databases=["base"])
    with connect_as_owner(pg_base, connections["base"]) as owner:
        owner.execute(error.hint.split("run: ", 1)[1])  # type: ignore[union-attr]
    connections["base"].close()
    assert base_write_privileges(connections["base"]) == []


def test_a_role_that_may_create_large_objects_fails_the_check_even_read_only_by_default(
    pg_base: dict[str, str],
) -> None:
    # PostgreSQL 15 creates large objects inside a read-only transaction: the role default
    # default_transaction_read_only does not refuse them, only revoking the functions does.
    role = pg_base["role"]
    with connect_as_owner(pg_base, connections["base"]) as owner:
        owner.execute("GRANT EXECUTE ON FUNCTION pg_catalog.lo_create(oid) TO PUBLIC")
    connections["base"].close()

    found = base_write_privileges(connections["base"])

    assert [problem for problem, _ in found] == [
        f"role {role} may create large objects (lo_create(oid))"
    ]
    [error] = check_base_is_read_only(databases=["base"])
    with connect_as_owner(pg_base, connections["base"]) as owner:
        owner.execute(error.hint.split("run: ", 1)[1])  # type: ignore[union-attr]
    connections["base"].close()
    assert base_write_privileges(connections["base"]) == []


def test_an_unreachable_base_fails_the_check_saying_so(pg_base: dict[str, str]) -> None:
    connection = connections["base"]
    settings_dict = copy.deepcopy(connection.settings_dict)
    settings_dict["NAME"] = "no_such_database"
    unreachable = type(connection)(settings_dict, alias="base")
    connections["base"] = unreachable
    try:
        [error] = check_base_is_read_only(databases=["base"])
    finally:
        unreachable.close()
        connections["base"] = connection
    assert error.id == "multidb_routers.E033"
    assert "could not be asked" in error.msg
    assert "no_such_database" in error.msg
