"""``manage.py seed``: migrate and fill the databases of the pattern (``make serve``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.management.base import BaseCommand, CommandError

from demo import patterns

if TYPE_CHECKING:
    from django.core.management.base import CommandParser


class Command(BaseCommand):
    """Migrate every alias and seed products and reviews, unless ``--if-empty`` finds data."""

    help = (
        "Migrate every alias and seed 20 products and reviews for the settings' pattern "
        "(building the snapshot under the overlay, copying the primary to the replicas "
        "under primary/replica)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """``--reviews N`` and ``--if-empty``."""
        parser.add_argument("--reviews", type=int, default=None, help="How many reviews.")
        parser.add_argument(
            "--if-empty", action="store_true", help="Only migrate when there are products."
        )

    def handle(self, *args: Any, reviews: int | None, if_empty: bool, **options: Any) -> None:
        """Seed, or only migrate with ``--if-empty`` when the site has data."""
        pattern = patterns.pattern()
        count = patterns.DEFAULT_REVIEWS if reviews is None else reviews
        if count < 1:
            raise CommandError("--reviews must be at least 1.")
        if if_empty and patterns.has_data():
            patterns.migrate()
            self.stdout.write(f"{pattern}: data already there, migrated only.")
            return
        patterns.seed(count)
        self.stdout.write(f"{pattern}: seeded 20 products and {count:,} reviews.")
