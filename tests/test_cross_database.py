"""CrossDatabaseWriteWarning: a routed write outside the transaction the code holds open."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connections, transaction
from django.test import TestCase, override_settings

from multidb_routers import CrossDatabaseWriteError, CrossDatabaseWriteWarning, atomic
from multidb_routers.cross_database import check_cross_database_writes_setting
from tests.testapps.functional_app.models import Book, Shelf, Tag
from tests.testapps.legacy_app.models import Note
from tests.testapps.replica_app.models import Review

if TYPE_CHECKING:
    from collections.abc import Callable

ALIASES = ["default", "reviews", "reviews_replica1", "library", "users", "legacy"]
# A TestCase leaves SQLite mirrors out: their connection to the shared in-memory database
# finds tables locked by the test's transaction (see tests/replication/test_testcase_routing.py).
TEST_CASE_ALIASES = [alias for alias in ALIASES if alias != "reviews_replica1"]
REVIEW_WARNING = (
    r"A write of replica_app\.Review was routed to 'reviews' inside a transaction on "
    r"'default' but outside any transaction on 'reviews'"
)


def _create() -> None:
    Review.objects.create(title="created")


def _save() -> None:
    Review(title="saved").save()


def _save_existing() -> None:
    review = Review.objects.using("reviews").get()
    review.stars = 1
    review.save()


def _update() -> None:
    Review.objects.filter(title="existing").update(stars=2)


def _delete_queryset() -> None:
    Review.objects.filter(title="existing").delete()


def _delete_instance() -> None:
    Review.objects.using("reviews").get().delete()


def _bulk_create() -> None:
    Review.objects.bulk_create([Review(title="one"), Review(title="two")])


def _get_or_create() -> None:
    Review.objects.get_or_create(title="new one")


def _update_or_create() -> None:
    Review.objects.update_or_create(title="existing", defaults={"stars": 3})


WRITES: list[Callable[[], None]] = [
    _create,
    _save,
    _save_existing,
    _update,
    _delete_queryset,
    _delete_instance,
    _bulk_create,
    _get_or_create,
    _update_or_create,
]


@pytest.fixture
def existing_review() -> Review:
    return Review.objects.using("reviews").create(title="existing")


@pytest.mark.django_db(databases=ALIASES, transaction=True)
@pytest.mark.usefixtures("existing_review")
@pytest.mark.parametrize("write", WRITES, ids=lambda write: write.__name__.strip("_"))
def test_every_kind_of_routed_write_outside_the_open_transaction_warns(
    write: Callable[[], None],
) -> None:
    with (
        pytest.warns(CrossDatabaseWriteWarning, match=REVIEW_WARNING) as caught,
        transaction.atomic(using="default"),
    ):
        write()

    assert "multidb_routers.atomic(Review)" in str(caught[0].message)
    # Pointed at the code that wrote, not at Django's or this library's internals.
    assert caught[0].filename == __file__


@pytest.mark.django_db(databases=ALIASES, transaction=True)
@pytest.mark.usefixtures("existing_review")
def test_a_write_still_warns_while_a_routing_listener_instruments_the_router() -> None:
    from multidb_routers.routes import Route, listen

    routes: list[Route] = []
    with (
        listen(routes.append),
        pytest.warns(CrossDatabaseWriteWarning, match=REVIEW_WARNING),
        transaction.atomic(using="default"),
    ):
        _create()

    assert [(route.action, route.alias) for route in routes] == [("write", "reviews")]


@pytest.mark.django_db(databases=ALIASES, transaction=True)
@pytest.mark.usefixtures("existing_review")
@pytest.mark.parametrize("write", WRITES, ids=lambda write: write.__name__.strip("_"))
def test_the_same_writes_inside_the_routed_transaction_do_not_warn(
    write: Callable[[], None],
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", CrossDatabaseWriteWarning)
        with transaction.atomic(using="default"), atomic(Review):
            write()
        Review.objects.using("reviews").get_or_create(title="existing")
        with atomic(Review), transaction.atomic(using="default"):
            write()  # the outer block on reviews holds it


@pytest.mark.django_db(databases=ALIASES, transaction=True)
def test_a_write_no_router_decides_is_checked_too() -> None:
    with (
        pytest.warns(CrossDatabaseWriteWarning, match=r"legacy_app\.Note was routed to 'default'"),
        atomic(Review),
    ):
        Note.objects.create(text="on default")


@pytest.mark.django_db(databases=ALIASES, transaction=True)
def test_related_managers_writes_are_checked() -> None:
    shelf = Shelf.objects.create(name="shelf")
    book = Book.objects.create(title="book", shelf=shelf)
    tag = Tag.objects.create(name="tag")

    with (
        pytest.warns(CrossDatabaseWriteWarning, match="routed to 'library'"),
        transaction.atomic(using="default"),
    ):
        book.tags.add(tag)
    with (
        pytest.warns(CrossDatabaseWriteWarning, match="routed to 'library'"),
        transaction.atomic(using="default"),
    ):
        shelf.books.create(title="second")


@pytest.mark.django_db(databases=ALIASES, transaction=True)
def test_every_alias_holding_a_transaction_is_named() -> None:
    with (
        pytest.warns(CrossDatabaseWriteWarning) as caught,
        transaction.atomic(using="default"),
        transaction.atomic(using="legacy"),
    ):
        Review.objects.create(title="x")

    assert "inside a transaction on 'default', 'legacy' but outside" in str(caught[0].message)


@pytest.mark.django_db(databases=ALIASES, transaction=True)
def test_reads_explicit_aliases_and_no_transaction_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", CrossDatabaseWriteWarning)
        Review.objects.create(title="no transaction anywhere")
        with transaction.atomic(using="default"):
            assert Review.objects.count() == 1
            assert list(Review.objects.select_related(None).values_list("title", flat=True))
            Review.objects.using("reviews").create(title="explicit alias: the caller's choice")
            Review.objects.using("reviews").filter(title="x").update(stars=1)


@pytest.mark.django_db(databases=ALIASES, transaction=True)
def test_a_transaction_on_a_test_mirror_counts_as_one_on_the_database_it_mirrors() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", CrossDatabaseWriteWarning)
        with transaction.atomic(using="reviews_replica1"):
            pass  # no write here: SQLite's shared memory database lets one writer
        assert connections["reviews_replica1"].settings_dict["TEST"]["MIRROR"] == "reviews"
        with transaction.atomic(using="reviews_replica1"):
            Review.objects.filter(title="none").update(stars=1)


@pytest.mark.django_db(databases=ALIASES, transaction=True)
def test_contrib_apps_own_writes_are_not_reported() -> None:
    # The admin logs a change where its router says (users), inside the block its view
    # opened on the changed model's alias (library): the application cannot move it.
    user = User.objects.create(username="admin")
    shelf = Shelf.objects.create(name="shelf")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CrossDatabaseWriteWarning)
        with transaction.atomic(using="library"):
            if hasattr(LogEntry.objects, "log_actions"):  # Django 5.1+
                LogEntry.objects.log_actions(
                    user_id=user.pk, queryset=[shelf], action_flag=ADDITION, single_object=True
                )
            else:  # pragma: no cover - Django 4.2
                LogEntry.objects.log_action(
                    user_id=user.pk,
                    content_type_id=ContentType.objects.get_for_model(Shelf).pk,
                    object_id=str(shelf.pk),
                    object_repr=str(shelf),
                    action_flag=ADDITION,
                )
    assert LogEntry.objects.using("users").count() == 1


@pytest.mark.django_db(databases=ALIASES, transaction=True)
def test_the_error_mode_raises_before_the_write(settings: Any) -> None:
    settings.MULTIDB_ROUTERS_CROSS_DATABASE_WRITES = "error"

    with (
        pytest.raises(CrossDatabaseWriteError, match=REVIEW_WARNING),
        transaction.atomic(using="default"),
    ):
        Review.objects.create(title="refused")

    assert not Review.objects.using("reviews").exists()
    assert issubclass(CrossDatabaseWriteError, transaction.TransactionManagementError)


@pytest.mark.django_db(databases=ALIASES, transaction=True)
def test_the_ignore_mode_says_nothing(settings: Any) -> None:
    settings.MULTIDB_ROUTERS_CROSS_DATABASE_WRITES = "ignore"

    with warnings.catch_warnings():
        warnings.simplefilter("error", CrossDatabaseWriteWarning)
        with transaction.atomic(using="default"):
            Review.objects.create(title="ignored")

    assert Review.objects.using("reviews").count() == 1


@pytest.mark.django_db(databases=ALIASES, transaction=True)
def test_the_setting_is_read_at_call_time(settings: Any) -> None:
    with transaction.atomic(using="default"):
        with pytest.warns(CrossDatabaseWriteWarning):
            Review.objects.create(title="warned")
        with (
            override_settings(MULTIDB_ROUTERS_CROSS_DATABASE_WRITES="error"),
            pytest.raises(CrossDatabaseWriteError),
        ):
            Review.objects.create(title="refused")


@pytest.mark.parametrize("value", ["warn", "error", "ignore"])
def test_the_check_accepts_the_three_modes(settings: Any, value: str) -> None:
    settings.MULTIDB_ROUTERS_CROSS_DATABASE_WRITES = value
    assert check_cross_database_writes_setting() == []


BAD_VALUES = ["Warn", "ERROR", " warn", "warn ", "warning", "errors", "", "off", None, True, 1]


@pytest.mark.parametrize("value", BAD_VALUES)
def test_the_check_refuses_every_other_spelling_naming_the_valid_values(
    settings: Any, value: object
) -> None:
    settings.MULTIDB_ROUTERS_CROSS_DATABASE_WRITES = value

    [error] = check_cross_database_writes_setting()

    assert error.id == "multidb_routers.E070"
    assert error.msg == (
        f"MULTIDB_ROUTERS_CROSS_DATABASE_WRITES is {value!r}: set it to one of "
        "'warn', 'error', 'ignore'."
    )
    assert "'warn' (the default)" in error.hint


def test_manage_py_check_fails_on_a_bad_value(settings: Any) -> None:
    settings.MULTIDB_ROUTERS_CROSS_DATABASE_WRITES = "raise"
    with pytest.raises(SystemCheckError, match="E070"):
        call_command("check")


@pytest.mark.django_db(databases=ALIASES, transaction=True)
@pytest.mark.parametrize("value", ["Error", None])
def test_a_bad_value_at_run_time_is_improperly_configured_naming_the_fix(
    settings: Any, value: object
) -> None:
    settings.MULTIDB_ROUTERS_CROSS_DATABASE_WRITES = value
    with (
        pytest.raises(ImproperlyConfigured, match="set it to one of 'warn', 'error', 'ignore'"),
        transaction.atomic(using="default"),
    ):
        Review.objects.create(title="x")
    assert not Review.objects.using("reviews").exists()


# -- Django's TestCase: its own blocks on every database never count --------------------------


@pytest.mark.django_db(databases=TEST_CASE_ALIASES)
def test_in_a_test_case_writes_anywhere_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", CrossDatabaseWriteWarning)
        Review.objects.create(title="review")
        Note.objects.create(text="note")
        Shelf.objects.create(name="shelf")


@pytest.mark.django_db(databases=TEST_CASE_ALIASES)
def test_in_a_test_case_the_code_own_transaction_still_counts() -> None:
    with (
        pytest.warns(CrossDatabaseWriteWarning, match=REVIEW_WARNING),
        transaction.atomic(using="default"),
    ):
        Review.objects.create(title="outside the code's transaction")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CrossDatabaseWriteWarning)
        with transaction.atomic(using="default"), atomic(Review):
            Review.objects.create(title="inside")


class CrossDatabaseWritesInADjangoTestCase(TestCase):
    databases = set(TEST_CASE_ALIASES)

    @classmethod
    def setUpTestData(cls) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error", CrossDatabaseWriteWarning)
            cls.review = Review.objects.create(title="set up")
            Note.objects.create(text="set up")

    def test_plain_writes_do_not_warn(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error", CrossDatabaseWriteWarning)
            self.review.stars = 1
            self.review.save()
            Note.objects.all().delete()

    def test_a_write_outside_the_code_transaction_warns(self) -> None:
        with (
            self.assertWarnsRegex(CrossDatabaseWriteWarning, REVIEW_WARNING),
            transaction.atomic(using="default"),
        ):
            Review.objects.filter(pk=self.review.pk).update(stars=2)


@pytest.mark.django_db(databases=ALIASES, transaction=True)
def test_code_run_by_exec_without_a_module_name_is_warned_too() -> None:
    code = 'with atomic(Note):\n    Review.objects.create(title="from exec")\n'
    with pytest.warns(CrossDatabaseWriteWarning) as caught:
        exec(compile(code, "<snippet>", "exec"), {"Review": Review, "Note": Note, "atomic": atomic})
    assert caught[0].filename == "<snippet>"
