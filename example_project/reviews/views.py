"""Writing and reading reviews."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from . import catalogue, jobs
from .forms import ReviewForm
from .models import Review

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

LATEST = 20


@require_http_methods(["GET", "POST"])
def review_create(request: HttpRequest, slug: str) -> HttpResponse:
    """The add-review form; a valid POST saves the review and redirects to its page.

    Saving enqueues the job that recounts the product's rating (reviews/jobs.py).
    """
    product = get_object_or_404(catalogue.products(), slug=slug)
    review = Review(product_id=product.pk)
    form = ReviewForm(request.POST or None, instance=review)
    if request.method == "POST" and form.is_valid():
        form.save()
        # Once the review is committed: the job must read it, whichever database it reads.
        transaction.on_commit(lambda: jobs.enqueue_recount(product.pk))
        return redirect("review_detail", product.slug, review.pk)
    return render(request, "reviews/review_form.html", {"product": product, "form": form})


def review_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """One review, found among its product's reviews (on its shard when sharded)."""
    product = get_object_or_404(catalogue.products(), slug=slug)
    try:
        review = catalogue.product_reviews(product.pk).get(pk=pk)
    except Review.DoesNotExist:
        raise Http404("No such review of this product.") from None
    return render(request, "reviews/review_detail.html", {"review": review, "product": product})


def latest_reviews(request: HttpRequest) -> HttpResponse:
    """The latest reviews of every product (a fan-out over every shard when sharded)."""
    reviews = catalogue.latest_reviews(LATEST)
    by_id = {
        product.pk: product
        for product in catalogue.products().filter(pk__in={review.product_id for review in reviews})
    }
    rows = [(review, by_id.get(review.product_id)) for review in reviews]
    return render(request, "reviews/latest.html", {"rows": rows})
