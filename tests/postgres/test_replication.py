"""PrimaryReplicaRouter and PinningMiddleware against a really lagging PostgreSQL standby.

The standby applies commits ``recovery_min_apply_delay`` (300 ms) late, so a read right
after a write misses the row unless the reader is pinned to the primary. Requests go
through the Django test client and this module's own views; every statement is recorded
per alias with ``connection.execute_wrapper``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest
from django.db import (
    ProgrammingError,
    close_old_connections,
    connections,
    router,
)
from django.http import HttpRequest, JsonResponse
from django.test import Client
from django.urls import path

from multidb_routers import PrimaryReplicaRouter
from tests.postgres import reviews as pg_reviews
from tests.postgres.reviews import PRIMARY, STANDBY, StatementLog
from tests.testapps.replica_app.models import Review

if TYPE_CHECKING:
    from collections import Counter
    from collections.abc import Callable, Iterator

    from tests.postgres.cluster import PgCluster

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, databases=[PRIMARY, STANDBY]),
    pytest.mark.urls(__name__),
    # Each test three ways: directly, through PgBouncer, through Django's pool (plugin.py).
    pytest.mark.usefixtures("pg_path", "pg_review_tables"),
]


# -- views and URLs of this module ------------------------------------------------------------


def rate_review(request: HttpRequest, pk: int) -> JsonResponse:
    """Every kind of write of a view, then the stars read back in the same request."""
    Review.objects.filter(pk=pk).update(stars=int(request.POST["stars"]))
    review = Review.objects.get(pk=pk)
    review.title = f"{review.title}!"
    review.save()
    Review.objects.get_or_create(title=f"copy of {pk}")
    Review.objects.filter(title=f"copy of {pk}").delete()
    return JsonResponse({"stars": Review.objects.get(pk=pk).stars})


urlpatterns = [*pg_reviews.urlpatterns, path("reviews/<int:pk>/rate/", rate_review)]


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def use_router(settings: Any) -> Callable[..., PrimaryReplicaRouter]:
    """Route replica_app with a fresh PrimaryReplicaRouter(pg_primary -> pg_standby)."""

    def install(**options: Any) -> PrimaryReplicaRouter:
        replica_router = PrimaryReplicaRouter(
            primary=PRIMARY, replicas=[STANDBY], apps=["replica_app"], **options
        )
        settings.DATABASE_ROUTERS = [replica_router]
        settings.MIDDLEWARE = ["multidb_routers.middleware.PinningMiddleware"]
        return replica_router

    return install


@pytest.fixture
def standby_back(pg_cluster: PgCluster) -> Iterator[PgCluster]:
    """The cluster, with the standby running again after the test whatever happened."""
    yield pg_cluster
    close_old_connections()
    connections[STANDBY].close()
    pg_cluster.start_server("standby")


def _existing_review(wait: Callable[[], float]) -> Review:
    review = Review.objects.using(PRIMARY).create(title="old news")
    wait()
    return review


def _post_and_follow(title: str) -> bool:
    """A new client writes a review, follows the redirect and says if it saw the review."""
    response = Client().post("/reviews/", {"title": title}, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[0][1] == 302
    return bool(response.json()["found"])


def persistent_connections(monkeypatch: pytest.MonkeyPatch, *, health_checks: bool) -> None:
    """Give the primary and standby persistent connections (CONN_MAX_AGE = 60).

    Connections opened by earlier tests are closed first: Django computes when to close a
    connection when it opens it, from the CONN_MAX_AGE in force then.
    """
    for alias in (PRIMARY, STANDBY):
        connections[alias].close()
        monkeypatch.setitem(connections[alias].settings_dict, "CONN_MAX_AGE", 60)
        monkeypatch.setitem(connections[alias].settings_dict, "CONN_HEALTH_CHECKS", health_checks)


def _read_through_a_persistent_standby(
    monkeypatch: pytest.MonkeyPatch,
    use_router: Callable[..., PrimaryReplicaRouter],
    wait: Callable[[], float],
    *,
    health_checks: bool,
) -> Review:
    """A review read through the standby once, whose connection stays open after the request."""
    persistent_connections(monkeypatch, health_checks=health_checks)
    use_router(recheck_seconds=0.2)
    review = _existing_review(wait)
    assert Client().get(f"/reviews/{review.pk}/").json() == {"found": True}
    close_old_connections()  # request_finished: the standby connection stays open
    assert connections[STANDBY].connection is not None
    return review


# -- tests ------------------------------------------------------------------------------------


def test_without_pinning_the_page_after_a_write_reads_a_stale_standby(
    use_router: Callable[..., PrimaryReplicaRouter], statements: StatementLog
) -> None:
    use_router(pin_seconds=0)  # nothing carries the write to the next request

    stale = sum(not _post_and_follow(f"unpinned {loop}") for loop in range(10))

    print(f"without pinning: {stale}/10 pages after a write missed the review")
    assert stale >= 5, "the lagging standby should miss most fresh reviews"
    assert statements.review_reads()[STANDBY] >= 10


def test_with_pinning_no_read_after_a_write_is_stale_in_200_loops(
    use_router: Callable[..., PrimaryReplicaRouter], statements: StatementLog
) -> None:
    use_router(pin_seconds=2)  # well above the standby's lag

    stale = sum(not _post_and_follow(f"pinned {loop}") for loop in range(200))

    reads = statements.review_reads()
    print(f"with pinning: {stale}/200 stale, review reads per alias {dict(reads)}")
    assert stale == 0
    assert reads == {PRIMARY: 200}


def test_reads_that_follow_no_write_are_served_by_the_standby(
    use_router: Callable[..., PrimaryReplicaRouter],
    statements: StatementLog,
    pg_wait_for_standby: Callable[[], float],
) -> None:
    use_router(pin_seconds=2)
    review = _existing_review(pg_wait_for_standby)
    statements.clear()

    for _ in range(20):
        assert Client().get(f"/reviews/{review.pk}/").json() == {"found": True}

    assert statements.review_reads() == {STANDBY: 20}


def test_reads_fall_back_to_the_primary_while_the_standby_is_down_and_come_back(
    pg_path: str,
    use_router: Callable[..., PrimaryReplicaRouter],
    statements: StatementLog,
    pg_wait_for_standby: Callable[[], float],
    standby_back: PgCluster,
) -> None:
    use_router(pin_seconds=2, recheck_seconds=0.2)
    review = _existing_review(pg_wait_for_standby)

    def run(requests: int, phase: str) -> Counter[str]:
        """Reads by a reader and writes by a writer, as a WSGI server would serve them."""
        statements.clear()
        for number in range(requests):
            assert Client().get(f"/reviews/{review.pk}/").json() == {"found": True}
            close_old_connections()  # request_finished: CONN_MAX_AGE = 0 closes them
            assert _post_and_follow(f"{phase} {number}")
            close_old_connections()
        return statements.review_reads()

    before = run(5, "before")
    standby_back.stop_server("standby")
    during = run(10, "during")
    standby_back.start_server("standby")
    deadline = time.monotonic() + 10
    after = run(1, "after")
    while not after[STANDBY]:
        assert time.monotonic() < deadline, "reads never went back to the restarted standby"
        time.sleep(0.05)
        after = run(1, "after")

    print(f"review reads per alias: before {before}, during {during}, after {after}")
    # The reader's reads are the standby's, the writer's pinned ones the primary's...
    assert before == {STANDBY: 5, PRIMARY: 5}
    # ...every request succeeded while it was down, all read from the primary (behind
    # PgBouncer, connecting succeeds while the server is down: the first read finds it
    # down by its query, which runs again on the primary, and the rechecks that follow
    # re-admit the standby only once it answers a query)...
    assert during == ({PRIMARY: 20, STANDBY: 1} if pg_path == "pgbouncer" else {PRIMARY: 20})
    # ...and once it is back, the reader's reads return to it.
    assert after == {STANDBY: 1, PRIMARY: 1}


def test_a_standby_found_down_comes_back_only_once_it_answers_a_query(
    pg_path: str,
    use_router: Callable[..., PrimaryReplicaRouter],
    statements: StatementLog,
    pg_wait_for_standby: Callable[[], float],
    standby_back: PgCluster,
) -> None:
    # Behind PgBouncer connecting to a stopped server succeeds: a recheck that only
    # connected re-admitted the standby every recheck_seconds, and each read sent to it
    # failed first (run again on the primary).
    if pg_path == "django_pool":
        pytest.skip("Django's pool fails to connect as a direct connection does (tested above)")
    replica_router = use_router(recheck_seconds=0.02)
    review = _existing_review(pg_wait_for_standby)
    standby_back.stop_server("standby")
    statements.clear()

    started = time.monotonic()
    for _ in range(20):
        assert Client().get(f"/reviews/{review.pk}/").json() == {"found": True}
        close_old_connections()
        time.sleep(0.03)  # longer than a recheck: each read may recheck the standby
    print(f"20 reads in {time.monotonic() - started:.2f} s: {statements.review_reads()}")

    assert statements.review_reads()[STANDBY] <= 1
    assert statements.review_reads()[PRIMARY] == 20
    assert replica_router.replica_set.down_replicas() == {STANDBY}


def test_writes_never_reach_the_standby(
    use_router: Callable[..., PrimaryReplicaRouter], statements: StatementLog
) -> None:
    replica_router = use_router(pin_seconds=2)
    asked: list[str | None] = []
    original = replica_router.db_for_write

    def spy(model: Any, **hints: Any) -> str | None:
        asked.append(alias := original(model, **hints))
        return alias

    replica_router.db_for_write = spy  # type: ignore[method-assign]

    # In requests (a create, then an update, save, get_or_create and delete)...
    response = Client().post("/reviews/", {"title": "written"}, follow=True)
    pk = int(response.redirect_chain[0][0].rstrip("/").rsplit("/", 1)[1])
    assert Client().post(f"/reviews/{pk}/rate/", {"stars": 3}).json() == {"stars": 3}
    # ...and outside a request, in bulk too.
    Review.objects.bulk_create([Review(title="bulk 1"), Review(title="bulk 2")])
    Review.objects.update_or_create(title="bulk 1", defaults={"stars": 1})
    Review.objects.filter(title__startswith="bulk").delete()

    assert asked
    assert set(asked) == {PRIMARY}
    assert router.allow_migrate(STANDBY, "replica_app", model_name="review") is False
    assert statements.writes(PRIMARY)
    assert statements.writes(STANDBY) == []


@pytest.mark.usefixtures("pg_persistent_connections")
def test_a_read_falls_back_when_the_open_standby_connection_died(
    use_router: Callable[..., PrimaryReplicaRouter],
    statements: StatementLog,
    pg_wait_for_standby: Callable[[], float],
    standby_back: PgCluster,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Persistent connections with health checks, as Django recommends for them.
    review = _read_through_a_persistent_standby(
        monkeypatch, use_router, pg_wait_for_standby, health_checks=True
    )

    standby_back.stop_server("standby")
    close_old_connections()  # request_started of the next request
    response = Client().get(f"/reviews/{review.pk}/")

    assert response.json() == {"found": True}
    assert statements.review_reads()[PRIMARY] == 1


@pytest.mark.usefixtures("pg_persistent_connections")
def test_without_health_checks_the_read_on_the_dead_standby_runs_again_on_the_primary(
    use_router: Callable[..., PrimaryReplicaRouter],
    statements: StatementLog,
    pg_wait_for_standby: Callable[[], float],
    standby_back: PgCluster,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Persistent connections without CONN_HEALTH_CHECKS: nothing checks the open standby
    # connection before the read, which fails on it; the read runs again on the primary.
    review = _read_through_a_persistent_standby(
        monkeypatch, use_router, pg_wait_for_standby, health_checks=False
    )

    standby_back.stop_server("standby")
    close_old_connections()
    statements.clear()
    assert Client().get(f"/reviews/{review.pk}/").json() == {"found": True}
    assert statements.review_read_aliases() == [STANDBY, PRIMARY]
    close_old_connections()
    statements.clear()
    response = Client().get(f"/reviews/{review.pk}/")

    assert response.json() == {"found": True}
    assert statements.review_reads() == {PRIMARY: 1}


@pytest.mark.usefixtures("pg_persistent_connections")
def test_outside_a_request_a_read_on_a_dead_standby_runs_again_on_the_primary(
    use_router: Callable[..., PrimaryReplicaRouter],
    statements: StatementLog,
    pg_wait_for_standby: Callable[[], float],
    standby_back: PgCluster,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A task or command: no request signals ever check its persistent connection.
    monkeypatch.setitem(connections[STANDBY].settings_dict, "CONN_MAX_AGE", None)
    replica_router = use_router(recheck_seconds=60)
    review = _existing_review(pg_wait_for_standby)
    assert Review.objects.filter(pk=review.pk).exists()
    assert statements.review_reads() == {STANDBY: 1}

    standby_back.stop_server("standby")
    statements.clear()
    assert Review.objects.filter(pk=review.pk).exists()
    assert statements.review_read_aliases() == [STANDBY, PRIMARY]
    assert replica_router.replica_set.down_replicas() == {STANDBY}
    statements.clear()

    assert Review.objects.filter(pk=review.pk).exists()
    assert statements.review_reads() == {PRIMARY: 1}


@pytest.mark.usefixtures("pg_persistent_connections")
def test_outside_a_request_a_replica_whose_query_failed_is_kept_while_it_answers(
    use_router: Callable[..., PrimaryReplicaRouter],
    statements: StatementLog,
    pg_wait_for_standby: Callable[[], float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A statement error leaves the connection usable: Django checks it, and so does the router.
    monkeypatch.setitem(connections[STANDBY].settings_dict, "CONN_MAX_AGE", None)
    use_router()
    review = _existing_review(pg_wait_for_standby)
    assert Review.objects.filter(pk=review.pk).exists()
    standby = connections[STANDBY]
    opened = standby.connection
    with pytest.raises(ProgrammingError), standby.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table")
    assert standby.errors_occurred
    statements.clear()

    assert Review.objects.filter(pk=review.pk).exists()
    assert statements.review_reads() == {STANDBY: 1}
    assert standby.connection is opened
    assert not standby.errors_occurred


def test_the_retry_wrapper_outlives_the_execute_wrapper_blocks_around_it() -> None:
    import contextvars

    from multidb_routers.replication.replica_set import ReplicaSet
    from multidb_routers.replication.retry import RetryLostReplica

    standby = connections[STANDBY]
    standby.execute_wrappers[:] = [
        wrapper for wrapper in standby.execute_wrappers if type(wrapper) is not RetryLostReplica
    ]
    others = list(standby.execute_wrappers)
    replica_set = ReplicaSet(PRIMARY, [STANDBY])
    seen: list[str] = []

    def spy(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        seen.append(sql)
        return execute(sql, params, many, context)

    # The standby is first chosen inside a block of the caller's own wrapper...
    with standby.execute_wrapper(spy):
        assert contextvars.Context().run(replica_set.read_alias) == STANDBY
        with standby.cursor() as cursor:
            cursor.execute("SELECT 1")
    # ...whose end removes the caller's wrapper, not the replica set's.
    with standby.cursor() as cursor:
        cursor.execute("SELECT 2")
    contextvars.Context().run(replica_set.read_alias)
    contextvars.Context().run(ReplicaSet(PRIMARY, [STANDBY]).read_alias)

    assert seen == ["SELECT 1"]
    wrappers = standby.execute_wrappers
    assert type(wrappers[0]) is RetryLostReplica
    assert wrappers[1:] == others
    # One wrapper per connection, for the replica set that chose the standby last.
    assert wrappers[0].replica_set is not replica_set
    assert not any(type(w) is RetryLostReplica for w in connections[PRIMARY].execute_wrappers)
