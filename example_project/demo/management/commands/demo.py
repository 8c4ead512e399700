"""``manage.py demo``: set up the settings' pattern, then walk through the site, saying where
each step went."""

from __future__ import annotations

import logging
import time
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
from reviews import catalogue, jobs
from reviews.models import Review

from demo import patterns
from demo.files import checksum
from demo.querylog import QueryLog, describe
from multidb_routers import ReadOnlyDatabaseError, ShardLockError
from multidb_routers.conf import conf
from multidb_routers.models import Placement
from multidb_routers.sharding import across_shards, find_shard_router, use_shard

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.http import HttpResponse


class Command(BaseCommand):
    """Set up the pattern of the settings module, walk through the site, show the rows."""

    help = (
        "Migrate, seed and walk through the site under the settings' pattern (functional, "
        "replica, sharded, tenants or overlay), printing which database alias served each step."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """``--reviews N``."""
        parser.add_argument(
            "--reviews",
            type=int,
            default=None,
            help="How many reviews to seed (default: 10000).",
        )

    def handle(self, *args: Any, reviews: int | None, verbosity: int, **options: Any) -> None:
        """Set up, walk through, report, and time it."""
        started = time.perf_counter()
        self.pattern = patterns.pattern()
        count = patterns.DEFAULT_REVIEWS if reviews is None else reviews
        if count < 1:
            raise CommandError("--reviews must be at least 1.")
        self.verbosity = verbosity
        self.log = QueryLog()
        routers = ", ".join(map(repr, settings.DATABASE_ROUTERS)) or "none"
        self.stdout.write(self.style.SQL_TABLE(f"Pattern: {self.pattern}"))
        self.stdout.write(self.style.MIGRATE_HEADING(f"Routers: {routers}"))
        if self.pattern == "overlay":
            self.overlay_setup(count)
        else:
            self.migrate()
            self.seed(count)
            self.sync_replicas("after seeding")
        self.walk_through()
        getattr(self, f"{self.pattern}_extras", lambda: None)()
        self.where_the_rows_are()
        elapsed = time.perf_counter() - started
        self.stdout.write(self.style.SUCCESS(f"{self.pattern}: done in {elapsed:.1f} s."))

    # Output.

    def step(self, title: str, queries: list[tuple[str, str]], *, tables: bool = True) -> None:
        """Print one step and the aliases its queries ran on (and, with ``-v 2``, the SQL)."""
        self.stdout.write(f"  {title:<30} → {describe(queries, tables=tables)}")
        if self.verbosity > 1:
            for alias, sql in queries:
                self.stdout.write(self.style.HTTP_INFO(f"      [{alias}] {sql[:150]}"))

    def note(self, text: str) -> None:
        """Print an explanation under the steps."""
        self.stdout.write(f"  {'':<30}   {text}")

    def heading(self, text: str) -> None:
        """Print a section heading."""
        self.stdout.write(self.style.MIGRATE_HEADING(text))

    def progress_bar(self, total: int) -> Callable[[int], None] | None:
        """A function drawing a progress bar in place, on a terminal only."""
        if not self.stdout.isatty():
            return None

        def draw(done: int) -> None:
            filled = round(30 * done / total)
            bar = "#" * filled + "-" * (30 - filled)
            self.stdout.write(f"\r  reviews [{bar}] {done:,}/{total:,}", ending="")
            self.stdout.flush()

        return draw

    def end_progress(self, progress: Callable[[int], None] | None) -> None:
        """Erase the progress bar."""
        if progress is not None:
            self.stdout.write("\r\033[K", ending="")

    # Setting up.

    def migrate(self) -> None:
        """Create the tables on every alias, as the routers' ``allow_migrate`` says."""
        self.heading("Migrate")
        with self.log.recording() as queries:
            patterns.migrate()
        self.step("migrate_all", queries, tables=False)

    def seed(self, count: int) -> None:
        """Replace the products and reviews with fresh seed data."""
        from demo.seed import seed_products, seed_reviews

        self.heading("Seed")
        with self.log.recording() as queries:
            products = seed_products()
        self.step(f"{len(products)} products", queries)
        progress = self.progress_bar(count)
        started = time.perf_counter()
        with self.log.recording() as queries:
            seed_reviews(products, count, progress=progress)
        self.end_progress(progress)
        rate = count / max(time.perf_counter() - started, 1e-9)
        self.step(f"{count:,} reviews", queries)
        self.note(f"({rate:,.0f} reviews a second, bulk_create in batches)")

    def sync_replicas(self, when: str) -> None:
        """Copy the primary's SQLite file over the replicas' (primary/replica only)."""
        started = time.perf_counter()
        replicas = patterns.sync_replicas()
        if not replicas:
            return
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"  {'copy primary to replicas':<30} → {', '.join(replicas)} "
            f"({when}, {elapsed * 1000:.0f} ms)"
        )
        self.note(
            "SQLite has no replication: the demo copies the file (backup API). "
            "PostgreSQL streams it (docs/postgresql.rst)."
        )

    def overlay_setup(self, count: int) -> None:
        """Build the production snapshot, hash it, migrate the overlay and empty it."""
        self.heading("Production snapshot")
        progress = self.progress_bar(count)
        with self.log.recording() as queries:
            alias = patterns.build_snapshot(count, progress)
        self.end_progress(progress)
        self.step(f"build {alias} ({count:,} reviews)", queries, tables=False)
        self.note("migrated and seeded as production would be: with no routers, unguarded")
        self.snapshot_alias = alias
        self.snapshot_sum = checksum(alias)
        self.note(f"sha256 {self.snapshot_sum[:16]}…")
        self.migrate()
        with self.log.recording() as queries:
            call_command("overlay_reset", interactive=False, stdout=StringIO())
        self.step("overlay_reset --no-input", queries, tables=False)

    # The walk through.

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
        self.heading("Walk through the site")
        client = Client()
        product = catalogue.products().order_by("pk").first()
        assert product is not None
        self.product = product
        page = reverse("product_detail", args=[product.slug])
        form = reverse("review_create", args=[product.slug])
        self.request("list products", 200, lambda: client.get("/"))
        stats = catalogue.review_stats().values()
        counted = sum(int(row["count"]) for row in stats)
        self.note(f"its stats count {counted:,} reviews of {len(stats)} products")
        self.request("open a product page", 200, lambda: client.get(page))
        self.request("latest reviews", 200, lambda: client.get(reverse("latest_reviews")))
        data = {
            "rating": 5,
            "title": "Routed",
            "body": "Saved where it belongs.",
            "author_name": "Demo",
        }
        response = self.request("add a review", 302, lambda: client.post(form, data))
        self.review_url = response["Location"]
        recount = jobs.wait_for_recount(product.pk)
        if recount is not None:
            self.note(
                f"the view's job (recount the rating, in another thread) read {recount.alias}: "
                f"{recount.reviews} reviews, the new one included"
            )
        self.request("read it back", 200, lambda: client.get(self.review_url))

        admin_user, _ = get_user_model()._default_manager.get_or_create(
            username="demo-admin", defaults={"is_staff": True, "is_superuser": True}
        )
        admin = Client()
        admin.force_login(admin_user)
        changelist = reverse("admin:reviews_review_changelist")
        self.request("admin: list reviews", 200, lambda: admin.get(changelist))
        change = reverse("admin:products_product_change", args=[product.pk])
        self.request("admin: open a product", 200, lambda: admin.get(change))

    # What only one pattern shows.

    def replica_extras(self) -> None:
        """A visitor without the pin reads a stale replica until it is copied again."""
        self.heading("Read-your-writes")
        self.note("'read it back' read the primary: the writer's signed PinningMiddleware")
        self.note(f"cookie ({conf.PIN_COOKIE_NAME}) pins its reads there for a few seconds.")
        self.note("Another visitor reads a replica, stale until the next copy:")
        visitor = Client()
        request_logger = logging.getLogger("django.request")
        level = request_logger.level
        request_logger.setLevel(logging.ERROR)  # the 404 is expected: no "Not Found" line
        try:
            self.request("another visitor: 404 (stale)", 404, lambda: visitor.get(self.review_url))
        finally:
            request_logger.setLevel(level)
        without = jobs.enqueue_recount(self.product.pk, token=False).result(30)
        self.note(
            f"the same job enqueued without the view's token read {without.alias}: "
            f"{without.reviews} reviews (stale)"
        )
        self.sync_replicas("after the write")
        self.request("another visitor: 200", 200, lambda: visitor.get(self.review_url))

    def sharded_extras(self) -> None:
        """Where the product's reviews live."""
        router = find_shard_router(Review)
        assert router is not None
        self.heading("Shards")
        alias = router.shard_for(self.product.pk)
        self.note(f"product {self.product.pk} → {alias} (jump hash of product_id)")
        per_shard: dict[str, int] = {}
        for product in Product.objects.all():
            shard = router.shard_for(product.pk)
            per_shard[shard] = per_shard.get(shard, 0) + 1
        spread = ", ".join(f"{shard}: {per_shard.get(shard, 0)}" for shard in router.shard_aliases)
        self.note(f"products per shard: {spread} (20 keys spread by chance)")
        with self.log.recording() as queries:
            total = across_shards(Review.objects.all()).count()
        self.step(f"count every review: {total:,}", queries, tables=False)

    def tenants_extras(self) -> None:
        """Each shop's requests locked to its shard; a big shop placed on its own database."""
        router = find_shard_router(Review)
        assert router is not None
        self.sharded_extras()
        self.heading("Tenants")
        product = self.product
        alias = router.shard_for(product.pk)
        self.note(f"ShardMiddleware ran each page of {product.slug} in use_shard({product.pk},")
        self.note(f"lock=True): its reviews were read and written on {alias} only.")
        other = next(p for p in Product.objects.all() if router.shard_for(p.pk) != alias)
        with use_shard(product.pk, lock=True):
            for title, attempt in (
                (f"shop {other.pk}'s reviews", lambda: Review.objects.shard(other.pk).count()),
                ("every shop's reviews", lambda: across_shards(Review.objects.all()).count()),
            ):
                try:
                    attempt()
                except ShardLockError:
                    self.note(f"inside that lock, {title} → refused: ShardLockError")
                else:
                    raise CommandError(f"The lock let {title} through.")
        # The seed made a new catalogue: entries of an earlier run name products now gone.
        known = [str(pk) for pk in Product.objects.values_list("pk", flat=True)]
        Placement.objects.using(conf.PLACEMENT_DATABASE).filter(directory=router.directory).exclude(
            key__in=known
        ).delete()
        big, _ = Product.objects.get_or_create(
            slug="big-shop",
            defaults={"name": "Big Shop", "description": "A tenant of its own.", "price": 1},
        )
        with self.log.recording() as queries:
            router.place(big.pk, "reviews_big")
        self.step(f"place shop {big.pk} on reviews_big", queries, tables=False)
        client = Client()
        data = {"rating": 4, "title": "Big", "body": "Placed.", "author_name": "Demo"}
        form = reverse("review_create", args=[big.slug])
        self.request("big shop: add a review", 302, lambda: client.post(form, data))
        page = reverse("product_detail", args=[big.slug])
        self.request("big shop: its page", 200, lambda: client.get(page))
        out = StringIO()
        call_command("routing", "reviews", stdout=out, no_color=True)
        lines = out.getvalue().splitlines()
        start = next(n for n, line in enumerate(lines) if line.startswith("Placement directory"))
        for line in lines[start:]:
            self.stdout.write(f"  {line}")

    def overlay_extras(self) -> None:
        """Edit through the merged view, show the diff, prove the snapshot unchanged."""
        self.heading("Change things through the overlay")
        product = Product.merged.get(pk=self.product.pk)
        product.price += 10
        with self.log.recording() as queries:
            product.save()
        self.step(f"raise the price of {product.slug}", queries)
        doomed = catalogue.product_reviews(product.pk).exclude(title="Routed").first()
        assert doomed is not None
        doomed_pk = doomed.pk
        with self.log.recording() as queries:
            doomed.delete()
        self.step(f"delete review {doomed_pk}", queries)
        with self.log.recording() as queries:
            count = Review.merged.filter(product_id=product.pk).count()
        self.step(f"its reviews now: {count}", queries)
        try:
            Product.objects.using(self.snapshot_alias).filter(pk=product.pk).update(price=0)
        except ReadOnlyDatabaseError:
            self.note(
                f"Product.objects.using({self.snapshot_alias!r}).update() → refused: "
                "ReadOnlyDatabaseError"
            )
        else:
            raise CommandError("A plain write to the snapshot was not refused.")
        try:
            with connections[self.snapshot_alias].cursor() as cursor:
                cursor.execute("DELETE FROM reviews_review")
        except ReadOnlyDatabaseError:
            self.note(f"raw DELETE on {self.snapshot_alias} → refused: ReadOnlyDatabaseError")
        else:
            raise CommandError("A raw write to the snapshot was not refused.")
        self.heading("overlay_diff")
        out = StringIO()
        call_command("overlay_diff", stdout=out)
        for line in out.getvalue().splitlines():
            self.stdout.write(f"  {line[:100]}")
        after = checksum(self.snapshot_alias)
        if after != self.snapshot_sum:
            raise CommandError(f"The snapshot changed: sha256 {self.snapshot_sum} → {after}.")
        self.stdout.write(f"  {self.snapshot_alias} sha256 unchanged: {after[:16]}…")

    def where_the_rows_are(self) -> None:
        """Count the example's rows on every alias that has their tables."""
        self.heading("Where the rows are")
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
            self.stdout.write(f"  {alias:<18} {', '.join(counts) or 'nothing'}{note}")
