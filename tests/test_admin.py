"""The admin mixins, through the test client as a superuser.

The view tests run twice: with the test settings' router, which sends
``functional_app`` to ``library`` as the admins do, and with no router for it, so
that only the admins' ``using`` keeps the rows on ``library`` (the router would say
``default``, which has no such tables).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.sites import all_sites
from django.contrib.auth.models import Permission
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connections, models
from django.urls import reverse

from multidb_routers import FunctionalRouter
from multidb_routers.admin import MultiDBModelAdmin, MultiDBStackedInline, MultiDBTabularInline
from tests.testapps.functional_app.admin import BookInline
from tests.testapps.functional_app.models import Book, Shelf, Tag

if TYPE_CHECKING:
    from collections.abc import Iterator

    from django.contrib.auth.models import AbstractUser
    from django.db.models import Model
    from django.test import Client, RequestFactory
    from pytest_django.fixtures import SettingsWrapper

# Every SQLite alias of the suite; the opt-in PostgreSQL ones are not needed to look for rows.
ALIASES = [alias for alias, db in settings.DATABASES.items() if db["ENGINE"].endswith("sqlite3")]

pytestmark = pytest.mark.django_db(databases=ALIASES)

ALIAS = "library"


@pytest.fixture(params=["router-agrees", "no-router-for-the-app"])
def routing(request: pytest.FixtureRequest, settings: SettingsWrapper) -> None:
    """The two router set-ups the admin must work under."""
    if request.param == "no-router-for-the-app":
        settings.DATABASE_ROUTERS = [
            FunctionalRouter(
                routes={
                    label: alias
                    for label, alias in (router.routes or {}).items()
                    if label != "functional_app"
                }
            )
            if isinstance(router, FunctionalRouter)
            else router
            for router in settings.DATABASE_ROUTERS
        ]


def holders(model: type[Model], **lookup: Any) -> list[str]:
    """The aliases whose database has a row of ``model`` matching ``lookup``."""
    return [
        alias
        for alias in ALIASES
        if model._meta.db_table in connections[alias].introspection.table_names()
        and model._default_manager.using(alias).filter(**lookup).exists()
    ]


def url(model: type[Model], view: str, *args: object) -> str:
    """The admin URL of a model's view."""
    return reverse(f"admin:functional_app_{model._meta.model_name}_{view}", args=args)


def inline_data(client: Client, page: str, rows: list[dict[str, object]]) -> dict[str, object]:
    """POST data for the page's one inline formset: its current forms, then ``rows``."""
    formset = client.get(page).context["inline_admin_formsets"][0].formset
    data: dict[str, object] = {
        f"{formset.prefix}-TOTAL_FORMS": len(rows),
        f"{formset.prefix}-INITIAL_FORMS": formset.initial_form_count(),
    }
    for index, row in enumerate(rows):
        data.update({f"{formset.prefix}-{index}-{key}": value for key, value in row.items()})
    return data


@pytest.mark.usefixtures("routing")
def test_add_saves_on_the_alias_only(admin_client: Client) -> None:
    response = admin_client.post(
        url(Shelf, "add"), {"name": "Fiction", **inline_data(admin_client, url(Shelf, "add"), [])}
    )

    assert response.status_code == 302
    assert holders(Shelf, name="Fiction") == [ALIAS]


@pytest.mark.usefixtures("routing")
def test_changelist_lists_the_rows_of_the_alias(admin_client: Client) -> None:
    Shelf.objects.using(ALIAS).create(name="Poetry")

    response = admin_client.get(url(Shelf, "changelist"))

    assert [str(shelf) for shelf in response.context["cl"].result_list] == ["Poetry"]


@pytest.mark.usefixtures("routing")
def test_change_saves_on_the_alias(admin_client: Client) -> None:
    shelf = Shelf.objects.using(ALIAS).create(name="Poetry")
    page = url(Shelf, "change", shelf.pk)

    response = admin_client.post(page, {"name": "Verse", **inline_data(admin_client, page, [])})

    assert response.status_code == 302
    assert holders(Shelf, pk=shelf.pk, name="Verse") == [ALIAS]


