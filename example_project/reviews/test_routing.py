"""Where the review pages read from, under the primary/replica settings.

``record_routes`` says where each read went; ``lagging_replicas`` makes the replicas miss
the test's writes, so that a page shows a new review only thanks to the client's pin.

Run with ``manage.py test reviews.test_routing --settings=example_project.settings.replica``;
under the other patterns the class is skipped (their reviews have no replicas).
"""

from __future__ import annotations

from decimal import Decimal
from unittest import skipUnless

from django.conf import settings
from django.test import TestCase, TransactionTestCase
from products.models import Product

from multidb_routers.testing import lagging_replicas, record_routes
from reviews.models import Review

REVIEW = {"rating": 4, "title": "Quick", "body": "Boils fast.", "author_name": "Ann"}


# TransactionTestCase: inside TestCase's transaction every read goes to the primary.
@skipUnless(getattr(settings, "EXAMPLE_PATTERN", "") == "replica", "primary/replica settings")
class ProductPageRoutingTests(TransactionTestCase):
    """The product page reads reviews from a replica, unless the client just wrote one."""

    databases = "__all__"

    def setUp(self) -> None:
        Product.objects.create(
            name="Kettle", slug="kettle", description="Boils.", price=Decimal("20.00")
        )

    def test_the_product_page_reads_reviews_from_a_replica(self) -> None:
        with record_routes() as routes:
            response = self.client.get("/products/kettle/")

        assert response.status_code == 200
        routes.assert_reads_from_replica(Review)
        routes.assert_no_primary_reads()

    def test_after_posting_a_review_the_page_reads_it_from_the_primary(self) -> None:
        self.client.post("/products/kettle/review/", REVIEW)

        with record_routes() as routes:
            response = self.client.get("/products/kettle/")

        self.assertContains(response, "Boils fast.")
        routes.assert_reads_from("reviews", Review)
        assert {read.code for read in routes.reads(Review)} == {"pinned"}


# docs/testing.rst literalincludes this class: keep the markers.
# lagging-example-start
@skipUnless(getattr(settings, "EXAMPLE_PATTERN", "") == "replica", "primary/replica settings")
class StaleReplicaTests(TestCase):
    """With replicas that miss the test's writes, only the pin shows a client its review."""

    # SQLite: the replica mirrors stay out of a TestCase's databases (they would find
    # the tables locked by its transaction); lagging_replicas() does not need them.
    databases = {"default", "reviews"}

    def setUp(self) -> None:
        Product.objects.create(
            name="Kettle", slug="kettle", description="Boils.", price=Decimal("20.00")
        )

    @lagging_replicas()
    def test_the_pin_shows_the_client_the_review_it_just_posted(self) -> None:
        self.client.post("/products/kettle/review/", REVIEW)

        response = self.client.get("/products/kettle/")

        self.assertContains(response, "Boils fast.")

    @lagging_replicas()
    def test_without_the_pin_the_review_is_missing_from_the_page(self) -> None:
        pinning = "multidb_routers.middleware.PinningMiddleware"
        with self.modify_settings(MIDDLEWARE={"remove": pinning}):
            self.client.post("/products/kettle/review/", REVIEW)

            response = self.client.get("/products/kettle/")

        self.assertNotContains(response, "Boils fast.")
        assert Review.objects.using("reviews").filter(title="Quick").exists()


# lagging-example-end
