"""Where the review pages read from, under the primary/replica settings (``record_routes``).

Run with ``manage.py test reviews.test_routing --settings=example_project.settings.replica``;
under the other patterns the class is skipped (their reviews have no replicas).
"""

from __future__ import annotations

from decimal import Decimal
from unittest import skipUnless

from django.conf import settings
from django.test import TransactionTestCase
from products.models import Product

from multidb_routers.testing import record_routes
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
