from __future__ import annotations

import copy
import sqlite3
from typing import TYPE_CHECKING

import pytest
from django.db import connections, transaction
from django.db.backends.signals import connection_created
from django.db.transaction import TransactionManagementError
from django.test import override_settings

from multidb_routers import FunctionalRouter, ReadOnlyDatabaseError
from multidb_routers.guards import allow_writes, guarded_aliases, install, is_write
from multidb_routers.statements import is_write_sql
from tests.testapps.overlay_app.models import Product, Supplier
from tests.testapps.overlay_app.snapshot import SUPPLIERS, digest, snapshot_as_base

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from pytest_django import DjangoDbBlocker

WRITES = [
    "INSERT INTO overlay_app_supplier (name) VALUES ('Initech')",
    "insert into overlay_app_supplier (name) values ('Initech')",
    "UPDATE overlay_app_supplier SET name = 'x'",
    "DELETE FROM overlay_app_supplier",
    "REPLACE INTO overlay_app_supplier (id, name) VALUES (1, 'x')",
    "INSERT OR REPLACE INTO overlay_app_supplier (id, name) VALUES (1, 'x')",
    "CREATE TABLE scratch (x integer)",
    "CREATE INDEX supplier_name ON overlay_app_supplier (name)",
    "ALTER TABLE overlay_app_supplier ADD COLUMN rating integer",
    "DROP TABLE overlay_app_supplier",
    "WITH doomed AS (SELECT id FROM overlay_app_supplier) "
    "DELETE FROM overlay_app_supplier WHERE id IN (SELECT id FROM doomed)",
    "SELECT 1; DELETE FROM overlay_app_supplier",
    "SELECT 1;delete from overlay_app_supplier;",
    "/* looks harmless */ DELETE FROM overlay_app_supplier",
    "-- a comment\nDELETE FROM overlay_app_supplier",
    "(DELETE FROM overlay_app_supplier)",
    "PRAGMA user_version = 7",
    "PRAGMA main.user_version(7)",
    "PRAGMA query_only = OFF",
    "PRAGMA journal_mode = WAL",
    "VACUUM",
    "ANALYZE",
    "REINDEX",
    "ATTACH DATABASE ':memory:' AS scratch",
    "SELECT 'unterminated",
]

READS = [
    "SELECT name FROM overlay_app_supplier",
    "select name from overlay_app_supplier where name = 'DELETE FROM overlay_app_supplier'",
    'SELECT "name" AS "update" FROM overlay_app_supplier',
    "SELECT replace(name, 'A', 'a') FROM overlay_app_supplier -- DROP TABLE x",
    "WITH cheap AS (SELECT * FROM overlay_app_product WHERE price < 50) SELECT count(*) FROM cheap",
    "with recursive n(x) as (select 1 union all select x + 1 from n where x < 3) select x from n",
    "VALUES (1), (2)",
    "EXPLAIN SELECT * FROM overlay_app_product",
    "EXPLAIN QUERY PLAN SELECT * FROM overlay_app_product",
    "PRAGMA table_info(overlay_app_product)",
    "PRAGMA user_version",
    "PRAGMA foreign_keys = ON",
]


@pytest.fixture
def base_file(tmp_path: Path, django_db_blocker: DjangoDbBlocker) -> Iterator[Path]:
    with django_db_blocker.unblock(), snapshot_as_base(tmp_path / "production.sqlite3") as path:
        yield path


@pytest.mark.parametrize("sql", WRITES)
def test_write_statements_on_the_base_raise_and_leave_the_file_unchanged(
    base_file: Path, sql: str
) -> None:
    before = digest(base_file)

    with pytest.raises(ReadOnlyDatabaseError, match="read-only database 'base'"):
        connections["base"].cursor().execute(sql)

    connections["base"].close()
    assert digest(base_file) == before


@pytest.mark.parametrize("sql", READS)
def test_read_statements_on_the_base_run(base_file: Path, sql: str) -> None:
    with connections["base"].cursor() as cursor:
        cursor.execute(sql)
        cursor.fetchall()


