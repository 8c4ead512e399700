"""System checks of PrimaryReplicaRouter: E010 (replica without MIRROR), W010 (no middleware)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from multidb_routers import PrimaryReplicaRouter
from multidb_routers.middleware import PinningMiddleware

MIDDLEWARE = "multidb_routers.middleware.PinningMiddleware"


class OwnPinningMiddleware(PinningMiddleware):
    """A project's subclass."""


def check_output(**options: object) -> str:
    out, err = StringIO(), StringIO()
    call_command("check", "--tag", "multidb_routers", stdout=out, stderr=err, **options)
    return out.getvalue() + err.getvalue()


@override_settings(
    DATABASE_ROUTERS=[
        PrimaryReplicaRouter(
            primary="reviews", replicas=["reviews_replica1", "legacy"], apps=["replica_app"]
        ),
        PrimaryReplicaRouter(primary="library", replicas=["reviews_replica2"]),
    ]
)
def test_a_replica_without_test_mirror_of_its_primary_fails_the_check() -> None:
    with pytest.raises(SystemCheckError) as raised:
        check_output()

    message = str(raised.value)
    assert message.count("multidb_routers.E010") == 2
    assert (
        "DATABASE_ROUTERS[0] (PrimaryReplicaRouter) lists 'legacy' as a replica of 'reviews', "
        "but DATABASES['legacy']['TEST'] has no MIRROR"
    ) in message
    assert "DATABASES['reviews_replica2']['TEST'] has MIRROR is 'reviews'" in message
    assert """Add "TEST": {"MIRROR": 'library'} to DATABASES['reviews_replica2'].""" in message


def test_a_replica_router_without_the_pinning_middleware_warns(settings: object) -> None:
    settings.MIDDLEWARE = [  # type: ignore[attr-defined]
        entry
        for entry in settings.MIDDLEWARE  # type: ignore[attr-defined]
        if entry != MIDDLEWARE
    ]

    output = check_output()

    assert "multidb_routers.W010" in output
    assert f"Add '{MIDDLEWARE}' to MIDDLEWARE." in output


def test_a_subclass_of_the_pinning_middleware_counts(settings: object) -> None:
    settings.MIDDLEWARE = [  # type: ignore[attr-defined]
        "tests.replication.test_checks.OwnPinningMiddleware" if entry == MIDDLEWARE else entry
        for entry in settings.MIDDLEWARE  # type: ignore[attr-defined]
    ]

    assert "W010" not in check_output(fail_level="WARNING")


@override_settings(
    DATABASE_ROUTERS=[
        PrimaryReplicaRouter(primary="reviews", replicas=["nowhere"], apps=["replica_app"])
    ]
)
def test_a_replica_missing_from_databases_is_reported_as_unknown_only() -> None:
    with pytest.raises(SystemCheckError) as raised:
        check_output()

    message = str(raised.value)
    assert "names the database alias 'nowhere'" in message
    assert message.count("multidb_routers.E0") == 1
    assert "multidb_routers.E001" in message


def test_a_middleware_path_that_does_not_import_is_left_to_django(settings: object) -> None:
    settings.MIDDLEWARE = ["nowhere.Middleware", *settings.MIDDLEWARE]  # type: ignore[attr-defined]

    assert "W010" not in check_output(fail_level="WARNING")
