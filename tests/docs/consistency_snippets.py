"""The code shown on docs/consistency.rst (literalinclude), run by test_consistency_snippets.py.

A job queue of the simplest kind (a list) stands for any queue: what matters is that the
token travels with the job, as a string.
"""

from __future__ import annotations

from typing import Any

from multidb_routers import ReplicaLagError
from multidb_routers.consistency import capture, restore
from tests.testapps.replica_app.models import Review

QUEUE: list[dict[str, Any]] = []
RETRIES: list[tuple[dict[str, Any], float]] = []


# [enqueue]
def save_review(title: str) -> None:
    """A view or a command: write, then enqueue a job that reads the write."""
    review = Review.objects.create(title=title)
    QUEUE.append({"review": review.pk, "token": capture()})  # None: nothing pinned


# [enqueue-end]


# [run]
def run_job(job: dict[str, Any]) -> bool:
    """The worker: reads inside see at least what the enqueuing context wrote."""
    with restore(job["token"], mode="sticky"):
        return Review.objects.filter(pk=job["review"]).exists()


# [run-end]


# [delayed]
def run_job_later_if_lagging(job: dict[str, Any]) -> bool | None:
    """Rather than load the primary, wait until a replica has the write."""
    try:
        with restore(job["token"], mode="delayed"):
            return Review.objects.filter(pk=job["review"]).exists()
    except ReplicaLagError as lag:
        RETRIES.append((job, lag.retry_after))  # your queue's "retry in N seconds"
        return None


# [delayed-end]


# [decorator]
def recount(job: dict[str, Any]) -> int:
    """restore() decorates sync and async functions too (here, built per job)."""

    @restore(job["token"], mode="primary")
    def count() -> int:
        return Review.objects.count()

    return count()


# [decorator-end]
