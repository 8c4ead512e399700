"""The database side of moving a shard key: triggers that log or refuse the key's writes.

Enforced in the source database, so every process and raw SQL are caught alike, whatever
their copy of the placement directory says:

* PostgreSQL (:class:`PgCapture`): an ``AFTER`` row trigger on each moved table logs the
  primary key of every row of the key written (``multidb_move_log``), and refuses the
  write while the move's block sequence is above 0. Sequences are not transactional, so
  a block set is seen at once by every statement, whatever its transaction's snapshot.
  Each logged write also takes a shared transaction-level advisory lock: the cut-over
  takes it exclusively to wait for the writes in flight before it reads the last changes.
* SQLite (:class:`SqliteBlock`): ``BEFORE`` triggers refusing every write of the key.

A refused write raises a database error whose message starts with :data:`MARK`; the shard
connections' guard turns it into :class:`~multidb_routers.exceptions.ShardMovingError`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import connections, transaction

from ..exceptions import MoveError, ShardMovingError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models import Model

__all__ = ["LOG_TABLE", "MARK", "PgCapture", "SqliteBlock", "Table", "moving_error"]

MARK = "multidb_routers: the rows of this shard key are moving"
LOG_TABLE = "multidb_move_log"
LOCK_CLASS = 0x6D646231  # "mdb1": the advisory lock space of moves (with the move's id)
BYPASS = "multidb_routers.moving"  # the mover's own session sets it to the move's id


def moving_error(exc: BaseException) -> ShardMovingError | None:
    """The retryable error for a database error raised by a move's trigger, else None."""
    if MARK not in str(exc):
        return None
    from ..sharding import placement

    placement.clear_cache()  # the retry must follow the new placement at once
    return ShardMovingError(
        f"{MARK} to another shard: the write was refused and not made. Retry it in a "
        f"moment (retry_after={ShardMovingError.retry_after}s); it then goes to the key's "
        "new shard."
    )


@dataclass(frozen=True)
class Table:
    """A moved model's table: its name, key column, primary key column and the key's value."""

    model: type[Model]
    table: str
    key_column: str
    pk_column: str
    key_value: Any  # as the key field prepares it for the database


def _literal(alias: str, value: Any) -> str:
    """``value`` as an SQL literal of ``alias``'s dialect (for trigger bodies)."""
    connection = connections[alias]
    if connection.vendor == "postgresql":
        return str(connection.ops.compose_sql("%s", [value]))  # type: ignore[attr-defined]
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "X'" + bytes(value).hex() + "'"
    if value is None:
        raise MoveError("None is no shard key: there is nothing to move.")
    return "'" + str(value).replace("'", "''") + "'"


