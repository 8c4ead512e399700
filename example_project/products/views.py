"""The catalogue pages: products from their database, reviews from theirs.

What differs between the patterns (one shard, a fan-out, the overlay's merged view)
is decided in :mod:`reviews.catalogue`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render
from reviews import catalogue

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

REVIEWS_PER_PAGE = 10


def product_list(request: HttpRequest) -> HttpResponse:
    """Every product with its review count and average rating.

    Products and reviews are on different databases, so no join: the review stats are
    grouped on the reviews' side and merged here by product id.
    """
    stats = catalogue.review_stats()
    rows = [(product, stats.get(product.pk)) for product in catalogue.products()]
    return render(request, "products/product_list.html", {"rows": rows})


def product_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """A product and its reviews, latest first, paginated (one shard when sharded)."""
    product = get_object_or_404(catalogue.products(), slug=slug)
    reviews = catalogue.product_reviews(product.pk)
    page = Paginator(reviews, REVIEWS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "products/product_detail.html", {"product": product, "page": page})
