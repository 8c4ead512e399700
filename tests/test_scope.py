from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from multidb_routers.exceptions import RouterOptionError
from multidb_routers.scope import CoveredModels, LabelMap, Scope
from tests.testapps.functional_app.models import Book, FeaturedBook, Shelf
from tests.testapps.legacy_app.models import Customer, Note


def test_model_entry_beats_app_entry() -> None:
    labels = LabelMap({"legacy_app": "old", "legacy_app.Customer": "crm"}, option="routes")

    assert labels.for_model(Customer) == "crm"
    assert labels.for_model(Note) == "old"


def test_labels_are_case_insensitive() -> None:
    labels = LabelMap({"LEGACY_APP.customer": "crm"}, option="routes")

    assert labels.for_model(Customer) == "crm"
    assert labels.get("legacy_app", "CUSTOMER") == "crm"


def test_unnamed_model_gets_none() -> None:
    assert LabelMap({"legacy_app.Customer": "crm"}, option="routes").for_model(Note) is None


def test_proxy_follows_its_concrete_model() -> None:
    assert LabelMap({"functional_app.Book": "x"}, option="routes").for_model(FeaturedBook) == "x"


def test_proxy_named_itself_wins() -> None:
    labels = LabelMap({"functional_app.Book": "x", "functional_app.FeaturedBook": "y"}, option="o")

    assert labels.for_model(FeaturedBook) == "y"


def test_auto_created_through_table_follows_the_model_declaring_the_field() -> None:
    through = Book.tags.through

    assert LabelMap({"functional_app.Book": "x"}, option="routes").for_model(through) == "x"
    assert LabelMap({"auth.User": "u"}, option="routes").for_model(User.groups.through) == "u"


def test_partial_app_is_reported() -> None:
    labels = LabelMap({"legacy_app.Customer": "crm", "functional_app": "lib"}, option="routes")

    assert labels.is_partial("legacy_app")
    assert not labels.is_partial("functional_app")
    assert not labels.is_partial("auth")


def test_for_migration_prefers_the_model_hint() -> None:
    labels = LabelMap({"functional_app.Shelf": "s", "functional_app": "lib"}, option="routes")

    assert labels.for_migration("functional_app", {"model": Shelf}) == "s"
    assert labels.for_migration("functional_app", {"model_name": "shelf"}) == "s"
    assert labels.for_migration("functional_app", {"model_name": "book"}) == "lib"
    assert labels.for_migration("functional_app", {}) == "lib"


@pytest.mark.parametrize("labels", ["reviews", 3, ["a.b.c"], [""], [None]])
def test_bad_labels_are_refused_naming_the_option(labels: object) -> None:
    with pytest.raises(RouterOptionError, match="apps"):
        Scope(labels, option="apps")  # type: ignore[arg-type]


def test_string_instead_of_list_suggests_the_fix() -> None:
    with pytest.raises(RouterOptionError, match=r"write apps=\['reviews'\]"):
        Scope("reviews")  # type: ignore[arg-type]


def test_scope_of_everything_covers_every_model() -> None:
    scope = Scope(None)

    assert scope.everything
    assert scope.covers(Note)
    assert scope.covers_migration("anything", {})


def test_scope_covers_named_models_only() -> None:
    scope = Scope(["legacy_app.Customer"])

    assert not scope.everything
    assert scope.covers(Customer)
    assert not scope.covers(Note)
    assert scope.covers_migration("legacy_app", {"model_name": "customer"}) is True
    assert scope.covers_migration("legacy_app", {"model_name": "note"}) is False
    assert scope.covers_migration("legacy_app", {}) is None
    assert scope.covers_migration("auth", {}) is False


def test_scope_repr_names_its_labels() -> None:
    assert repr(Scope(["reviews"])) == "Scope(['reviews'])"
    assert repr(Scope(None)) == "Scope(everything)"


def test_covered_models_asks_the_scope_once_per_model() -> None:
    asked: list[type] = []
    scope = Scope(["legacy_app.Customer"])

    def covers(model: type) -> bool:
        asked.append(model)
        return scope.covers(model)

    covered = CoveredModels(covers)

    assert [covered[Customer], covered[Note], covered[Customer], covered[Note]] == [
        True,
        False,
        True,
        False,
    ]
    assert asked == [Customer, Note]
