"""MergedQuerySet on its own: two disjoint querysets of one database, merged as one."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType

from multidb_routers.merge import MergedQuerySet
from tests.functional_app.models import Book, Shelf, Tag

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
