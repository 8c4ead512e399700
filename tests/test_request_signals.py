"""The app's receivers of Django's request signals: one per signal, starting both pieces."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.core.signals import request_finished, request_started
from django.test import Client

from multidb_routers.replication.state import request_state
from multidb_routers.routes import request_counts
from tests.testapps.replica_app.models import Review

if TYPE_CHECKING:
    from pytest_django.fixtures import SettingsWrapper

REPLICAS = ["reviews_replica1", "reviews_replica2"]


def _ours(signal: object) -> list[object]:
    receivers = signal.receivers  # type: ignore[attr-defined]
    return [entry for entry in receivers if str(entry[0][0]).startswith("multidb_routers")]


def test_the_app_listens_to_each_request_signal_once() -> None:
    # Django dispatches to every receiver of a signal on every request.
    assert len(_ours(request_started)) == 1
    assert len(_ours(request_finished)) == 1


@pytest.mark.django_db(databases=["default", "reviews", *REPLICAS], transaction=True)
def test_one_receiver_starts_and_ends_the_requests_state_and_counts(
    settings: SettingsWrapper,
) -> None:
    settings.MULTIDB_ROUTERS_REQUEST_ROUTES = "count"
    review = Review.objects.create(title="Seen")
    seen: list[object] = []

    def look(sender: object, **kwargs: object) -> None:
        seen.append((request_state(), request_counts()))

    # Connected after the app's receiver: runs once the request's state and counts began.
    request_started.connect(look, dispatch_uid="tests.look")
    try:
        response = Client().get(f"/replica/sync/reviews/{review.pk}/")
    finally:
        request_started.disconnect(dispatch_uid="tests.look")
    assert response.status_code == 200
    [(state, counts)] = seen
    assert state is not None
    assert counts is not None
    assert (request_state(), request_counts()) == (None, None)
