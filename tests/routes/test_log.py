"""The multidb_routers.routing logger: each decision at DEBUG, one INFO line per request."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import router
from django.test import Client

from multidb_routers.routes import listening
from multidb_routers.routes.log import follow_logger
from tests.testapps.legacy_app.models import Customer
from tests.testapps.replica_app.models import Review

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pytest_django.fixtures import SettingsWrapper

REPLICAS = ("reviews_replica1", "reviews_replica2")
DATABASES = ["default", "users", "reviews", *REPLICAS]
LOGGER = "multidb_routers.routing"


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The routing logger at DEBUG; afterwards nobody listens any more."""
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        follow_logger()
        yield caplog
    follow_logger()
    assert not listening()


def test_each_decision_is_logged_at_debug_while_the_logger_is_enabled(
    debug_log: pytest.LogCaptureFixture,
) -> None:
    router.db_for_read(Customer)
    [record] = [r for r in debug_log.records if r.name == LOGGER]
    assert record.levelno == logging.DEBUG
    assert record.getMessage() == (
        "read legacy_app.Customer -> legacy: routes['legacy_app.Customer'] = 'legacy'"
    )
    assert record.route.alias == "legacy"  # type: ignore[attr-defined]


def test_nothing_listens_when_the_logger_is_not_enabled_for_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger=LOGGER):
        follow_logger()
        assert not listening()
        router.db_for_read(Customer)
    assert not [r for r in caplog.records if r.name == LOGGER]


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_a_request_started_with_debug_enabled_logs_its_decisions(
    caplog: pytest.LogCaptureFixture,
) -> None:
    review = Review.objects.create(title="Logged")
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    try:
        Client().get(f"/replica/sync/reviews/{review.pk}/")
    finally:
        caplog.set_level(logging.WARNING, logger=LOGGER)
        follow_logger()
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len([m for m in messages if m.startswith("read replica_app.Review -> ")]) == 10
    assert "pinned by a write" not in " ".join(messages)  # the request has its own state


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_request_counts_are_none_unless_the_setting_asks() -> None:
    review = Review.objects.create(title="Counted")
    assert Client().get(f"/replica/sync/reviews/{review.pk}/counts/").json() is None
    assert not listening()


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_request_counts_give_reads_per_alias_and_the_pin(settings: SettingsWrapper) -> None:
    settings.MULTIDB_ROUTERS_REQUEST_ROUTES = "count"
    client = Client()
    review = Review.objects.create(title="Counted")
    counts = client.get(f"/replica/sync/reviews/{review.pk}/counts/").json()
    [replica] = counts["reads"]
    assert replica in REPLICAS
    assert counts["reads"] == {replica: 2}
    assert (counts["replica_reads"], counts["total_reads"], counts["pinned"]) == (2, 2, [])
    client.post(f"/replica/sync/reviews/{review.pk}/rate/", {"stars": "3"})
    counts = client.get(f"/replica/sync/reviews/{review.pk}/counts/").json()
    assert counts["reads"] == {"reviews": 2}
    assert (counts["replica_reads"], counts["pinned"]) == (0, ["reviews"])
    assert not listening()  # the request's recording ended with it


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_the_log_setting_writes_one_info_line_per_request(
    settings: SettingsWrapper, caplog: pytest.LogCaptureFixture
) -> None:
    settings.MULTIDB_ROUTERS_REQUEST_ROUTES = "log"
    review = Review.objects.create(title="Summed up")
    client = Client()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        client.post(f"/replica/sync/reviews/{review.pk}/rate/", {"stars": "4"})
        client.get(f"/replica/sync/reviews/{review.pk}/")
    lines = [r for r in caplog.records if r.name == LOGGER]
    assert [r.levelno for r in lines] == [logging.INFO, logging.INFO]
    assert lines[0].getMessage() == (
        f"POST /replica/sync/reviews/{review.pk}/rate/: reads reviews=1 (0 of 1 from "
        "replicas); writes reviews=1; pinned reviews"
    )
    assert lines[1].getMessage() == (
        f"GET /replica/sync/reviews/{review.pk}/: reads reviews=10 (0 of 10 from "
        "replicas); writes none; pinned reviews"
    )
    assert lines[1].routing == {  # type: ignore[attr-defined]
        "reads": {"reviews": 10},
        "writes": {},
        "replica_reads": 0,
        "total_reads": 10,
        "pinned": ["reviews"],
    }


@pytest.mark.django_db(databases=DATABASES, transaction=True)
@pytest.mark.parametrize("value", ["yes", 1, "LOG", "counts"])
def test_a_wrong_request_routes_setting_names_the_accepted_values(
    settings: SettingsWrapper, value: object
) -> None:
    settings.MULTIDB_ROUTERS_REQUEST_ROUTES = value
    with pytest.raises(ImproperlyConfigured, match=r"must be None, 'count' or 'log', not "):
        Client().get("/replica/sync/reviews/1/")


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_an_asgi_request_is_not_counted_and_leaves_nothing_listening(
    settings: SettingsWrapper,
) -> None:
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    settings.MULTIDB_ROUTERS_REQUEST_ROUTES = "log"

    async def get() -> int:
        response = await AsyncClient().get("/replica/sync/session/")
        return int(response.status_code)

    for _ in range(3):
        assert async_to_sync(get)() == 200
        assert not listening()


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_a_request_inside_a_counted_unit_counts_on_its_own_and_leaves_the_unit_counting(
    settings: SettingsWrapper,
) -> None:
    from multidb_routers.routes import counting, request_counts

    settings.MULTIDB_ROUTERS_REQUEST_ROUTES = "count"
    review = Review.objects.using("reviews").create(title="Nested")
    with counting("outer") as outer:
        assert outer is not None
        inner = Client().get(f"/replica/sync/reviews/{review.pk}/counts/").json()
        assert request_counts() is outer
        Review.objects.using("reviews").exists()
    assert inner["total_reads"] == 2
    assert outer.total_reads == 3
    assert request_counts() is None
    assert not listening()
