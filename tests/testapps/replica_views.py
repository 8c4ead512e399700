"""Views of the primary/replica tests: write a review, then read it, sync and async."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import path

from tests.testapps.replica_app.models import Review

READS = 10


def add_review(request: HttpRequest) -> HttpResponse:
    """Create a review from ``title`` and redirect to its page."""
    review = Review.objects.create(title=request.POST["title"])
    return HttpResponseRedirect(f"{request.path}{review.pk}/")


def review_page(request: HttpRequest, pk: int) -> JsonResponse:
    """The review, read ``READS`` times; ``read_from`` lists the alias of each read."""
    reviews = [Review.objects.get(pk=pk) for _ in range(READS)]
    return JsonResponse(
        {"title": reviews[0].title, "read_from": [review._state.db for review in reviews]}
    )


def rate_review(request: HttpRequest, pk: int) -> JsonResponse:
    """Update the stars, then read the review again in the same request."""
    Review.objects.filter(pk=pk).update(stars=int(request.POST["stars"]))
    review = Review.objects.get(pk=pk)
    return JsonResponse({"stars": review.stars, "read_from": review._state.db})


async def add_review_async(request: HttpRequest) -> HttpResponse:
    """The async ``add_review``."""
    review = await Review.objects.acreate(title=request.POST["title"])
    return HttpResponseRedirect(f"{request.path}{review.pk}/")


async def review_page_async(request: HttpRequest, pk: int) -> JsonResponse:
    """The async ``review_page``."""
    reviews = [await Review.objects.aget(pk=pk) for _ in range(READS)]
    return JsonResponse(
        {"title": reviews[0].title, "read_from": [review._state.db for review in reviews]}
    )


async def rate_review_async(request: HttpRequest, pk: int) -> JsonResponse:
    """The async ``rate_review``."""
    await Review.objects.filter(pk=pk).aupdate(stars=int(request.POST["stars"]))
    review = await Review.objects.aget(pk=pk)
    return JsonResponse({"stars": review.stars, "read_from": review._state.db})


def session_counter(request: HttpRequest) -> JsonResponse:
    """Count this client's requests in its session (saved by SessionMiddleware on the way out)."""
    count = request.session.get("count", 0) + 1
    request.session["count"] = count
    return JsonResponse({"count": count})


async def session_counter_async(request: HttpRequest) -> JsonResponse:
    """The async ``session_counter``."""
    return await sync_to_async(session_counter)(request)


def routing_counts(request: HttpRequest, pk: int) -> JsonResponse:
    """Read the review twice; return this request's routing counts (or null when off)."""
    from multidb_routers.routes import request_counts

    Review.objects.get(pk=pk)
    Review.objects.filter(pk=pk).exists()
    counts = request_counts()
    return JsonResponse(counts.as_dict() if counts is not None else None, safe=False)


urlpatterns = [
    path("sync/reviews/", add_review),
    path("sync/reviews/<int:pk>/", review_page),
    path("sync/reviews/<int:pk>/rate/", rate_review),
    path("async/reviews/", add_review_async),
    path("async/reviews/<int:pk>/", review_page_async),
    path("async/reviews/<int:pk>/rate/", rate_review_async),
    path("sync/session/", session_counter),
    path("async/session/", session_counter_async),
    path("sync/reviews/<int:pk>/counts/", routing_counts),
]
