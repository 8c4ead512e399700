"""Moving every row of one shard key to another shard, then switching the directory.

Online on PostgreSQL (source and target): triggers log the key's writes while its rows
are copied (:class:`~multidb_routers.moving.capture.PgCapture`), the log is applied
until it is nearly empty, then the cut-over refuses the key's writes in the source
database, applies the last changes, compares SQL checksums and switches the placement
directory: the key's writes are refused for that short window only. Offline elsewhere
(a SQLite source): the key's writes are refused for the whole copy.

Every step is recorded in :class:`~multidb_routers.models.ShardMove` beside the
directory, switched in one transaction with the key's entry, so a crash at any point
leaves the rows readable in one authoritative place (the source until the switch, the
target after it) and running the move again finishes it (or ``rollback=True`` undoes an
unswitched one).
"""

from __future__ import annotations

import datetime
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from ..conf import conf
from ..exceptions import MoveError
from ..sharding import placement
from .batches import Mover, chunks, delete_where, reset_sequences, table_exists
from .capture import PgCapture, SqliteBlock, Table, pg_checksum

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models import Model

    from ..models import ShardMove
    from ..sharding.router import ShardRouter

__all__ = ["TenantMove", "active_moves", "move_shard_key"]

#: A catch-up round applying fewer changes than this is followed by the cut-over.
QUIET = 200
MAX_ROUNDS = 100
CUTOVER_ATTEMPTS = 5
RUN_LOCK_WAIT = 3.0  # seconds a run waits for the lock of another (perhaps dying) run
RUN_LOCK_CLASS = 0x6D646232  # "mdb2": held by the process running a move (with its id)


def move_shard_key(
    model: type[Model],
    key: object,
    to: str,
    *,
    batch_size: int = 2000,
    rollback: bool = False,
    delete_unverified: bool = False,
    say: Callable[[str], None] | None = None,
) -> ShardMove | None:
    """Move every row of ``key`` (of every model of ``model``'s ShardRouter) to ``to``.

    Online on PostgreSQL, offline on SQLite (the key's writes then raise
    :class:`~multidb_routers.exceptions.ShardMovingError` for the whole copy). Resumes an
    unfinished move of the key; ``rollback=True`` undoes one not switched yet;
    ``delete_unverified`` deletes the source copy of a switched move whose copies could not
    be verified equal (see the docs' failure section). Returns the
    move's record (``None`` for a rollback with nothing to undo). Raises
    :class:`~multidb_routers.exceptions.MoveError` when the move cannot be done safely.
    """
    from ..sharding.router import require_shard_router

    router = require_shard_router(model)
    mover = TenantMove(
        router,
        model,
        key,
        to,
        batch_size=batch_size,
        say=say,
        delete_unverified=delete_unverified,
    )
    return mover.roll_back() if rollback else mover.run()


def active_moves(directory: str) -> list[ShardMove]:
    """The unfinished moves of a directory's keys (none while the table is not migrated)."""
    from ..models import ShardMove

    db = conf.PLACEMENT_DATABASE
    if not table_exists(ShardMove, db):
        return []
    return list(ShardMove.objects.using(db).filter(directory=directory, phase__in=ShardMove.ACTIVE))


def _require_state_table() -> None:
    from ..models import ShardMove

    db = conf.PLACEMENT_DATABASE
    if not table_exists(ShardMove, db):
        raise MoveError(
            f"The table of the moves' state ({ShardMove._meta.db_table}) does not exist on "
            f"{db} (MULTIDB_ROUTERS_PLACEMENT_DATABASE): run manage.py migrate "
            f"multidb_routers --database {db} first."
        )


def _dependency_order(models: Sequence[type[Model]]) -> list[type[Model]]:
    """``models`` with every model after the models its foreign keys point to."""
    remaining = list(models)
    ordered: list[type[Model]] = []
    while remaining:
        for model in remaining:
            targets = {
                f.related_model
                for f in model._meta.concrete_fields
                if f.is_relation and f.related_model is not model
            }
            if not any(other in targets for other in remaining if other is not model):
                ordered.append(model)
                remaining.remove(model)
                break
        else:  # a cycle: keep the given order for the rest (deferred constraints on PG)
            ordered.extend(remaining)
            break
    return ordered