def test_the_error_shows_a_long_statement_cut_short(base_file: Path) -> None:
    sql = f"DELETE FROM overlay_app_supplier WHERE name IN ({', '.join(['%s'] * 100)})"

    with pytest.raises(ReadOnlyDatabaseError, match=r"WHERE name IN \(%s, .*\.\.\.$"):
        connections["base"].cursor().execute(sql, ["x"] * 100)


def test_executemany_writes_are_refused(base_file: Path) -> None:
    with pytest.raises(ReadOnlyDatabaseError):
        connections["base"].cursor().executemany(
            "INSERT INTO overlay_app_supplier (name) VALUES (%s)", [("a",), ("b",)]
        )


def test_orm_writes_on_the_base_raise_and_leave_the_file_unchanged(base_file: Path) -> None:
    before = digest(base_file)
    suppliers = Supplier._base_manager.using("base")

    with pytest.raises(ReadOnlyDatabaseError):
        suppliers.create(name="Initech")
    with pytest.raises(ReadOnlyDatabaseError):
        suppliers.bulk_create([Supplier(name="Initech")])
    with pytest.raises(ReadOnlyDatabaseError):
        suppliers.filter(pk=1).update(name="Acme Corp")
    with pytest.raises(ReadOnlyDatabaseError):
        suppliers.filter(pk=1).delete()
    with pytest.raises(ReadOnlyDatabaseError):
        Product._base_manager.using("base").get(pk=1).save(using="base")

    assert sorted(suppliers.values_list("pk", "name")) == SUPPLIERS
    connections["base"].close()
    assert digest(base_file) == before


def test_the_database_itself_refuses_writes_that_bypass_django(base_file: Path) -> None:
    connection = connections["base"]
    connection.ensure_connection()

    raw = connection.connection

    with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
        raw.execute("DELETE FROM overlay_app_supplier")
    with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
        raw.executescript("DELETE FROM overlay_app_supplier;")
    with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
        raw.execute("PRAGMA query_only = OFF")
    # Below the authorizer, the file itself is open read-only.
    raw.set_authorizer(lambda *args: sqlite3.SQLITE_OK)
    raw.execute("PRAGMA query_only = OFF")
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        raw.execute("DELETE FROM overlay_app_supplier")


def test_a_script_through_djangos_cursor_gets_the_early_error(base_file: Path) -> None:
    connection = connections["base"]

    with pytest.raises(ReadOnlyDatabaseError, match="Refused to write"):
        connection.cursor().executescript("SELECT 1; DELETE FROM overlay_app_supplier;")
    with connection.cursor() as cursor:
        cursor.executescript("SELECT 1; SELECT 2;")
    with allow_writes("base"), connection.cursor() as cursor:
        cursor.executescript("DELETE FROM overlay_app_supplier WHERE id < 0;")


def test_the_guard_is_in_the_sqlite_cursor_not_in_djangos_execute_wrappers(
    base_file: Path,
) -> None:
    # Django's execute-wrapper machinery costs about as much per statement as the check.
    connection = connections["base"]
    connection.ensure_connection()

    assert connection.execute_wrappers == []
    with pytest.raises(ReadOnlyDatabaseError):
        connection.cursor().execute("DELETE FROM overlay_app_supplier")
    with pytest.raises(ReadOnlyDatabaseError):
        connection.cursor().executemany("DELETE FROM overlay_app_supplier WHERE id = %s", [[1]])


def test_only_reads_are_remembered_and_a_write_is_refused_every_time(base_file: Path) -> None:
    from multidb_routers import guards

    guards._sqlite_reads.clear()  # a cache: room for this test's statements
    connection = connections["base"]
    read = "SELECT COUNT(*) FROM overlay_app_supplier WHERE id > %s"
    write = "DELETE FROM overlay_app_supplier WHERE id > %s"
    for _ in range(3):
        with connection.cursor() as cursor:
            cursor.execute(read, [0])
        with pytest.raises(ReadOnlyDatabaseError), connection.cursor() as cursor:
            cursor.execute(write, [0])

    assert read in guards._sqlite_reads
    assert write not in guards._sqlite_reads

    class Text(str):
        __slots__ = ()

    with connection.cursor() as cursor:
        cursor.execute(Text("SELECT 1 FROM overlay_app_supplier"))
    assert "SELECT 1 FROM overlay_app_supplier" not in guards._sqlite_reads
    with pytest.raises(ReadOnlyDatabaseError), connection.cursor() as cursor:
        cursor.execute(Text(write), [0])


