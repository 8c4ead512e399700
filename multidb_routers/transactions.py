"""``atomic(model_or_instance)``: a transaction on the alias the routers write that model to.

Django's ``transaction.atomic()`` takes an alias and ignores the routers (tickets #32788,
#35349): code that wraps a write in ``atomic()`` on ``default`` while the routers send
the write to ``reviews`` gets a write outside its transaction. This ``atomic()`` asks
the routers first (``router.db_for_write(model, instance=...)``), each time a block is
entered, then opens Django's own atomic block there.
"""

from __future__ import annotations

import functools
import inspect
import threading
from typing import TYPE_CHECKING, Any, TypeVar, cast

from django.db import transaction
from django.db.models import Model

from .cross_database import route_write

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

__all__ = ["atomic"]

F = TypeVar("F", bound="Callable[..., Any]")


def _model_of(model_or_instance: object) -> tuple[type[Model], Model | None]:
    if isinstance(model_or_instance, Model):
        return type(model_or_instance), model_or_instance
    if isinstance(model_or_instance, type) and issubclass(model_or_instance, Model):
        if model_or_instance._meta.abstract:
            raise TypeError(
                f"atomic() cannot route the abstract model {model_or_instance.__name__}: "
                "pass a concrete model or an instance of one."
            )
        return model_or_instance, None
    if callable(model_or_instance):
        raise TypeError(
            "atomic() takes the model (or instance) whose writes the transaction is for: "
            "decorate with @atomic(Model), not @atomic."
        )
    raise TypeError(
        "atomic() takes a model class or a model instance, not "
        f"{type(model_or_instance).__name__} {model_or_instance!r}; for a label, pass "
        "django.apps.apps.get_model(label)."
    )


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"atomic() {name} must be True or False, not {value!r}.")
    return value


class atomic:
    """An atomic block on the alias the routers choose for writing ``model_or_instance``.

    ``atomic(Review)`` or ``atomic(review)`` (the instance is passed to the routers as
    the ``instance`` hint, so a row stays on its own primary or shard); ``savepoint`` and
    ``durable`` are Django's. A context manager and a decorator, like Django's
    ``transaction.atomic``: the alias is chosen on each entry, not when the decorator is
    applied. Sync only; from async code wrap the work in ``sync_to_async``, as with
    Django's. Choosing the alias is a routed write decision: a primary/replica router
    pins the context's reads to the primary, as a write does.
    """

    def __init__(
        self, model_or_instance: type[Model] | Model, savepoint: bool = True, durable: bool = False
    ) -> None:
        self.model, self.instance = _model_of(model_or_instance)
        self.savepoint = _flag("savepoint", savepoint)
        self.durable = _flag("durable", durable)
        self._local = threading.local()

    def __repr__(self) -> str:
        target = self.model._meta.label if self.instance is None else repr(self.instance)
        return f"atomic({target}, savepoint={self.savepoint}, durable={self.durable})"

    @property
    def using(self) -> str:
        """The alias the routers choose now for writing the model (or the instance)."""
        if self.instance is None:
            return route_write(self.model)
        return route_write(self.model, instance=self.instance)

    def _block(self) -> transaction.Atomic:
        return transaction.atomic(using=self.using, savepoint=self.savepoint, durable=self.durable)

    def __enter__(self) -> None:
        block = self._block()
        block.__enter__()
        stack: list[transaction.Atomic] | None = getattr(self._local, "blocks", None)
        if stack is None:
            stack = self._local.blocks = []
        stack.append(block)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._local.blocks.pop().__exit__(exc_type, exc, traceback)

    def __call__(self, func: F) -> F:
        """Decorate ``func`` so that each call runs in a new block (routed on that call)."""
        if inspect.iscoroutinefunction(func):
            raise TypeError(
                f"atomic() cannot decorate the coroutine function {func.__qualname__}: "
                "database transactions are synchronous; wrap the work in "
                "asgiref.sync.sync_to_async and decorate that function."
            )
        if not callable(func):
            raise TypeError(f"atomic() decorates a function, not {func!r}.")

        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with self._block():
                return func(*args, **kwargs)

        return cast("F", inner)
