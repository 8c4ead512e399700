"""atomic(Model) and lagging_replicas() against the real primary and its lagging standby.

The standby applies commits 300 ms late and refuses every write (a hot standby): a read
or a write that reaches it inside the code's transaction would be visible, in the
statement log or as an error.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import InternalError, connections, router
from django.test import Client

from multidb_routers import PrimaryReplicaRouter, atomic, use_primary
from multidb_routers.testing import lagging_replicas
from tests.postgres import reviews as pg_reviews
from tests.postgres.plugin import wait_for_standby
from tests.postgres.reviews import PRIMARY, STANDBY, StatementLog
from tests.testapps.replica_app.models import Comment, Label, Product, Review

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.urls(pg_reviews.__name__),
    pytest.mark.usefixtures("pg_review_tables"),
]
TRANSACTIONAL = pytest.mark.django_db(transaction=True, databases=[PRIMARY, STANDBY])
TEST_CASE = pytest.mark.django_db(databases=[PRIMARY, STANDBY])


def route(settings: Any, **options: Any) -> None:
    settings.DATABASE_ROUTERS = [
        PrimaryReplicaRouter(primary=PRIMARY, replicas=[STANDBY], apps=["replica_app"], **options)
    ]
    settings.MIDDLEWARE = ["multidb_routers.middleware.PinningMiddleware"]


@pytest.fixture(scope="module")
def committed_review_tables(django_db_setup: None, django_db_blocker: Any) -> None:
    """replica_app's tables committed before any TestCase transaction starts.

    The standby must have them: pg_review_tables, run inside a TestCase's transaction
    when no earlier test made them, would leave them uncommitted.
    """
    with django_db_blocker.unblock():
        connection = connections[PRIMARY]
        existing = set(connection.introspection.table_names())
        with connection.schema_editor() as editor:
            for model in (Review, Comment):
                if model._meta.db_table not in existing:
                    editor.create_model(model)
        wait_for_standby()


@pytest.fixture
def unpinned(settings: Any) -> None:
    """Writes pin nothing: only the open transaction can keep reads on the primary."""
    route(settings, pin_writes=False)


@pytest.fixture
def generic_tables(pg_wait_for_standby: Callable[[], float]) -> Iterator[None]:
    """Product, Label and content types on the primary (the generic relation looks there)."""
    connection = connections[PRIMARY]
    existing = set(connection.introspection.table_names())
    with connection.schema_editor() as editor:
        for model in (ContentType, Product, Label):
            if model._meta.db_table not in existing:
                editor.create_model(model)
    pg_wait_for_standby()
    ContentType.objects.clear_cache()
    yield
    ContentType.objects.clear_cache()


# -- reads inside the transaction -------------------------------------------------------------


@TRANSACTIONAL
@pytest.mark.usefixtures("unpinned")
def test_for_update_get_or_create_and_update_or_create_never_reach_the_standby(
    statements: StatementLog,
) -> None:
    review = Review.objects.using(PRIMARY).create(title="locked")
    statements.clear()

    with atomic(Review):
        assert Review.objects.select_for_update().get(pk=review.pk).title == "locked"
        made, created = Review.objects.get_or_create(title="made")
        Review.objects.update_or_create(title="locked", defaults={"stars": 1})
        # Written 0 ms ago, uncommitted: only the primary's transaction has these rows.
        assert Review.objects.get(pk=made.pk).title == "made"
        assert Review.objects.get(pk=review.pk).stars == 1

    assert created
    assert [alias for alias, _ in statements.statements if alias == STANDBY] == []


@TRANSACTIONAL
@pytest.mark.usefixtures("unpinned", "generic_tables")
def test_generic_relation_writes_stay_on_the_primary_inside_the_transaction(
    statements: StatementLog,
) -> None:
    product = Product.objects.using(PRIMARY).create(name="anvil")
    product.labels.create(text="heavy")
    statements.clear()

    with atomic(product):
        assert product.labels.update(text="very heavy") == 1
        assert list(product.labels.values_list("text", flat=True)) == ["very heavy"]

    assert [alias for alias, _ in statements.statements if alias == STANDBY] == []
    assert Label.objects.using(PRIMARY).get().text == "very heavy"
    # Django #36389: outside, the update is routed as a read, and the standby refuses it.
    with pytest.raises(InternalError, match="read-only transaction"):
        product.labels.update(text="refused")
    connections[STANDBY].close()


# -- lagging_replicas() -----------------------------------------------------------------------


@TRANSACTIONAL
def test_the_frozen_standby_has_what_was_committed_before_not_what_is_written_inside(
    settings: Any,
) -> None:
    route(settings, pin_writes=False)
    before = Review.objects.using(PRIMARY).create(title="before")  # not replayed yet

    with lagging_replicas():
        inside = Review.objects.using(PRIMARY).create(title="inside")
        time.sleep(0.6)  # twice the standby's apply delay: it has replayed "inside" by now
        assert router.db_for_read(Review) == STANDBY
        assert Review.objects.filter(pk=before.pk).exists()
        assert not Review.objects.filter(pk=inside.pk).exists()
        with use_primary():
            assert Review.objects.filter(pk=inside.pk).exists()

    assert Review.objects.filter(pk=inside.pk).exists()  # the standby's own connection
    assert Review.objects.filter(pk=inside.pk).db == STANDBY


@TRANSACTIONAL
def test_in_a_transactional_test_a_view_sees_its_write_only_through_the_pin(
    settings: Any,
) -> None:
    route(settings)
    with lagging_replicas():
        assert Client().post("/reviews/", {"title": "pinned"}, follow=True).json() == {
            "found": True
        }
        settings.MIDDLEWARE = []
        time.sleep(0.6)
        assert Client().post("/reviews/", {"title": "lost"}, follow=True).json() == {"found": False}


@TEST_CASE
@pytest.mark.usefixtures("committed_review_tables")
def test_in_a_test_case_a_view_sees_its_write_only_through_the_pin(settings: Any) -> None:
    route(settings)
    with lagging_replicas():
        assert Client().post("/reviews/", {"title": "pinned"}, follow=True).json() == {
            "found": True
        }
        settings.MIDDLEWARE = []
        assert Client().post("/reviews/", {"title": "lost"}, follow=True).json() == {"found": False}
    # Without the block, a TestCase reads from the primary and the missing pin is unnoticed.
    assert Client().post("/reviews/", {"title": "unnoticed"}, follow=True).json() == {"found": True}
