"""Background jobs of the review site: recount a product's rating after a review.

The queue is a worker thread of this process, so that the example runs with no broker;
the job runs in a context of its own, as in a Celery or ``django.tasks`` worker, so it
sees none of the request's pins. The view hands it a consistency token
(:func:`~multidb_routers.consistency.capture`), and the job restores it
(:func:`~multidb_routers.consistency.restore`): it counts the review just saved even
where the replicas have not caught up (docs/consistency.rst). With Celery,
``multidb_routers.contrib.celery.install(app)`` does both for every task.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from django.db import connections

from multidb_routers.consistency import capture, restore

from . import catalogue

_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recount-rating")
_pending: dict[int, Future[Recount]] = {}


@dataclass(frozen=True)
class Recount:
    """A product's rating as one job counted it, and the database alias it read."""

    product_id: int
    reviews: int
    average: float | None
    alias: str


def recount_rating(product_id: int) -> Recount:
    """Count a product's reviews and their average rating (the job's work)."""
    reviews = catalogue.product_reviews(product_id)
    alias = str(getattr(reviews, "db", "the overlay's merged view"))
    ratings = [review.rating for review in reviews]
    average = sum(ratings) / len(ratings) if ratings else None
    return Recount(product_id, len(ratings), average, alias)


def _run(token: str | None, product_id: int) -> Recount:
    try:
        with restore(token, mode="sticky"):
            return recount_rating(product_id)
    finally:
        connections.close_all()  # this thread's own connections


def enqueue_recount(product_id: int, *, token: str | bool | None = True) -> Future[Recount]:
    """Queue :func:`recount_rating` with the current context's token.

    ``token=False`` sends none (to show what a job without it reads).
    """
    handed = capture() if token is True else (token or None)
    future = _worker.submit(_run, handed, product_id)
    _pending[product_id] = future
    return future


def wait_for_recount(product_id: int, timeout: float = 30.0) -> Recount | None:
    """The result of the last recount queued for ``product_id`` (for the demo and tests)."""
    future = _pending.get(product_id)
    return None if future is None else future.result(timeout)
