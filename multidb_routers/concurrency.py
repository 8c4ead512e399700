"""How a merged query runs its sources: one after another, or on persistent worker threads.

``MULTIDB_ROUTERS_FANOUT`` chooses (read at call time): ``"auto"`` (the default) runs the
sources concurrently when at least two of them are on a network database (PostgreSQL,
MySQL, Oracle: the client waits on a server) and one after another otherwise (SQLite: the
query is CPU work in this process, where threads only add their cost); ``"sequential"``
and ``"concurrent"`` force one way.

Concurrent sources run on worker threads that live on between fan-outs, each serving one
database alias, so each keeps its connection open instead of connecting per call. A
worker closes its connection when it has had no work for :data:`IDLE_SECONDS`, when a
query left the connection unusable, and on :func:`close_workers` (also called when
``DATABASES`` changes); call it before dropping a database the workers may be connected
to, as the test suite does after each test.
"""

from __future__ import annotations

import contextvars
import functools
import os
import queue
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from .conf import conf

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = [
    "FANOUT_MODES",
    "IDLE_SECONDS",
    "check_fanout_setting",
    "close_workers",
    "run_all",
    "vendor_of",
]

R = TypeVar("R")

FANOUT_MODES = ("auto", "sequential", "concurrent")
IDLE_SECONDS = 30.0
IN_PROCESS_VENDORS = frozenset({"sqlite"})

_lock = threading.Lock()
_vendors: dict[str, str] = {}
_idle: dict[str, list[_Worker]] = {}
_live: set[_Worker] = set()


def _mode_error(value: object) -> str | None:
    if isinstance(value, str) and value in FANOUT_MODES:
        return None
    return (
        f"MULTIDB_ROUTERS_FANOUT is {value!r}: set it to one of "
        f"{', '.join(repr(mode) for mode in FANOUT_MODES)}."
    )


def concurrent_for(aliases: Sequence[str], concurrent: bool | None) -> bool:
    """Whether sources on ``aliases`` run concurrently (``concurrent`` overrides the setting)."""
    if len(aliases) < 2:
        return False
    if concurrent is not None:
        return concurrent
    mode = conf.FANOUT
    error = _mode_error(mode)
    if error:
        raise ImproperlyConfigured(error)
    if mode != "auto":
        return mode == "concurrent"
    remote = [alias for alias in aliases if vendor_of(alias) not in IN_PROCESS_VENDORS]
    return len(remote) >= 2


def vendor_of(alias: str) -> str:
    """``connections[alias].vendor``, remembered until ``DATABASES`` changes.

    The vendor follows from the alias's ``ENGINE``; asking ``connections`` for the
    thread's wrapper costs microseconds per alias, on every fan-out.
    """
    vendor = _vendors.get(alias)
    if vendor is None:
        vendor = _vendors[alias] = connections[alias].vendor
    return vendor


def in_worker() -> bool:
    """True in a worker thread (a fan-out started there runs its sources in that thread)."""
    return isinstance(threading.current_thread(), _Worker)


class _Worker(threading.Thread):
    """A thread running tasks for one alias, keeping that alias's connection between them."""

    def __init__(self, alias: str) -> None:
        super().__init__(name=f"merged-query {alias}", daemon=True)
        self.alias = alias
        self.tasks: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = (
            queue.SimpleQueue()
        )

    def run(self) -> None:
        try:
            while True:
                try:
                    task = self.tasks.get(timeout=IDLE_SECONDS)
                except queue.Empty:
                    if _retire(self):
                        return
                    continue
                if task is None:
                    return
                func, future = task
                result: Any = None
                failure: BaseException | None = None
                try:
                    result = func()
                except BaseException as error:  # handed to the caller
                    failure = error
                released = False
                try:
                    _tidy()
                    # Idle again before the caller hears back: its next fan-out reuses us.
                    released = _release(self)
                finally:  # the caller always hears back, whatever tidying did
                    if failure is None:
                        future.set_result(result)
                    else:
                        future.set_exception(failure)
                del result, failure
                if not released:
                    return
        finally:
            _close_own_connections()