@pytest.mark.usefixtures("routing")
def test_history_reads_the_object_from_the_alias(admin_client: Client) -> None:
    shelf = Shelf.objects.using(ALIAS).create(name="Poetry")

    response = admin_client.get(url(Shelf, "history", shelf.pk))

    assert response.context["object"] == shelf


@pytest.mark.usefixtures("routing")
def test_delete_collects_and_deletes_on_the_alias(admin_client: Client) -> None:
    shelf = Shelf.objects.using(ALIAS).create(name="Poetry")
    book = Book.objects.using(ALIAS).create(title="Leaves of Grass", shelf=shelf)
    book.tags.add(Tag.objects.using(ALIAS).create(name="classic"))
    page = url(Shelf, "delete", shelf.pk)

    confirmation = admin_client.get(page)
    response = admin_client.post(page, {"post": "yes"})

    assert dict(confirmation.context["model_count"]) == {
        "shelfs": 1,
        "books": 1,
        "book-tag relationships": 1,
    }
    assert response.status_code == 302
    assert holders(Shelf) == holders(Book) == holders(Book.tags.through) == []


@pytest.mark.usefixtures("routing")
def test_delete_asks_for_the_permissions_of_what_cascades(
    client: Client, django_user_model: type[AbstractUser]
) -> None:
    user = django_user_model.objects.create_user("staff", password="staff", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_shelf", "delete_shelf"])
    )
    client.force_login(user)
    shelf = Shelf.objects.using(ALIAS).create(name="Poetry")
    Book.objects.using(ALIAS).create(title="Leaves of Grass", shelf=shelf)

    response = client.get(url(Shelf, "delete", shelf.pk))

    assert response.context["perms_lacking"] == {"book"}


@pytest.mark.usefixtures("routing")
def test_delete_selected_action_deletes_on_the_alias(admin_client: Client) -> None:
    shelves = [Shelf.objects.using(ALIAS).create(name=name) for name in ("A", "B", "C")]
    selected = [shelves[0].pk, shelves[1].pk]
    data = {"action": "delete_selected", "_selected_action": selected}

    confirmation = admin_client.post(url(Shelf, "changelist"), data)
    admin_client.post(url(Shelf, "changelist"), {**data, "post": "yes"})

    assert dict(confirmation.context["model_count"]) == {"shelfs": 2}
    assert list(Shelf.objects.using(ALIAS).values_list("name", flat=True)) == ["C"]


@pytest.mark.usefixtures("routing")
def test_relation_choices_come_from_the_alias(admin_client: Client) -> None:
    Shelf.objects.using(ALIAS).create(name="Only on library")
    Tag.objects.using(ALIAS).create(name="classic")

    form = admin_client.get(url(Book, "add")).context["adminform"].form

    assert [str(shelf) for shelf in form.fields["shelf"].queryset] == ["Only on library"]
    assert [str(tag) for tag in form.fields["tags"].queryset] == ["classic"]


@pytest.mark.usefixtures("routing")
def test_tabular_inline_saves_and_deletes_on_the_alias(admin_client: Client) -> None:
    shelf = Shelf.objects.using(ALIAS).create(name="Poetry")
    kept = Book.objects.using(ALIAS).create(title="Kept", shelf=shelf)
    gone = Book.objects.using(ALIAS).create(title="Gone", shelf=shelf)
    page = url(Shelf, "change", shelf.pk)
    rows: list[dict[str, object]] = [
        {"id": kept.pk, "shelf": shelf.pk, "title": "Renamed"},
        {"id": gone.pk, "shelf": shelf.pk, "title": "Gone", "DELETE": "on"},
        {"shelf": shelf.pk, "title": "New"},
    ]

    response = admin_client.post(page, {"name": "Poetry", **inline_data(admin_client, page, rows)})

    assert response.status_code == 302
    assert holders(Book, pk=kept.pk, title="Renamed") == [ALIAS]
    assert holders(Book, pk=gone.pk) == []
    assert holders(Book, title="New", shelf=shelf) == [ALIAS]


