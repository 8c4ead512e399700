"""An alias dedicated to a router: what else lands there, and ``exclusive=True``."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import router
from django.test import override_settings

from multidb_routers import FunctionalRouter, PrimaryReplicaRouter
from tests.testapps.legacy_app.models import Note
from tests.testapps.replica_app.models import Review


def reviews_router(**options: object) -> PrimaryReplicaRouter:
    return PrimaryReplicaRouter(
        primary="reviews", replicas=["reviews_replica1"], apps=["replica_app"], **options
    )


def check() -> str:
    out = StringIO()
    call_command("check", fail_level="ERROR", stdout=out, stderr=out)
    return out.getvalue()


def routing(*args: str) -> list[str]:
    out = StringIO()
    call_command("routing", *args, stdout=out)
    return out.getvalue().splitlines()


@override_settings(DATABASE_ROUTERS=[reviews_router()])
def test_a_router_with_apps_lets_every_other_model_migrate_on_its_alias_and_w002_says_so() -> None:
    assert router.allow_migrate_model("reviews", User)
    output = check()

    assert "(multidb_routers.W002) reviews, the primary of DATABASE_ROUTERS[0]" in output
    assert "auth.User" in output
    assert "exclusive=True" in output


@override_settings(DATABASE_ROUTERS=[reviews_router(exclusive=True)])
def test_exclusive_keeps_the_primary_to_the_routers_own_models() -> None:
    assert router.allow_migrate_model("reviews", Review)
    assert not router.allow_migrate_model("reviews", User)
    assert not router.allow_migrate_model("reviews", Note)
    assert router.allow_migrate_model("default", User)  # other aliases: not its concern
    assert not router.allow_migrate_model("reviews_replica1", Review)
    assert "W002" not in check()


@override_settings(DATABASE_ROUTERS=[reviews_router(exclusive=True)])
def test_exclusive_refuses_app_wide_operations_of_other_apps_only() -> None:
    rule = router.routers[0]
    assert rule.allow_migrate("reviews", "auth") is False
    assert rule.allow_migrate("reviews", "replica_app") is True
    assert rule.allow_migrate("default", "auth") is None


def test_exclusive_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="exclusive must be True or False, not 'yes'"):
        reviews_router(exclusive="yes")


@override_settings(DATABASE_ROUTERS=[reviews_router(), FunctionalRouter(routes={"auth": "users"})])
def test_routing_shows_what_each_alias_holds_and_what_no_router_sends_there() -> None:
    lines = routing("--by-alias")

    start = lines.index("Tables per alias (models whose migrations create a table there):")
    section = lines[start + 1 :]
    reviews = next(line for line in section if line.startswith("  reviews:"))
    assert "replica_app.Review" in reviews
    assert "auth.User" not in reviews  # FunctionalRouter keeps auth on users
    stray = section[section.index(reviews) + 1]
    assert stray.startswith("    not routed there (tables nothing reads): ")
    assert "legacy_app.Note" in stray
    assert "replica_app.Review" not in stray
    assert not any(line.startswith("  reviews_replica1:") for line in section)


@override_settings(DATABASE_ROUTERS=[reviews_router(exclusive=True)])
def test_routing_without_labels_ends_with_the_aliases() -> None:
    lines = routing()

    reviews = next(line for line in lines if line.startswith("  reviews:"))
    index = lines.index(reviews)
    assert "not routed there" not in (lines[index + 1] if index + 1 < len(lines) else "")
