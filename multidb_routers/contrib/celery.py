"""Celery: a task published from a pinned context reads at least what that context wrote.

``install(app)``, right after creating the Celery app and before its tasks are defined,
makes every task message published from a context with pins (a view that wrote, a
command that wrote, a task that restored a token) carry a consistency token
(:func:`multidb_routers.consistency.capture`) in its message headers, and every run of
the app's tasks restore it (:func:`multidb_routers.consistency.restore`)::

    app = Celery("shop")
    install(app)                                # mode="sticky" for every task

    @app.task(consistency="delayed")            # the task option...
    def recount(product_id): ...

    @app.task
    @consistency("primary")                     # ...or the decorator
    def invoice(order_id): ...

In ``"delayed"`` mode a run that finds no replica caught up is retried by Celery after
a short countdown (``retry_countdown``), until a replica has replayed the write or the
token's window ends (then it reads the primary). These retries do not count against
the task's ``max_retries``: the token's window bounds them.

With ``MULTIDB_ROUTERS_REQUEST_ROUTES`` on, each run counts its statements as a request
does (:func:`multidb_routers.routes.request_counts` inside the task; with ``"log"``, one
INFO line ``task <name>[<id>]: ...`` when it ends).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from celery.signals import before_task_publish

from ..consistency import Mode, _validate_mode, capture, restore
from ..exceptions import ReplicaLagError
from ..routes.log import counting

if TYPE_CHECKING:
    from collections.abc import Callable

    from celery import Celery

__all__ = ["HEADER", "consistency", "install", "token_of"]

#: The message header carrying the token.
HEADER = "multidb_routers_token"
_MODE_ATTRIBUTE = "__multidb_routers_consistency__"
F = TypeVar("F", bound="Callable[..., Any]")


def consistency(mode: Mode) -> Callable[[F], F]:
    """Decorate a task's function (under ``@app.task``) to restore its token in ``mode``."""
    checked = _validate_mode(mode)

    def decorate(function: F) -> F:
        setattr(function, _MODE_ATTRIBUTE, checked)
        return function

    return decorate


def _add_token(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """``before_task_publish``: put the publishing context's token in the message headers."""
    if headers is None or headers.get(HEADER):
        return  # a retry already carries its token
    token = capture()
    if token is not None:
        headers[HEADER] = token


def token_of(request: Any) -> str | None:
    """The token a task request carries, or ``None``."""
    token = getattr(request, HEADER, None)
    if token is None:
        headers = getattr(request, "headers", None)
        token = headers.get(HEADER) if isinstance(headers, dict) else None
    return token if isinstance(token, str) else None


def _label(task: Any) -> str:
    """``task <name>[<id>]``: the run's name in its routing counts' INFO line."""
    task_id = getattr(task.request, "id", None)
    return f"task {task.name}[{task_id}]" if task_id else f"task {task.name}"


def install(app: Celery, *, mode: Mode = "sticky", retry_countdown: float = 0.25) -> None:
    """Carry consistency tokens from publishers to the runs of ``app``'s tasks.

    ``mode`` is the default of tasks that choose none (the ``consistency`` task option or
    the :func:`consistency` decorator); ``retry_countdown`` the seconds before a
    ``"delayed"`` task that met a lagging replica runs again. Call it before the app's
    tasks are defined: they are made from ``app.Task``, which this replaces.
    """
    default = _validate_mode(mode)
    if isinstance(retry_countdown, bool) or not isinstance(retry_countdown, (int, float)):
        raise TypeError(f"retry_countdown must be a number of seconds, not {retry_countdown!r}.")
    if retry_countdown < 0:
        raise ValueError(f"retry_countdown must be >= 0, not {retry_countdown!r}.")
    before_task_publish.connect(_add_token, weak=False, dispatch_uid="multidb_routers.celery")
    base: type[Any] = app.Task
    if getattr(base, "_multidb_routers_installed", False):
        return

    class ConsistentTask(base):  # type: ignore[misc]
        """A task that restores the consistency token its message carries."""

        _multidb_routers_installed = True
        consistency: Mode | None = None

        def __init_subclass__(cls, **kwargs: Any) -> None:
            super().__init_subclass__(**kwargs)
            if cls.consistency is not None:
                _validate_mode(cls.consistency)

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            token = token_of(self.request)
            if token is None:
                with counting(_label(self)):
                    return super().__call__(*args, **kwargs)
            task_mode: Mode = (
                getattr(self.run, _MODE_ATTRIBUTE, None) or self.consistency or default
            )
            block = restore(token, mode=task_mode)
            try:
                block.__enter__()
            except ReplicaLagError as exc:
                raise self.retry(
                    exc=exc,
                    countdown=max(0.0, min(float(retry_countdown), exc.retry_after)),
                    max_retries=None,
                    headers={HEADER: token},
                ) from exc
            try:
                with counting(_label(self)):
                    return super().__call__(*args, **kwargs)
            finally:
                block.__exit__(None, None, None)

    ConsistentTask.__name__ = ConsistentTask.__qualname__ = base.__name__
    ConsistentTask.__module__ = base.__module__
    app.Task = ConsistentTask
