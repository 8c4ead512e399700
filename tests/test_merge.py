"""MergedQuerySet on its own: two disjoint querysets of one database, merged as one."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connections
from django.db.models import F, Sum
from django.db.models.functions import Length
from django.db.models.query import ModelIterable
from django.test.utils import CaptureQueriesContext

from multidb_routers.merge import MergedQuerySet
from tests.testapps.functional_app.models import Book, Shelf, Tag

pytestmark = pytest.mark.django_db(databases=["default", "library", "users"])


@pytest.fixture
def books() -> list[Book]:
    shelves = [Shelf.objects.create(name=name) for name in ("oak", "pine")]
    tags = [Tag.objects.create(name=name) for name in ("z", "y", "x")]
    made = []
    for number, title in enumerate(["e", "a", "d", "b", "f", "c"]):
        book = Book.objects.create(title=title, shelf=shelves[number % 2])
        book.tags.set([tags[(number * 2) % 3]])
        made.append(book)
    return made


def _merged(books: list[Book]) -> MergedQuerySet:
    """The books in two halves by primary key, both on the library database."""
    middle = books[2].pk
    source = Book.objects.using("library")
    return MergedQuerySet(
        [source.filter(pk__lte=middle), source.filter(pk__gt=middle)], labels=["low", "high"]
    )


def test_a_merged_queryset_needs_sources_and_one_label_each() -> None:
    source = Book.objects.using("library")
    with pytest.raises(ValueError, match="at least one"):
        MergedQuerySet([])
    with pytest.raises(ValueError, match="one label each"):
        MergedQuerySet([source, source], labels=["only"])


def test_repr_names_the_model_and_the_sources(books: list[Book]) -> None:
    assert repr(_merged(books)) == "<MergedQuerySet of functional_app.Book over low, high>"


def test_indexing_and_slicing_take_the_rows_of_the_merged_order(books: list[Book]) -> None:
    merged = _merged(books).order_by("title")
    titles = ["a", "b", "c", "d", "e", "f"]

    assert [book.title for book in merged[1:5][1:10]] == titles[2:5]
    assert [book.title for book in merged[1:5][:2]] == titles[1:3]
    assert merged[4].title == "e"
    assert merged[1:5][3].title == "e"
    with pytest.raises(IndexError):
        merged[6]
    with pytest.raises(ValueError, match="Negative"):
        merged[-1]
    for bad in (slice(None, None, 2), slice(-2, None), slice(None, -1)):
        with pytest.raises(ValueError, match="no step"):
            merged[bad]


def test_an_evaluated_queryset_indexes_its_rows_without_querying(books: list[Book]) -> None:
    merged = _merged(books).order_by("-title")
    list(merged)
    with CaptureQueriesContext(connections["library"]) as queries:
        assert merged[2].title == "d"
    assert len(queries) == 0


def test_a_slice_counts_tests_and_gets_within_itself(books: list[Book]) -> None:
    merged = _merged(books).order_by("title")

    assert merged[2:4].count() == 2
    assert merged[2:4].exists()
    assert not merged[6:].exists()
    assert merged[3:4].get().title == "d"
    with pytest.raises(Book.MultipleObjectsReturned):
        merged[3:5].get()


def test_truth_is_whether_there_are_rows(books: list[Book]) -> None:
    merged = _merged(books)
    assert merged
    assert not merged.filter(title="nothing")


def test_ordered_tells_whether_the_merge_has_an_order(books: list[Book]) -> None:
    merged = _merged(books)
    assert not merged.ordered
    assert merged.order_by("title").ordered


def test_once_sliced_it_refuses_to_change_or_aggregate(books: list[Book]) -> None:
    sliced = _merged(books)[1:3]
    with pytest.raises(TypeError, match="sliced"):
        sliced.filter(title="a")
    with pytest.raises(TypeError, match="sliced"):
        sliced.last()
    with pytest.raises(TypeError, match="sliced"):
        sliced.aggregate(Sum("pk"))


def test_an_aggregate_of_an_expression_needs_an_alias(books: list[Book]) -> None:
    merged = _merged(books)
    with pytest.raises(TypeError, match="require an alias"):
        merged.aggregate(Sum(F("pk") + 1))
    assert merged.aggregate(total=Sum(F("pk") + 1)) == {"total": sum(book.pk + 1 for book in books)}


def test_all_is_a_copy_evaluated_afresh(books: list[Book]) -> None:
    merged = _merged(books)
    assert len(merged) == 6
    Book.objects.create(title="g", shelf=books[0].shelf)
    assert len(merged) == 6
    assert len(merged.all()) == 7


def test_select_related_and_prefetch_related_load_relations_with_the_rows(
    books: list[Book],
) -> None:
    merged = _merged(books).order_by("title").select_related("shelf").prefetch_related("tags")
    rows = list(merged)
    with CaptureQueriesContext(connections["library"]) as queries:
        shelves = [book.shelf.name for book in rows]
        tags = [[tag.name for tag in book.tags.all()] for book in rows]
    assert len(queries) == 0
    by_title = {book.title: book for book in books}
    assert shelves == [by_title[title].shelf.name for title in "abcdef"]
    assert tags == [[tag.name for tag in by_title[title].tags.all()] for title in "abcdef"]


def test_only_and_defer_choose_the_loaded_fields(books: list[Book]) -> None:
    merged = _merged(books)
    assert {frozenset(book.get_deferred_fields()) for book in merged.only("title")} == {
        frozenset({"shelf_id"})
    }
    assert {frozenset(book.get_deferred_fields()) for book in merged.defer("title")} == {
        frozenset({"title"})
    }


def test_ordering_by_a_many_to_many_or_reverse_relation_merges_on_the_related_key(
    books: list[Book],
) -> None:
    # Regression: the merge read the many-to-many manager of each row as its sort value.
    merged = _merged(books)
    expected = Book.objects.using("library").order_by("-tags", "title", "pk")
    assert [book.pk for book in merged.order_by("-tags", "title")] == [book.pk for book in expected]
    shelves = MergedQuerySet(
        [Shelf.objects.using("library").filter(name=n) for n in ("oak", "pine")]
    )
    assert [shelf.name for shelf in shelves.order_by("-books")] == [
        shelf.name for shelf in Shelf.objects.using("library").order_by("-books", "pk")
    ]


def test_ordering_by_a_relation_its_model_orders_is_refused() -> None:
    # Django orders the sources by Permission.Meta.ordering, which the merge cannot follow.
    group = Group.objects.create(name="editors")
    content_type = ContentType.objects.get_for_model(Group)
    permissions = [
        Permission.objects.create(codename=code, name=code, content_type=content_type)
        for code in "zyxw"
    ]
    group.permissions.set(permissions)
    links = Group.permissions.through.objects.using("users")
    merged = MergedQuerySet([links.filter(permission__codename__in=half) for half in ("zx", "yw")])

    for ordered in (
        merged.order_by("permission"),
        merged.values("permission").order_by("permission"),  # regression: merged by id
        MergedQuerySet([Group.objects.using("users")]).order_by("permissions"),
    ):
        with pytest.raises(TypeError, match=r"Meta\.ordering"):
            list(ordered)
    codenames = merged.values_list("permission__codename", flat=True)
    assert list(codenames.order_by("permission_id")) == ["z", "y", "x", "w"]
    assert list(codenames.order_by("permission__codename")) == ["w", "x", "y", "z"]


class _CustomIterable(ModelIterable):  # type: ignore[type-arg]
    """Rows read some other way, as a third-party queryset might."""


@pytest.mark.parametrize(
    "change",
    [
        lambda qs: qs.extra(order_by=["title"]),
        lambda qs: qs.order_by(Length("title")),
    ],
    ids=["extra", "expression"],
)
def test_orderings_it_cannot_follow_are_refused(books: list[Book], change: Any) -> None:
    merged = MergedQuerySet([change(Book.objects.using("library"))])
    with pytest.raises(TypeError, match="ordered"):
        list(merged)


def test_rows_of_an_unknown_iterable_class_are_refused(books: list[Book]) -> None:
    source = Book.objects.using("library").all()
    source._iterable_class = _CustomIterable
    with pytest.raises(TypeError, match="_CustomIterable"):
        list(MergedQuerySet([source]))