class TenantMove:
    """One key's move between two shards of a router (see the module docstring)."""

    def __init__(
        self,
        router: ShardRouter,
        model: type[Model],
        key: object,
        target: str,
        *,
        batch_size: int = 2000,
        say: Callable[[str], None] | None = None,
        delete_unverified: bool = False,
    ) -> None:
        self.router = router
        self.delete_unverified = delete_unverified
        self.directory = router._require_directory()
        key, self.key_text = router._directory_key(key, model)
        self.key = key
        self.target = target
        self.batch_size = batch_size
        self.say = say or (lambda message: None)
        shard = router.shard(target)
        if shard.alias != target:
            raise MoveError(f"{target!r} is a replica: move keys to a shard's primary.")
        models = []
        for each in router.sharded_models():
            field = router.key_field(each)
            if field is None:
                raise MoveError(
                    f"{each._meta.label} is sharded by a callable, so its rows of a key cannot "
                    "be selected in the database: move_shard_key needs every model of the "
                    "router to have a key field."
                )
            models.append(each)
        self.models = _dependency_order(models)
        self.movers = {each: Mover(each) for each in self.models}

    # State.

    def _active(self) -> ShardMove | None:
        from ..models import ShardMove

        _require_state_table()
        found: ShardMove | None = (
            ShardMove.objects.using(conf.PLACEMENT_DATABASE)
            .filter(directory=self.directory, key=self.key_text, phase__in=ShardMove.ACTIVE)
            .first()
        )
        return found

    def _save(self, move: ShardMove, **changes: Any) -> None:
        for name, value in changes.items():
            setattr(move, name, value)
        move.save(using=conf.PLACEMENT_DATABASE, update_fields=[*changes, "updated_at"])

    def tables(self, alias: str) -> list[Table]:
        """The moved tables, with the key as ``alias`` stores it."""
        connection = connections[alias]
        found = []
        for model in self.models:
            field = self.router.key_field(model)
            assert field is not None
            value = field.get_db_prep_value(self.router.canonical_key(model, self.key), connection)
            found.append(
                Table(
                    model,
                    model._meta.db_table,
                    str(field.column),
                    str(model._meta.pk.column),
                    value,
                )
            )
        return found

    def key_filter(self, model: type[Model]) -> dict[str, Any]:
        """The lookup selecting the key's rows of ``model``."""
        field = self.router.key_field(model)
        assert field is not None
        return {field.attname: self.router.canonical_key(model, self.key)}

    def capture(self, move: ShardMove) -> PgCapture | SqliteBlock:
        """The source's triggers of ``move``."""
        tables = self.tables(move.source)
        if connections[move.source].vendor == "postgresql":
            return PgCapture(move.source, move.id, tables)
        return SqliteBlock(move.source, move.id, tables)

    # The steps.

    def run(self) -> ShardMove:
        """Start, resume or finish the move of the key to the target."""
        move = self._active()
        if move is None:
            move = self.start()
        elif move.target != self.target:
            raise MoveError(
                f"The key {self.key_text!r} is being moved to {move.target!r} (phase "
                f"{move.phase}): run the move again with --to {move.target} to finish it, or "
                "with --rollback to undo it, before moving it elsewhere."
            )
        else:
            self.say(f"Resuming the move of {self.key_text!r} ({move.phase}).")
        with self.run_lock(move):
            move.refresh_from_db(using=conf.PLACEMENT_DATABASE)  # as the last run left it
            if move.phase == move.COPYING:
                if move.method == "online":
                    self.copy_online(move)
                else:
                    self.copy_offline(move)
            if move.phase == move.SWITCHED:
                self.clean_up(move)
        return move

    @contextmanager
    def run_lock(self, move: ShardMove) -> Iterator[None]:
        """Only one process works on a move at a time (a PostgreSQL source's session lock).

        The lock ends with the session, so a killed run never leaves it held. On SQLite,
        the switch is conditional on the phase read instead.
        """
        if connections[move.source].vendor != "postgresql":
            yield
            return
        # A killed run's session ends a moment after its process: wait that long.
        deadline = time.monotonic() + RUN_LOCK_WAIT
        while True:
            with connections[move.source].cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [RUN_LOCK_CLASS, move.id])
                row = cursor.fetchone()
            if (row and row[0]) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if not (row and row[0]):
            raise MoveError(
                f"Another process is running the move of {self.key_text!r} right now; wait "
                "for it to end (or for its process to die), then run the command again."
            )
        try:
            yield
        finally:
            with connections[move.source].cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [RUN_LOCK_CLASS, move.id])

    def start(self) -> ShardMove:
        """Check the move can be done and record it (phase ``copying``)."""
        from ..models import ShardMove

        source = self.router.shard_for(self.key)
        target = self.target
        if source == target:
            raise MoveError(f"The rows of {self.key_text!r} already live on {target!r}.")
        for alias in (source, target):
            missing = [m._meta.db_table for m in self.models if not table_exists(m, alias)]
            if missing:
                raise MoveError(
                    f"The table(s) {', '.join(missing)} do not exist on {alias}: migrate it "
                    f"first (manage.py migrate --database {alias})."
                )
        for model in self.models:
            found = model._base_manager.using(target).filter(**self.key_filter(model)).count()
            if found:
                raise MoveError(
                    f"{target} already holds {found} row(s) of {model._meta.label} with the key "
                    f"{self.key_text!r}, hidden by the placement: compare them with the rows on "
                    f"{source} and delete the wrong copy first; nothing was moved."
                )
        vendors = {connections[source].vendor, connections[target].vendor}
        if vendors == {"postgresql"}:
            method = "online"
            with_links = [m._meta.label for m in self.models if self.movers[m].links]
            if with_links:
                raise MoveError(
                    f"{', '.join(with_links)} have many-to-many fields, whose rows the online "
                    "move does not follow yet: move them offline (move_rows) instead."
                )
        elif connections[source].vendor in ("sqlite", "postgresql"):
            method = "offline"
        else:
            raise MoveError(
                f"Moving a shard key off a {connections[source].vendor} database is not "
                "supported: no trigger to refuse its writes during the copy."
            )
        try:
            with transaction.atomic(using=conf.PLACEMENT_DATABASE):
                move: ShardMove = ShardMove.objects.using(conf.PLACEMENT_DATABASE).create(
                    directory=self.directory,
                    key=self.key_text,
                    model=self.models[0]._meta.label,
                    source=source,
                    target=target,
                    method=method,
                )
        except IntegrityError:
            raise MoveError(
                f"Another move of the key {self.key_text!r} was started meanwhile."
            ) from None
        self.say(f"Moving the key {self.key_text!r} from {source} to {target} ({method}).")
        return move

    def wipe_target(self, move: ShardMove) -> None:
        """Delete the key's rows a previous, unfinished run copied to the target."""
        with transaction.atomic(using=move.target):
            for model in reversed(self.models):
                mover = self.movers[model]
                queryset = model._base_manager.using(move.target).filter(**self.key_filter(model))
                pks = list(queryset.values_list("pk", flat=True))
                for batch in chunks(pks, self.batch_size):
                    for link in mover.links:
                        delete_where(link.through, link.owner_field, batch, move.target)
                    delete_where(model, model._meta.pk, batch, move.target)

    def copy_snapshot(self, move: ShardMove) -> int:
        """Copy the key's rows as one consistent snapshot of the source; the rows copied."""
        copied = 0
        with transaction.atomic(using=move.source):
            if connections[move.source].vendor == "postgresql":
                with connections[move.source].cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            for model in self.models:
                fields = self.movers[model].fields
                queryset = (
                    model._base_manager.using(move.source)
                    .filter(**self.key_filter(model))
                    .values_list(*fields)
                )
                batch: list[Model] = []
                for row in queryset.iterator(chunk_size=self.batch_size):
                    batch.append(Mover.build(model, fields, row))
                    if len(batch) >= self.batch_size:
                        copied += self.insert(model, move.target, batch)
                        batch = []
                if batch:
                    copied += self.insert(model, move.target, batch)
        return copied

    def insert(self, model: type[Model], alias: str, objs: list[Model]) -> int:
        """Insert ``objs`` on ``alias`` in one transaction."""
        with transaction.atomic(using=alias):
            model._base_manager.using(alias).bulk_create(objs)
        return len(objs)

    def catch_up(self, move: ShardMove, capture: PgCapture, limit: int = 50_000) -> int:
        """Apply the logged changes to the target (the rows' current source content)."""
        changes = capture.pending(limit)
        if not changes:
            return 0
        by_table: dict[str, set[str]] = defaultdict(set)
        for _, table, pk in changes:
            by_table[table].add(pk)
        models = {model._meta.db_table: model for model in self.models}
        with transaction.atomic(using=move.target):
            for model in self.models:
                texts = by_table.get(model._meta.db_table)
                if not texts:
                    continue
                pk_field = model._meta.pk
                pks = [pk_field.to_python(text) for text in texts]
                fields = self.movers[model].fields
                for batch in chunks(pks, self.batch_size):
                    rows = (
                        model._base_manager.using(move.source)
                        .filter(pk__in=batch, **self.key_filter(model))
                        .values_list(*fields)
                    )
                    current = [Mover.build(model, fields, row) for row in rows]
                    delete_where(model, pk_field, batch, move.target)
                    model._base_manager.using(move.target).bulk_create(current)
            unknown = set(by_table) - set(models)
            if unknown:  # pragma: no cover - only the moved tables have the trigger
                raise MoveError(f"Changes logged for unknown tables {sorted(unknown)}.")
        capture.forget([change_id for change_id, _, _ in changes])
        return len(changes)

    def copy_online(self, move: ShardMove) -> None:
        """Capture, copy, catch up, then cut over (PostgreSQL to PostgreSQL)."""
        capture = self.capture(move)
        assert isinstance(capture, PgCapture)
        capture.install()  # unblocks too: a crash during a cut-over left the key refused
        capture.set_block(False)
        self.say("Capturing the key's writes on the source.")
        self.wipe_target(move)
        copied = self.copy_snapshot(move)
        self.say(f"Copied {copied} rows; applying the writes made meanwhile.")
        for _ in range(MAX_ROUNDS):
            if self.catch_up(move, capture) < QUIET:
                break
        for attempt in range(1, CUTOVER_ATTEMPTS + 1):
            if self.cut_over(move, capture):
                return
            self.say(f"Cut-over attempt {attempt} waited too long for open writes; retrying.")
            self.catch_up(move, capture)
        raise MoveError(
            f"The cut-over of {self.key_text!r} gave up after {CUTOVER_ATTEMPTS} attempts: "
            "transactions writing the key stayed open. Its writes go on on the source; run the "
            "move again later."
        )

    def cut_over(self, move: ShardMove, capture: PgCapture) -> bool:
        """Refuse the key's writes, apply the last ones, verify, switch; False to retry."""
        # Connected before the window: only its snapshot is taken inside.
        snapshot = connections.create_connection(move.target)
        snapshot.ensure_connection()
        try:
            return self._cut_over(move, capture, snapshot)
        finally:
            snapshot.close()

    def _cut_over(self, move: ShardMove, capture: PgCapture, snapshot: BaseDatabaseWrapper) -> bool:
        started = time.monotonic()
        capture.set_block(True)
        self.blocked()
        if not capture.wait_for_writers(timeout=0.5):
            capture.set_block(False)
            return False
        waited = time.monotonic()
        applied = 0
        while True:
            round_ = self.catch_up(move, capture)
            if not round_:
                break
            applied += round_
        caught_up = time.monotonic()
        problems = self.compare_sql(move, capture, count_only=True)
        if problems:
            capture.set_block(False)
            raise MoveError(
                "Verification failed, the move was not switched and the key's writes go on "
                f"on {move.source}: " + "; ".join(problems) + ". Run the move again."
            )
        counted = time.monotonic()
        # The full checksums run after the switch, on the target as it was at the switch.
        with snapshot.cursor() as cursor:
            cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("SELECT 1")  # takes the snapshot
        reset_sequences(self.models, move.target)
        self.switch(move)
        move.blocked_ms = (time.monotonic() - started) * 1000
        self.say(
            f"Switched the key to {move.target}; its writes were refused for "
            f"{move.blocked_ms:.0f} ms (open writes ended in {(waited - started) * 1000:.0f} "
            f"ms, {applied} last changes applied in {(caught_up - waited) * 1000:.0f} ms, "
            f"rows counted in {(counted - caught_up) * 1000:.0f} ms)."
        )
        self._save(move, blocked_ms=move.blocked_ms)
        problems = self.compare_sql(move, capture, target=snapshot)
        if problems:
            raise MoveError(
                f"The key was switched to {move.target}, but its rows there differ from the "
                f"source's at the switch: {'; '.join(problems)}. The source rows are kept (and "
                "refused writes) for you to compare; --delete-unverified deletes them."
            )
        self._save(move, verified=True)
        self.say("Verified: the rows on the target equal the source's (SQL checksums).")
        return True

    def blocked(self) -> None:
        """A step marker: the key's writes are refused, the directory not switched yet."""

    def compare_sql(
        self,
        move: ShardMove,
        capture: PgCapture,
        *,
        count_only: bool = False,
        target: BaseDatabaseWrapper | None = None,
    ) -> list[str]:
        """The models whose key rows differ between source and target (SQL checksums)."""
        problems = []
        for table in capture.tables:
            columns = [str(f.column) for f in table.model._meta.concrete_fields]
            ours = pg_checksum(connections[move.source], table, columns, count_only=count_only)
            theirs = pg_checksum(
                target or connections[move.target], table, columns, count_only=count_only
            )
            if ours != theirs:
                problems.append(
                    f"{table.model._meta.label}: {ours[0]} rows on {move.source}, "
                    f"{theirs[0]} on {move.target}"
                    + ("" if ours[0] != theirs[0] else ", checksums differ")
                )
        return problems

    def copy_offline(self, move: ShardMove) -> None:
        """Refuse the key's writes, copy everything, verify, switch."""
        capture = self.capture(move)
        capture.install()
        if isinstance(capture, PgCapture):
            capture.set_block(True)
        self.say("The key's writes are refused during the copy (offline move).")
        self.wipe_target(move)
        started = time.monotonic()
        problems = []
        for model in self.models:
            mover = self.movers[model]
            pks = list(
                model._base_manager.using(move.source)
                .filter(**self.key_filter(model))
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            before = mover.checksums(move.source, pks, self.batch_size)
            for batch in chunks(pks, self.batch_size):
                mover.move(batch, move.source, move.target, delete_source=False)
            after = mover.checksums(move.target, pks, self.batch_size)
            if before != after:
                problems.append(f"{model._meta.label}: {before[0]} on source, {after[0]} copied")
            self.say(f"Copied {len(pks)} rows of {model._meta.label}.")
        if problems:
            raise MoveError(
                "Verification failed; the key stays on the source, its writes refused until "
                "the move is run again (or rolled back): " + "; ".join(problems)
            )
        reset_sequences([m for mover in self.movers.values() for m in mover.models], move.target)
        self.switch(move, verified=True)
        move.blocked_ms = (time.monotonic() - started) * 1000
        self._save(move, blocked_ms=move.blocked_ms)
        self.say(f"Switched the key to {move.target}.")

    def switch(self, move: ShardMove, *, verified: bool = False) -> None:
        """Point the directory at the target and record it, in one transaction.

        Conditional on the move still being in its copying phase: a run racing this one
        cannot switch it twice.
        """
        from ..models import ShardMove

        db = conf.PLACEMENT_DATABASE
        now = timezone.now()
        with transaction.atomic(using=db):
            switched = (
                ShardMove.objects.using(db)
                .filter(pk=move.pk, phase=ShardMove.COPYING)
                .update(phase=ShardMove.SWITCHED, switched_at=now, verified=verified)
            )
            if switched != 1:
                raise MoveError(
                    f"The move of {self.key_text!r} changed phase under this run (another "
                    "process ran it); nothing was switched. Run the command again."
                )
            self.router.place(self.key, move.target, force=True)
        move.phase, move.switched_at, move.verified = ShardMove.SWITCHED, now, verified
        placement.clear_cache()

    def clean_up(self, move: ShardMove) -> None:
        """Once every process follows the switch, delete the source rows and the triggers."""
        assert move.switched_at is not None
        ready = move.switched_at + datetime.timedelta(seconds=conf.PLACEMENT_TTL)
        wait = (ready - timezone.now()).total_seconds()
        if wait > 0:
            self.say(f"Waiting {wait:.1f}s for every process to follow the directory.")
            time.sleep(wait)
        capture = self.capture(move)
        if not move.verified:
            self.verify_again(move, capture)
        deleted = 0
        if isinstance(capture, PgCapture):
            for model in reversed(self.models):
                deleted += self.delete_source(move, model, capture)
            self.check_source_empty(move)  # while the triggers still refuse new rows
            capture.remove()
        else:
            # SQLite: the triggers go with the rows, in one transaction.
            with transaction.atomic(using=move.source):
                capture.remove()
                for model in reversed(self.models):
                    deleted += self.delete_source(move, model, None)
                self.check_source_empty(move)
        self._save(move, phase=move.DONE)
        self.say(f"Deleted {deleted} rows from {move.source}; the move is done.")

    def check_source_empty(self, move: ShardMove) -> None:
        """Raise :class:`MoveError` if rows of the key are left on the source."""
        for model in self.models:
            left = model._base_manager.using(move.source).filter(**self.key_filter(model)).count()
            if left:
                raise MoveError(f"{left} rows of {model._meta.label} are still on {move.source}.")

    def verify_again(self, move: ShardMove, capture: PgCapture | SqliteBlock) -> None:
        """A switched move whose verification did not end: compare the two copies now.

        The source copy is frozen (refused writes); the target's may have changed since
        the switch, so a difference is no proof of loss, but the source rows are then kept
        for you to compare, unless ``delete_unverified``.
        """
        if isinstance(capture, PgCapture):
            problems = self.compare_sql(move, capture)
        else:
            problems = []
            for model, mover in self.movers.items():
                pks = list(
                    model._base_manager.using(move.source)
                    .filter(**self.key_filter(model))
                    .values_list("pk", flat=True)
                )
                ours = mover.checksums(move.source, pks, self.batch_size)
                theirs = mover.checksums(move.target, pks, self.batch_size)
                if ours != theirs:
                    problems.append(f"{model._meta.label}: {ours[0]} on source, {theirs[0]}")
        if problems and not self.delete_unverified:
            raise MoveError(
                f"The key was switched to {move.target} but its copy was never verified, and "
                f"the two copies differ now ({'; '.join(problems)}): the target may have been "
                f"written since. The source rows are kept on {move.source} (refused writes) "
                "for you to compare; run again with --delete-unverified to delete them."
            )
        self._save(move, verified=not problems)

    def delete_source(self, move: ShardMove, model: type[Model], capture: PgCapture | None) -> int:
        """Delete the key's rows of ``model`` on the source (they live on the target now)."""
        mover = self.movers[model]
        pks = list(
            model._base_manager.using(move.source)
            .filter(**self.key_filter(model))
            .values_list("pk", flat=True)
        )
        deleted = 0
        for batch in chunks(pks, self.batch_size):
            with transaction.atomic(using=move.source):
                if capture is not None:
                    capture.bypass()
                for link in mover.links:
                    delete_where(link.through, link.owner_field, batch, move.source)
                deleted += delete_where(model, model._meta.pk, batch, move.source)
        return deleted

    def roll_back(self) -> ShardMove | None:
        """Undo an unfinished move not switched yet: the source stays authoritative."""
        move = self._active()
        if move is None:
            self.say(f"No unfinished move of {self.key_text!r}: nothing to roll back.")
            return None
        if move.phase != move.COPYING:
            raise MoveError(
                f"The move of {self.key_text!r} to {move.target} was switched already: its "
                f"rows live there now. Finish it (run it again without --rollback), then move "
                f"the key back with --to {move.source}."
            )
        capture = self.capture(move)
        if isinstance(capture, PgCapture):
            capture.remove()
        else:
            with transaction.atomic(using=move.source):
                capture.remove()
        self.wipe_target(move)
        self._save(move, phase=move.ROLLED_BACK)
        self.say(f"Rolled back: the rows of {self.key_text!r} stay on {move.source}.")
        return move
