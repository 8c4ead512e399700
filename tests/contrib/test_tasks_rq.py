"""multidb_routers.contrib.tasks with a real backend: django-tasks-rq, an RQ worker process.

The worker reads the PostgreSQL test database through its own connections, the standby
applying the primary's WAL 300 ms late; Redis is the session's (tests/contrib/broker.py).
Skipped where django-tasks-rq does not install (it needs the django-tasks backport).
"""

from __future__ import annotations

import importlib
import sys
import time
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
    import subprocess
    from collections.abc import Iterator
    from types import ModuleType

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.celery,
    pytest.mark.django_db(transaction=True, databases=[PRIMARY, STANDBY]),
    pytest.mark.urls(__name__),
    pytest.mark.usefixtures("pg_review_tables", "rq_settings"),
]
JOBS = 50


def enqueue(request: HttpRequest) -> JsonResponse:
    """Write a review, then enqueue a task that reads it."""
    from tests.contrib import rq_jobs

    review = Review.objects.create(title="a review")
    return JsonResponse({"pk": review.pk, "id": rq_jobs.read_review.enqueue(review.pk).id})


urlpatterns = [path("reviews/", enqueue)]


@pytest.fixture(scope="module")
def rq_worker(redis_url: str, django_db_setup: None) -> Iterator[str]:
    """An RQ worker process (django-rq's ``rqworker``) running the tasks backend's jobs."""
    for module in ("django_tasks", "django_tasks_rq", "django_rq"):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            unavailable(f"{module} is not installed: {exc}")
    args = ["django", "rqworker", "default", "--job-class", "django_tasks_rq.backend.Job"]
    args += ["--worker-class", "rq.worker.SimpleWorker"]
    with worker_process(args, "tests.contrib.rq_worker_settings", redis_url) as process:
        _wait_until_listening(process, redis_url)
        yield redis_url


def _wait_until_listening(process: subprocess.Popen[bytes], redis_url: str) -> None:
    from redis import Redis
    from rq import Worker

    connection = Redis.from_url(redis_url)
    deadline = time.monotonic() + 60
    while not Worker.all(connection=connection):
        if process.poll() is not None or time.monotonic() > deadline:
            worker_failed(process, "the RQ worker did not start:")
        time.sleep(0.1)


@pytest.fixture
def rq_settings(settings: Any, rq_worker: str, lsn_routing: None) -> ModuleType:
    """The test process enqueues on the worker's queue and routes like it."""
    settings.RQ_QUEUES = {"default": {"URL": rq_worker}}
    settings.TASKS = {"rq": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    sys.modules.pop("tests.contrib.rq_jobs", None)
    return importlib.import_module("tests.contrib.rq_jobs")


def _outcome(task: Any, result_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        result = task.get_result(result_id)
        if result.is_finished:
            assert result.status == "SUCCESSFUL", result.errors
            return result.return_value  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise AssertionError(f"task {result_id} did not finish in {timeout}s")
        time.sleep(0.01)


def test_every_task_enqueued_by_a_view_that_wrote_reads_its_row(rq_settings: ModuleType) -> None:
    outcomes = []
    for _ in range(JOBS):  # one by one: each runs within the standby's lag
        body = Client().post("/reviews/").json()
        outcomes.append(_outcome(rq_settings.read_review, body["id"]))
    aliases = Counter(outcome["alias"] for outcome in outcomes)
    print(f"\n{JOBS} RQ tasks after a write: reads {dict(aliases)}")
    assert all(outcome["found"] for outcome in outcomes)
    assert aliases[PRIMARY] > 0


def test_tasks_enqueued_with_no_pin_read_the_standby(rq_settings: ModuleType) -> None:
    with fresh_state():
        pks = [Review.objects.create(title="elsewhere").pk for _ in range(5)]
    with fresh_state():
        ids = [rq_settings.read_review.enqueue(pk).id for pk in pks]
    outcomes = [_outcome(rq_settings.read_review, result_id) for result_id in ids]
    assert {outcome["alias"] for outcome in outcomes} == {STANDBY}
    assert not all(outcome["found"] for outcome in outcomes)  # the standby lags
