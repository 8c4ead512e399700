"""A shard whose primary has a really lagging PostgreSQL standby: sharded writes pin.

The shard ``pg_primary`` has the replica ``pg_standby``, which applies commits 300 ms
late; ``pg_shard_0`` is a second, plain shard. A client creates a review through
``ShardedManager.create()`` and follows the redirect to a page reading it by its key:
the page must find it, read from the primary the write pinned.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pytest
from django.db import connections
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.test import Client
from django.urls import path

from multidb_routers import ShardRouter
from tests.postgres.reviews import PRIMARY, STANDBY, StatementLog
from tests.testapps.shard_app.models import Review

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

SHARD = "pg_shard_0"
TABLE = Review._meta.db_table
NOW = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, databases=[PRIMARY, STANDBY, SHARD]),
    pytest.mark.urls(__name__),
]


def create_review(request: HttpRequest, product_id: int) -> HttpResponse:
    """Create a review of the product through the sharded manager, then redirect."""
    review = Review.objects.create(product_id=product_id, author="web", created=NOW)
    return HttpResponseRedirect(f"/products/{product_id}/reviews/{review.pk}/")


def show_review(request: HttpRequest, product_id: int, pk: int) -> JsonResponse:
    """Whether this request's read of the product's reviews finds the review."""
    return JsonResponse({"found": Review.objects.shard(product_id).filter(pk=pk).exists()})


urlpatterns = [
    path("products/<int:product_id>/reviews/", create_review),
    path("products/<int:product_id>/reviews/<int:pk>/", show_review),
]


@pytest.fixture
def router(settings: Any, pg_wait_for_standby: Callable[[], float]) -> Iterator[ShardRouter]:
    """shard_app.Review over the primary (with its standby) and a plain shard."""
    shard_router = ShardRouter(
        shards=[{"primary": PRIMARY, "replicas": [STANDBY]}, SHARD],
        apps=["shard_app.Review"],
        shard_key={"shard_app.Review": "product_id"},
    )
    settings.DATABASE_ROUTERS = [shard_router]
    settings.MIDDLEWARE = ["multidb_routers.middleware.PinningMiddleware"]
    for alias in (PRIMARY, SHARD):
        connection = connections[alias]
        if TABLE not in connection.introspection.table_names():
            with connection.schema_editor() as editor:
                editor.create_model(Review)
    pg_wait_for_standby()
    yield shard_router
    for alias in (PRIMARY, SHARD):
        with connections[alias].schema_editor() as editor:
            editor.delete_model(Review)


@pytest.fixture
def statements() -> Iterator[StatementLog]:
    """The statements sent to the primary and the standby."""
    log = StatementLog()
    with connections[PRIMARY].execute_wrapper(log), connections[STANDBY].execute_wrapper(log):
        yield log


def _key(router: ShardRouter) -> int:
    return next(k for k in range(100) if router.shard_for(k) == PRIMARY)


def _post_and_follow(product_id: int) -> bool:
    response = Client().post(f"/products/{product_id}/reviews/", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[0][1] == 302
    return bool(response.json()["found"])


def _review_reads(log: StatementLog) -> dict[str, int]:
    reads: dict[str, int] = {}
    for alias, sql in log.statements:
        if sql.lstrip().upper().startswith("SELECT") and TABLE in sql:
            reads[alias] = reads.get(alias, 0) + 1
    return reads


def test_without_a_pin_the_page_after_a_sharded_create_reads_the_stale_standby(
    router: ShardRouter, settings: Any, statements: StatementLog
) -> None:
    settings.MULTIDB_ROUTERS_PIN_SECONDS = 0  # the cookie carries nothing to the next page

    stale = sum(not _post_and_follow(_key(router)) for _ in range(10))

    assert stale >= 5, "the lagging standby should miss most fresh reviews"
    assert _review_reads(statements).get(STANDBY, 0) >= 10


def test_the_page_after_a_sharded_create_reads_the_shard_primary_and_finds_it(
    router: ShardRouter, settings: Any, statements: StatementLog
) -> None:
    settings.MULTIDB_ROUTERS_PIN_SECONDS = 2  # well above the standby's lag

    stale = sum(not _post_and_follow(_key(router)) for _ in range(50))

    assert stale == 0
    assert _review_reads(statements) == {PRIMARY: 50}
