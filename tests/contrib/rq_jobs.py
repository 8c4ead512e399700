"""Tasks of tests/contrib/test_tasks_rq.py, run by a real RQ worker process."""

from __future__ import annotations

from typing import Any

from django.db import router

from multidb_routers.contrib.tasks import task
from tests.testapps.replica_app.models import Review


@task(backend="rq")
def read_review(pk: int) -> dict[str, Any]:
    """Whether review ``pk`` is visible, and the alias read (mode: sticky)."""
    alias = router.db_for_read(Review)
    return {"found": Review.objects.filter(pk=pk).exists(), "alias": alias}
