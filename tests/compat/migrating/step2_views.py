"""docs/migrating.rst, step 2: view code with the native API."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from multidb_routers import use_primary
from tests.testapps.replica_app.models import Review


def star(request: HttpRequest, pk: int) -> HttpResponse:
    """No decorator: the write itself pins this request's reads and the client's next ones."""
    Review.objects.filter(pk=pk).update(stars=5)
    return HttpResponse(Review.objects.get(pk=pk).stars)


def confirm(request: HttpRequest, pk: int) -> HttpResponse:
    """A read that must see the latest write, whatever the request."""
    with use_primary():
        review = Review.objects.get(pk=pk)
    return HttpResponse(review.title)
