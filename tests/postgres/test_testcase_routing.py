"""Django's TestCase against the real PostgreSQL primary and its lagging standby (a MIRROR).

Inside the test's transaction, reads of a replicated model go to the primary and see
the test's own uncommitted rows; the standby's connection could not.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import router
from django.test import Client

from multidb_routers import PrimaryReplicaRouter
from tests.postgres import reviews as pg_reviews
from tests.postgres.reviews import PRIMARY, STANDBY
from tests.testapps.replica_app.models import Review

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(databases=[PRIMARY, STANDBY]),  # a TestCase: no transaction=True
    pytest.mark.urls(pg_reviews.__name__),
    pytest.mark.usefixtures("pg_review_tables"),
]


@pytest.fixture(autouse=True)
def _route_to_the_cluster(settings: Any) -> None:
    settings.DATABASE_ROUTERS = [
        PrimaryReplicaRouter(primary=PRIMARY, replicas=[STANDBY], apps=["replica_app"])
    ]
    settings.MIDDLEWARE = ["multidb_routers.middleware.PinningMiddleware"]


def test_a_testcase_reads_its_own_rows_from_the_primary_not_the_standby() -> None:
    review = Review.objects.using(PRIMARY).create(title="uncommitted")

    read = Review.objects.get(pk=review.pk)

    assert (read.title, read._state.db) == ("uncommitted", PRIMARY)
    assert router.db_for_read(Review) == PRIMARY


def test_a_page_requested_by_a_testcase_sees_the_tests_rows() -> None:
    review = Review.objects.using(PRIMARY).create(title="uncommitted")

    assert Client().get(f"/reviews/{review.pk}/").json() == {"found": True}
