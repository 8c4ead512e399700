"""Views and resolvers of the ShardMiddleware tests: a shop's reviews, the shop from the URL."""

from __future__ import annotations

import datetime as dt

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse
from django.urls import path

from multidb_routers.sharding import across_shards
from tests.testapps.shard_app.models import Review

NOW = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)


def shop_from_path(request: HttpRequest) -> object:
    """The resolver: ``/shops/<key>/...`` names the shop; other paths have no shard."""
    parts = request.path.split("/")
    return parts[2] if len(parts) > 2 and parts[1] == "shops" else None


def shop_from_header(request: HttpRequest) -> object:
    """Another resolver: the ``X-Shop`` header."""
    return request.headers.get("X-Shop")


NOT_CALLABLE = 42


def reviews(request: HttpRequest, shop: str) -> JsonResponse:
    """Add a review when POSTed, then list the shop's reviews: no key passed anywhere."""
    if request.method == "POST":
        Review.objects.create(author=request.POST.get("author", "web"), created=NOW)  # type: ignore[misc]
    rows = list(Review.objects.order_by("author").values_list("author", flat=True))
    return JsonResponse({"authors": rows, "read_from": Review.objects.all().db})


def other_shop(request: HttpRequest, shop: str, other: int) -> JsonResponse:
    """Try to read another shop's reviews."""
    return JsonResponse({"count": Review.objects.shard(other).count()})


def every_shop(request: HttpRequest, shop: str) -> JsonResponse:
    """Try to count every shop's reviews."""
    return JsonResponse({"count": across_shards(Review.objects.all()).count()})


async def async_reviews(request: HttpRequest, shop: str) -> JsonResponse:
    """The async view: the shard selection crosses into the ORM's thread."""
    rows = await sync_to_async(lambda: list(Review.objects.values_list("author", flat=True)))()
    db = await sync_to_async(lambda: Review.objects.all().db)()
    return JsonResponse({"authors": rows, "read_from": db})


def no_shop(request: HttpRequest) -> JsonResponse:
    """No shop in the path: a sharded query without a key still raises ShardKeyError."""
    return JsonResponse({"count": Review.objects.count()})


urlpatterns = [
    path("shops/<str:shop>/reviews/", reviews),
    path("shops/<str:shop>/async/", async_reviews),
    path("shops/<str:shop>/other/<int:other>/", other_shop),
    path("shops/<str:shop>/all/", every_shop),
    path("plain/", no_shop),
]
