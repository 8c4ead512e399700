"""Acceptance: no statement an application can send changes an overlay's base.

Every attempt below (issue 12's bypasses and the statement guard's own list) runs against a
real base, through ``connection.cursor().execute()``, ``executemany()``, SQLite's
``executescript()`` and raw SQL on the overlay alias; the base must be byte-for-byte
unchanged afterwards: the SQLite file's SHA-256, or PostgreSQL's full ``pg_dump`` of the
base database plus its large-object count. Errors are expected and ignored: what counts is
that nothing was written.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.db import DatabaseError, connections

from tests.testapps.overlay_app.snapshot import digest, snapshot_as_base

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from pytest_django import DjangoDbBlocker

    from tests.postgres.cluster import ClusterInfo

# Each attempt is a list of statements run one after the other on one connection (the
# first ones try to lift a lock, the last ones to write).
SQLITE_ATTEMPTS: list[list[str]] = [
    ['PRAGMA "query_only" = 0', "DELETE FROM overlay_app_supplier"],
    ["PRAGMA [query_only] = 0", "DELETE FROM overlay_app_supplier"],
    ["PRAGMA `query_only` = 0", 'PRAGMA "user_version" = 77'],
    ["PRAGMA query_only = OFF", "PRAGMA user_version = 77"],
    ['PRAGMA "query_only" = 0', "PRAGMA journal_mode = WAL"],
    ['PRAGMA "query_only" = 0', "PRAGMA journal_mode = DELETE", "PRAGMA journal_mode = TRUNCATE"],
    [
        'PRAGMA "query_only" = 0',
        "PRAGMA writable_schema = ON",
        "UPDATE sqlite_master SET sql = replace(sql, 'name', 'nom') "
        "WHERE name = 'overlay_app_supplier'",
    ],
    [
        "WITH x AS (SELECT CAST(1 AS E'\\')) INSERT INTO overlay_app_supplier (name) "
        "SELECT 'x' -- ')"
    ],
    ["SELECT E'\\'; DELETE FROM overlay_app_supplier; --'"],
    ["PRAGMA main.user_version(7)"],
    ['PRAGMA main."user_version" = 7'],
    ["PRAGMA application_id = 5"],
    ["PRAGMA page_size = 512", "VACUUM"],
    ["PRAGMA auto_vacuum = FULL", "VACUUM"],
    ["INSERT INTO overlay_app_supplier (name) VALUES ('Initech')"],
    ["insert into overlay_app_supplier (name) values ('Initech')"],
    ["UPDATE overlay_app_supplier SET name = 'x'"],
    ["DELETE FROM overlay_app_supplier"],
    ["REPLACE INTO overlay_app_supplier (id, name) VALUES (1, 'x')"],
    ["INSERT OR REPLACE INTO overlay_app_supplier (id, name) VALUES (1, 'x')"],
    ["CREATE TABLE scratch (x integer)"],
    ["CREATE INDEX supplier_name ON overlay_app_supplier (name)"],
    ["ALTER TABLE overlay_app_supplier ADD COLUMN rating integer"],
    ["DROP TABLE overlay_app_supplier"],
    [
        "WITH doomed AS (SELECT id FROM overlay_app_supplier) "
        "DELETE FROM overlay_app_supplier WHERE id IN (SELECT id FROM doomed)"
    ],
    ["SELECT 1; DELETE FROM overlay_app_supplier"],
    ["/* looks harmless */ DELETE FROM overlay_app_supplier"],
    ["-- a comment\nDELETE FROM overlay_app_supplier"],
    ["SELECT $a$; DELETE FROM overlay_app_supplier; SELECT $a$"],
    ["SELECT 1 AS a$q$; DELETE FROM overlay_app_supplier; SELECT 1 AS b$q$"],
    ["VACUUM"],
    ["ANALYZE"],
    ["REINDEX"],
    ["BEGIN IMMEDIATE", "DELETE FROM overlay_app_supplier", "COMMIT"],
    ["SAVEPOINT s", "DELETE FROM overlay_app_supplier", "RELEASE s"],
]

# Raw SQL sent to the overlay alias (or any other SQLite alias) naming the base's file.
ATTACH_ATTEMPTS: list[str] = [
    "ATTACH DATABASE '{path}' AS b",
    "ATTACH '{path}' AS b",
    "attach database 'file:{path}' as b",
    "ATTACH DATABASE 'file:{path}?mode=rw' AS b",
    "ATTACH DATABASE 'FILE://{path}?mode=rw' AS b",
    "ATTACH DATABASE '{link}' AS b",
    "ATTACH DATABASE '{hardlink}' AS b",
    "ATTACH DATABASE '{dotted}' AS b",
    "ATTACH DATABASE '{quoted}' AS b",
    "ATTACH DATABASE '{head}' || '{tail}' AS b",
    "ATTACH DATABASE (SELECT '{path}') AS b",
    "ATTACH DATABASE '{path}-journal' AS b",
    "ATTACH DATABASE '{path}-wal' AS b",
]


def _run_all(run: Callable[[str], Any], statements: list[str]) -> None:
    for statement in statements:
        # Refusals are expected; the bytes are what counts.
        with contextlib.suppress(Exception):
            run(statement)


@pytest.fixture
def base_file(tmp_path: Path, django_db_blocker: DjangoDbBlocker) -> Iterator[Path]:
    with django_db_blocker.unblock(), snapshot_as_base(tmp_path / "production.sqlite3") as path:
        yield path


@pytest.mark.parametrize("statements", SQLITE_ATTEMPTS, ids=lambda s: " / ".join(s)[:70])
@pytest.mark.parametrize("how", ["execute", "executemany", "executescript", "raw"])
def test_no_statement_sent_to_a_sqlite_base_changes_its_file(
    base_file: Path, statements: list[str], how: str
) -> None:
    before = digest(base_file)
    connection = connections["base"]
    cursor = connection.cursor()
    runners: dict[str, Callable[[str], Any]] = {
        "execute": cursor.execute,
        "executemany": lambda sql: cursor.executemany(sql, [[]]),
        "executescript": cursor.executescript,
        "raw": lambda sql: connection.connection.executescript(sql),
    }

    _run_all(runners[how], statements)
    _run_all(cursor.executescript, [";\n".join(statements)])

    connection.close()
    assert digest(base_file) == before


@pytest.mark.parametrize("template", ATTACH_ATTEMPTS)
@pytest.mark.parametrize("how", ["execute", "executescript"])
def test_no_alias_can_attach_the_sqlite_base_and_write_it(
    base_file: Path, tmp_path: Path, django_db_blocker: DjangoDbBlocker, template: str, how: str
) -> None:
    link = tmp_path / "link.sqlite3"
    link.symlink_to(base_file)
    hardlink = tmp_path / "hardlink.sqlite3"
    os.link(base_file, hardlink)
    path = str(base_file)
    sql = template.format(
        path=path,
        link=link,
        hardlink=hardlink,
        dotted=f"{base_file.parent}/./{base_file.name}",
        quoted=path.replace("/", "//", 1),
        head=path[:5],
        tail=path[5:],
    )
    before = digest(base_file)

    with django_db_blocker.unblock():
        for alias in ("overlay", "default"):
            cursor = connections[alias].cursor()
            run = cursor.execute if how == "execute" else cursor.executescript
            _run_all(run, [sql, "DELETE FROM b.overlay_app_supplier", "DETACH DATABASE b"])
            _run_all(
                cursor.executescript, [f"{sql}; DELETE FROM b.overlay_app_supplier; DETACH b;"]
            )

    assert digest(base_file) == before


def test_attach_of_the_base_through_a_parameter_is_refused(
    base_file: Path, django_db_blocker: DjangoDbBlocker
) -> None:
    before = digest(base_file)
    with django_db_blocker.unblock():
        cursor = connections["overlay"].cursor()
        _run_all(lambda sql: cursor.execute(sql, [str(base_file)]), ["ATTACH DATABASE %s AS b"])
        _run_all(cursor.execute, ["DELETE FROM b.overlay_app_supplier", "DETACH DATABASE b"])

    assert digest(base_file) == before


# -- PostgreSQL ------------------------------------------------------------------------------

PG_ATTEMPTS: list[list[str]] = [
    [
        "SELECT 1 AS a$q$; COMMIT; BEGIN READ WRITE; DELETE FROM t WHERE id = 5; COMMIT; "
        "SELECT 1 AS b$q$"
    ],
    [
        "SET standard_conforming_strings = off",
        "SELECT 'x\\'; BEGIN READ WRITE; DELETE FROM t WHERE id = 5; COMMIT; SELECT \\''",
    ],
    ["SELECT 'x\\'; DELETE FROM t WHERE id = 5; --'"],
    [
        "SELECT pg_catalog.set_config('default_transaction_read_only', 'off', false)",
        "SELECT setval('t_id_seq', 1000)",
        "SELECT add_row()",
        "DELETE FROM t",
    ],
    [
        'SET "default_transaction_read_only" = off',
        "SELECT setval('t_id_seq', 1000)",
        "SELECT add_row()",
        "SELECT lo_create(0)",
    ],
    ["SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", "INSERT INTO t (v) VALUES ('x')"],
    ["BEGIN READ WRITE", "INSERT INTO t (v) VALUES ('x')", "COMMIT"],
    ["RESET ALL", "SELECT nextval('t_id_seq')"],
    ["SELECT lo_create(0)"],
    ["SELECT lo_import('/etc/hostname')"],
    ["SELECT lo_from_bytea(0, 'x')"],
    ["SELECT setval('t_id_seq', 1000)"],
    ["SELECT \"setval\"('t_id_seq', 1000)"],
    ["SELECT nextval('t_id_seq')"],
    ["SELECT add_row()"],
    ["SELECT * FROM t FOR UPDATE"],
    ["SELECT * FROM t FOR SHARE"],
    ["SELECT * INTO copy FROM t"],
    ["CREATE TABLE scratch (x integer)"],
    ["CREATE SCHEMA scratch"],
    ["CREATE TEMP TABLE scratch (x integer)"],
    ["INSERT INTO t (v) VALUES ('x')"],
    ["UPDATE t SET v = 'x'"],
    ["DELETE FROM t"],
    ["TRUNCATE t"],
    ["DROP TABLE t"],
    ["ALTER TABLE t ADD COLUMN w integer"],
    ["WITH gone AS (DELETE FROM t RETURNING *) SELECT * FROM gone"],
    ["SELECT 1; DELETE FROM t"],
    ["DO $$ BEGIN DELETE FROM t; END $$"],
    ["COMMENT ON TABLE t IS 'x'"],
    ["GRANT ALL ON t TO PUBLIC"],
    ["VACUUM FULL t"],
    ["SET ROLE postgres", "DELETE FROM t"],
    ["SET SESSION AUTHORIZATION postgres", "DELETE FROM t"],
    ["COPY t FROM STDIN"],
    ["PREPARE p AS DELETE FROM t", "EXECUTE p"],
]


def _supports_restrict_key(binary: Path) -> bool:
    done = subprocess.run([str(binary), "--help"], capture_output=True, text=True, check=True)
    return "--restrict-key" in done.stdout


def _pg_state(info: ClusterInfo, server: str, dbname: str, *extra: str) -> tuple[str, int]:
    """The SHA-256 of a full ``pg_dump`` of ``dbname`` and its count of large objects."""
    import psycopg

    binary = Path(info.bindir) / "pg_dump"  # the cluster's own PostgreSQL install
    port = str(info.ports[server])
    restrict = ["--restrict-key=overlay"] if _supports_restrict_key(binary) else []
    dump = subprocess.run(
        [str(binary), "-h", info.host, "-p", port, "-U", "postgres", *restrict, *extra, dbname],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "CREATE TABLE public.t" in dump
    with psycopg.connect(
        host=info.host, port=port, user="postgres", dbname=dbname, autocommit=True
    ) as conn:
        row = conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()
    assert row is not None
    return hashlib.sha256(dump.encode()).hexdigest(), int(row[0])


def _through_django(how: str) -> Callable[[str], Any]:
    cursor = connections["base"].cursor()
    if how == "execute":
        return cursor.execute
    return lambda sql: cursor.executemany(sql, [[]])


@pytest.mark.postgres
@pytest.mark.parametrize("statements", PG_ATTEMPTS, ids=lambda s: " / ".join(s)[:70])
@pytest.mark.parametrize("how", ["execute", "executemany"])
def test_no_statement_sent_through_django_changes_a_postgresql_base(
    pg_base: dict[str, str], pg_info: ClusterInfo, statements: list[str], how: str
) -> None:
    before = _pg_state(pg_info, "primary", pg_base["database"])

    _run_all(_through_django(how), statements)

    connections["base"].close()
    assert _pg_state(pg_info, "primary", pg_base["database"]) == before


@pytest.mark.postgres
@pytest.mark.parametrize("statements", PG_ATTEMPTS, ids=lambda s: " / ".join(s)[:70])
def test_raw_db_api_statements_change_no_data_of_a_postgresql_base(
    pg_base: dict[str, str], pg_info: ClusterInfo, statements: list[str]
) -> None:
    """Below the guard, the docs' role refuses every write, large objects included.

    PostgreSQL lets every role create large objects; the role default
    ``default_transaction_read_only`` refuses it, but a raw ``SET`` lifts that. The docs'
    role SQL also revokes the functions that create them, which no session can undo.
    """
    before = _pg_state(pg_info, "primary", pg_base["database"])
    connection = connections["base"]
    connection.ensure_connection()

    _run_all(lambda sql: connection.connection.execute(sql), statements)

    connection.close()
    assert _pg_state(pg_info, "primary", pg_base["database"]) == before


@pytest.fixture
def standby_base(
    pg_info: ClusterInfo, django_db_blocker: DjangoDbBlocker
) -> Iterator[dict[str, str]]:
    """A snapshot database read from the lagging hot standby, connected as a superuser."""
    import psycopg

    from tests.overlay.pg_base import create_snapshot, drop_snapshot

    token = uuid.uuid4().hex[:8]
    names = {"database": f"snapshot_{token}", "role": f"reader_{token}"}
    primary_port = str(pg_info.ports["primary"])
    create_snapshot(pg_info.host, primary_port, names["database"], names["role"])
    port = str(pg_info.ports["standby"])
    deadline = time.monotonic() + 30
    while True:  # the standby replays the new database after its apply delay
        try:
            with psycopg.connect(
                host=pg_info.host, port=port, user="postgres", dbname=names["database"]
            ) as conn:
                if conn.execute("SELECT to_regprocedure('add_row()')").fetchone() != (None,):
                    break
        except psycopg.OperationalError:
            pass
        assert time.monotonic() < deadline, "the standby never replayed the snapshot"
        time.sleep(0.1)
    server = connections["pg_primary"]
    settings_dict = copy.deepcopy(server.settings_dict)
    settings_dict.update(NAME=names["database"], USER="postgres", HOST=pg_info.host, PORT=port)
    connection = type(server)(settings_dict, alias="base")
    original, connections["base"] = connections["base"], connection
    try:
        with django_db_blocker.unblock():
            yield names
    finally:
        connection.close()
        connections["base"] = original
        drop_snapshot(pg_info.host, primary_port, names["database"], names["role"])


@pytest.mark.postgres
def test_a_hot_standby_base_refuses_every_statement_even_raw_ones_of_a_superuser(
    standby_base: dict[str, str], pg_info: ClusterInfo
) -> None:
    before = _pg_state(pg_info, "standby", standby_base["database"])
    connection = connections["base"]

    for statements in PG_ATTEMPTS:
        _run_all(_through_django("execute"), statements)
        connection.ensure_connection()
        _run_all(lambda sql: connection.connection.execute(sql), statements)
        connection.close()

    assert _pg_state(pg_info, "standby", standby_base["database"]) == before


def test_other_files_can_still_be_attached_and_written(
    base_file: Path, tmp_path: Path, django_db_blocker: DjangoDbBlocker
) -> None:
    other = tmp_path / "scratch.sqlite3"
    with django_db_blocker.unblock():
        cursor = connections["overlay"].cursor()
        cursor.execute(f"ATTACH DATABASE '{other}' AS scratch")
        cursor.execute("CREATE TABLE scratch.t (x integer)")
        cursor.execute("INSERT INTO scratch.t VALUES (1)")
        cursor.execute("SELECT x FROM scratch.t")
        assert cursor.fetchall() == [(1,)]
        cursor.execute("DETACH DATABASE scratch")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("/srv/snap.sqlite3", "file:///srv/snap.sqlite3?mode=ro"),
        ("/srv/a b.sqlite3", "file:///srv/a%20b.sqlite3?mode=ro"),
        (
            "file:/srv/snap.sqlite3?mode=rwc&cache=shared",
            "file:///srv/snap.sqlite3?cache=shared&mode=ro",
        ),
        ("FILE:/srv/snap.sqlite3", "file:///srv/snap.sqlite3?mode=ro"),
    ],
)
def test_a_base_name_becomes_a_read_only_uri(name: str, expected: str) -> None:
    from multidb_routers.sqlite_lock import readonly_name

    assert readonly_name(name) == expected


@pytest.mark.parametrize("suffix", ["", "-journal", "-wal", "-shm"])
def test_attaching_the_base_or_its_journal_files_is_refused_by_the_authorizer(
    base_file: Path, django_db_blocker: DjangoDbBlocker, suffix: str
) -> None:
    with django_db_blocker.unblock():
        cursor = connections["overlay"].cursor()
        with pytest.raises(DatabaseError, match="not authorized"):
            cursor.execute(f"ATTACH DATABASE '{base_file}{suffix}' AS b")
