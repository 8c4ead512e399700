"""Views of the sharded pinning tests: write a review of a product, then read it."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

from tests.testapps.shard_app.models import Review

NOW = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)


def add_review(request: HttpRequest, product_id: int) -> HttpResponse:
    """Create a review of ``product_id`` through the sharded manager."""
    review = Review.objects.create(product_id=product_id, author="web", created=NOW)
    return JsonResponse({"pk": review.pk, "written_to": review._state.db})


def read_reviews(request: HttpRequest, product_id: int) -> JsonResponse:
    """The product's reviews and the alias they were read from."""
    reviews = list(Review.objects.shard(product_id))
    return JsonResponse(
        {"pks": [r.pk for r in reviews], "read_from": Review.objects.shard(product_id).db}
    )


urlpatterns = [
    path("products/<int:product_id>/reviews/add/", add_review),
    path("products/<int:product_id>/reviews/", read_reviews),
]
