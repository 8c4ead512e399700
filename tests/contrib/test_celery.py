"""multidb_routers.contrib.celery with a real Celery worker, a real Redis broker, a real standby.

The worker is another process (``celery worker --pool=solo``) reading the PostgreSQL test
database through its own connections; the standby applies the primary's WAL 300 ms late.
The view under test writes a review and enqueues a job that reads it, as a shop would.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
from django.http import HttpRequest, JsonResponse
from django.test import Client
from django.urls import path

from multidb_routers.replication.state import fresh_state
from tests.contrib.broker import unavailable, worker_failed, worker_process
from tests.postgres.reviews import PRIMARY, STANDBY
from tests.testapps.replica_app.models import Review

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import ModuleType

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.celery,
    pytest.mark.django_db(transaction=True, databases=[PRIMARY, STANDBY]),
    pytest.mark.urls(__name__),
    pytest.mark.usefixtures("pg_review_tables", "lsn_routing"),
]
JOBS = 200


def enqueue(request: HttpRequest, task: str) -> JsonResponse:
    """Write a review, then enqueue ``task`` to read it (the job a shop would enqueue)."""
    from tests.contrib import celery_app

    review = Review.objects.create(title=request.POST.get("title", "job"))
    result = getattr(celery_app, task).delay(review.pk)
    return JsonResponse({"pk": review.pk, "task": result.id})


urlpatterns = [path("reviews/<str:task>/", enqueue)]


@pytest.fixture(scope="module")
def worker(redis_url: str, django_db_setup: None) -> Iterator[ModuleType]:
    """A Celery worker process on its own queue, and the app the test publishes with."""
    try:
        from tests.contrib import celery_app
    except ImportError as exc:
        unavailable(f"celery is not installed: {exc}")
    queue = f"multidb-routers-{uuid.uuid4().hex[:8]}"
    celery_app.app.conf.update(
        broker_url=redis_url, result_backend=redis_url, task_default_queue=queue
    )
    args = ["celery", "-A", "tests.contrib.celery_app", "worker", "--pool=solo"]
    args += ["--loglevel=WARNING", "--without-gossip", "--without-mingle"]
    args += ["--without-heartbeat", "-Q", queue]
    env = {celery_app.QUEUE_ENV: queue}
    try:
        with worker_process(args, "tests.contrib.worker_settings", redis_url, env) as process:
            try:
                assert celery_app.ping.delay().get(timeout=60) == "pong"
            except Exception as exc:
                worker_failed(process, f"the Celery worker did not answer: {exc}")
            yield celery_app
    finally:
        celery_app.app.close()  # after the worker stopped


def _post(task: str) -> tuple[int, str]:
    response = Client().post(f"/reviews/{task}/", {"title": "a review"})
    assert response.status_code == 200
    body = response.json()
    return body["pk"], body["task"]


def test_every_job_enqueued_by_a_view_that_wrote_reads_its_row(
    worker: ModuleType, record_property: Any
) -> None:
    # Half the jobs are awaited one by one, so that each runs within the standby's lag
    # (the worker is idle); the other half are sent in a burst and queue up.
    results = []
    started = time.monotonic()
    for _ in range(JOBS // 2):
        pk, task = _post("read_review")
        results.append((pk, worker.app.AsyncResult(task).get(timeout=60)))
    burst = [_post("read_review") for _ in range(JOBS - JOBS // 2)]
    results += [(pk, worker.app.AsyncResult(task).get(timeout=60)) for pk, task in burst]
    seconds = time.monotonic() - started
    missed = [pk for pk, result in results if not result["found"]]
    aliases = Counter(result["alias"] for _, result in results)
    awaited = Counter(result["alias"] for _, result in results[: JOBS // 2])
    record_property("celery_jobs", {"jobs": JOBS, "missed": len(missed), **aliases})
    print(
        f"\n{JOBS} jobs after a write in {seconds:.1f}s: {len(missed)} missed their row; "
        f"reads: {dict(aliases)} (the {JOBS // 2} awaited one by one: {dict(awaited)})"
    )
    assert missed == []
    assert set(aliases) <= {PRIMARY, STANDBY}
    assert awaited[PRIMARY] > 0  # some jobs did run within the lag, where the token matters


def test_jobs_enqueued_with_no_prior_write_read_the_standby_and_miss_a_fresh_row(
    worker: ModuleType,
) -> None:
    # Another context wrote: the publishing context has no pin, so its jobs carry no
    # token and read the lagging standby. This is what the token prevents.
    with fresh_state():
        pks = [Review.objects.create(title="elsewhere").pk for _ in range(10)]
    with fresh_state():
        results = [worker.read_review.delay(pk) for pk in pks]
    read = [result.get(timeout=60) for result in results]
    assert {result["alias"] for result in read} == {STANDBY}
    assert sum(not result["found"] for result in read) > 0  # the standby lags


def test_a_delayed_job_first_meets_the_lag_then_reads_its_row_on_the_standby(
    worker: ModuleType,
) -> None:
    outcomes = []
    for _ in range(5):
        _, task = _post("read_review_delayed")
        outcomes.append(worker.app.AsyncResult(task).get(timeout=60))
    assert all(outcome["found"] for outcome in outcomes)
    assert {outcome["alias"] for outcome in outcomes} == {STANDBY}
    assert all(outcome["retries"] >= 1 for outcome in outcomes), outcomes


def test_a_primary_mode_job_reads_the_primary_after_the_standby_caught_up(
    worker: ModuleType,
) -> None:
    from multidb_routers.consistency import capture

    with fresh_state():  # a command, say: its write pins its context, not a request
        pk = Review.objects.create(title="from a command").pk
        assert capture() is not None
        primary = worker.read_review_primary.apply_async((pk,), countdown=1)
        sticky = worker.read_review.apply_async((pk,), countdown=1)
    # Run a second later, when the standby has replayed the write (300 ms apply delay).
    assert primary.get(timeout=60) == {"found": True, "alias": PRIMARY, "retries": 0}
    assert sticky.get(timeout=60) == {"found": True, "alias": STANDBY, "retries": 0}
