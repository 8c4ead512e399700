"""``multidb_routers.atomic()``: a transaction on the alias the routers write a model to."""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import OperationalError, connections, transaction

from multidb_routers import PrimaryReplicaRouter, atomic, use_primary
from multidb_routers.replication.state import fresh_state
from multidb_routers.testing import lagging_replicas
from multidb_routers.transactions import atomic as atomic_class
from tests.testapps.functional_app.models import Shelf
from tests.testapps.legacy_app.models import Note
from tests.testapps.replica_app.models import Comment, Label, Product, Review

if TYPE_CHECKING:
    from collections.abc import Iterator

ALIASES = ["default", "reviews", "library", "legacy", "master-a", "master-b"]
REPLICAS = ["reviews_replica1", "reviews_replica2"]


class Rollback(Exception):
    """Raised to leave a block with an error."""


def create_and_fail(title: str) -> None:
    Review.objects.create(title=title)
    raise Rollback


def open_on(alias: str) -> bool:
    """Whether code (not the test's own wrapping) holds an atomic block on ``alias``."""
    blocks = connections[alias].atomic_blocks
    return bool(blocks) and not blocks[-1]._from_testcase


@pytest.mark.django_db(databases=ALIASES, transaction=True)
def test_the_block_opens_on_the_alias_the_routers_write_the_model_to() -> None:
    with atomic(Review):
        assert [alias for alias in ALIASES if open_on(alias)] == ["reviews"]
    with atomic(Shelf):
        assert [alias for alias in ALIASES if open_on(alias)] == ["library"]
    with atomic(Note):  # no router decides: Django's default
        assert [alias for alias in ALIASES if open_on(alias)] == ["default"]
    assert not any(open_on(alias) for alias in ALIASES)


@pytest.mark.django_db(databases=ALIASES, transaction=True)
def test_an_error_in_the_block_rolls_back_the_routed_write() -> None:
    @atomic(Review)
    def write_then_fail() -> None:
        Review.objects.create(title="rolled back")
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        write_then_fail()

    assert not Review.objects.using("reviews").exists()


@pytest.mark.django_db(databases=ALIASES, transaction=True)
def test_the_block_commits_the_routed_write() -> None:
    with atomic(Review):
        Review.objects.create(title="committed")
        # The write is in the transaction, so Django's own check would refuse a commit.
        assert connections["reviews"].in_atomic_block

    assert Review.objects.using("reviews").get().title == "committed"


@pytest.mark.django_db(databases=[*ALIASES, "slave"], transaction=True)
def test_an_instance_routes_to_its_own_primary(settings: Any) -> None:
    settings.DATABASE_ROUTERS = [
        PrimaryReplicaRouter(
            primary=["master-a", "master-b"], replicas=["slave"], apps=["legacy_app.Note"]
        )
    ]
    on_b = Note.objects.using("master-b").create(text="on b")
    on_a = Note.objects.using("master-a").create(text="on a")

    for note, alias in ((on_b, "master-b"), (on_a, "master-a")):
        with atomic(note):
            assert [alias for alias in ALIASES if open_on(alias)] == [alias]
            note.text = f"{note.text}!"
            note.save()

    assert Note.objects.using("master-b").get().text == "on b!"
    assert Note.objects.using("master-a").get().text == "on a!"


@pytest.mark.django_db(databases=ALIASES, transaction=True)
def test_a_decorated_function_routes_on_each_call_not_when_decorated(settings: Any) -> None:
    seen: list[str] = []

    @atomic(Review)
    def write() -> None:
        seen.extend(alias for alias in ALIASES if open_on(alias))

    write()
    settings.DATABASE_ROUTERS = [
        PrimaryReplicaRouter(primary="legacy", replicas=[], apps=["replica_app"])
    ]
    write()

    assert seen == ["reviews", "legacy"]
    assert write.__name__ == "write"


@pytest.mark.django_db(databases=ALIASES, transaction=True)
def test_blocks_nest_with_savepoints_and_an_inner_rollback_keeps_the_outer_write() -> None:
    block = atomic(Review)
    with block:
        Review.objects.create(title="outer")
        with pytest.raises(Rollback), block:
            create_and_fail("inner")
    assert list(Review.objects.using("reviews").values_list("title", flat=True)) == ["outer"]


