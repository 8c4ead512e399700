from __future__ import annotations

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import router
from django.test import override_settings

from multidb_routers import FunctionalRouter
from tests.testapps.legacy_app.models import Customer

ROUTES = {
    "auth": "users",
    "contenttypes": "users",
    "admin": "users",
    "sessions": "users",
    "functional_app": "library",
    "legacy_app.Customer": "legacy",
}


class NeedsInstanceRouter:
    """A custom (non-library) router that cannot decide without an instance hint."""

    def db_for_read(self, model: type, **hints: object) -> str:
        raise LookupError("needs an instance")

    def db_for_write(self, model: type, **hints: object) -> str | None:
        return "legacy" if model.__name__ == "Note" else None


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@override_settings(DATABASE_ROUTERS=[FunctionalRouter(routes=ROUTES)])
def test_routing_prints_read_write_and_migration_aliases_per_model() -> None:
    unrouted = ", ".join(a for a in settings.DATABASES if a not in {"users", "library", "legacy"})

    lines = run("routing", "functional_app.SHELF", "legacy_app").splitlines()

    assert [line.split() for line in lines] == [
        ["Model", "Router", "Read", "Write", "Migrates", "on"],
        ["functional_app.Shelf", "FunctionalRouter", "library", "library", "library"],
        ["legacy_app.Customer", "FunctionalRouter", "legacy", "legacy", "legacy"],
        ["legacy_app.Note", "(default)", "default", "default", *unrouted.split()],
    ]
    assert lines[1].index("library") == lines[0].index("Read")


@override_settings(DATABASE_ROUTERS=[FunctionalRouter(routes=ROUTES)])
def test_routing_lists_every_model_without_arguments() -> None:
    output = run("routing")

    rows = [line.split() for line in output.splitlines()]
    assert ["auth.User_groups", "FunctionalRouter", "users", "users", "users"] in rows
    assert ["functional_app.Book_tags", "FunctionalRouter", "library", "library", "library"] in rows


@override_settings(DATABASE_ROUTERS=[NeedsInstanceRouter()])
def test_routing_shows_custom_routers_and_their_failures() -> None:
    customer, note = run("routing", "legacy_app").splitlines()[1:]

    assert customer.split()[:4] == [
        "legacy_app.Customer",
        "NeedsInstanceRouter",
        "?",
        "(LookupError)",
    ]
    assert note.split()[:5] == [
        "legacy_app.Note",
        "NeedsInstanceRouter",
        "?",
        "(LookupError)",
        "legacy",
    ]


class WritesOnlyRouter:
    """A custom router with no db_for_read: Django asks the next router for reads."""

    def db_for_write(self, model: type, **hints: object) -> str | None:
        return "default" if model.__name__ == "Customer" else None


@override_settings(DATABASE_ROUTERS=[WritesOnlyRouter(), FunctionalRouter(routes=ROUTES)])
def test_routing_asks_the_next_router_for_a_method_a_custom_one_lacks() -> None:
    customer = run("routing", "legacy_app.Customer").splitlines()[1]

    assert customer.split()[:5] == [
        "legacy_app.Customer",
        "FunctionalRouter,",
        "WritesOnlyRouter",
        router.db_for_read(Customer),
        router.db_for_write(Customer),
    ]
    assert router.db_for_read(Customer) == "legacy"


def test_routing_refuses_unknown_labels() -> None:
    with pytest.raises(CommandError, match="No installed app or model with label 'nope'"):
        run("routing", "nope")


# A custom router in the chain names no read-only alias.
@override_settings(DATABASE_ROUTERS=[WritesOnlyRouter(), FunctionalRouter(routes=ROUTES)])
@pytest.mark.django_db(databases="__all__")  # the plan also looks for missing tables
def test_migrate_all_plan_skips_replicas_and_lists_every_other_alias_once() -> None:
    output = run("migrate_all", "--plan").splitlines()

    assert "Skipping reviews_replica1: replica of reviews." in output
    assert [line.split()[-1].rstrip(".") for line in output if line.startswith("Would")] == [
        alias
        for alias, config in settings.DATABASES.items()
        if not config.get("TEST", {}).get("MIRROR")
    ]


@pytest.mark.django_db(databases="__all__")
def test_migrate_all_runs_migrate_once_on_each_alias_that_holds_tables() -> None:
    output = run("migrate_all", "--no-input")

    headings = [line for line in output.splitlines() if line.startswith("Migrating ")]
    migrated = [heading.removeprefix("Migrating ").rstrip(":") for heading in headings]
    assert len(migrated) == len(set(migrated))
    assert {"default", "users", "library", "legacy", "reviews", "shard_0", "overlay"} <= set(
        migrated
    )
    assert not {"reviews_replica1", "reviews_replica2", "base", "pg_standby"} & set(migrated)
    assert "Skipping base: read-only for OverlayRouter." in output
    assert output.count("No migrations to apply.") == len(headings)
