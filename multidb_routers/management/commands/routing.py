"""``manage.py routing``: where each model's reads, writes and migrations go."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser

from multidb_routers.inspection import ModelRoute, alias_holdings, model_route

HEADERS = ("Model", "Router", "Read", "Write", "Migrates on")


class Command(BaseCommand):
    """Print a table of the routing decisions for every installed model."""

    help = (
        "Print, for every installed model (or those of the given apps and models), the "
        "alias its reads and writes go to and the aliases it migrates on."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Optional app labels or model labels to limit the table to."""
        parser.add_argument(
            "labels",
            nargs="*",
            metavar="app_label[.ModelName]",
            help="Only these apps or models.",
        )
        parser.add_argument(
            "--by-alias",
            action="store_true",
            help="Also list, for each alias, the models whose tables migrate creates there "
            "(the default without labels).",
        )

    def handle(self, *args: Any, labels: list[str], by_alias: bool, **options: Any) -> None:
        """Print the table, then (without labels or with ``--by-alias``) the aliases."""
        models = apps.get_models(include_auto_created=True)
        if labels:
            wanted = {label.lower() for label in labels}
            known = {m._meta.label_lower for m in models} | {m._meta.app_label for m in models}
            unknown = sorted(wanted - known)
            if unknown:
                raise CommandError(
                    f"No installed app or model with label {', '.join(map(repr, unknown))}."
                )
            models = [
                model
                for model in models
                if model._meta.label_lower in wanted or model._meta.app_label in wanted
            ]
        routes = sorted((model_route(model) for model in models), key=lambda route: route.label)
        self._print_table(routes)
        if by_alias or not labels:
            self._print_aliases(models)
        self._print_placements()

    def _print_placements(self) -> None:
        from django.db import DatabaseError

        from multidb_routers.conf import conf
        from multidb_routers.sharding.selection import _shard_routers

        for router in _shard_routers():
            if router.directory is None:
                continue
            self.stdout.write("")
            self.stdout.write(
                self.style.MIGRATE_HEADING(
                    f"Placement directory {router.directory!r} (on {conf.PLACEMENT_DATABASE}, "
                    f"read again every {conf.PLACEMENT_TTL:g} s by each process):"
                )
            )
            try:
                entries = router.placements()
            except DatabaseError as exc:
                self.stdout.write(f"  cannot be read: {exc}")
                continue
            if not entries:
                self.stdout.write("  no key placed: hashing decides every shard")
            for key, alias in sorted(entries.items()):
                self.stdout.write(f"  {key} -> {alias}")

    def _print_aliases(self, models: list[Any]) -> None:
        self.stdout.write("")
        self.stdout.write(
            self.style.MIGRATE_HEADING(
                "Tables per alias (models whose migrations create a table there):"
            )
        )
        for holding in alias_holdings(models):
            self.stdout.write(f"  {holding.alias}: {', '.join(holding.models) or '-'}")
            if holding.stray:
                self.stdout.write(
                    "    not routed there (tables nothing reads): " + ", ".join(holding.stray)
                )

    def _print_table(self, routes: list[ModelRoute]) -> None:
        rows = [HEADERS] + [
            (
                route.label,
                route.router,
                route.read,
                route.write,
                ", ".join(route.migrates_on) or "-",
            )
            for route in routes
        ]
        widths = [max(len(row[column]) for row in rows) for column in range(len(HEADERS))]
        for number, row in enumerate(rows):
            line = "  ".join(
                cell.ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip()
            self.stdout.write(self.style.MIGRATE_HEADING(line) if number == 0 else line)
