"""E033: a PostgreSQL base must be read-only in the database itself, not by the guard alone.

A database check (``manage.py check --database <base>``; ``migrate`` runs it for the alias
it migrates): it connects to the base and asks PostgreSQL what its role may do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.db import DatabaseError, connections

from ..checks import library_routers, router_name
from .router import OverlayRouter

if TYPE_CHECKING:
    from collections.abc import Sequence

    from django.apps import AppConfig
    from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = ["base_write_privileges", "check_base_is_read_only"]

_USER_SCHEMAS = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp\\_%%'"
)
_ROLE = """
SELECT pg_is_in_recovery(), quote_ident(current_user), quote_ident(current_database()),
       r.rolsuper, r.rolcreaterole, r.rolbypassrls,
       pg_has_role(d.datdba, 'USAGE'), has_database_privilege(d.oid, 'CREATE'),
       current_setting('lo_compat_privileges') = 'on'
FROM pg_roles r, pg_database d
WHERE r.rolname = current_user AND d.datname = current_database()
"""
_WRITABLE_RELATIONS = f"""
SELECT DISTINCT quote_ident(n.nspname), c.relkind = 'S', pg_has_role(c.relowner, 'USAGE')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND {_USER_SCHEMAS}
  AND (
    pg_has_role(c.relowner, 'USAGE')
    OR (c.relkind = 'S' AND has_sequence_privilege(c.oid, 'USAGE, UPDATE'))
    OR (c.relkind <> 'S' AND (
        has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE, TRIGGER')
        OR has_any_column_privilege(c.oid, 'INSERT, UPDATE')))
  )
ORDER BY 1, 2, 3
"""
_WRITABLE_SCHEMAS = f"""
SELECT quote_ident(n.nspname), pg_has_role(n.nspowner, 'USAGE')
FROM pg_namespace n
WHERE {_USER_SCHEMAS}
  AND (has_schema_privilege(n.oid, 'CREATE') OR pg_has_role(n.nspowner, 'USAGE'))
ORDER BY 1
"""
_DEFINER_FUNCTIONS = f"""
SELECT p.oid::regprocedure::text
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.prosecdef AND {_USER_SCHEMAS} AND has_function_privilege(p.oid, 'EXECUTE')
ORDER BY 1
"""
# The functions creating a large object. PostgreSQL grants them to PUBLIC and runs them
# even in a read-only transaction (15 does, measured), so only revoking them is a wall.
_LARGE_OBJECT_CREATORS = """
SELECT p.oid::regprocedure::text
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'pg_catalog'
  AND p.proname IN ('lo_creat', 'lo_create', 'lo_from_bytea', 'lo_import')
  AND has_function_privilege(p.oid, 'EXECUTE')
