"""django-multidb-router's ``multidb.pinning``, per context instead of per thread.

"Pinned" here is the flag :class:`multidb_routers.use_primary` sets: a context pinned
by :func:`pin_this_thread` or inside ``use_primary_db`` sends the reads of every
``PinningReplicaRouter`` and of every :class:`~multidb_routers.PrimaryReplicaRouter` to
the primary, and ``this_thread_is_pinned()`` is true inside ``use_primary()``. The flag
lives in a context variable: each thread, and each asyncio task, has its own (a task
starts with a copy of its creator's), where django-multidb-router had one per thread
that concurrent requests of an ASGI server shared.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar, cast

from multidb_routers import use_primary

from .._internals import primary_forced, set_primary_forced

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "db_write",
    "pin_this_thread",
    "this_thread_is_pinned",
    "unpin_this_thread",
    "use_master",
    "use_primary_db",
]

F = TypeVar("F", bound=Callable[..., Any])

# The open ``use_primary_db`` blocks of the current context, innermost last. The
# context managers are shared module-level objects, so their state cannot live on them.
_open_blocks: ContextVar[tuple[use_primary, ...]] = ContextVar(
    "multidb_routers.compat.use_primary_db", default=()
)


def this_thread_is_pinned() -> bool:
    """Whether the current context's reads go to the primary (also in ``use_primary()``)."""
    return primary_forced()


def pin_this_thread() -> None:
    """Send the current context's reads to the primary until :func:`unpin_this_thread`."""
    set_primary_forced(True)


def unpin_this_thread() -> None:
    """Let the current context's reads go to replicas again (nothing if it was not pinned)."""
    set_primary_forced(False)


class UsePrimaryDB:
    """A context manager (``with use_primary_db:``) and decorator (``@use_primary_db``).

    Inside, the context is pinned (as in ``use_primary()``); on exit the state from
    before the block comes back, also after an exception. Decorated ``async def``
    functions are pinned while they run.
    """

    def __call__(self, func: F) -> F:
        """Pin the context while ``func`` (sync or async) runs."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_inner(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await cast("Callable[..., Awaitable[Any]]", func)(*args, **kwargs)

            return cast("F", async_inner)

        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return cast("F", inner)

    def __enter__(self) -> None:
        block = use_primary()
        block.__enter__()
        _open_blocks.set((*_open_blocks.get(), block))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        blocks = _open_blocks.get()
        if not blocks:
            raise RuntimeError(
                "use_primary_db was exited in a context (thread or asyncio task) that did "
                "not enter it: enter and leave the block in the same task or thread."
            )
        _open_blocks.set(blocks[:-1])
        blocks[-1].__exit__(exc_type, exc, traceback)


class DeprecatedUseMaster(UsePrimaryDB):
    """``use_master``: ``use_primary_db`` that warns (``DeprecationWarning``) on each entry."""

    def __enter__(self) -> None:
        warnings.warn(
            "[multidb] use_master is deprecated: use use_primary_db instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__enter__()


#: Pin the context inside a block or a decorated function.
use_primary_db = UsePrimaryDB()
#: The deprecated name of :data:`use_primary_db`.
use_master = DeprecatedUseMaster()


def mark_as_write(response: Any) -> Any:
    """Mark ``response`` as the answer of a request that wrote (``response._db_write``)."""
    response._db_write = True
    return response


def db_write(fn: F) -> F:
    """Decorate a view that writes: it runs pinned, and its response sets the pin cookie.

    ``PinningRouterMiddleware`` then pins the client's next requests, whatever the
    HTTP method. Works on ``async def`` views too.
    """
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapped(*args: Any, **kwargs: Any) -> Any:
            with use_primary_db:
                response = await cast("Callable[..., Awaitable[Any]]", fn)(*args, **kwargs)
            return mark_as_write(response)

        return cast("F", async_wrapped)

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with use_primary_db:
            response = fn(*args, **kwargs)
        return mark_as_write(response)

    return cast("F", wrapped)
