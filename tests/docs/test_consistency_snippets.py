"""The snippets of docs/consistency.rst (tests/docs/consistency_snippets.py) do what it says."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connections

from multidb_routers.replication.state import fresh_state
from tests.docs import consistency_snippets as snippets
from tests.testapps.replica_app.models import Review

REPLICAS = ("reviews_replica1", "reviews_replica2")
pytestmark = pytest.mark.django_db(databases=["default", "reviews", *REPLICAS], transaction=True)


@pytest.fixture(autouse=True)
def _empty_queue() -> None:
    snippets.QUEUE.clear()
    snippets.RETRIES.clear()


def _reads(callable_: Any, *args: Any) -> tuple[Any, list[str]]:
    """What ``callable_`` returns and the aliases its queries of reviews used."""
    seen: list[str] = []

    def log(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if Review._meta.db_table in sql:
            seen.append(context["connection"].alias)
        return execute(sql, params, many, context)

    with fresh_state():
        for alias in ("reviews", *REPLICAS):
            connections[alias].execute_wrappers.append(log)
        try:
            return callable_(*args), seen
        finally:
            for alias in ("reviews", *REPLICAS):
                connections[alias].execute_wrappers.remove(log)


def test_the_enqueued_job_carries_a_token_and_runs_on_the_primary_it_wrote() -> None:
    snippets.save_review("docs")
    job = snippets.QUEUE[-1]
    assert isinstance(job["token"], str)
    found, aliases = _reads(snippets.run_job, job)
    assert found is True
    # On the primary: the time window trusts no replica yet (the real lagging standby's
    # case is tests/contrib/test_celery.py).
    assert aliases == ["reviews"]


def test_a_job_without_token_reads_a_replica() -> None:
    with fresh_state():
        snippets.save_review("elsewhere")
    job = {**snippets.QUEUE[-1], "token": None}
    _, aliases = _reads(snippets.run_job, job)
    assert len(aliases) == 1
    assert aliases[0] in REPLICAS


def test_the_delayed_job_asks_for_a_retry_while_no_replica_has_the_write() -> None:
    snippets.save_review("delayed")
    job = snippets.QUEUE[-1]
    result, aliases = _reads(snippets.run_job_later_if_lagging, job)
    assert result is None
    assert aliases == []
    assert snippets.RETRIES[0][0] is job
    assert 0 < snippets.RETRIES[0][1] <= 6


def test_the_decorated_count_reads_the_primary() -> None:
    snippets.save_review("count")
    count, aliases = _reads(snippets.recount, snippets.QUEUE[-1])
    assert count == 1
    assert aliases == ["reviews"]
