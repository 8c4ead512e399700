"""Tasks of tests/contrib/test_tasks.py (module level, as the tasks framework requires).

Imported once the test has configured ``TASKS``: a task is checked against its backend
when it is defined.
"""

from __future__ import annotations

from typing import Any

from django.db import router

from multidb_routers.contrib.tasks import KWARG, task
from tests.testapps.replica_app.models import Review


def _read(pk: int | None, **kwargs: Any) -> dict[str, Any]:
    assert KWARG not in kwargs  # the run took the token out
    alias = router.db_for_read(Review)
    found = pk is not None and Review.objects.filter(pk=pk).exists()
    return {"alias": alias, "found": found}


@task(backend="dummy")
def where(pk: int | None = None) -> dict[str, Any]:
    """The alias a read of reviews uses, and whether review ``pk`` is visible."""
    return _read(pk)


@task(backend="dummy", consistency="primary")
def where_primary(pk: int | None = None) -> dict[str, Any]:
    """:func:`where` in ``"primary"`` mode."""
    return _read(pk)


@task(backend="dummy", consistency="delayed")
def where_delayed(pk: int | None = None) -> dict[str, Any]:
    """:func:`where` in ``"delayed"`` mode."""
    return _read(pk)


@task(backend="dummy")
async def where_async(pk: int | None = None) -> str | None:
    """The alias a read of reviews uses, from a coroutine."""
    return router.db_for_read(Review)


@task(backend="immediate")
def where_now(pk: int | None = None) -> dict[str, Any]:
    """:func:`where`, run as soon as it is enqueued."""
    return _read(pk)


@task(backend="dummy")
def counted(pk: int | None = None) -> dict[str, Any] | None:
    """Two reads of review ``pk``, then the run's routing counts (``None`` when off)."""
    from multidb_routers.routes import request_counts

    list(Review.objects.filter(pk=pk))
    Review.objects.filter(pk=pk).exists()
    counts = request_counts()
    return None if counts is None else counts.as_dict()