class PgCapture:
    """The triggers, log and block sequence of one move on a PostgreSQL source."""

    def __init__(self, alias: str, move_id: int, tables: Sequence[Table]) -> None:
        self.alias = alias
        self.move_id = move_id
        self.tables = tuple(tables)
        self.block_sequence = f"mdbmv_{move_id}_block"

    @property
    def quote(self) -> Any:
        return connections[self.alias].ops.quote_name

    def _function_sql(self, index: int, table: Table) -> str:
        q = self.quote
        key = _literal(self.alias, table.key_value)
        tag = "$mdb" + secrets.token_hex(6) + "$"
        if tag in key:  # pragma: no cover - a random tag inside the key's literal
            raise MoveError("Cannot quote this shard key into a trigger; try again.")
        kc, pc = q(table.key_column), q(table.pk_column)
        log = (
            f"INSERT INTO {LOG_TABLE} (move, tbl, pk) VALUES ({self.move_id}, "
            f"{_literal(self.alias, table.table)}, "
        )
        return f"""
CREATE OR REPLACE FUNCTION mdbmv_{self.move_id}_{index}() RETURNS trigger
LANGUAGE plpgsql AS {tag}
DECLARE hit boolean := false;
BEGIN
  IF current_setting('{BYPASS}', true) = '{self.move_id}' THEN RETURN NULL; END IF;
  IF TG_OP <> 'DELETE' THEN hit := coalesce(NEW.{kc} = {key}, false); END IF;
  IF NOT hit AND TG_OP <> 'INSERT' THEN hit := coalesce(OLD.{kc} = {key}, false); END IF;
  IF NOT hit THEN RETURN NULL; END IF;
  PERFORM pg_advisory_xact_lock_shared({LOCK_CLASS}, {self.move_id});
  IF (SELECT last_value FROM {q(self.block_sequence)}) > 0 THEN
    RAISE EXCEPTION '{MARK} to another shard; retry in a moment' USING ERRCODE = '55006';
  END IF;
  IF TG_OP <> 'DELETE' THEN {log}NEW.{pc}::text); END IF;
  IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.{pc} IS DISTINCT FROM NEW.{pc}) THEN
    {log}OLD.{pc}::text);
  END IF;
  RETURN NULL;
END {tag}"""

    def install(self) -> None:
        """Create the log, the block sequence (unblocked) and the triggers; idempotent."""
        q = self.quote
        connection = connections[self.alias]
        with transaction.atomic(using=self.alias), connection.cursor() as cursor:
            # Creating a trigger waits for the table's writes in flight: never for long.
            cursor.execute("SET LOCAL lock_timeout = '5s'")
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {LOG_TABLE} (id bigserial PRIMARY KEY, "
                "move bigint NOT NULL, tbl text NOT NULL, pk text NOT NULL)"
            )
            cursor.execute(
                f"CREATE SEQUENCE IF NOT EXISTS {q(self.block_sequence)} MINVALUE 0 START 0"
            )
            cursor.execute(
                f"""CREATE OR REPLACE FUNCTION mdbmv_{self.move_id}_truncate() RETURNS trigger
                LANGUAGE plpgsql AS $$ BEGIN
                  RAISE EXCEPTION '{MARK}: TRUNCATE is refused until the move ends'
                  USING ERRCODE = '55006';
                END $$"""
            )
            for index, table in enumerate(self.tables):
                cursor.execute(self._function_sql(index, table))
                name = q(f"mdbmv_{self.move_id}")
                cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {q(table.table)}")
                cursor.execute(
                    f"CREATE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE ON "
                    f"{q(table.table)} FOR EACH ROW EXECUTE FUNCTION "
                    f"mdbmv_{self.move_id}_{index}()"
                )
                truncate = q(f"mdbmv_{self.move_id}_truncate")
                cursor.execute(f"DROP TRIGGER IF EXISTS {truncate} ON {q(table.table)}")
                cursor.execute(
                    f"CREATE TRIGGER {truncate} BEFORE TRUNCATE ON {q(table.table)} "
                    f"FOR EACH STATEMENT EXECUTE FUNCTION mdbmv_{self.move_id}_truncate()"
                )

    def set_block(self, on: bool) -> None:
        """Refuse (or allow again) every write of the key, at once and for every session."""
        with connections[self.alias].cursor() as cursor:
            cursor.execute("SELECT setval(%s, %s, true)", [self.block_sequence, 1 if on else 0])

    def wait_for_writers(self, timeout: float) -> bool:
        """Wait until no transaction that wrote the key is open; False after ``timeout``."""
        connection = connections[self.alias]
        try:
            with transaction.atomic(using=self.alias), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{int(timeout * 1000)}ms'")
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_CLASS, self.move_id])
        except Exception as exc:
            if "lock timeout" in str(exc) or "lock_timeout" in str(exc):
                return False
            raise
        return True

    def pending(self, limit: int) -> list[tuple[int, str, str]]:
        """Up to ``limit`` logged changes (id, table, primary key as text), oldest first."""
        with connections[self.alias].cursor() as cursor:
            cursor.execute(
                f"SELECT id, tbl, pk FROM {LOG_TABLE} WHERE move = %s ORDER BY id LIMIT %s",
                [self.move_id, limit],
            )
            return [(int(row[0]), str(row[1]), str(row[2])) for row in cursor.fetchall()]

    def forget(self, ids: Sequence[int]) -> None:
        """Delete applied changes from the log."""
        with connections[self.alias].cursor() as cursor:
            cursor.execute(f"DELETE FROM {LOG_TABLE} WHERE id = ANY(%s)", [list(ids)])

    def bypass(self) -> None:
        """Let this session's current transaction write the key's rows (the mover's delete)."""
        with connections[self.alias].cursor() as cursor:
            cursor.execute("SELECT set_config(%s, %s, true)", [BYPASS, str(self.move_id)])

    def remove(self) -> None:
        """Drop the triggers, functions and block sequence; forget the log. Idempotent."""
        q = self.quote
        connection = connections[self.alias]
        with transaction.atomic(using=self.alias), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '5s'")
            for index, table in enumerate(self.tables):
                for name in (f"mdbmv_{self.move_id}", f"mdbmv_{self.move_id}_truncate"):
                    cursor.execute(f"DROP TRIGGER IF EXISTS {q(name)} ON {q(table.table)}")
                cursor.execute(f"DROP FUNCTION IF EXISTS mdbmv_{self.move_id}_{index}()")
            cursor.execute(f"DROP FUNCTION IF EXISTS mdbmv_{self.move_id}_truncate()")
            cursor.execute(f"DROP SEQUENCE IF EXISTS {q(self.block_sequence)}")
            cursor.execute(f"SELECT to_regclass('{LOG_TABLE}') IS NOT NULL")
            row = cursor.fetchone()
            if row and row[0]:
                cursor.execute(f"DELETE FROM {LOG_TABLE} WHERE move = %s", [self.move_id])


