"""Routing under Django's TestCase and TransactionTestCase, and pytest-django's db fixtures.

A project's tests must keep passing once it adds replicas: inside a TestCase (each test
in a transaction that is rolled back) reads see the test's own uncommitted rows, and a
replica left out of ``databases`` is never opened by the router.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import router
from django.test import TestCase, TransactionTestCase

from multidb_routers.replication.state import fresh_state
from tests.testapps.replica_app.models import Review

REPLICAS = ("reviews_replica1", "reviews_replica2")


class RowsOfTheTest:
    """Tests shared by the classes below; ``self`` is a Django test case."""

    review: Review

    def test_routing_a_read_never_raises_the_test_guard(self: Any) -> None:
        assert router.db_for_read(Review) in ("reviews", *self.readable)

    def test_a_row_written_without_the_router_is_read_back(self: Any) -> None:
        # using= skips db_for_write, so no pin routes the read: only the routing rule does.
        review = Review.objects.using("reviews").create(title="Explicit")
        assert Review.objects.get(pk=review.pk).title == "Explicit"

    def test_a_page_shows_a_row_the_test_wrote_before_the_request(self: Any) -> None:
        review = Review.objects.create(title="Before the request")

        response = self.client.get(f"/replica/sync/reviews/{review.pk}/")

        assert response.status_code == 200
        assert response.json()["title"] == "Before the request"

    def test_rows_of_set_up_test_data_are_read_back(self: Any) -> None:
        assert Review.objects.get(pk=self.review.pk).title == "Set up"


class ReplicasInATestCase(TestCase):
    """Replicas listed in ``databases``: reads still go to the primary, in the transaction.

    No test here writes: on in-memory SQLite, Django's teardown of a TestCase checks
    constraints on every alias of ``databases``, and a mirror's own connection to the
    shared in-memory database then fails with "database table is locked" while the
    test's transaction holds rows, whatever the router does. On PostgreSQL it works
    (tests/postgres/test_testcase_routing.py); on SQLite, leave the replicas
    out of a TestCase's ``databases`` (the classes below).
    """

    databases = {"default", "reviews", *REPLICAS}

    def test_reads_go_to_the_primary_inside_the_test_transaction(self) -> None:
        assert router.db_for_read(Review) == "reviews"
        assert Review.objects.filter(title="none").db == "reviews"
        assert not Review.objects.filter(title="none").exists()


class ReplicasLeftOutOfATestCase(RowsOfTheTest, TestCase):
    databases = {"default", "reviews"}
    readable: tuple[str, ...] = ()

    @classmethod
    def setUpTestData(cls) -> None:
        cls.review = Review.objects.create(title="Set up")


class ReplicasInATransactionTestCase(RowsOfTheTest, TransactionTestCase):
    """Writes commit: reads go to the replicas (TEST MIRROR of the primary) and see them."""

    databases = {"default", "reviews", *REPLICAS}
    readable = REPLICAS

    def setUp(self) -> None:
        self.review = Review.objects.create(title="Set up")

    def test_reads_go_to_the_replicas_as_in_production(self) -> None:
        review = Review.objects.using("reviews").create(title="Committed")
        with fresh_state():  # without setUp's write pin
            read = Review.objects.get(pk=review.pk)
        assert read.title == "Committed"
        assert read._state.db in REPLICAS


class ReplicasLeftOutOfATransactionTestCase(RowsOfTheTest, TransactionTestCase):
    """The replicas are not the test's: the router leaves them out, reads use the primary."""

    databases = {"default", "reviews"}
    readable: tuple[str, ...] = ()

    def setUp(self) -> None:
        self.review = Review.objects.create(title="Set up")

    def test_reads_go_to_the_primary(self) -> None:
        review = Review.objects.using("reviews").create(title="Committed")
        assert Review.objects.get(pk=review.pk)._state.db == "reviews"


@pytest.mark.django_db(databases=["default", "reviews"])
def test_the_db_fixture_without_replicas_reads_the_tests_rows(client: Any) -> None:
    review = Review.objects.using("reviews").create(title="db fixture")

    assert Review.objects.get(pk=review.pk).title == "db fixture"
    assert client.get(f"/replica/sync/reviews/{review.pk}/").json()["title"] == "db fixture"


@pytest.mark.django_db(databases=["default", "reviews", *REPLICAS])
def test_the_db_fixture_with_replicas_sends_reads_to_the_primary() -> None:
    assert router.db_for_read(Review) == "reviews"
    assert not Review.objects.exists()


@pytest.mark.django_db(databases=["default", "reviews"], transaction=True)
def test_the_transactional_db_fixture_without_replicas_reads_from_the_primary() -> None:
    review = Review.objects.using("reviews").create(title="transactional")

    assert Review.objects.get(pk=review.pk)._state.db == "reviews"


@pytest.mark.django_db(databases=["default", "reviews", *REPLICAS], transaction=True)
def test_the_transactional_db_fixture_with_replicas_reads_committed_rows_from_them() -> None:
    review = Review.objects.using("reviews").create(title="transactional")

    read = Review.objects.get(pk=review.pk)

    assert (read.title, read._state.db in REPLICAS) == ("transactional", True)
