"""The catalogue pages: each reads products from ``default`` and reviews from ``reviews``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.paginator import Paginator
from django.db.models import Avg, Count
from django.shortcuts import get_object_or_404, render
from reviews.models import Review

from .models import Product

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

REVIEWS_PER_PAGE = 10


def product_list(request: HttpRequest) -> HttpResponse:
    """Every product with its review count and average rating.

    Two databases, so no join: one query per database, merged here.
    """
    products = list(Product.objects.all())
    stats = {
        row["product_id"]: row
        for row in Review.objects.values("product_id").annotate(
            count=Count("id"), average=Avg("rating")
        )
    }
    rows = [(product, stats.get(product.pk)) for product in products]
    return render(request, "products/product_list.html", {"rows": rows})


def product_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """A product and its reviews, latest first, paginated."""
    product = get_object_or_404(Product, slug=slug)
    reviews = Review.objects.filter(product_id=product.pk).order_by("-created_at", "-pk")
    page = Paginator(reviews, REVIEWS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "products/product_detail.html", {"product": product, "page": page})
