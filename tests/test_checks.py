from __future__ import annotations

import re
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from multidb_routers import FunctionalRouter
from tests.testapps.replica_app.models import Comment

if TYPE_CHECKING:
    from django.db.models import Model

# Since Django 6.1, ``manage.py check`` runs the model checks against every database
# (a JSONField asks each alias whether it supports JSON): the checks need database access.
pytestmark = pytest.mark.django_db(databases="__all__")

EVERYTHING_ON_USERS = {
    "auth": "users",
    "contenttypes": "users",
    "admin": "users",
    "sessions": "users",
}


def check_output(fail_level: str = "ERROR") -> str:
    with pytest.raises(SystemCheckError) as excinfo:
        call_command("check", fail_level=fail_level, stdout=StringIO(), stderr=StringIO())
    return str(excinfo.value)


def test_the_test_settings_pass_every_check() -> None:
    out = StringIO()
    call_command("check", fail_level="WARNING", stdout=out)

    assert "no issues" in out.getvalue()


@override_settings(
    DATABASE_ROUTERS=[FunctionalRouter(routes={**EVERYTHING_ON_USERS, "legacy_app": "legacy_db"})]
)
def test_unknown_alias_fails_the_check() -> None:
    output = check_output()

    assert "multidb_routers.E001" in output
    assert "DATABASE_ROUTERS[0] (FunctionalRouter) names the database alias 'legacy_db'" in output
    assert "Add 'legacy_db' to DATABASES" in output


@override_settings(
    DATABASE_ROUTERS=[
        FunctionalRouter(
            routes={**EVERYTHING_ON_USERS, "legacy": "legacy", "legacy_app.Client": "legacy"}
        )
    ]
)
def test_unknown_app_or_model_label_fails_the_check() -> None:
    output = check_output()

    assert "routes names 'legacy', which is no installed app" in output
    assert "routes names 'legacy_app.Client', which is no installed model" in output
    assert output.count("multidb_routers.E002") == 2


@override_settings(DATABASE_ROUTERS=[FunctionalRouter(routes={"auth": "users"})])
def test_foreign_key_across_aliases_fails_the_check() -> None:
    output = check_output()

    assert "auth.Permission.content_type (on users) refers to contenttypes.ContentType" in output
    assert "admin.LogEntry.user (on default) refers to auth.User (on users)" in output
    assert "multidb_routers.E003" in output


@override_settings(
    DATABASE_ROUTERS=[
        FunctionalRouter(routes={**EVERYTHING_ON_USERS, "legacy_app": "legacy"}),
        FunctionalRouter(routes={"legacy_app.Customer": "default"}),
    ]
)
def test_two_routers_claiming_one_model_for_different_aliases_warn() -> None:
    output = check_output(fail_level="WARNING")

    assert "multidb_routers.W001" in output
    assert (
        "legacy_app.Customer is claimed by DATABASE_ROUTERS[0] (FunctionalRouter) for legacy "
        "and by DATABASE_ROUTERS[1] (FunctionalRouter) for default; the first one wins."
    ) in output


def test_every_check_id_is_documented() -> None:
    root = Path(__file__).resolve().parent.parent
    source = "".join(path.read_text() for path in (root / "multidb_routers").rglob("*.py"))
    documented = (root / "docs" / "checks.rst").read_text()
    ids = set(re.findall(r"multidb_routers\.[EW]\d{3}", source))

    assert ids
    assert {check_id for check_id in ids if check_id not in documented} == set()


class CustomRouter:
    """A router of another library that keeps django.contrib.auth on users."""

    def db_for_write(self, model: type[Model], **hints: object) -> str | None:
        return "users" if model._meta.app_label == "auth" else None


@override_settings(
    DATABASE_ROUTERS=[
        object(),  # a router with no methods at all is skipped
        CustomRouter(),
        FunctionalRouter(routes={"contenttypes": "users", "admin": "users", "sessions": "users"}),
    ]
)
def test_relation_check_asks_other_routers_where_models_live() -> None:
    # Without CustomRouter's answer, auth would be on default, away from contenttypes.
    out = StringIO()
    call_command("check", fail_level="WARNING", stdout=out)

    assert "no issues" in out.getvalue()


class InstanceRouter:
    """A custom router that routes by the instance hint only, and fails without one."""

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        return hints["instance"]._state.db  # type: ignore[no-any-return]


@override_settings(
    DATABASE_ROUTERS=[
        InstanceRouter(),
        FunctionalRouter(routes={"contenttypes": "users", "admin": "users", "sessions": "users"}),
    ]
)
def test_relation_check_skips_models_whose_home_a_custom_router_cannot_tell() -> None:
    out = StringIO()
    call_command("check", fail_level="WARNING", stdout=out)

    assert "no issues" in out.getvalue()


@override_settings(
    DATABASE_ROUTERS=[
        FunctionalRouter(routes={**EVERYTHING_ON_USERS, "legacy_app": "legacy"}),
        FunctionalRouter(routes={"legacy_app.Customer": "legacy"}),
    ]
)
def test_two_routers_claiming_one_model_for_the_same_alias_do_not_warn() -> None:
    out = StringIO()
    call_command("check", fail_level="WARNING", stdout=out)

    assert "no issues" in out.getvalue()


@override_settings(
    DATABASE_ROUTERS=[
        FunctionalRouter(
            routes={
                **EVERYTHING_ON_USERS,
                "replica_app.Review": "reviews",
                "replica_app.Comment": "legacy",
            }
        )
    ]
)
def test_a_foreign_key_without_a_database_constraint_may_cross_aliases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert "replica_app.Comment.review (on legacy) refers to replica_app.Review" in check_output()

    # As if declared ForeignKey(Review, db_constraint=False, ...).
    monkeypatch.setattr(Comment._meta.get_field("review"), "db_constraint", False)
    out = StringIO()
    call_command("check", fail_level="WARNING", stdout=out)

    assert "no issues" in out.getvalue()


@override_settings(
    DATABASE_ROUTERS=[
        FunctionalRouter(
            routes={
                **EVERYTHING_ON_USERS,
                "legacy.Customer": "legacy",
                "legacy_app.Client": "legacy",
            }
        )
    ]
)
def test_an_unknown_label_gets_a_hint_naming_what_is_installed_not_the_label_again() -> None:
    output = check_output()
    hints = [line for line in output.splitlines() if "HINT" in line]

    assert len(hints) == 2
    assert "'legacy.Customer'" not in hints[0]
    assert "No installed app has the label 'legacy'" in hints[0]
    assert "legacy_app" in hints[0]  # the installed labels, to pick from
    assert "legacy_app has no model 'Client'; its models are: Customer, Note" in hints[1]
