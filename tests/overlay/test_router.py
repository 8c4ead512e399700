from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import router
from django.db.models import QuerySet
from django.test import override_settings

from multidb_routers import FunctionalRouter, OverlayRouter, ReadOnlyDatabaseError
from multidb_routers.base import RouteDescription
from multidb_routers.exceptions import RouterOptionError
from multidb_routers.models import Tombstone
from multidb_routers.overlay import find_overlay_router
from tests.testapps.functional_app.models import Book
from tests.testapps.overlay_app.models import Note, Product, Supplier
from tests.testapps.overlay_app.snapshot import SUPPLIERS, snapshot_as_base

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def overlay_router(**options: object) -> OverlayRouter:
    defaults: dict[str, object] = {
        "base": "base",
        "overlay": "overlay",
        "apps": ["overlay_app"],
        "replace": ["overlay_app.Note"],
    }
    return OverlayRouter(**{**defaults, **options})


@pytest.fixture
def base_file(tmp_path: Path) -> Iterator[Path]:
    with snapshot_as_base(tmp_path / "production.sqlite3") as path:
        yield path


def test_reads_and_writes_go_where_each_kind_of_model_lives() -> None:
    assert [router.db_for_read(m) for m in (Note, Product, Supplier, Tombstone)] == [
        "overlay",
        "base",
        "base",
        "overlay",
    ]
    assert [router.db_for_write(m) for m in (Note, Product, Tombstone)] == ["overlay"] * 3


def test_reads_of_a_merged_instance_follow_its_database() -> None:
    copied_up = Product(pk=1)
    copied_up._state.db = "overlay"

    assert router.db_for_read(Product, instance=copied_up) == "overlay"


def test_a_plain_write_to_a_base_model_names_the_model_and_both_fixes() -> None:
    with pytest.raises(ReadOnlyDatabaseError) as error:
        router.db_for_write(Supplier)

    message = str(error.value)
    assert "overlay_app.Supplier" in message
    assert "replace=" in message
    assert "OverlayManager" in message


@pytest.mark.django_db(databases=["default", "base", "overlay"])
def test_base_models_read_the_base_and_refuse_writes(base_file: Path) -> None:
    assert sorted(Supplier.objects.values_list("pk", "name")) == SUPPLIERS
    with pytest.raises(ReadOnlyDatabaseError):
        Supplier.objects.create(name="Initech")
    with pytest.raises(ReadOnlyDatabaseError):
        Supplier.objects.get(pk=1).delete()


@pytest.mark.django_db(databases=["default", "overlay"])
def test_replaced_models_live_wholly_in_the_overlay() -> None:
    note = Note.objects.create(text="try this")

    assert note._state.db == "overlay"
    assert list(Note.objects.using("overlay").values_list("text", flat=True)) == ["try this"]


def test_nothing_migrates_on_the_base() -> None:
    for app_label, model_name in [
        ("overlay_app", "product"),
        ("overlay_app", "note"),
        ("auth", "user"),
        ("multidb_routers", "tombstone"),
    ]:
        assert overlay_router().allow_migrate("base", app_label, model_name) is False


def test_the_overlay_holds_the_scoped_models_and_the_tombstones_only() -> None:
    ours = overlay_router()

    assert ours.allow_migrate("overlay", "overlay_app", "product") is True
    assert ours.allow_migrate("overlay", "overlay_app", "note") is True
    assert ours.allow_migrate("overlay", "multidb_routers", "tombstone") is True
    assert ours.allow_migrate("default", "multidb_routers", "tombstone") is False
    assert ours.allow_migrate("overlay", "auth", "user") is False
    assert ours.allow_migrate("default", "overlay_app", "product") is False
    assert ours.allow_migrate("default", "auth", "user") is None


def test_replaced_models_outside_apps_still_migrate_on_the_overlay() -> None:
    ours = overlay_router(apps=["overlay_app.Product"], replace=["overlay_app.Note"])

    assert ours.allow_migrate("overlay", "overlay_app", "note") is True
    assert ours.allow_migrate("overlay", "overlay_app", "supplier") is False
    assert ours.allow_migrate("overlay", "overlay_app") is None  # app-wide: cannot tell


def test_relations_are_allowed_between_base_and_overlay_only() -> None:
    ours = overlay_router()
    product, note, book = Product(), Note(), Book()
    product._state.db, note._state.db, book._state.db = "base", "overlay", "library"

    assert ours.allow_relation(product, note) is True
    assert ours.allow_relation(product, book) is False
    assert ours.allow_relation(book, User()) is None


def test_out_of_scope_models_are_left_to_other_routers() -> None:
    ours = overlay_router()

    assert ours.db_for_read(Book) is None
    assert ours.db_for_write(Book) is None
    assert ours.claimed_aliases(Book) is None
    assert ours.describe_route(Book) is None


