"""``manage.py migrate_all``: run ``migrate`` on every alias that can hold tables."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from multidb_routers.inspection import holding_aliases, read_only_aliases


class Command(BaseCommand):
    """Migrate every database alias once, skipping replicas and read-only bases."""

    help = (
        "Run migrate on every alias in DATABASES that can hold tables (not replicas, "
        "not read-only bases), each alias once. The routers' allow_migrate decides "
        "which tables go where."
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
        """Migrate (or, with ``--plan``, list) each alias."""
        for alias, reason in read_only_aliases().items():
            self.stdout.write(f"Skipping {alias}: {reason}.")
        for alias in holding_aliases():
            if plan:
                self.stdout.write(f"Would migrate {alias}.")
                continue
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
