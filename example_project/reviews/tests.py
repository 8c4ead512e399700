"""Tests of the review pages, run by ``manage.py test`` under the example's settings."""

from __future__ import annotations

from decimal import Decimal

from django.db import connections
from django.test import TestCase
from products.models import Product

from reviews.models import Review


class ReviewPagesTests(TestCase):
    """Adding a review writes it to ``reviews``; its page reads it back from there."""

    databases = {"default", "reviews"}

    @classmethod
    def setUpTestData(cls) -> None:
        cls.product = Product.objects.create(
            name="Kettle", slug="kettle", description="Boils.", price=Decimal("20.00")
        )

    def test_posted_review_is_saved_on_reviews_and_shown_on_its_page(self) -> None:
        data = {"rating": 4, "title": "Quick", "body": "Boils fast.", "author_name": "Ann"}

        response = self.client.post("/products/kettle/review/", data, follow=True)

        review = Review.objects.using("reviews").get()
        assert response.redirect_chain == [(f"/products/kettle/reviews/{review.pk}/", 302)]
        assert (review.product_id, review.title) == (self.product.pk, "Quick")
        self.assertContains(response, "Boils fast.")
        self.assertContains(response, "Kettle")
        assert "reviews_review" not in connections["default"].introspection.table_names()

    def test_review_page_is_found_only_under_its_product(self) -> None:
        Product.objects.create(name="Lamp", slug="lamp", description="Shines.", price=1)
        review = Review.objects.create(
            product_id=self.product.pk, rating=3, title="Fine", body="Ok.", author_name="Bo"
        )

        assert self.client.get(f"/products/kettle/reviews/{review.pk}/").status_code == 200
        assert self.client.get(f"/products/lamp/reviews/{review.pk}/").status_code == 404

    def test_latest_reviews_lists_every_products_reviews_latest_first(self) -> None:
        older = Review.objects.create(
            product_id=self.product.pk, rating=2, title="Older", body=".", author_name="A"
        )
        newer = Review.objects.create(
            product_id=self.product.pk, rating=5, title="Newer", body=".", author_name="B"
        )

        response = self.client.get("/reviews/latest/")

        assert [review for review, _ in response.context["rows"]] == [newer, older]
        self.assertContains(response, f"/products/kettle/reviews/{newer.pk}/")

    def test_invalid_review_shows_the_form_again(self) -> None:
        data = {"rating": 9, "title": "", "body": "?", "author_name": "Ann"}

        response = self.client.post("/products/kettle/review/", data)

        assert response.status_code == 200
        assert set(response.context["form"].errors) == {"rating", "title"}
        assert not Review.objects.exists()
