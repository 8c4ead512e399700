"""multidb_routers.contrib.celery in one process: options, modes, hostile headers (SQLite).

Tasks run with ``Task.apply()`` (in this process, with the headers a message would carry);
the real worker, broker and standby are in test_celery.py.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import pytest
from django.db import router

from multidb_routers import PrimaryReplicaRouter
from multidb_routers.consistency import capture
from multidb_routers.replication.state import Pin, fresh_state
from tests.testapps.replica_app.models import Review

if TYPE_CHECKING:
    from collections.abc import Sequence

celery = pytest.importorskip("celery")

from multidb_routers.contrib.celery import HEADER, consistency, install  # noqa: E402

REPLICAS = ("reviews_replica1", "reviews_replica2")
pytestmark = pytest.mark.django_db(databases=["default", "reviews", *REPLICAS], transaction=True)


def _app(**options: Any) -> Any:
    app = celery.Celery("consistency-tests", set_as_current=False)
    install(app, **options)
    return app


def _token() -> str:
    router.db_for_write(Review)
    token = capture()
    assert token is not None
    return token


def test_a_task_run_with_a_token_reads_the_primary_and_without_one_a_replica() -> None:
    app = _app()

    @app.task
    def where() -> str | None:
        return router.db_for_read(Review)

    token = _token()
    with fresh_state():
        assert where.apply(headers={HEADER: token}).get() == "reviews"
        assert where.apply().get() in REPLICAS
        assert where.apply(headers={HEADER: token + "x"}).get() in REPLICAS
        assert where.apply(headers={HEADER: 12}).get() in REPLICAS


class CatchesUpOnSecondLook:
    """A freshness strategy whose replicas catch up once asked once (as after a retry)."""

    def __init__(self) -> None:
        self.asked = 0

    def make_pin(self, primary: str, *, seconds: float) -> Pin:
        return Pin(until=time.time() + seconds, position="0/10")

    def fresh_replicas(self, replicas: Sequence[str], pin: Pin) -> Sequence[str]:
        self.asked += 1
        return replicas if self.asked > 1 else ()


def test_a_delayed_task_is_retried_with_its_token_until_a_replica_caught_up(
    settings: Any,
) -> None:
    settings.DATABASE_ROUTERS = [
        PrimaryReplicaRouter(
            primary="reviews",
            replicas=list(REPLICAS),
            apps=["replica_app"],
            freshness=CatchesUpOnSecondLook(),
        )
    ]
    app = _app(retry_countdown=0)

    @app.task(bind=True, consistency="delayed")
    def where(self: Any) -> tuple[int, str | None, object]:
        return self.request.retries, router.db_for_read(Review), self.request.headers

    token = _token()
    with fresh_state():
        retries, alias, headers = where.apply(headers={HEADER: token}).get()
    assert retries == 1
    assert alias in REPLICAS
    assert headers == {HEADER: token}  # the retry carried the token


def test_the_decorator_and_the_task_option_choose_the_mode() -> None:
    app = _app(mode="delayed")

    @app.task
    @consistency("primary")
    def decorated() -> str | None:
        return router.db_for_read(Review)

    @app.task(consistency="sticky")
    def optioned() -> str | None:
        return router.db_for_read(Review)

    token = _token()
    with fresh_state():
        assert decorated.apply(headers={HEADER: token}).get() == "reviews"
        assert optioned.apply(headers={HEADER: token}).get() == "reviews"


@pytest.mark.parametrize("mode", ["Delayed", "lazy", "", None, 3])
def test_every_other_spelling_of_a_task_mode_is_refused_where_it_is_written(mode: Any) -> None:
    app = _app()
    with pytest.raises(ValueError, match="'primary', 'sticky', 'delayed'"):
        consistency(mode)
    if mode is not None:

        @app.task(consistency=mode)
        def task() -> None:
            pass

        with pytest.raises(ValueError, match="'primary', 'sticky', 'delayed'"):
            task.run  # noqa: B018  # Celery builds the task class on first use
    with pytest.raises(ValueError, match="'primary', 'sticky', 'delayed'"):
        install(celery.Celery("bad", set_as_current=False), mode=mode)


@pytest.mark.parametrize("countdown", [-1, "1", True, None])
def test_a_bad_retry_countdown_is_refused(countdown: Any) -> None:
    with pytest.raises((TypeError, ValueError), match="retry_countdown"):
        install(celery.Celery("bad", set_as_current=False), retry_countdown=countdown)


def test_installing_twice_keeps_one_task_base() -> None:
    app = _app()
    base = app.Task
    install(app)
    assert app.Task is base


def test_publishing_adds_the_token_only_from_a_pinned_context() -> None:
    from multidb_routers.contrib.celery import _add_token

    headers: dict[str, Any] = {}
    _add_token(headers=headers)
    assert headers == {}
    token = _token()
    _add_token(headers=headers)
    assert set(headers) == {HEADER}
    kept = {HEADER: token}
    _add_token(headers=kept)  # a retry keeps the token it carries
    assert kept == {HEADER: token}


def test_a_task_run_counts_its_reads_and_logs_one_line_naming_the_task_and_its_id(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from multidb_routers.routes import listening, request_counts

    settings.MULTIDB_ROUTERS_REQUEST_ROUTES = "log"
    caplog.set_level(logging.INFO, logger="multidb_routers.routing")
    app = _app()

    @app.task
    def counted() -> dict[str, Any] | None:
        Review.objects.exists()
        list(Review.objects.all())
        counts = request_counts()
        return None if counts is None else counts.as_dict()

    token = _token()
    with fresh_state():
        pinned = counted.apply(headers={HEADER: token})
        free = counted.apply()
    assert (pinned.get()["reads"], pinned.get()["pinned"]) == ({"reviews": 2}, ["reviews"])
    [replica] = free.get()["reads"]
    assert (replica in REPLICAS, free.get()["replica_reads"]) == (True, 2)
    assert request_counts() is None
    assert not listening()
    lines = [r.getMessage() for r in caplog.records if r.name == "multidb_routers.routing"]
    assert lines == [
        f"task {counted.name}[{pinned.id}]: reads reviews=2 (0 of 2 from replicas); "
        "writes none; pinned reviews",
        f"task {counted.name}[{free.id}]: reads {replica}=2 (2 of 2 from replicas); "
        "writes none; pinned no",
    ]


def test_a_delayed_run_sent_back_for_a_retry_logs_no_counts_of_its_own(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.MULTIDB_ROUTERS_REQUEST_ROUTES = "log"
    caplog.set_level(logging.INFO, logger="multidb_routers.routing")
    settings.DATABASE_ROUTERS = [
        PrimaryReplicaRouter(
            primary="reviews",
            replicas=list(REPLICAS),
            apps=["replica_app"],
            freshness=CatchesUpOnSecondLook(),
        )
    ]
    app = _app(retry_countdown=0)

    @app.task(bind=True, consistency="delayed")
    def count(self: Any) -> int:
        return Review.objects.count()

    token = _token()
    with fresh_state():
        result = count.apply(headers={HEADER: token})
    assert result.get() == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "multidb_routers.routing"]
    assert len(lines) == 1
    assert lines[0].startswith(f"task {count.name}[{result.id}]: reads reviews_replica")