def _close_own_connections() -> None:
    """Close this thread's connections, in-memory SQLite databases' included.

    Django ignores ``close()`` on an in-memory SQLite database (closing the last
    connection would drop it; the database lives on in the other threads' connections).
    Left open, the connection would be closed by the garbage collector, in whatever
    thread it runs and holding the GIL; with another thread inside SQLite's shared cache
    waiting for the GIL (a Python authorizer or function), both would wait forever.
    """
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and connection.vendor == "sqlite":
            BaseDatabaseWrapper.close(connection)  # what SQLite's close() skips in memory
    connections.close_all()  # this thread's own connections only


def _tidy() -> None:
    """After a task: close a connection a failure left unusable, as Django does per request."""
    for connection in connections.all(initialized_only=True):
        if connection.connection is None:
            continue
        try:
            connection.health_check_done = False  # type: ignore[attr-defined]
            if connection.get_autocommit() != connection.settings_dict["AUTOCOMMIT"]:
                connection.close()
            elif connection.errors_occurred:
                if connection.is_usable():
                    connection.errors_occurred = False
                else:
                    connection.close()
        except Exception:
            connection.close()  # in doubt, the next task connects afresh


def _release(worker: _Worker) -> bool:
    with _lock:
        if worker not in _live:
            return False  # close_workers() ran meanwhile
        _idle.setdefault(worker.alias, []).append(worker)
        return True


def _retire(worker: _Worker) -> bool:
    with _lock:
        idle = _idle.get(worker.alias, [])
        if worker not in idle:
            return False  # handed a task just now
        idle.remove(worker)
        _live.discard(worker)
        return True


def _submit(alias: str, func: Callable[[], R]) -> Future[R]:
    with _lock:
        idle = _idle.get(alias)
        worker = idle.pop() if idle else None
        if worker is None:
            worker = _Worker(alias)
            _live.add(worker)
            worker.start()
    future: Future[R] = Future()
    worker.tasks.put((func, future))
    return future


def run_all(
    calls: Sequence[tuple[str, Callable[[], R]]], *, max_workers: int | None = None
) -> list[R]:
    """Run each ``(alias, call)`` on a worker of its alias, in a copy of this context.

    At most ``max_workers`` at a time (default: all); results in the order of ``calls``;
    the first failure (in that order) is raised once every call has finished.
    """
    size = max_workers or len(calls)
    futures: list[Future[R]] = []
    for start in range(0, len(calls), size):
        wave = [
            _submit(alias, functools.partial(contextvars.copy_context().run, call))
            for alias, call in calls[start : start + size]
        ]
        for future in wave:
            future.exception()  # wait for the whole wave before the next one
        futures.extend(wave)
    return [future.result() for future in futures]


def close_workers() -> None:
    """Stop every worker thread; each closes its connections. Waits for the idle ones."""
    with _lock:
        idle = [worker for workers in _idle.values() for worker in workers]
        _idle.clear()
        _live.clear()
    for worker in idle:
        worker.tasks.put(None)
    for worker in idle:
        worker.join()


def _forget_workers_after_fork() -> None:
    """In a forked child the workers did not survive: never hand them a task."""
    global _lock
    _lock = threading.Lock()
    _idle.clear()
    _live.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers_after_fork)


def _databases_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "DATABASES":
        _vendors.clear()
        close_workers()


setting_changed.connect(_databases_changed, dispatch_uid="multidb_routers.concurrency")


def check_fanout_setting(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``MULTIDB_ROUTERS_FANOUT`` is one of ``"auto"``, ``"sequential"``, ``"concurrent"``."""
    error = _mode_error(conf.FANOUT)
    if error is None:
        return []
    return [
        checks.Error(
            error,
            hint="'auto' queries SQLite shards one after another and network databases "
            "concurrently.",
            id="multidb_routers.E050",
        )
    ]
