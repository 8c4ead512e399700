"""Writing and reading one review."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods
from products.models import Product

from .forms import ReviewForm
from .models import Review

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse


@require_http_methods(["GET", "POST"])
def review_create(request: HttpRequest, slug: str) -> HttpResponse:
    """The add-review form; a valid POST saves the review and redirects to its page."""
    product = get_object_or_404(Product, slug=slug)
    form = ReviewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        review = form.save(commit=False)
        review.product_id = product.pk
        review.save()
        return redirect(review)
    return render(request, "reviews/review_form.html", {"product": product, "form": form})


def review_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One review, with the product it is about."""
    review = get_object_or_404(Review, pk=pk)
    return render(
        request, "reviews/review_detail.html", {"review": review, "product": review.product}
    )
