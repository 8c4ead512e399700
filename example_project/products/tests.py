"""Tests of the catalogue pages, run by ``manage.py test`` under the example's settings."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.test import TestCase
from django.utils import timezone
from reviews.models import Review

from products.models import Product


class ProductPagesTests(TestCase):
    """The product list and the product page read products and reviews from their aliases."""

    databases = {"default", "reviews"}

    @classmethod
    def setUpTestData(cls) -> None:
        cls.kettle = Product.objects.create(
            name="Kettle", slug="kettle", description="Boils.", price=Decimal("20.00")
        )
        cls.lamp = Product.objects.create(
            name="Lamp", slug="lamp", description="Shines.", price=Decimal("30.00")
        )

    def add_reviews(self, product: Product, ratings: list[int]) -> list[Review]:
        now = timezone.now()
        return [
            Review.objects.create(
                product_id=product.pk,
                rating=rating,
                title=f"Review {index}",
                body="Text.",
                author_name="Ann",
                created_at=now - timedelta(days=index),
            )
            for index, rating in enumerate(ratings)
        ]

    def test_list_shows_each_products_review_count_and_average(self) -> None:
        self.add_reviews(self.kettle, [5, 4])

        response = self.client.get("/")

        stats = {product.name: row for product, row in response.context["rows"]}
        assert stats["Kettle"]["count"] == 2
        assert stats["Kettle"]["average"] == 4.5
        assert stats["Lamp"] is None

    def test_product_page_paginates_its_reviews_latest_first(self) -> None:
        reviews = self.add_reviews(self.kettle, [3] * 12)
        self.add_reviews(self.lamp, [1])

        first = self.client.get("/products/kettle/")
        second = self.client.get("/products/kettle/?page=2")

        assert list(first.context["page"]) == reviews[:10]
        assert list(second.context["page"]) == reviews[10:]

    def test_unknown_product_is_404(self) -> None:
        assert self.client.get("/products/nothing/").status_code == 404
