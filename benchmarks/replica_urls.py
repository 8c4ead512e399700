"""The page ``bench_replica``'s rows through Django's handler request (``ROOT_URLCONF``).

A POST creates an item; a GET reads one, as ``bench_replica.page_for``'s page does.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from benchmarks.item import Item
from benchmarks.replica_site import read

#: The alias the last GET read from (``bench_replica`` checks where reads went).
last_read: list[str] = []


def page(request: HttpRequest) -> HttpResponse:
    """Create an item (POST) or read one (GET)."""
    if request.method == "POST":
        Item.objects.create(name="new")
        return HttpResponse("created")
    item = read()
    assert item is not None
    last_read[:] = [item._state.db or "?"]
    return HttpResponse(item.name)


urlpatterns = [path("page/", page)]