@pytest.mark.django_db(databases=ALIASES, transaction=True)
def test_savepoint_false_rolls_back_the_whole_transaction_on_an_inner_error() -> None:
    with atomic(Review):
        Review.objects.create(title="outer")
        with pytest.raises(Rollback), atomic(Review, savepoint=False):
            create_and_fail("inner")
        assert connections["reviews"].needs_rollback
        transaction.set_rollback(False, using="reviews")  # what Django asks of such code
    # No savepoint: the inner write was not undone on its own, and committed with the rest.
    assert set(Review.objects.using("reviews").values_list("title", flat=True)) == {
        "outer",
        "inner",
    }


@pytest.mark.django_db(databases=ALIASES, transaction=True)
def test_durable_refuses_to_nest_in_the_routed_alias_transaction() -> None:
    with atomic(Review, durable=True):
        assert open_on("reviews")
    with atomic(Review), pytest.raises(RuntimeError, match="durable"), atomic(Review, durable=True):
        pass  # pragma: no cover
    # Durable is about the routed alias only: a transaction elsewhere does not count.
    with transaction.atomic(using="default"), atomic(Review, durable=True):
        assert open_on("reviews")


@pytest.mark.django_db(databases=ALIASES)
def test_durable_works_inside_the_test_case_transaction() -> None:
    with atomic(Review, durable=True):
        Review.objects.create(title="durable in a TestCase")
    assert Review.objects.count() == 1


@pytest.mark.django_db(databases=ALIASES, transaction=True)
def test_one_block_object_shared_by_threads_exits_each_threads_own_block() -> None:
    block = atomic(Review)
    entered = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(title: str) -> None:
        try:
            with block:
                Review.objects.create(title=title)
                entered.wait(timeout=5)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(title,)) for title in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # SQLite's shared in-memory database lets one writer at a time: the second thread
    # may fail to write, but each thread must leave its own block, not the other's.
    assert all(not isinstance(exc, IndexError) for exc in errors), errors
    assert set(Review.objects.using("reviews").values_list("title", flat=True)) <= {"one", "two"}


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("replica_app.Review", "not str 'replica_app.Review'; for a label"),
        (None, "not NoneType None"),
        (42, "not int 42"),
        (len, r"decorate with @atomic\(Model\), not @atomic"),
    ],
)
def test_anything_but_a_model_or_an_instance_is_a_type_error(argument: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        atomic(argument)


def test_an_abstract_model_cannot_be_routed() -> None:
    from tests.testapps.shard_app.models import ReviewFields

    with pytest.raises(TypeError, match="abstract model ReviewFields"):
        atomic(ReviewFields)


@pytest.mark.parametrize("name", ["savepoint", "durable"])
@pytest.mark.parametrize("value", ["yes", 1, 0, None])
def test_savepoint_and_durable_must_be_booleans(name: str, value: Any) -> None:
    with pytest.raises(TypeError, match=rf"atomic\(\) {name} must be True or False, not "):
        atomic(Review, **{name: value})


def test_the_bare_decorator_applied_to_a_function_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="@atomic"):

        @atomic  # type: ignore[arg-type]
        def write() -> None:  # pragma: no cover
            pass


def test_a_coroutine_function_is_refused_with_the_sync_to_async_way() -> None:
    async def write() -> None:  # pragma: no cover
        pass

    with pytest.raises(TypeError, match="sync_to_async"):
        atomic(Review)(write)


def test_the_public_name_is_the_transactions_module_class() -> None:
    assert atomic is atomic_class
    assert repr(atomic(Review)) == "atomic(replica_app.Review, savepoint=True, durable=False)"


# -- reads inside the transaction go to the primary ------------------------------------------


