"""``manage.py migrate_all``: run ``migrate`` on every alias that can hold tables."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from multidb_routers.inspection import holding_aliases, skipped_aliases
from multidb_routers.missing_tables import MissingTables, find_missing_tables


class Command(BaseCommand):
    """Migrate every database alias once, skipping replicas, read-only bases, placeholders."""

    help = (
        "Run migrate on every alias in DATABASES that can hold tables (not replicas, "
        "not read-only bases, not entries without an ENGINE), each alias once. The routers' "
        "allow_migrate decides which tables go where. Fails naming the fix when a table "
        "the routers send to an alias is missing although its migrations are recorded there."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Options passed on to ``migrate``."""
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Tells Django to NOT prompt the user for input of any kind.",
        )
        parser.add_argument(
            "--plan",
            action="store_true",
            help="Print the aliases that would be migrated and those skipped, and stop.",
        )

    def handle(
        self, *args: Any, interactive: bool, plan: bool, verbosity: int, **options: Any
    ) -> None:
        """Migrate (or, with ``--plan``, list) each alias, then look for missing tables."""
        for alias, reason in skipped_aliases().items():
            self.stdout.write(f"Skipping {alias}: {reason}.")
        missing: list[MissingTables] = []
        for alias in holding_aliases():
            if plan:
                self.stdout.write(f"Would migrate {alias}.")
            else:
                self.stdout.write(self.style.MIGRATE_HEADING(f"Migrating {alias}:"))
                call_command(
                    "migrate",
                    database=alias,
                    interactive=interactive,
                    verbosity=verbosity,
                    skip_checks=True,
                    stdout=self.stdout,
                    stderr=self.stderr,
                )
            try:
                found = find_missing_tables(alias)
            except DatabaseError as exc:
                if not plan:
                    raise
                self.stderr.write(f"Could not look for missing tables on {alias}: {exc}")
                continue
            # After a migrate, only tables whose migrations are recorded can be missing.
            missing.extend(entry for entry in found if entry.recorded or not plan)
        if not missing:
            return
        report = "\n".join(found.describe() for found in missing)
        if plan:  # a plan reports; the migration itself fails
            self.stderr.write(report)
            return
        raise CommandError(report)
