from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import Permission, User
from django.db import connections, router
from django.test import override_settings

from multidb_routers import FunctionalRouter
from multidb_routers.exceptions import RouterOptionError
from tests.testapps.functional_app.models import Book, FeaturedBook, Shelf, Tag
from tests.testapps.legacy_app.models import Customer, Note

ALL = ["default", "users", "library", "legacy"]


class LegacyRouter(FunctionalRouter):
    """A subclass configured by class attributes, named by dotted path in settings."""

    routes = {"legacy_app": "legacy"}


def tables(alias: str) -> set[str]:
    return set(connections[alias].introspection.table_names())


def test_reads_and_writes_go_to_the_routed_alias() -> None:
    assert router.db_for_read(Book) == "library"
    assert router.db_for_write(Book) == "library"
    assert router.db_for_read(User) == "users"


def test_model_entry_routes_one_model_of_an_app() -> None:
    assert router.db_for_write(Customer) == "legacy"
    assert router.db_for_write(Note) == "default"


def test_unrouted_models_are_not_its_concern() -> None:
    functional = FunctionalRouter(routes={"functional_app": "library"})

    assert functional.db_for_read(Note) is None
    assert functional.db_for_write(Note) is None
    assert functional.allow_relation(Note(), Note()) is None


@pytest.mark.django_db(databases=ALL)
def test_rows_land_on_the_routed_alias_only() -> None:
    shelf = Shelf.objects.create(name="Poetry")
    book = Book.objects.create(title="Odes", shelf=shelf)
    book.tags.add(Tag.objects.create(name="classic"))

    assert shelf._state.db == "library"
    assert Book.objects.using("library").get().tags.get().name == "classic"
    assert Book.tags.through.objects.using("library").count() == 1
    assert FeaturedBook.objects.get().title == "Odes"


@pytest.mark.django_db(databases=ALL)
def test_migrations_run_only_on_the_routed_alias() -> None:
    assert {"functional_app_book", "functional_app_book_tags", "functional_app_shelf"} <= tables(
        "library"
    )
    assert "legacy_app_customer" in tables("legacy")
    assert "legacy_app_note" in tables("default")
    assert "functional_app_book" not in tables("default") | tables("legacy") | tables("users")


@pytest.mark.django_db(databases=ALL)
def test_routed_alias_holds_only_the_models_routed_to_it() -> None:
    assert "legacy_app_note" not in tables("library") | tables("legacy") | tables("users")
    assert "auth_user" not in tables("library") | tables("default")


def test_allow_migrate_with_only_app_label_and_model_name() -> None:
    functional = FunctionalRouter(
        routes={"functional_app": "library", "legacy_app.Customer": "legacy"}
    )

    assert functional.allow_migrate("library", "functional_app", model_name="book") is True
    assert functional.allow_migrate("default", "functional_app", model_name="book") is False
    assert functional.allow_migrate("library", "functional_app") is True
    assert functional.allow_migrate("legacy", "legacy_app", model_name="customer") is True
    assert functional.allow_migrate("legacy", "legacy_app", model_name="note") is False
    assert functional.allow_migrate("default", "legacy_app", model_name="note") is None


def test_app_wide_operation_of_a_partly_routed_app_is_undecided() -> None:
    functional = FunctionalRouter(routes={"legacy_app.Customer": "legacy"})

    assert functional.allow_migrate("legacy", "legacy_app") is None
    assert functional.allow_migrate("default", "legacy_app") is None


@pytest.mark.django_db(databases=ALL)
def test_relations_within_one_alias_are_allowed() -> None:
    shelf = Shelf.objects.create(name="Poetry")

    book = Book(title="Odes", shelf=shelf)

    assert router.allow_relation(book, shelf) is True


@pytest.mark.django_db(databases=ALL)
def test_relations_across_aliases_are_refused_with_djangos_error() -> None:
    customer = Customer.objects.create(name="Ada")
    book = Book.objects.create(title="Odes", shelf=Shelf.objects.create(name="Poetry"))
    stray_shelf = Shelf.from_db("legacy", ["id", "name"], [1, "Loaded elsewhere"])

    assert router.allow_relation(book, customer) is False
    with pytest.raises(ValueError, match="the current database router prevents this relation"):
        book.shelf = stray_shelf


@pytest.mark.django_db(databases=ALL)
def test_auth_moved_to_another_alias_without_touching_it() -> None:
    User.objects.create_user("ada", password="secret")

    assert User.objects.using("users").filter(username="ada").exists()
    assert "auth_user" not in tables("default")
    assert Permission.objects.using("users").filter(codename="add_user").exists()
    assert authenticate(username="ada", password="secret") is not None


@override_settings(DATABASE_ROUTERS=["tests.functional.test_router.LegacyRouter"])
def test_subclass_by_dotted_path_in_settings() -> None:
    assert router.db_for_write(Note) == "legacy"
    assert router.db_for_write(Book) == "default"


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        (["auth"], r"routes must be a dict of label -> alias"),
        ({"auth": ""}, r"routes\['auth'\] must be a database alias"),
        ({"auth": None}, r"routes\['auth'\] must be a database alias"),
    ],
)
def test_malformed_routes_are_refused_with_a_router_option_error(
    routes: object, message: str
) -> None:
    with pytest.raises(RouterOptionError, match=message):
        FunctionalRouter(routes=routes)  # type: ignore[arg-type]