@pytest.mark.usefixtures("routing")
def test_tabular_inline_refuses_deleting_an_object_protected_on_the_alias(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if the book-tag table were declared with ForeignKey(Book, on_delete=PROTECT).
    book_field = Book.tags.through._meta.get_field("book")
    monkeypatch.setattr(book_field.remote_field, "on_delete", models.PROTECT)
    shelf = Shelf.objects.using(ALIAS).create(name="Poetry")
    book = Book.objects.using(ALIAS).create(title="Odes", shelf=shelf)
    book.tags.add(Tag.objects.using(ALIAS).create(name="lyric"))
    page = url(Shelf, "change", shelf.pk)
    rows: list[dict[str, object]] = [
        {"id": book.pk, "shelf": shelf.pk, "title": "Odes", "DELETE": "on"}
    ]

    response = admin_client.post(page, {"name": "Poetry", **inline_data(admin_client, page, rows)})

    assert response.status_code == 200
    tagging = Book.tags.through.objects.using(ALIAS).get()
    assert response.context["inline_admin_formsets"][0].formset.non_form_errors() == [
        "Deleting book Odes would require deleting the following protected related objects: "
        f"book-tag relationship {tagging}"
    ]
    assert holders(Book, pk=book.pk) == [ALIAS]


def test_inline_formset_without_commit_leaves_saving_to_the_caller(
    rf: RequestFactory, admin_user: AbstractUser
) -> None:
    shelf = Shelf.objects.using(ALIAS).create(name="Poetry")
    request = rf.get("/")
    request.user = admin_user
    inline = BookInline(Shelf, admin.site)
    formset_class = inline.get_formset(request, shelf)
    prefix = formset_class.get_default_prefix()
    data = {f"{prefix}-TOTAL_FORMS": 1, f"{prefix}-INITIAL_FORMS": 0, f"{prefix}-0-title": "Draft"}
    formset = formset_class(data, instance=shelf, queryset=inline.get_queryset(request))
    assert formset.is_valid()

    [book] = formset.save(commit=False)

    assert book.pk is None
    assert holders(Book) == []


@pytest.mark.usefixtures("routing")
def test_stacked_inline_saves_on_the_alias(admin_client: Client) -> None:
    shelf = Shelf.objects.using(ALIAS).create(name="Poetry")
    book = Book.objects.using(ALIAS).create(title="Odes", shelf=shelf)
    page = url(Tag, "add")
    rows: list[dict[str, object]] = [{"book": book.pk}]

    response = admin_client.post(page, {"name": "lyric", **inline_data(admin_client, page, rows)})

    assert response.status_code == 302
    assert holders(Book.tags.through, book=book, tag__name="lyric") == [ALIAS]


@pytest.mark.parametrize(
    ("base", "args"),
    [
        (MultiDBModelAdmin, (Book,)),
        (MultiDBTabularInline, (Shelf,)),
        (MultiDBStackedInline, (Shelf,)),
    ],
)
def test_using_is_required(base: type[Any], args: tuple[type[Model]]) -> None:
    admin_class = type("NoAliasAdmin", (base,), {"model": Book, "__module__": __name__})

    with pytest.raises(ImproperlyConfigured, match=r"NoAliasAdmin needs a database alias"):
        admin_class(*args, admin.AdminSite(name="no_alias"))


def test_using_must_be_a_string() -> None:
    admin_class = type("BadAliasAdmin", (MultiDBModelAdmin,), {"using": ["library"]})

    with pytest.raises(TypeError, match=r"BadAliasAdmin.using must be a database alias"):
        admin_class(Book, admin.AdminSite(name="bad_alias"))


@pytest.fixture
def site() -> Iterator[admin.AdminSite]:
    """An admin site seen by the system checks during one test."""
    site = admin.AdminSite(name="checked")
    yield site
    all_sites.discard(site)


def test_check_fails_on_an_unknown_alias(site: admin.AdminSite) -> None:
    inline = type("NowhereInline", (MultiDBTabularInline,), {"model": Book, "using": "nowhere"})
    model_admin = type(
        "NowhereShelfAdmin", (MultiDBModelAdmin,), {"using": "nowhere", "inlines": [inline]}
    )
    site.register(Shelf, model_admin)

    with pytest.raises(SystemCheckError) as excinfo:
        call_command("check")

    message = str(excinfo.value)
    assert message.count("multidb_routers.E004") == 2
    assert "NowhereShelfAdmin.using names the database alias 'nowhere'" in message
    assert "NowhereInline.using names the database alias 'nowhere'" in message
