"""multidb_routers.contrib.tasks with the framework's own backends, in this process (SQLite).

``django.tasks`` on Django 6.0+, else the ``django-tasks`` backport; skipped without either.
A real worker in another process (RQ, over Redis, against the lagging PostgreSQL standby)
is in test_tasks_rq.py.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from typing import TYPE_CHECKING, Any

import pytest
from django.db import router

from multidb_routers.consistency import capture
from multidb_routers.replication.state import fresh_state
from tests.testapps.replica_app.models import Review

if TYPE_CHECKING:
    from types import ModuleType

REPLICAS = ("reviews_replica1", "reviews_replica2")
pytestmark = pytest.mark.django_db(databases=["default", "reviews", *REPLICAS], transaction=True)


def _framework_prefix() -> str:
    try:
        importlib.import_module("django.tasks")
    except ImportError:
        pytest.importorskip("django_tasks", reason="neither django.tasks nor django-tasks")
        return "django_tasks.backends"
    return "django.tasks.backends"


@pytest.fixture
def defs(settings: Any) -> ModuleType:
    """tests/contrib/task_defs.py, with its backends configured."""
    prefix = _framework_prefix()
    settings.TASKS = {
        "default": {"BACKEND": f"{prefix}.immediate.ImmediateBackend"},
        "immediate": {"BACKEND": f"{prefix}.immediate.ImmediateBackend"},
        "dummy": {"BACKEND": f"{prefix}.dummy.DummyBackend"},
    }
    sys.modules.pop("tests.contrib.task_defs", None)
    return importlib.import_module("tests.contrib.task_defs")


def _run(result: Any) -> Any:
    """Run an enqueued task as a worker would: from its stored arguments, in a new context."""
    with fresh_state():
        return result.task.call(*result.args, **result.kwargs)


def test_a_task_enqueued_after_a_write_carries_the_token_and_its_run_reads_the_primary(
    defs: ModuleType,
) -> None:
    router.db_for_write(Review)
    result = defs.where.enqueue()
    assert set(result.kwargs) == {defs.KWARG}
    assert _run(result)["alias"] == "reviews"


def test_a_task_enqueued_with_no_pin_carries_nothing_and_reads_a_replica(defs: ModuleType) -> None:
    result = defs.where.enqueue(pk=None)
    assert result.kwargs == {"pk": None}
    assert _run(result)["alias"] in REPLICAS


def test_the_mode_of_a_task_applies_to_its_runs(defs: ModuleType, settings: Any) -> None:
    router.db_for_write(Review)
    primary = defs.where_primary.enqueue()
    delayed = defs.where_delayed.enqueue()
    assert _run(primary)["alias"] == "reviews"
    from multidb_routers import ReplicaLagError

    with pytest.raises(ReplicaLagError):  # the time window trusts no replica yet
        _run(delayed)


def test_a_tampered_token_in_the_stored_arguments_restores_nothing(defs: ModuleType) -> None:
    router.db_for_write(Review)
    result = defs.where.enqueue()
    kwargs = {defs.KWARG: result.kwargs[defs.KWARG][:-2] + "xx"}
    with fresh_state():
        assert result.task.call(**kwargs)["alias"] in REPLICAS
        assert result.task.call(**{defs.KWARG: 42})["alias"] in REPLICAS


def test_the_token_keyword_is_reserved(defs: ModuleType) -> None:
    with pytest.raises(TypeError, match="reserved"):
        defs.where.enqueue(**{defs.KWARG: "mine"})


def test_async_enqueue_and_async_tasks_carry_the_token(defs: ModuleType) -> None:
    async def enqueue_after_a_write() -> Any:
        router.db_for_write(Review)
        return await defs.where_async.aenqueue()

    result = asyncio.run(enqueue_after_a_write())
    assert defs.KWARG in result.kwargs

    async def run() -> Any:
        return await result.task.acall(*result.args, **result.kwargs)

    with fresh_state():
        assert asyncio.run(run()) == "reviews"
        assert result.task.call(**result.kwargs) == "reviews"


def test_using_keeps_the_consistency_of_a_task(defs: ModuleType) -> None:
    moved = defs.where_primary.using(priority=5)
    assert moved.consistency == "primary"
    router.db_for_write(Review)
    assert _run(moved.enqueue())["alias"] == "reviews"


def test_an_immediate_task_reads_what_its_enqueuer_wrote(defs: ModuleType) -> None:
    review = Review.objects.create(title="immediate")
    result = defs.where_now.enqueue(review.pk)
    assert result.return_value == {"alias": "reviews", "found": True}
    assert capture() is not None


@pytest.mark.parametrize("mode", ["Sticky", "", None, "eventual"])
def test_every_other_spelling_of_a_task_mode_is_refused(defs: ModuleType, mode: Any) -> None:
    from multidb_routers.contrib.tasks import task

    with pytest.raises(ValueError, match="'primary', 'sticky', 'delayed'"):
        task(backend="dummy", consistency=mode)


def test_an_unknown_backend_is_named(defs: ModuleType) -> None:
    from multidb_routers.contrib.tasks import task

    with pytest.raises(LookupError, match="'nowhere'"):
        task(defs.where.func, backend="nowhere")


def test_a_task_run_has_no_counts_unless_the_setting_asks(defs: ModuleType) -> None:
    from multidb_routers.routes import listening

    assert _run(defs.counted.enqueue(pk=1)) is None
    assert not listening()


def test_a_task_run_counts_its_reads_and_its_token_pin_and_logs_one_line_naming_it(
    defs: ModuleType, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from multidb_routers.routes import listening, request_counts

    settings.MULTIDB_ROUTERS_REQUEST_ROUTES = "log"
    caplog.set_level(logging.INFO, logger="multidb_routers.routing")
    review = Review.objects.create(title="Counted")
    pinned = _run(defs.counted.enqueue(pk=review.pk))
    assert (pinned["reads"], pinned["writes"]) == ({"reviews": 2}, {})
    assert pinned["pinned"] == ["reviews"]
    with fresh_state():
        free = _run(defs.counted.enqueue(pk=review.pk))
    [replica] = free["reads"]
    assert replica in REPLICAS
    assert (free["reads"][replica], free["replica_reads"], free["pinned"]) == (2, 2, [])
    assert request_counts() is None
    assert not listening()
    lines = [r.getMessage() for r in caplog.records if r.name == "multidb_routers.routing"]
    assert lines == [
        "task tests.contrib.task_defs.counted: reads reviews=2 (0 of 2 from replicas); "
        "writes none; pinned reviews",
        f"task tests.contrib.task_defs.counted: reads {replica}=2 (2 of 2 from replicas); "
        "writes none; pinned no",
    ]


def test_a_task_run_inside_a_counted_unit_counts_its_own_reads_the_unit_all(
    defs: ModuleType, settings: Any
) -> None:
    from multidb_routers.routes import counting, request_counts

    settings.MULTIDB_ROUTERS_REQUEST_ROUTES = "count"
    with fresh_state(), counting("outer") as outer:
        assert outer is not None
        Review.objects.exists()
        inner = defs.counted.call(pk=1)
        assert request_counts() is outer
    assert inner["total_reads"] == 2
    assert outer.total_reads == 3
    assert request_counts() is None
