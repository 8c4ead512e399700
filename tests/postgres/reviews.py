"""The review site, tables and statement log shared by the PostgreSQL replication tests.

``replica_app`` is routed to SQLite aliases in the settings; these tests route it to the
real primary and its lagging standby instead. A pytest plugin (``tests/conftest.py``):
its fixtures are ``pg_review_tables`` and ``statements``.
"""

from __future__ import annotations

import re
from collections import Counter
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import pytest
from django.db import connections
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import path

from tests.testapps.replica_app.models import Comment, Review

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

PRIMARY, STANDBY = "pg_primary", "pg_standby"
TABLE = Review._meta.db_table
WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|TRUNCATE|CREATE|ALTER|DROP)\b", re.IGNORECASE)


def create_review(request: HttpRequest) -> HttpResponse:
    """Create a review and redirect to its page, as a form view does."""
    review = Review.objects.create(title=request.POST["title"])
    return HttpResponseRedirect(f"/reviews/{review.pk}/")


def show_review(request: HttpRequest, pk: int) -> JsonResponse:
    """Whether the review is visible to this request's read."""
    return JsonResponse({"found": Review.objects.filter(pk=pk).exists()})


urlpatterns = [path("reviews/", create_review), path("reviews/<int:pk>/", show_review)]


class StatementLog:
    """Every SQL statement sent (or attempted) on the primary and the standby, per alias."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, str]] = []

    def __call__(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        self.statements.append((context["connection"].alias, sql))
        return execute(sql, params, many, context)

    def review_read_aliases(self) -> list[str]:
        """The alias of every SELECT of the review table, in order."""
        return [
            alias
            for alias, sql in self.statements
            if sql.lstrip().upper().startswith("SELECT") and TABLE in sql
        ]

    def review_reads(self) -> Counter[str]:
        """SELECTs of the review table, per alias."""
        return Counter(self.review_read_aliases())

    def writes(self, alias: str) -> list[str]:
        """Statements that would change ``alias``."""
        return [sql for seen, sql in self.statements if seen == alias and WRITE.match(sql)]

    def clear(self) -> None:
        """Forget what was recorded so far."""
        self.statements.clear()


@pytest.fixture
def pg_review_tables(pg_wait_for_standby: Callable[[], float]) -> None:
    """replica_app's tables on the PostgreSQL primary, replicated to the standby."""
    connection = connections[PRIMARY]
    existing = set(connection.introspection.table_names())
    with connection.schema_editor() as editor:
        for model in (Review, Comment):  # deleting a review cascades to its comments
            if model._meta.db_table not in existing:
                editor.create_model(model)
    pg_wait_for_standby()


@pytest.fixture
def statements() -> Iterator[StatementLog]:
    """Record the statements of both aliases."""
    log = StatementLog()
    with ExitStack() as stack:
        for alias in (PRIMARY, STANDBY):
            stack.enter_context(connections[alias].execute_wrapper(log))
        yield log
