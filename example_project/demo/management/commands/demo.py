"""``manage.py demo``: migrate every alias, seed the site, and show where each step went."""

from __future__ import annotations

import re
import time
from contextlib import ExitStack, contextmanager
from io import StringIO
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from django.test import Client
from django.urls import reverse
from products.models import Product
from reviews.models import Review

from demo.seed import seed_products, seed_reviews

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from django.http import HttpResponse

TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE|JOIN)\s+"(\w+)"', re.IGNORECASE)


class QueryLog:
    """The alias and SQL of every query run on any connection while recording."""

    def __init__(self) -> None:
        self.queries: list[tuple[str, str]] = []

    def _wrapper(self, alias: str) -> Callable[..., Any]:
        def record(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
            self.queries.append((alias, sql))
            return execute(sql, *args)

        return record

    @contextmanager
    def recording(self) -> Iterator[list[tuple[str, str]]]:
        """Record the queries run inside the block; yields the list they are added to."""
        self.queries = []
        with ExitStack() as stack:
            for alias in connections:
                stack.enter_context(connections[alias].execute_wrapper(self._wrapper(alias)))
            yield self.queries


def describe(queries: list[tuple[str, str]], *, tables: bool = True) -> str:
    """``default reads products_product · reviews writes reviews_review``, in order of use."""
    by_alias: dict[str, dict[str, dict[str, None]]] = {}
    for alias, sql in queries:
        kind = "reads" if sql.lstrip().upper().startswith("SELECT") else "writes"
        entry = by_alias.setdefault(alias, {"reads": {}, "writes": {}})
        entry[kind].update(dict.fromkeys(TABLE.findall(sql)))
    parts = []
    for alias, entry in by_alias.items():
        words = [f"{kind} {', '.join(names)}" for kind, names in entry.items() if names]
        parts.append(f"{alias} {' and '.join(words)}" if tables and words else alias)
    return " · ".join(parts) or "no query"


class Command(BaseCommand):
    """Migrate every alias, seed products and reviews, then walk through the site."""

    help = (
        "Migrate every database alias, seed 20 products and many reviews, and walk "
        "through the site printing which database alias served each step."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """``--reviews N``."""
        parser.add_argument(
            "--reviews",
            type=int,
            default=10_000,
            help="How many reviews to seed (default: 10000).",
        )

    def handle(self, *args: Any, reviews: int, verbosity: int, **options: Any) -> None:
        """Run the three parts and time them."""
        if reviews < 1:
            raise CommandError("--reviews must be at least 1.")
        started = time.perf_counter()
        self.verbosity = verbosity
        self.log = QueryLog()
        routers = ", ".join(map(repr, settings.DATABASE_ROUTERS)) or "none"
        self.stdout.write(self.style.MIGRATE_HEADING(f"Routers: {routers}"))
        self.migrate()
        self.seed(reviews)
        self.walk_through()
        self.where_the_rows_are()
        elapsed = time.perf_counter() - started
        self.stdout.write(self.style.SUCCESS(f"Done in {elapsed:.1f} s."))

    def step(self, title: str, queries: list[tuple[str, str]], *, tables: bool = True) -> None:
        """Print one step and the aliases its queries ran on (and, with ``-v 2``, the SQL)."""
        self.stdout.write(f"  {title:<22} → {describe(queries, tables=tables)}")
        if self.verbosity > 1:
            for alias, sql in queries:
                self.stdout.write(self.style.HTTP_INFO(f"      [{alias}] {sql[:150]}"))

    def migrate(self) -> None:
        """Create the tables on every alias, as the routers' ``allow_migrate`` says."""
        self.stdout.write(self.style.MIGRATE_HEADING("Migrate"))
        with self.log.recording() as queries:
            call_command("migrate_all", interactive=False, verbosity=0, stdout=StringIO())
        self.step("migrate_all", queries, tables=False)

    def seed(self, count: int) -> None:
        """Replace the products and reviews with fresh seed data."""
        self.stdout.write(self.style.MIGRATE_HEADING("Seed"))
        with self.log.recording() as queries:
            products = seed_products()
        self.step(f"{len(products)} products", queries)
        progress = self.progress_bar(count) if self.stdout.isatty() else None
        started = time.perf_counter()
        with self.log.recording() as queries:
            seed_reviews(products, count, progress=progress)
        if progress is not None:
            self.stdout.write("\r\033[K", ending="")
        rate = count / max(time.perf_counter() - started, 1e-9)
        self.step(f"{count:,} reviews", queries)
        self.stdout.write(f"  {'':<22}   ({rate:,.0f} reviews a second, bulk_create in batches)")

    def progress_bar(self, total: int) -> Callable[[int], None]:
        """A function drawing a progress bar in place, on a terminal."""

        def draw(done: int) -> None:
            filled = round(30 * done / total)
            bar = "#" * filled + "-" * (30 - filled)
            self.stdout.write(f"\r  reviews [{bar}] {done:,}/{total:,}", ending="")
            self.stdout.flush()

        return draw

    def request(self, title: str, expected: int, call: Callable[[], HttpResponse]) -> HttpResponse:
        """Run one request of the walk-through and print the aliases it used.

        The test client runs the real URLs, views, middleware and admin in this process.
        """
        with self.log.recording() as queries:
            response = call()
        if response.status_code != expected:
            raise CommandError(f"{title}: expected HTTP {expected}, got {response.status_code}.")
        self.step(title, queries)
        return response

    def walk_through(self) -> None:
        """Browse the site with a test client, as a visitor and as an administrator."""
        self.stdout.write(self.style.MIGRATE_HEADING("Walk through the site"))
        client = Client()
        product = Product.objects.order_by("pk").first()
        assert product is not None
        page = reverse("product_detail", args=[product.slug])
        form = reverse("review_create", args=[product.slug])
        self.request("list products", 200, lambda: client.get("/"))
        self.request("open a product page", 200, lambda: client.get(page))
        data = {
            "rating": 5,
            "title": "Routed",
            "body": "Saved where it belongs.",
            "author_name": "Demo",
        }
        response = self.request("add a review", 302, lambda: client.post(form, data))
        location = response["Location"]
        self.request("read it back", 200, lambda: client.get(location))

        admin_user, _ = get_user_model()._default_manager.get_or_create(
            username="demo-admin", defaults={"is_staff": True, "is_superuser": True}
        )
        client.force_login(admin_user)
        changelist = reverse("admin:reviews_review_changelist")
        self.request("admin: list reviews", 200, lambda: client.get(changelist))
        change = reverse("admin:products_product_change", args=[product.pk])
        self.request("admin: edit a product", 200, lambda: client.get(change))

    def where_the_rows_are(self) -> None:
        """Count the example's rows on every alias that has their tables."""
        self.stdout.write(self.style.MIGRATE_HEADING("Where the rows are"))
        tables = [Product._meta.db_table, Review._meta.db_table]
        for alias in connections:
            connection = connections[alias]
            present = [table for table in tables if table in connection.introspection.table_names()]
            counts = []
            with connection.cursor() as cursor:
                for table in present:
                    cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
                    counts.append(f"{table}: {cursor.fetchone()[0]:,}")
            absent = [table for table in tables if table not in present]
            note = f" (no {', '.join(absent)} table)" if absent else ""
            self.stdout.write(f"  {alias:<10} {', '.join(counts) or 'nothing'}{note}")