ORDER BY 1
"""
_OWNED_LARGE_OBJECTS = (
    "SELECT count(*) FROM pg_largeobject_metadata WHERE pg_has_role(lomowner, 'USAGE')"
)


def base_write_privileges(connection: BaseDatabaseWrapper) -> list[tuple[str, str]]:
    """What the connection's PostgreSQL role could write, each with the SQL that stops it.

    Empty when the server is a hot standby (nothing can be written) or the role is
    read-only: no superuser, no ownership, no write privilege on a table or sequence, no
    CREATE on the database or a schema, no SECURITY DEFINER function it may run, and no
    right to run the functions that create large objects (PostgreSQL grants them to
    every role; version 15 runs them in read-only transactions too).
    """
    with connection.cursor() as cursor:
        cursor.execute(_ROLE)
        row = cursor.fetchone()
        if row is None or row[0]:
            return []
        (_, role, database, superuser, createrole, bypassrls, owns_database, create_db,
         lo_compat) = row  # fmt: skip
        found: list[tuple[str, str]] = []
        if superuser:
            found.append((f"role {role} is a superuser", f"ALTER ROLE {role} NOSUPERUSER;"))
        if createrole:
            found.append(
                (f"role {role} can create roles (and grant itself others' rights)",
                 f"ALTER ROLE {role} NOCREATEROLE;")
            )  # fmt: skip
        if bypassrls:
            found.append((f"role {role} bypasses row security", f"ALTER ROLE {role} NOBYPASSRLS;"))
        if owns_database:
            found.append(
                (f"role {role} owns database {database}",
                 f"ALTER DATABASE {database} OWNER TO <the snapshot's owner>;")
            )  # fmt: skip
        elif create_db:
            found.append(
                (f"role {role} may create schemas in database {database}",
                 f"REVOKE CREATE ON DATABASE {database} FROM {role}, PUBLIC;")
            )  # fmt: skip
        cursor.execute(_WRITABLE_SCHEMAS)
        for schema, owned in cursor.fetchall():
            if owned:
                found.append(
                    (f"role {role} owns schema {schema}",
                     f"ALTER SCHEMA {schema} OWNER TO <the snapshot's owner>;")
                )  # fmt: skip
            else:
                found.append(
                    (f"role {role} may create objects in schema {schema}",
                     f"REVOKE CREATE ON SCHEMA {schema} FROM {role}, PUBLIC;")
                )  # fmt: skip
        cursor.execute(_WRITABLE_RELATIONS)
        for schema, sequence, owned in cursor.fetchall():
            kind = "sequences" if sequence else "tables"
            if owned:
                found.append(
                    (f"role {role} owns {kind} in schema {schema}",
                     f"REASSIGN OWNED BY {role} TO <the snapshot's owner>;")
                )  # fmt: skip
            elif sequence:
                found.append(
                    (f"role {role} may change sequences in schema {schema}",
                     f"REVOKE USAGE, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} FROM {role}, "
                     "PUBLIC;")
                )  # fmt: skip
            else:
                found.append(
                    (f"role {role} may write tables in schema {schema}",
                     f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE, TRIGGER ON ALL TABLES IN "
                     f"SCHEMA {schema} FROM {role}, PUBLIC;")
                )  # fmt: skip
        cursor.execute(_DEFINER_FUNCTIONS)
        for (function,) in cursor.fetchall():
            found.append(
                (f"role {role} may run SECURITY DEFINER function {function}",
                 f"REVOKE EXECUTE ON FUNCTION {function} FROM {role}, PUBLIC;")
            )  # fmt: skip
        cursor.execute(_OWNED_LARGE_OBJECTS)
        owned_objects = cursor.fetchone()
        if owned_objects is not None and owned_objects[0]:
            found.append(
                (f"role {role} owns {owned_objects[0]} large object(s)",
                 f"REASSIGN OWNED BY {role} TO <the snapshot's owner>;")
            )  # fmt: skip
        if lo_compat:
            found.append(
                ("lo_compat_privileges is on: every role may write every large object",
                 "ALTER SYSTEM SET lo_compat_privileges = off; SELECT pg_reload_conf();")
            )  # fmt: skip
        cursor.execute(_LARGE_OBJECT_CREATORS)
        creators = [function for (function,) in cursor.fetchall()]
        if creators:
            found.append(
                (f"role {role} may create large objects ({', '.join(creators)})",
                 "REVOKE EXECUTE ON FUNCTION "
                 + ", ".join(f"pg_catalog.{function}" for function in creators)
                 + f" FROM {role}, PUBLIC;")
            )  # fmt: skip
    return found


def check_base_is_read_only(
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[CheckMessage]:
    """E033: an overlay's PostgreSQL base connects as a role that can write."""
    messages: list[CheckMessage] = []
    for index, router in library_routers():
        if not isinstance(router, OverlayRouter):
            continue
        alias = router.base_alias
        if not databases or alias not in databases or alias not in settings.DATABASES:
            continue
        connection = connections[alias]
        if connection.vendor != "postgresql":
            continue
        try:
            found = base_write_privileges(connection)
        except DatabaseError as exc:
            messages.append(
                Error(
                    f"{router_name(index, router)} base {alias!r} could not be asked "
                    f"whether its PostgreSQL role can write: {type(exc).__name__}: {exc}",
                    hint=f"Make {alias!r} reachable (DATABASES[{alias!r}]), then run "
                    f"manage.py check --database {alias} again.",
                    obj=router,
                    id="multidb_routers.E033",
                )
            )
            continue
        if found:
            messages.append(
                Error(
                    f"{router_name(index, router)} base {alias!r} connects as a PostgreSQL "
                    f"role that can write: {'; '.join(problem for problem, _ in found)}. "
                    "The statement guard alone is no wall.",
                    hint="Connect the base as a read-only role (docs/overlay.rst, Setup), "
                    "or to a hot standby; as a superuser (or the snapshot's owner for "
                    "what is not in pg_catalog), connected to the base's database, run: "
                    + " ".join(dict.fromkeys(fix for _, fix in found)),
                    obj=router,
                    id="multidb_routers.E033",
                )
            )
    return messages
