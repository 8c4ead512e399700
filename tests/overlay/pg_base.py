"""A PostgreSQL snapshot database and its read-only role, set up as docs/overlay.rst says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROLE_SQL = Path(__file__).resolve().parents[2] / "docs" / "snippets" / "overlay_readonly_role.sql"

SNAPSHOT_SQL = """
CREATE TABLE t (id serial PRIMARY KEY, v text NOT NULL);
INSERT INTO t (v) SELECT 'row ' || n FROM generate_series(1, 10) AS n;
CREATE FUNCTION add_row() RETURNS integer VOLATILE LANGUAGE sql
    AS $$ INSERT INTO t (v) VALUES ('added') RETURNING id $$;
"""


def _connect(host: str, port: str, dbname: str):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(host=host, port=port, user="postgres", dbname=dbname, autocommit=True)


def role_sql(database: str, role: str) -> str:
    """The docs' role setup, for this database and role name."""
    return ROLE_SQL.read_text().replace("snapshot_reader", role).replace("snapshot", database)


def create_snapshot(host: str, port: str, database: str, role: str) -> None:
    """Create ``database`` with a table, a sequence and a writing function; then the role."""
    with _connect(host, port, "postgres") as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    with _connect(host, port, database) as conn:
        conn.execute(SNAPSHOT_SQL)
        conn.execute(role_sql(database, role))


def drop_snapshot(host: str, port: str, database: str, role: str) -> None:
    """Drop the database and the role."""
    with _connect(host, port, "postgres") as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def connect_as_owner(names: dict[str, str], connection: Any):  # type: ignore[no-untyped-def]
    """A superuser connection to the snapshot database of ``connection`` (the base)."""
    params = connection.settings_dict
    return _connect(params["HOST"], params["PORT"], names["database"])
