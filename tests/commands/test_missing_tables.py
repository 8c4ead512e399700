"""``reshard`` and ``migrate_all`` with a table its routers expect but migrate never created.

The trap: ``migrate --database shard_4`` run while the router lists four shards records
shard_app's migrations on shard_4 and creates no table, so a later ``migrate`` answers
"No migrations to apply".
"""

from __future__ import annotations

import shlex
from io import StringIO
from typing import TYPE_CHECKING

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder
from django.test import override_settings

from multidb_routers.sharding import ShardRouter
from tests.testapps.shard_app.models import Event, OracleReview, Review, Ticket

if TYPE_CHECKING:
    from collections.abc import Iterator

    from django.db.models import Model

SHARDS = [f"shard_{number}" for number in range(5)]
NEW = "shard_4"


def routers(shards: list[str]) -> list[object]:
    """The suite's routers with the ShardRouter over ``shards``."""
    return [
        ShardRouter(shards=shards, apps=router.apps, shard_key=router.shard_key)
        if isinstance(router, ShardRouter)
        else router
        for router in settings.DATABASE_ROUTERS
    ]


FOUR = routers(SHARDS[:4])
FIVE = routers(SHARDS)

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", *SHARDS])


def tables(alias: str) -> set[str]:
    with connections[alias].cursor() as cursor:
        return set(connections[alias].introspection.table_names(cursor))


def drop_shard_tables() -> list[type[Model]]:
    """Drop shard_app's tables on shard_4; the models whose table was there."""
    existing = tables(NEW)
    dropped = [
        model for model in (Review, Event, OracleReview, Ticket) if model._meta.db_table in existing
    ]
    with connections[NEW].schema_editor() as editor:
        for model in dropped:
            editor.delete_model(model)
    return dropped


@pytest.fixture
def fresh_shard() -> Iterator[None]:
    """shard_4 as a new, empty database (for shard_app); restored as the suite set it up."""
    recorded = list(
        MigrationRecorder(connections[NEW])
        .migration_qs.filter(app="shard_app")
        .values_list("app", "name")
    )
    there = drop_shard_tables()
    MigrationRecorder(connections[NEW]).migration_qs.filter(app="shard_app").delete()
    yield
    drop_shard_tables()
    with connections[NEW].schema_editor() as editor:
        for model in there:
            editor.create_model(model)
    recorder = MigrationRecorder(connections[NEW])
    recorder.migration_qs.filter(app="shard_app").delete()
    for app, name in recorded:
        recorder.record_applied(app, name)


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_migrating_the_new_shard_before_the_router_lists_it_is_named_by_reshard(
    fresh_shard: None,
) -> None:
    with override_settings(DATABASE_ROUTERS=FOUR):
        run("migrate", "--database", NEW, "--no-input")
    assert Review._meta.db_table not in tables(NEW)

    with override_settings(DATABASE_ROUTERS=FIVE):
        with pytest.raises(CommandError) as error:
            run("reshard", "shard_app.Review", "--dry-run")
        message = str(error.value)
        assert "recorded as applied" in message
        fix = [
            "python manage.py migrate shard_app zero --fake --database shard_4",
            "python manage.py migrate --database shard_4",
        ]
        assert " then ".join(fix) in message

        for command in fix:
            run(*shlex.split(command)[2:], "--no-input")
        assert {Review._meta.db_table, Event._meta.db_table} <= tables(NEW)
        assert "0 rows (0.0%) are not on their shard." in run(
            "reshard", "shard_app.Review", "--dry-run"
        )


def test_the_documented_procedure_creates_the_new_shards_tables(fresh_shard: None) -> None:
    with override_settings(DATABASE_ROUTERS=FIVE):
        run("migrate", "--database", NEW, "--no-input")

        assert {Review._meta.db_table, Event._meta.db_table} <= tables(NEW)
        # Nothing but the sharded models: the router keeps its shards to them.
        assert "auth_user" not in tables(NEW)
        assert "shard_app_oraclereview" not in tables(NEW)
        assert "Dry run: nothing moved." in run("reshard", "shard_app.Review", "--dry-run")


def test_reshard_names_migrate_when_the_new_shard_was_never_migrated(fresh_shard: None) -> None:
    with override_settings(DATABASE_ROUTERS=FIVE), pytest.raises(CommandError) as error:
        run("reshard", "shard_app.Review", "--dry-run")

    assert "the migrations of shard_app have not run there" in str(error.value)
    assert "Run: python manage.py migrate --database shard_4" in str(error.value)


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_migrate_all_names_tables_recorded_but_missing(fresh_shard: None) -> None:
    with override_settings(DATABASE_ROUTERS=FOUR):
        run("migrate", "--database", NEW, "--no-input")

    with override_settings(DATABASE_ROUTERS=FIVE):
        with pytest.raises(CommandError) as error:
            run("migrate_all", "--no-input")
        message = str(error.value)
        assert (
            "shard_4 has no table for shard_app.Event, shard_app.Review, shard_app.Ticket"
            in message
        )
        assert (
            "python manage.py migrate shard_app zero --fake --database shard_4 then "
            "python manage.py migrate --database shard_4" in message
        )
        plan, problems = StringIO(), StringIO()
        call_command("migrate_all", "--plan", stdout=plan, stderr=problems)
        assert "Would migrate shard_4." in plan.getvalue()
        assert (
            "shard_4 has no table for shard_app.Event, shard_app.Review, shard_app.Ticket"
            in problems.getvalue()
        )


@pytest.mark.django_db(databases="__all__")
def test_migrate_all_plan_reports_an_unreachable_alias_and_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.db import OperationalError

    from multidb_routers.management.commands import migrate_all

    def unreachable(alias: str) -> list[object]:
        if alias == "users":
            raise OperationalError("connection refused")
        return []

    monkeypatch.setattr(migrate_all, "find_missing_tables", unreachable)
    out, err = StringIO(), StringIO()
    call_command("migrate_all", "--plan", stdout=out, stderr=err)

    assert "Could not look for missing tables on users: connection refused" in err.getvalue()
    assert "Would migrate overlay." in out.getvalue()