def pg_checksum(
    connection: BaseDatabaseWrapper,
    table: Table,
    columns: Sequence[str],
    *,
    count_only: bool = False,
) -> tuple[int, int]:
    """Count and sum of a 64-bit hash of each row of the key (``columns`` in this order).

    Computed in SQL (the rows never travel); ``count_only`` skips the hashes.
    """
    q = connection.ops.quote_name
    row_sql = "ROW(" + ", ".join(q(column) for column in columns) + ")::text"
    total = "0" if count_only else f"coalesce(sum(hashtextextended({row_sql}, 0)::numeric), 0)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), {total} FROM {q(table.table)} WHERE {q(table.key_column)} = %s",
            [table.key_value],
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


class SqliteBlock:
    """Triggers refusing every write of the key on a SQLite source, for an offline move."""

    def __init__(self, alias: str, move_id: int, tables: Sequence[Table]) -> None:
        self.alias = alias
        self.move_id = move_id
        self.tables = tuple(tables)

    def _names(self, index: int) -> list[str]:
        return [f"mdbmv_{self.move_id}_{index}_{op}" for op in ("i", "u", "d")]

    def install(self) -> None:
        """Create the triggers (idempotent)."""
        connection = connections[self.alias]
        q = connection.ops.quote_name
        refuse = f"BEGIN SELECT RAISE(ABORT, '{MARK} to another shard; retry later'); END"
        with transaction.atomic(using=self.alias), connection.cursor() as cursor:
            for index, table in enumerate(self.tables):
                key = _literal(self.alias, table.key_value)
                kc = q(table.key_column)
                insert, update, delete = (q(name) for name in self._names(index))
                target = q(table.table)
                cursor.execute(
                    f"CREATE TRIGGER IF NOT EXISTS {insert} BEFORE INSERT ON {target} "
                    f"WHEN NEW.{kc} = {key} {refuse}"
                )
                cursor.execute(
                    f"CREATE TRIGGER IF NOT EXISTS {update} BEFORE UPDATE ON {target} "
                    f"WHEN OLD.{kc} = {key} OR NEW.{kc} = {key} {refuse}"
                )
                cursor.execute(
                    f"CREATE TRIGGER IF NOT EXISTS {delete} BEFORE DELETE ON {target} "
                    f"WHEN OLD.{kc} = {key} {refuse}"
                )

    def remove(self) -> None:
        """Drop the triggers, inside the caller's transaction when there is one."""
        connection = connections[self.alias]
        q = connection.ops.quote_name
        with connection.cursor() as cursor:
            for index in range(len(self.tables)):
                for name in self._names(index):
                    cursor.execute(f"DROP TRIGGER IF EXISTS {q(name)}")
