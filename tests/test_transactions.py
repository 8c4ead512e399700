"""``multidb_routers.atomic()``: a transaction on the alias the routers write a model to."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connections, transaction

from multidb_routers import PrimaryReplicaRouter, atomic
from multidb_routers.transactions import atomic as atomic_class
from tests.testapps.functional_app.models import Shelf
from tests.testapps.legacy_app.models import Note
from tests.testapps.replica_app.models import Review

ALIASES = ["default", "reviews", "library", "legacy", "master-a", "master-b"]


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
