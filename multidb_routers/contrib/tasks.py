"""Django's tasks framework: a task enqueued from a pinned context reads what it wrote.

``django.tasks`` (Django 6.0+) or its backport, the ``django-tasks`` package (``django_tasks``),
whichever the task's backend belongs to. Define tasks with this module's :func:`task`
instead of the framework's; it takes the same options and ``consistency`` (the
:func:`~multidb_routers.consistency.restore` mode, ``"sticky"`` by default)::

    from multidb_routers.contrib.tasks import task

    @task(consistency="sticky")
    def recount_rating(product_id): ...

    recount_rating.enqueue(product.pk)   # from the view that saved the review

``enqueue()`` and ``aenqueue()`` add the enqueuing context's token
(:func:`~multidb_routers.consistency.capture`) to the task's keyword arguments, under
:data:`KWARG`, when that context has pins; the run (in whatever worker, thread or
process the backend uses) takes it out again and runs the function inside
``restore(token, mode=consistency)``. The framework has no retries of its own: in
``"delayed"`` mode a run that finds no replica caught up fails with
:class:`~multidb_routers.exceptions.ReplicaLagError`, for a backend or a caller that
retries failed tasks to enqueue it again.

With ``MULTIDB_ROUTERS_REQUEST_ROUTES`` on, each synchronous run counts its statements as
a request does (:func:`multidb_routers.routes.request_counts` inside the task; with
``"log"``, one INFO line ``task <module path>: ...`` when it ends). Async runs
(``acall()``) are not counted: their statements run on another thread's connections, as
under ASGI.
"""

from __future__ import annotations

import dataclasses
import importlib
from functools import cache
from typing import TYPE_CHECKING, Any

from ..consistency import Mode, _validate_mode, capture, restore
from ..routes.log import counting

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["KWARG", "frameworks", "task"]

#: The keyword argument that carries the token from ``enqueue()`` to the run.
KWARG = "_multidb_routers_token"


def frameworks() -> list[Any]:
    """The task frameworks importable here: ``django.tasks``, then ``django_tasks``."""
    found = []
    for name in ("django.tasks", "django_tasks"):
        try:
            found.append(importlib.import_module(name))
        except ImportError:
            continue
    return found


def _backend(alias: str) -> Any:
    """The backend ``alias`` of the framework it belongs to (the first that has it)."""
    errors = []
    for framework in frameworks():
        try:
            return framework.task_backends[alias]
        except Exception as exc:  # that framework does not know the alias or its class
            errors.append(f"{framework.__name__}: {exc}")
    raise LookupError(
        f"No task framework has a backend {alias!r} ({'; '.join(errors) or 'none is installed'}): "
        "install Django 6.0+ or django-tasks, and set TASKS."
    )


def _with_token(kwargs: dict[str, Any]) -> dict[str, Any]:
    if KWARG in kwargs:
        raise TypeError(f"{KWARG!r} is reserved for multidb_routers' consistency token.")
    token = capture()
    return kwargs if token is None else {**kwargs, KWARG: token}


@cache
def _consistent_class(base: type[Any]) -> type[Any]:
    """A subclass of the framework's ``Task`` class ``base`` that carries the token."""

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class ConsistentTask(base):  # type: ignore[misc]
        """A task whose runs restore the consistency token of the context that enqueued it."""

        #: The :func:`~multidb_routers.consistency.restore` mode of its runs.
        consistency: Mode = "sticky"

        def __post_init__(self) -> None:
            _validate_mode(self.consistency)
            post_init = getattr(super(), "__post_init__", None)
            if post_init is not None:
                post_init()  # the framework's backend validation

        def enqueue(self, *args: Any, **kwargs: Any) -> Any:
            """Enqueue the task with the current context's token."""
            return super().enqueue(*args, **_with_token(kwargs))

        async def aenqueue(self, *args: Any, **kwargs: Any) -> Any:
            """Enqueue the task with the current context's token (async)."""
            return await super().aenqueue(*args, **_with_token(kwargs))

        def call(self, *args: Any, **kwargs: Any) -> Any:
            """Run the function inside ``restore()`` of the token it was enqueued with."""
            token = kwargs.pop(KWARG, None)
            with (
                restore(token if isinstance(token, str) else None, mode=self.consistency),
                counting(f"task {getattr(self, 'module_path', None) or self.name}"),
            ):
                return super().call(*args, **kwargs)

        async def acall(self, *args: Any, **kwargs: Any) -> Any:
            """Run the function inside ``restore()`` of its token (async)."""
            token = kwargs.pop(KWARG, None)
            with restore(token if isinstance(token, str) else None, mode=self.consistency):
                return await super().acall(*args, **kwargs)

    ConsistentTask.__qualname__ = ConsistentTask.__name__ = f"Consistent{base.__name__}"
    return ConsistentTask


def _defaults(task_class: type) -> dict[str, Any]:
    """What the framework's own ``@task`` passes for the options not given.

    Django 6.0's ``Task`` declares ``priority``, ``queue_name`` and ``run_after`` without
    defaults (its ``task()`` fills them in); later releases and the backport give them
    defaults.
    """
    base = importlib.import_module(task_class.__module__)
    values = {
        "priority": getattr(base, "DEFAULT_TASK_PRIORITY", 0),
        "queue_name": getattr(base, "DEFAULT_TASK_QUEUE_NAME", "default"),
        "run_after": None,
    }
    fields = {field.name: field for field in dataclasses.fields(task_class)}
    return {
        name: value
        for name, value in values.items()
        if name in fields
        and fields[name].default is dataclasses.MISSING
        and fields[name].default_factory is dataclasses.MISSING
    }


def task(
    function: Callable[..., Any] | None = None,
    *,
    consistency: Mode = "sticky",
    backend: str = "default",
    **options: Any,
) -> Any:
    """The framework's ``@task`` (same options), its runs restoring the enqueuer's token.

    ``consistency`` is the :func:`~multidb_routers.consistency.restore` mode of the runs.
    """
    mode = _validate_mode(consistency)

    def wrapper(func: Callable[..., Any]) -> Any:
        framework_class = _backend(backend).task_class
        task_class = _consistent_class(framework_class)
        arguments = {**_defaults(framework_class), **options}
        return task_class(func=func, backend=backend, consistency=mode, **arguments)

    return wrapper(function) if function is not None else wrapper