def test_introspection() -> None:
    ours = overlay_router()

    assert ours.aliases() == {"base", "overlay"}
    assert ours.read_only_aliases() == {"base"}
    assert ours.guarded_aliases() == {"base"}
    assert list(ours.labels()) == [("apps", "overlay_app"), ("replace", "overlay_app.Note")]
    assert ours.claimed_aliases(Note) == {"overlay"}
    assert ours.claimed_aliases(Product) == {"base", "overlay"}
    assert ours.describe_route(Note) == RouteDescription(read="overlay", write="overlay")
    assert ours.describe_route(Product) == RouteDescription(
        read="base + overlay (merged)", write="overlay"
    )
    assert ours.describe_route(Supplier) == RouteDescription(
        read="base", write="refused (base is read-only)"
    )


def test_options_come_from_class_attributes_too() -> None:
    class SnapshotRouter(OverlayRouter):
        base = "base"
        overlay = "overlay"
        apps = ["overlay_app"]

    assert SnapshotRouter().db_for_read(Product) == "base"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"base": ""}, "base must be a database alias"),
        ({"overlay": 3}, "overlay must be a database alias"),
        ({"replace": None}, "replace must be a list of labels"),
        ({"replace": "overlay_app.Note"}, "replace must be a list"),
    ],
)
def test_bad_options_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(RouterOptionError, match=message):
        overlay_router(**options)


def check_ids(*routers: OverlayRouter) -> list[str]:
    with override_settings(DATABASE_ROUTERS=list(routers)):
        return [
            message.id or ""
            for router_ in routers
            for message in router_.check_config(name="router", databases=["base", "overlay"])
        ]


def test_the_configuration_in_use_passes_its_checks() -> None:
    assert check_ids(overlay_router()) == []


def test_check_e030_base_and_overlay_are_the_same_alias() -> None:
    assert check_ids(overlay_router(overlay="base")) == ["multidb_routers.E030"]


def test_check_e031_replace_outside_apps() -> None:
    assert check_ids(overlay_router(apps=["overlay_app.Product"])) == ["multidb_routers.E031"]


def test_an_overlay_of_every_app_may_replace_any_model() -> None:
    replace = ["overlay_app.Note", "functional_app.Book"]

    assert check_ids(overlay_router(apps=None, replace=replace)) == []


def test_check_e032_a_merged_model_is_replaced() -> None:
    assert check_ids(overlay_router(replace=["overlay_app.Product"])) == ["multidb_routers.E032"]


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_check_w030_base_without_a_database_level_lock() -> None:
    with override_settings(
        DATABASES={
            "base": {"ENGINE": "django.db.backends.mysql", "NAME": "snapshot"},
            "overlay": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
        }
    ):
        assert check_ids(overlay_router()) == ["multidb_routers.W030"]


@pytest.mark.django_db(databases="__all__")  # Django 6.1 checks models on every alias
def test_manage_py_check_fails_on_a_bad_overlay_configuration() -> None:
    with (
        override_settings(DATABASE_ROUTERS=[overlay_router(overlay="base")]),
        pytest.raises(SystemCheckError, match=r"multidb_routers\.E030"),
    ):
        call_command("check")


def test_manage_py_check_reports_a_base_missing_from_databases_once() -> None:
    with (
        override_settings(DATABASE_ROUTERS=[overlay_router(base="snapshot")]),
        pytest.raises(SystemCheckError) as raised,
    ):
        call_command("check", "--tag", "multidb_routers")

    message = str(raised.value)
    assert "names the database alias 'snapshot'" in message
    assert re.findall(r"multidb_routers\.[EW]\d+", message) == ["multidb_routers.E001"]


def production_settings() -> override_settings:
    """Settings without an overlay: ``overlay_app`` on one writable database."""
    return override_settings(DATABASE_ROUTERS=[FunctionalRouter(routes={"overlay_app": "overlay"})])


@pytest.mark.django_db(databases=["overlay"])
def test_without_an_overlay_router_the_merged_manager_is_a_plain_manager() -> None:
    with production_settings():
        anvil = Product.objects.create(name="anvil", price=120)
        anvil.price = 99
        anvil.save()
        Product(name="bucket", price=15).save()
        Product.objects.get(name="bucket").delete()

        assert find_overlay_router(Product) is None
        assert type(Product.objects.all()) is QuerySet
        assert list(Product.objects.values_list("name", "price")) == [("anvil", 99)]
        assert anvil._state.db == "overlay"
        assert not Tombstone.objects.using("overlay").exists()


def test_base_and_local_need_an_overlay_router_covering_the_model() -> None:
    with (
        production_settings(),
        pytest.raises(ImproperlyConfigured, match=r"overlay_app\.Product .* OverlayRouter"),
    ):
        Product.objects.base()


def test_find_overlay_router_returns_the_covering_router() -> None:
    found = find_overlay_router(Product)

    assert isinstance(found, OverlayRouter)
    assert found.base_alias == "base"
    assert find_overlay_router(Book) is None