def test_the_remembered_reads_are_bounded(base_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from multidb_routers import guards

    monkeypatch.setattr(guards, "_sqlite_reads", set())
    monkeypatch.setattr(guards, "_SQLITE_READS_MAX", 5)
    for number in range(20):
        guards._check_sqlite("base", f"SELECT {number}")

    assert len(guards._sqlite_reads) == 5


def test_allow_writes_lifts_both_locks_only_inside_the_block(base_file: Path) -> None:
    connection = connections["base"]
    suppliers = Supplier._base_manager.using("base")

    with allow_writes("base"), allow_writes("base"):
        suppliers.create(name="Initech")
    with pytest.raises(ReadOnlyDatabaseError):
        suppliers.create(name="Umbrella")

    assert suppliers.filter(name="Initech").exists()
    assert connection.connection.execute("PRAGMA query_only").fetchone() == (1,)


def test_a_new_connection_to_the_base_is_guarded_again(base_file: Path) -> None:
    connections["base"].close()

    with pytest.raises(ReadOnlyDatabaseError):
        Supplier._base_manager.using("base").create(name="Initech")
    assert connections["base"].connection.execute("PRAGMA query_only").fetchone() == (1,)


def test_install_guards_a_connection_opened_before_it(base_file: Path) -> None:
    connection = connections["base"]
    connection.close()
    connection_created.disconnect(dispatch_uid="multidb_routers.guards")
    try:
        connection.ensure_connection()  # as if opened before the app was ready
        assert connection.connection.execute("PRAGMA query_only").fetchone() == (0,)
    finally:
        install()

    with pytest.raises(ReadOnlyDatabaseError):
        Supplier._base_manager.using("base").create(name="Initech")
    assert connection.connection.execute("PRAGMA query_only").fetchone() == (1,)


def test_on_an_engine_without_a_known_lock_only_the_statement_guard_protects(
    tmp_path: Path, django_db_blocker: DjangoDbBlocker
) -> None:
    sqlite = connections["base"]

    class OtherEngine(type(sqlite)):  # type: ignore[misc]
        vendor = "other"

    settings_dict = copy.deepcopy(sqlite.settings_dict)
    settings_dict["NAME"] = str(tmp_path / "other.sqlite3")
    connection = OtherEngine(settings_dict, alias="base")
    original, connections["base"] = connections["base"], connection
    try:
        with django_db_blocker.unblock():
            with pytest.raises(ReadOnlyDatabaseError):
                connection.cursor().execute("CREATE TABLE scratch (x integer)")
            # Nothing was set in the database (W030 warns about such a base).
            assert connection.connection.execute("PRAGMA query_only").fetchone() == (0,)
    finally:
        connection.close()
        connections["base"] = original


def test_guarded_aliases_follow_the_routers_setting() -> None:
    assert guarded_aliases() == {"base"}
    with override_settings(DATABASE_ROUTERS=[FunctionalRouter(routes={"auth": "users"})]):
        assert guarded_aliases() == frozenset()


@pytest.mark.parametrize(
    ("sql", "write"),
    [
        ("WITH gone AS (DELETE FROM t RETURNING *) SELECT * FROM gone", True),
        ("SELECT * INTO copy FROM t", True),
        ("SELECT * FROM t FOR UPDATE", True),
        ("EXPLAIN ANALYZE DELETE FROM t", True),
        ("EXPLAIN (ANALYZE, FORMAT JSON) SELECT 1", False),
        ("SET TIME ZONE 'UTC'", False),
        ("SET default_transaction_read_only = off", True),
        ("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", True),
        ("SET ROLE admin", True),
        ("RESET ALL", True),
        ("BEGIN READ WRITE", True),
        ('SAVEPOINT "s1_x1"', False),
        ('ROLLBACK TO SAVEPOINT "s1_x1"', False),
        ("SHOW timezone", False),
        ("(SELECT 1) UNION (SELECT 2)", False),
        # Without a connection every engine's reading must agree: SQLite has no dollar
        # quotes and no E'' strings, so these hide nothing from it.
        ("SELECT $body$ DELETE FROM t $body$", True),
        ("SELECT E'it\\'s; DELETE FROM t'", True),
        (b"SELECT 1", False),
        (b"DELETE FROM t", True),
        (object(), True),
        ("", False),
        # Incomplete statements cannot be read, so they count as writes.
        ("EXPLAIN", True),
        ("EXPLAIN ANALYZE", True),
        ("(", True),
        ("PRAGMA", True),
    ],
)
def test_statement_classification(sql: object, write: bool) -> None:
    assert is_write(sql) is write


@pytest.mark.parametrize(
    ("sql", "write"),
    [
        ("SELECT $$delete$$", False),
        ("SELECT $body$ DELETE FROM t $body$", False),
        ("SELECT E'it\\'s; DELETE FROM t'", False),
        ("SELECT 'C:\\path'", False),  # read alike with standard_conforming_strings on or off
        ("SELECT 'a\\'", True),  # unterminated if standard_conforming_strings is off
        ("SELECT 1 AS a$q$; COMMIT; BEGIN READ WRITE; DELETE FROM t; SELECT 1 AS b$q$", True),
        ("SELECT 'x\\'; DELETE FROM t; --'", True),
        ("SET standard_conforming_strings = off", True),
        ("SELECT pg_catalog.set_config('default_transaction_read_only', 'off', false)", True),
        ('SET "default_transaction_read_only" = off', True),
        ("SET SESSION default_transaction_read_only = off", True),
        ('SET U&"d\\0065fault_transaction_read_only" = off', True),
        ("SET LOCAL transaction_read_only = off", True),
        ("SET TRANSACTION READ WRITE", True),
        ("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", False),
        ("SET statement_timeout = 1000", False),
        ("SET LOCAL TIME ZONE 'UTC'", False),
        ("SET myext.setting = 1", True),
        ("SELECT setval('t_id_seq', 10)", True),
        ("SELECT \"setval\"('t_id_seq', 10)", True),
        ("SELECT nextval('t_id_seq')", True),
        ("SELECT lo_create(0)", True),
        ("SELECT lo_import('/etc/passwd')", True),
        ("SELECT my_volatile_function()", False),  # cannot be classified: the role stops it
        ("SELECT count(*), lower(name) FROM t", False),
        ("SELECT * FROM t WHERE name = $1", False),
        ("DO $$ BEGIN DELETE FROM t; END $$", True),
        # Row locks write the rows' headers: refused by a read-only transaction too.
        ("SELECT * FROM t FOR SHARE", True),
        ("SELECT * FROM t FOR KEY SHARE OF t NOWAIT", True),
        ("SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED", True),
        ("SELECT share, key FROM t", False),  # columns of those names lock nothing
        ("SELECT * FROM t WHERE v = 'for share'", False),
    ],
)
def test_postgresql_statement_classification(sql: str, write: bool) -> None:
    assert is_write_sql(sql, "postgresql") is write


@pytest.mark.parametrize(
    ("sql", "write"),
    [
        ('PRAGMA "query_only" = 0', True),
        ("PRAGMA [query_only] = 0", True),
        ("PRAGMA `query_only` = 0", True),
        ('PRAGMA "user_version" = 77', True),
        ('PRAGMA main."user_version" = 77', True),
        ("PRAGMA journal_mode = WAL", True),
        ("PRAGMA writable_schema = ON", True),
        ("PRAGMA wal_checkpoint", True),
        ("PRAGMA optimize", True),
        ("PRAGMA journal_mode", False),
        ('PRAGMA "foreign_keys" = ON', False),
        ("WITH x AS (SELECT CAST(1 AS E'\\')) INSERT INTO t (v) SELECT 'x' -- ')", True),
        ("SELECT E'\\'; DELETE FROM t; --'", True),
        ("SELECT $a$; DELETE FROM t; SELECT $a$", True),
        ("SELECT 'it''s' FROM [select]", False),
        ('SELECT "name" AS "update" FROM t', False),
        ("SELECT load_extension('x')", True),
        ("ATTACH DATABASE 'x' AS y", True),
        ("SELECT $$delete$$", False),  # one parameter name on SQLite
    ],
)
def test_sqlite_statement_classification(sql: str, write: bool) -> None:
    assert is_write_sql(sql, "sqlite") is write


def test_psycopg_composed_statements_are_classified() -> None:
    from psycopg import sql

    assert is_write(sql.SQL("DELETE FROM {}").format(sql.Identifier("t")))
    assert not is_write(sql.SQL("SELECT * FROM {}").format(sql.Identifier("t")))


@pytest.mark.postgres
def test_a_postgresql_base_relies_on_no_session_setting_and_keeps_the_statement_guard(
    django_db_blocker: DjangoDbBlocker,
) -> None:
    server = connections["pg_shard_0"]
    connection = type(server)(copy.deepcopy(server.settings_dict), alias="base")
    original, connections["base"] = connections["base"], connection
    try:
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            # No SET a statement could undo or a transaction pooler leak: the role is the
            # wall (check E033), the guard gives early errors.
            cursor.execute("SHOW default_transaction_read_only")
            assert cursor.fetchone() == ("off",)
            cursor.execute("WITH n AS (SELECT 1 AS x) SELECT x FROM n")
            cursor.execute("SELECT $$delete$$")
            with pytest.raises(ReadOnlyDatabaseError):
                cursor.execute("CREATE TEMP TABLE scratch (x integer)")
            with allow_writes("base"):
                cursor.execute("CREATE TEMP TABLE scratch (x integer)")
            with pytest.raises(ReadOnlyDatabaseError):
                cursor.execute("INSERT INTO scratch VALUES (1)")
    finally:
        connection.close()
        connections["base"] = original


@pytest.mark.postgres
def test_allow_writes_refuses_to_start_in_a_transaction_of_a_connection_without_autocommit(
    django_db_blocker: DjangoDbBlocker,
) -> None:
    server = connections["pg_shard_0"]
    settings_dict = copy.deepcopy(server.settings_dict)
    settings_dict["AUTOCOMMIT"] = False
    connection = type(server)(settings_dict, alias="base")
    original, connections["base"] = connections["base"], connection
    try:
        with django_db_blocker.unblock():
            connection.ensure_connection()
            lift = allow_writes("base")
            with pytest.raises(TransactionManagementError, match="Commit or roll back first"):
                lift.__enter__()
    finally:
        connection.close()
        connections["base"] = original


def test_allow_writes_never_commits_a_transaction_it_is_entered_in(base_file: Path) -> None:
    suppliers = Supplier._base_manager.using("base")
    with transaction.atomic(using="base"):
        lift = allow_writes("base")
        with pytest.raises(TransactionManagementError, match=r"allow_writes\('base'\) cannot"):
            lift.__enter__()

    with allow_writes("base"), transaction.atomic(using="base"):
        suppliers.create(name="Initech")
        transaction.set_rollback(True, using="base")
    assert not suppliers.filter(name="Initech").exists()


def test_allow_writes_reopens_a_sqlite_base_file_writable_then_read_only(base_file: Path) -> None:
    connection = connections["base"]
    connection.ensure_connection()
    connection.connection.set_authorizer(lambda *args: sqlite3.SQLITE_OK)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        connection.connection.execute("DELETE FROM overlay_app_supplier")

    with allow_writes("base"):
        Supplier._base_manager.using("base").create(name="Initech")
    Supplier._base_manager.using("base").get(name="Initech")  # reopened, read-only
    raw = connections["base"].connection
    raw.set_authorizer(lambda *args: sqlite3.SQLITE_OK)
    raw.execute("PRAGMA query_only = OFF")
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        raw.execute("DELETE FROM overlay_app_supplier")


def test_guarded_aliases_are_cached_until_the_routers_setting_changes() -> None:
    assert guarded_aliases() is guarded_aliases()
    with override_settings(DATABASE_ROUTERS=[]):
        assert guarded_aliases() == frozenset()
    assert guarded_aliases() == {"base"}