class StatementsOn:
    """Records the statements sent through the replicas' connections."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.seen.append((context["connection"].alias, sql))
        return execute(sql, params, many, context)


@pytest.fixture
def replica_statements() -> Iterator[StatementsOn]:
    recorder = StatementsOn()
    with contextlib.ExitStack() as stack:
        for alias in REPLICAS:
            stack.enter_context(connections[alias].execute_wrapper(recorder))
        yield recorder


@pytest.fixture
def unpinned(settings: Any) -> None:
    """Writes pin nothing: only the open transaction can keep reads on the primary."""
    settings.DATABASE_ROUTERS = [
        PrimaryReplicaRouter(
            primary="reviews", replicas=REPLICAS, apps=["replica_app"], pin_writes=False
        )
    ]


@pytest.fixture
def content_types_on_reviews(transactional_db: None) -> Iterator[None]:
    """django_content_type on the reviews database (the generic relation looks there)."""
    connection = connections["reviews"]
    with connection.schema_editor() as editor:
        editor.create_model(ContentType)
    ContentType.objects.clear_cache()
    try:
        yield
    finally:
        ContentType.objects.clear_cache()
        with connection.schema_editor() as editor:
            editor.delete_model(ContentType)


@pytest.mark.django_db(databases=[*ALIASES, *REPLICAS], transaction=True)
@pytest.mark.usefixtures("unpinned")
def test_reads_for_update_and_get_or_create_in_the_transaction_stay_on_the_primary(
    replica_statements: StatementsOn,
) -> None:
    review = Review.objects.using("reviews").create(title="locked")
    with atomic(Review):
        assert Review.objects.select_for_update().get(pk=review.pk).title == "locked"
        created, was_created = Review.objects.get_or_create(title="made")
        updated, _ = Review.objects.update_or_create(title="locked", defaults={"stars": 1})
        assert Review.objects.get(pk=created.pk)._state.db == "reviews"
        assert Review.objects.filter(pk=review.pk).get().stars == 1
        assert Comment.objects.filter(review=review).db == "reviews"

    assert was_created
    assert (created._state.db, updated._state.db) == ("reviews", "reviews")
    assert replica_statements.seen == []
    # Outside the transaction, reads do go to the replicas (what was kept off them).
    assert Review.objects.filter(pk=review.pk).exists()
    assert {alias for alias, _ in replica_statements.seen} <= set(REPLICAS)
    assert replica_statements.seen


@pytest.mark.django_db(databases=[*ALIASES, *REPLICAS], transaction=True)
@pytest.mark.usefixtures("content_types_on_reviews", "unpinned")
def test_generic_relation_writes_in_the_transaction_never_reach_a_replica(
    replica_statements: StatementsOn,
) -> None:
    product = Product.objects.using("reviews").create(name="anvil")
    product.labels.create(text="heavy")
    replica_statements.seen.clear()

    with atomic(product):
        assert product.labels.update(text="very heavy") == 1
        product.labels.filter(text="none").delete()
        assert list(product.labels.values_list("text", flat=True)) == ["very heavy"]

    assert replica_statements.seen == []
    assert Label.objects.using("reviews").get().text == "very heavy"
    product.labels.update(text="outside")  # Django #36389: routed as a read
    assert {alias for alias, _ in replica_statements.seen} <= set(REPLICAS)
    assert any(sql.startswith("UPDATE") for _, sql in replica_statements.seen)


@pytest.mark.django_db(databases=[*ALIASES, *REPLICAS], transaction=True)
@pytest.mark.usefixtures("content_types_on_reviews")
def test_outside_a_transaction_django_36389_sends_them_to_a_replica_and_a_lagging_one_refuses(
    replica_statements: StatementsOn,
) -> None:
    # Django routes a generic relation's update() as a read. A test mirror writes the shared
    # test database, hiding the bug; the frozen view of lagging_replicas() is read-only.
    product = Product.objects.using("reviews").create(name="anvil")
    product.labels.create(text="heavy")
    with fresh_state(), lagging_replicas(), pytest.raises(OperationalError, match="readonly"):
        product.labels.update(text="lost")
    with fresh_state(), use_primary():
        assert product.labels.update(text="kept") == 1
    assert Label.objects.using("reviews").get().text == "kept"
