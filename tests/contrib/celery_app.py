"""The Celery app of tests/contrib/test_celery.py: tasks that read a review and say where.

Imported by the test process (to publish) and by the worker process it starts (``celery
-A tests.contrib.celery_app worker``), whose broker and queue come from the environment.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

from multidb_routers.contrib.celery import consistency, install

BROKER_ENV = "MULTIDB_ROUTERS_TEST_BROKER"
QUEUE_ENV = "MULTIDB_ROUTERS_TEST_QUEUE"

app = Celery("multidb_routers_tests")
app.conf.update(
    broker_url=os.environ.get(BROKER_ENV, "redis://127.0.0.1:9/0"),
    result_backend=os.environ.get(BROKER_ENV, "redis://127.0.0.1:9/0"),
    task_default_queue=os.environ.get(QUEUE_ENV, "multidb_routers_tests"),
    broker_connection_retry_on_startup=True,
    result_expires=600,
    worker_hijack_root_logger=False,
)
install(app, retry_countdown=0.1)


def _read(task: Any, pk: int) -> dict[str, Any]:
    from django.db import router

    from tests.testapps.replica_app.models import Review

    alias = router.db_for_read(Review)
    return {
        "found": Review.objects.filter(pk=pk).exists(),
        "alias": alias,
        "retries": task.request.retries,
    }


@app.task(bind=True)
def read_review(self: Any, pk: int) -> dict[str, Any]:
    """Whether review ``pk`` is visible, the alias read, the retries (mode: sticky)."""
    return _read(self, pk)


@app.task(bind=True, consistency="delayed")
def read_review_delayed(self: Any, pk: int) -> dict[str, Any]:
    """:func:`read_review`, restoring its token in ``"delayed"`` mode (a task option)."""
    return _read(self, pk)


@app.task(bind=True)
@consistency("primary")
def read_review_primary(self: Any, pk: int) -> dict[str, Any]:
    """:func:`read_review`, restoring its token in ``"primary"`` mode (the decorator)."""
    return _read(self, pk)


@app.task
def ping() -> str:
    """Whether the worker runs."""
    return "pong"
