"""``manage.py reshard``: move every row of a sharded model to the shard its key maps to."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from multidb_routers.exceptions import MoveError
from multidb_routers.inspection import holding_aliases
from multidb_routers.management.arguments import add_batch_size_argument, model_from_label
from multidb_routers.missing_tables import find_missing_tables
from multidb_routers.moving.batches import Mover, chunks, table_exists
from multidb_routers.moving.progress import Progress
from multidb_routers.moving.resharding import Scan, scan
from multidb_routers.sharding.router import ShardRouter, require_shard_router

if TYPE_CHECKING:
    from django.db.models import Model


class Command(BaseCommand):
    """Move the rows of a sharded model that are not on their shard (after ``shards`` changed)."""

    help = (
        "After the shards of a ShardRouter changed, move every row of the model that is not "
        "on the shard its key now maps to (with its many-to-many rows). Scans the router's "
        "shards and the aliases of --from-shards. Each batch is copied and committed, then "
        "deleted from its source; a re-run finishes an interrupted one. Ends by checking "
        "that every row is on its shard and that counts and checksums did not change."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """The model and the options."""
        parser.add_argument("label", metavar="app_label.ModelName", help="The sharded model.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Print the plan and move nothing."
        )
        parser.add_argument(
            "--verify-only",
            action="store_true",
            help="Only check that every row is on its shard; exit non-zero if not.",
        )
        add_batch_size_argument(parser)
        parser.add_argument(
            "--from-shards",
            default="",
            metavar="ALIAS,...",
            help="Aliases that held shards before and are no shards of the router any more "
            "(after shrinking): their rows are moved out too.",
        )

    def handle(
        self,
        *args: Any,
        label: str,
        dry_run: bool,
        verify_only: bool,
        batch_size: int,
        from_shards: str,
        verbosity: int,
        **options: Any,
    ) -> None:
        """Scan, print the plan, move in batches, verify."""
        model = model_from_label(label)
        try:
            router = require_shard_router(model)
            mover = Mover(model)
        except (ImproperlyConfigured, MoveError) as exc:
            raise CommandError(str(exc)) from exc
        aliases = self.aliases_to_scan(model, router, from_shards)
        name = model._meta.label
        self.stdout.write(
            f"Resharding {name} over {', '.join(router.shard_aliases)} ({router.strategy_name}); "
            f"scanning {', '.join(aliases)}."
        )
        self.print_placements(router)
        if not (dry_run or verify_only):
            self.refuse_moving_keys(router)
        before = self.scan(mover, router, aliases, batch_size)
        self.print_plan(before)
        if verify_only:
            self.verify(mover, router, before, before, batch_size, moved=False)
            return
        if dry_run:
            self.stdout.write("Dry run: nothing moved.")
            return
        self.move(mover, before, batch_size, verbosity)
        after = self.scan(mover, router, aliases, batch_size)
        self.verify(mover, router, before, after, batch_size, moved=True)

    def refuse_moving_keys(self, router: ShardRouter) -> None:
        """A key being moved by move_shard_key is that command's to move, not this one's."""
        from multidb_routers.moving.tenant import active_moves

        if router.directory is None:
            return
        moves = active_moves(router.directory)
        if moves:
            keys = ", ".join(f"{move.key} ({move.source} -> {move.target})" for move in moves)
            raise CommandError(
                f"move_shard_key is moving the key(s) {keys}: finish (or roll back) those "
                "moves first, then reshard."
            )

    def aliases_to_scan(
        self, model: type[Model], router: ShardRouter, from_shards: str
    ) -> list[str]:
        """The router's shards, then the extra aliases; warn about unscanned tables with rows."""
        extra = [alias.strip() for alias in from_shards.split(",") if alias.strip()]
        unknown = [alias for alias in extra if alias not in settings.DATABASES]
        if unknown:
            raise CommandError(
                f"--from-shards names {', '.join(map(repr, unknown))}, not in settings.DATABASES."
            )
        aliases = list(dict.fromkeys([*router.shard_aliases, *extra]))
        missing = [alias for alias in aliases if not table_exists(model, alias)]
        if missing:
            explained = [
                found.describe()
                for alias in missing
                for found in find_missing_tables(alias, [model])
            ]
            raise CommandError(
                " ".join(explained)
                or f"The table of {model._meta.label} does not exist on {', '.join(missing)}; "
                f"run manage.py migrate --database {missing[0]} first."
            )
        for alias in holding_aliases():
            if alias in aliases or alias in router.aliases():
                continue
            try:
                rows = model._base_manager.using(alias).count() if table_exists(model, alias) else 0
            except Exception:  # advisory only: an alias that cannot be read is no shard here
                continue
            if rows:
                self.stderr.write(
                    f"Note: {alias} also holds {rows} rows of {model._meta.label} and is not "
                    f"scanned; if it was a shard, pass --from-shards {alias}."
                )
        return aliases

    def scan(self, mover: Mover, router: ShardRouter, aliases: list[str], batch_size: int) -> Scan:
        """:func:`~multidb_routers.moving.resharding.scan`, errors as ``CommandError``."""
        try:
            return scan(mover, router, aliases, batch_size)
        except MoveError as exc:
            raise CommandError(str(exc)) from exc

    def print_placements(self, router: ShardRouter) -> None:
        """The keys the placement directory puts on chosen shards: hashing never moves them."""
        if router.directory is None:
            return
        entries = router.placements()  # read now, not the process's copy
        self.stdout.write(
            f"Placement directory {router.directory!r}: {len(entries)} keys placed, "
            "never moved by hashing."
        )
        for key, alias in sorted(entries.items()):
            self.stdout.write(f"  {key} -> {alias}")

    def print_plan(self, found: Scan) -> None:
        """Rows per alias, then the moves from each alias to each shard."""
        counts = ", ".join(f"{alias} {count}" for alias, count in found.counts.items())
        fraction = 100.0 * found.to_move / found.total if found.total else 0.0
        self.stdout.write(f"{found.total} rows ({counts}).")
        self.stdout.write(f"{found.to_move} rows ({fraction:.1f}%) are not on their shard.")
        for (source, target), pks in sorted(found.misplaced.items()):
            self.stdout.write(f"  {source} -> {target}: {len(pks)} rows")
        leftovers = sum(len(pks) for pks in found.leftovers.values())
        if leftovers:
            self.stdout.write(
                f"{leftovers} of them are already on their shard with the same content "
                "(an interrupted run): only their source copies will be deleted."
            )

    def move(self, mover: Mover, found: Scan, batch_size: int, verbosity: int) -> None:
        """Move the misplaced rows, batch by batch."""
        progress = Progress(
            self.stderr, total=found.to_move, label=mover.model._meta.label, verbosity=verbosity
        )
        copied = deleted = batches = 0
        started = time.perf_counter()
        try:
            for (source, target), pks in sorted(found.misplaced.items()):
                for batch in chunks(pks, batch_size):
                    result = mover.move(batch, source, target, delete_source=True)
                    copied += result.copied
                    deleted += result.deleted
                    batches += 1
                    progress.advance(len(batch))
        except MoveError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            progress.finish()
        seconds = time.perf_counter() - started
        rate = f", {deleted / seconds:.0f} rows/s" if seconds > 0 and verbosity > 1 else ""
        self.stdout.write(
            f"Moved {deleted} rows in {batches} batches ({copied} copied, "
            f"{deleted - copied} already there){rate}."
        )

    def verify(
        self,
        mover: Mover,
        router: ShardRouter,
        before: Scan,
        after: Scan,
        batch_size: int,
        *,
        moved: bool,
    ) -> None:
        """Every row on its shard; counts and checksums as before. ``CommandError`` if not."""
        problems = []
        if after.to_move:
            problems.append(
                f"{after.to_move} rows of {mover.model._meta.label} are not on their shard"
            )
        for model, old, new in zip(mover.models, before.sums, after.sums, strict=True):
            if old != new:
                problems.append(f"{model._meta.label}: {old} before, {new} after")
        if problems:
            hint = "" if moved else f" (run manage.py reshard {mover.model._meta.label})"
            raise CommandError("Verification failed: " + "; ".join(problems) + hint + ".")
        for index, (model, checksum) in enumerate(zip(mover.models, after.sums, strict=True)):
            where = ", each on its shard" if index == 0 else ""
            when = " before and after" if moved else ""
            self.stdout.write(
                f"Verified {model._meta.label}: {checksum.count} rows{where}; "
                f"checksum {checksum.hexdigest}{when}."
            )
