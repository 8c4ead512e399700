"""``lagging_replicas()`` on SQLite mirrors: stale without a pin, fresh with one.

The replicas of the test settings are ``TEST: {"MIRROR": "reviews"}`` aliases: without
the block they read the primary's own database and see every write at once.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError, connections, router
from django.test import Client, TestCase, TransactionTestCase

from multidb_routers import atomic, use_primary
from multidb_routers.testing import lagging_replicas
from tests.testapps.replica_app.models import Review

REPLICAS = ("reviews_replica1", "reviews_replica2")
DATABASES = ["default", "reviews", *REPLICAS]
# A TestCase on SQLite leaves the mirrors out of its databases: Django's teardown checks
# constraints through every alias, and a mirror's own connection finds the tables locked by
# the test's transaction. lagging_replicas() does not need them listed.
TEST_CASE_DATABASES = ["default", "reviews"]
PINNING = "multidb_routers.middleware.PinningMiddleware"


def post_then_read(client: Client, title: str) -> Any:
    """Post a review as a form does, then follow the redirect to its page."""
    response = client.post("/replica/sync/reviews/", {"title": title})
    assert response.status_code == 302
    return client.get(response["Location"])


def without_pinning(settings: Any) -> None:
    settings.MIDDLEWARE = [name for name in settings.MIDDLEWARE if name != PINNING]


# -- the ORM, in both kinds of pytest-django tests ------------------------------------------


@pytest.mark.parametrize(
    "transactional", [False, True], ids=["TestCase-like db", "transactional_db"]
)
def test_replica_reads_see_rows_from_before_the_block_not_those_written_inside(
    request: pytest.FixtureRequest, transactional: bool
) -> None:
    databases = DATABASES if transactional else TEST_CASE_DATABASES
    request.applymarker(pytest.mark.django_db(databases=databases, transaction=transactional))
    request.getfixturevalue("transactional_db" if transactional else "db")
    before = Review.objects.using("reviews").create(title="before")  # using=: no pin

    with lagging_replicas():
        inside = Review.objects.using("reviews").create(title="inside")
        assert router.db_for_read(Review) in REPLICAS
        assert Review.objects.get(pk=before.pk).title == "before"
        assert not Review.objects.filter(pk=inside.pk).exists()
        assert Review.objects.count() == 1
        with use_primary():
            assert Review.objects.filter(pk=inside.pk).exists()

    # The block gave each replica its own connection back.
    assert Review.objects.filter(pk=inside.pk).exists()


@pytest.mark.django_db(databases=TEST_CASE_DATABASES)
def test_a_write_through_the_router_pins_the_context_and_reads_its_own_write() -> None:
    with lagging_replicas():
        review = Review.objects.create(title="pinned by its write")
        assert Review.objects.get(pk=review.pk).title == "pinned by its write"
        assert Review.objects.filter(pk=review.pk).db == "reviews"


@pytest.mark.django_db(databases=TEST_CASE_DATABASES)
def test_the_codes_own_transaction_still_reads_from_the_primary() -> None:
    with lagging_replicas(), atomic(Review):
        review = Review.objects.using("reviews").create(title="in my transaction")
        assert Review.objects.filter(pk=review.pk).db == "reviews"
        assert Review.objects.filter(pk=review.pk).exists()


@pytest.mark.django_db(databases=TEST_CASE_DATABASES)
def test_the_frozen_view_refuses_writes() -> None:
    with lagging_replicas(), pytest.raises(OperationalError, match="readonly"):
        Review.objects.using("reviews_replica1").create(title="on a replica")


@pytest.mark.django_db(databases=TEST_CASE_DATABASES)
def test_only_the_named_replicas_lag() -> None:
    with lagging_replicas("reviews_replica1"):
        review = Review.objects.using("reviews").create(title="inside")
        assert not Review.objects.using("reviews_replica1").filter(pk=review.pk).exists()
        assert (
            connections["reviews_replica2"].connection
            is not connections["reviews_replica1"].connection
        )


@pytest.mark.django_db(databases=TEST_CASE_DATABASES)
def test_blocks_nest_and_the_inner_block_keeps_the_outer_view() -> None:
    own = connections["reviews_replica1"].connection  # None: left out of the databases
    with lagging_replicas():
        first = Review.objects.using("reviews").create(title="first")
        with lagging_replicas():
            assert not Review.objects.using("reviews_replica1").filter(pk=first.pk).exists()
        assert connections["reviews_replica1"].connection is not own
    assert connections["reviews_replica1"].connection is own


@pytest.mark.django_db(databases=TEST_CASE_DATABASES)
def test_as_a_decorator() -> None:
    @lagging_replicas()
    def read_after_write() -> bool:
        review = Review.objects.using("reviews").create(title="decorated")
        return Review.objects.filter(pk=review.pk).exists()

    assert read_after_write() is False
    assert read_after_write.__name__ == "read_after_write"


@pytest.mark.django_db(databases=TEST_CASE_DATABASES)
def test_a_replica_left_out_of_the_tests_databases_is_usable_inside_only() -> None:
    with lagging_replicas():
        assert Review.objects.using("reviews_replica1").count() == 0
    with pytest.raises(AssertionError, match="not allowed"):  # Django's guard is back
        Review.objects.using("reviews_replica1").count()
    assert router.db_for_read(Review) == "reviews"


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_replicas_listed_in_a_transactional_test_get_their_connection_back() -> None:
    Review.objects.using("reviews_replica1").exists()
    own = connections["reviews_replica1"].connection
    with lagging_replicas():
        review = Review.objects.using("reviews").create(title="inside")
        assert not Review.objects.using("reviews_replica1").filter(pk=review.pk).exists()
    assert connections["reviews_replica1"].connection is own
    assert Review.objects.using("reviews_replica1").filter(pk=review.pk).exists()


def test_an_alias_that_is_no_replica_is_refused_naming_the_replicas() -> None:
    with pytest.raises(AssertionError, match=r"'reviews' is not a replica .*'reviews_replica1'"):
        lagging_replicas("reviews").__enter__()


def test_the_bare_decorator_is_refused() -> None:
    with pytest.raises(TypeError, match=r"@lagging_replicas\(\), not @lagging_replicas"):
        lagging_replicas(lambda: None)  # type: ignore[arg-type]


def test_a_coroutine_function_is_refused() -> None:
    async def view() -> None:  # pragma: no cover
        pass

    with pytest.raises(TypeError, match="with-block"):
        lagging_replicas()(view)


# -- a view reads its own write only thanks to the pin --------------------------------------


@pytest.mark.django_db(databases=TEST_CASE_DATABASES)
def test_with_the_pin_the_page_after_the_post_shows_the_review() -> None:
    with lagging_replicas():
        response = post_then_read(Client(), "pinned")
    assert response.json()["title"] == "pinned"
    assert set(response.json()["read_from"]) == {"reviews"}


@pytest.mark.django_db(databases=TEST_CASE_DATABASES)
def test_without_the_pin_the_page_after_the_post_misses_the_review(settings: Any) -> None:
    without_pinning(settings)
    with lagging_replicas(), pytest.raises(Review.DoesNotExist):
        post_then_read(Client(), "lost")


@pytest.mark.django_db(databases=TEST_CASE_DATABASES)
def test_without_the_block_the_missing_pin_goes_unnoticed(settings: Any) -> None:
    # What the block is for: in a TestCase every read goes to the primary, pin or not.
    without_pinning(settings)
    assert post_then_read(Client(), "unnoticed").json()["title"] == "unnoticed"


# docs/testing.rst literalincludes the first test below: keep the markers.
# [pytest-fixture]
@pytest.mark.django_db(databases=["default", "reviews"])
def test_the_page_after_a_post_shows_the_review(client: Client, lagging_replicas: None) -> None:
    response = post_then_read(client, "fresh")  # the post pins the client's next reads

    assert response.json()["title"] == "fresh"


# [pytest-fixture-end]


@pytest.mark.django_db(databases=TEST_CASE_DATABASES)
def test_the_pytest_fixture_makes_the_whole_test_lag(settings: Any, lagging_replicas: None) -> None:
    without_pinning(settings)
    assert router.db_for_read(Review) in REPLICAS  # the TestCase transaction keeps none
    with pytest.raises(Review.DoesNotExist):
        post_then_read(Client(), "lost")


class LaggingReplicasInATestCase(TestCase):
    databases = set(TEST_CASE_DATABASES)

    @classmethod
    def setUpTestData(cls) -> None:
        cls.review = Review.objects.using("reviews").create(title="set up")

    def test_rows_of_set_up_test_data_are_on_the_replicas(self) -> None:
        with lagging_replicas():
            assert Review.objects.get(pk=self.review.pk).title == "set up"

    def test_the_pin_makes_the_page_fresh(self) -> None:
        with lagging_replicas():
            assert post_then_read(self.client, "pinned").json()["title"] == "pinned"

    def test_a_missing_pin_fails(self) -> None:
        with (
            self.settings(MIDDLEWARE=[]),
            lagging_replicas(),
            pytest.raises(Review.DoesNotExist),
        ):
            post_then_read(self.client, "lost")


class LaggingReplicasInATransactionTestCase(TransactionTestCase):
    databases = set(DATABASES)

    def test_the_pin_makes_the_page_fresh(self) -> None:
        with lagging_replicas():
            assert post_then_read(self.client, "pinned").json()["title"] == "pinned"

    def test_a_missing_pin_fails(self) -> None:
        with (
            self.settings(MIDDLEWARE=[]),
            lagging_replicas(),
            pytest.raises(Review.DoesNotExist),
        ):
            post_then_read(self.client, "lost")


@pytest.mark.django_db(databases=["default", "master-a", "master-b"])
def test_with_several_primaries_the_replica_of_the_first_lags_too(settings: Any) -> None:
    from multidb_routers import PrimaryReplicaRouter
    from tests.testapps.legacy_app.models import Note

    settings.DATABASE_ROUTERS = [
        PrimaryReplicaRouter(
            primary=["master-a", "master-b"], replicas=["slave"], apps=["legacy_app.Note"]
        )
    ]
    before = Note.objects.using("master-a").create(text="before")
    assert router.db_for_read(Note) == "master-a"  # the TestCase's transaction

    with lagging_replicas():
        inside = Note.objects.using("master-a").create(text="inside")
        assert router.db_for_read(Note) == "slave"
        assert Note.objects.filter(pk=before.pk).exists()
        assert not Note.objects.filter(pk=inside.pk).exists()
