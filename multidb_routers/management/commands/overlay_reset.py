"""``manage.py overlay_reset``: discard the overlay's changes, back to the plain base."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from multidb_routers.overlay.changes import overlay_models, reset

if TYPE_CHECKING:
    from django.core.management.base import CommandParser


class Command(BaseCommand):
    """Delete the overlay rows and tombstones of the merged and replaced models."""

    help = (
        "Discard the overlay's changes: delete the overlay's rows and tombstones of the "
        "given models (app_label.Model), or of every merged and replaced model. The base "
        "is never touched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Model labels, and ``--no-input``."""
        parser.add_argument("labels", nargs="*", metavar="app_label.Model")
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation.",
        )

    def handle(self, *args: Any, labels: list[str], interactive: bool, **options: Any) -> None:
        """Confirm, then reset each model in one transaction per overlay."""
        known = overlay_models()
        wanted = {label.lower() for label in labels}
        unknown = wanted - {model._meta.label_lower for model, _, _ in known}
        if unknown:
            raise CommandError(
                f"Not a merged or replaced model of an overlay: {', '.join(sorted(unknown))}."
            )
        chosen = [(m, r) for m, r, _ in known if not wanted or m._meta.label_lower in wanted]
        names = ", ".join(model._meta.label for model, _ in chosen)
        if interactive:
            answer = input(
                f"This deletes the overlay's rows and tombstones of {names}. "
                "Type 'yes' to continue, or 'no' to cancel: "
            )
            if answer != "yes":
                self.stdout.write("Reset cancelled.")
                return
        for model, router in chosen:
            with transaction.atomic(using=router.overlay_alias):
                rows, tombstones = reset(model, router)
            self.stdout.write(
                f"Reset {model._meta.label} on {router.overlay_alias}: "
                f"{rows} row{'s' * (rows != 1)}, "
                f"{tombstones} tombstone{'s' * (tombstones != 1)} deleted."
            )
