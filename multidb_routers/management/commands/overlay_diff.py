"""``manage.py overlay_diff``: what the overlay added, changed and deleted, per merged model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.management.base import BaseCommand, CommandError

from multidb_routers.overlay.changes import changes, overlay_models
from multidb_routers.overlay.router import Kind

if TYPE_CHECKING:
    from django.core.management.base import CommandParser


class Command(BaseCommand):
    """List the primary keys the overlay added, changed and deleted for each merged model."""

    help = (
        "Show what the overlay changed on top of the read-only base: for each model with "
        "the merged manager, the primary keys added, changed and deleted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Optional model labels to limit the report."""
        parser.add_argument("labels", nargs="*", metavar="app_label.Model")

    def handle(self, *args: Any, labels: list[str], **options: Any) -> None:
        """Print one block per model that has changes."""
        merged = [(m, r) for m, r, kind in overlay_models() if kind is Kind.MERGED]
        wanted = {label.lower() for label in labels}
        unknown = wanted - {model._meta.label_lower for model, _ in merged}
        if unknown:
            raise CommandError(
                f"Not a model with the overlay's merged manager: {', '.join(sorted(unknown))}."
            )
        shown = 0
        for model, router in merged:
            if wanted and model._meta.label_lower not in wanted:
                continue
            diff = changes(model, router)
            if not diff:
                continue
            shown += 1
            self.stdout.write(
                f"{model._meta.label}: {len(diff.added)} added, {len(diff.changed)} changed, "
                f"{len(diff.deleted)} deleted"
            )
            for sign, pks in (("+", diff.added), ("~", diff.changed), ("-", diff.deleted)):
                if pks:
                    self.stdout.write(f"  {sign} {', '.join(str(pk) for pk in pks)}")
        if not shown:
            self.stdout.write("No changes in the overlay.")
