"""Routing reasons against the really lagging PostgreSQL standby (LSN freshness, lag limit)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client

from multidb_routers import PrimaryReplicaRouter
from multidb_routers.testing import record_routes
from tests.postgres import reviews as pg_reviews
from tests.postgres.reviews import PRIMARY, STANDBY
from tests.testapps.replica_app.models import Review

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, databases=[PRIMARY, STANDBY]),
    pytest.mark.urls(__name__),
    pytest.mark.usefixtures("pg_review_tables"),
]

urlpatterns = pg_reviews.urlpatterns


def _route(settings: Any, **options: Any) -> None:
    settings.DATABASE_ROUTERS = [
        PrimaryReplicaRouter(
            primary=PRIMARY, replicas=[STANDBY], apps=["replica_app"], exclusive=True, **options
        )
    ]
    settings.MIDDLEWARE = ["multidb_routers.middleware.PinningMiddleware"]


def test_a_pinned_read_names_the_wal_position_then_the_standby_that_caught_up(
    settings: Any,
) -> None:
    _route(settings, pin_seconds=5, freshness="lsn", lsn_cache_seconds=0)
    client = Client()
    url = client.post("/reviews/", {"title": "positioned"})["Location"]

    with record_routes() as routes:
        assert client.get(url).json()["found"]
    [read] = routes.reads(Review)
    # The standby applies WAL 300 ms late: right after the write it has not caught up.
    assert (read.alias, read.code) == (PRIMARY, "pinned")
    assert read.reason.startswith("pinned by the request's pin cookie (")
    assert ", WAL position " in read.reason
    assert read.reason.endswith("; no replica has caught up")

    deadline = time.monotonic() + 5
    while True:
        with record_routes() as routes:
            assert client.get(url).json()["found"]
        [read] = routes.reads(Review)
        if read.alias == STANDBY:
            break
        assert time.monotonic() < deadline, "the standby never caught up with the pin"
        time.sleep(0.05)
    assert read.code == "caught_up"
    assert read.reason.endswith(f"; replica {STANDBY} has caught up")


def test_a_standby_over_the_lag_limit_is_named_as_lagging(settings: Any) -> None:
    _route(settings, pin_seconds=0, freshness="lsn", max_lag_seconds=0.1, lsn_cache_seconds=0)
    seen: list[str] = []
    started = time.monotonic()
    while time.monotonic() - started < 1.0:
        Review.objects.using(PRIMARY).create(title="busy")  # the standby stays behind
        time.sleep(0.05)
        if time.monotonic() - started > 0.5:
            with record_routes() as routes:
                assert Client().get("/reviews/1/").status_code == 200
            seen.extend(read.reason for read in routes.reads(Review))
    assert seen
    assert set(seen) == {f"no live replica; skipped {STANDBY} (lagging): the primary {PRIMARY}"}


def test_the_routers_own_position_queries_are_not_recorded_as_the_apps(settings: Any) -> None:
    _route(settings, pin_seconds=5, freshness="lsn", lsn_cache_seconds=0)
    client = Client()
    url = client.post("/reviews/", {"title": "asked"})["Location"]
    with record_routes() as routes:
        for _ in range(3):
            assert client.get(url).json()["found"]
    assert len(routes.reads(Review)) == 3
    assert not [q for q in routes.queries if "pg_last_wal_replay_lsn" in q.sql]
    assert all(q.label == "replica_app.Review" for q in routes.queries if not q.control)
