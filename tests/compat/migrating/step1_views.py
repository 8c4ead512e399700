"""docs/migrating.rst, step 1: view code keeps django-multidb-router's API, new paths."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from multidb_routers.compat.multidb.pinning import db_write, use_primary_db
from tests.testapps.replica_app.models import Review


@db_write
def star(request: HttpRequest, pk: int) -> HttpResponse:
    """A GET that writes: reads go to default, and the response sets the pin cookie."""
    Review.objects.filter(pk=pk).update(stars=5)
    return HttpResponse(Review.objects.get(pk=pk).stars)


def confirm(request: HttpRequest, pk: int) -> HttpResponse:
    """A read that must see the latest write, whatever the request."""
    with use_primary_db:
        review = Review.objects.get(pk=pk)
    return HttpResponse(review.title)
