"""``ContextBlock``: a context manager and decorator (sync and async) over context variables.

``use_primary()`` and ``use_shard()`` are both blocks that set a context variable on
entry and reset it on exit; this is their one implementation of the protocol.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["ContextBlock"]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


class ContextBlock(Generic[T]):
    """A block (``with`` or a decorated sync or async function) that sets context state.

    Subclasses implement :meth:`enter` (set the state, return what :meth:`exit` needs to
    undo it, usually a ``ContextVar`` token) and :meth:`exit`. Blocks nest, and
    concurrent threads and asyncio tasks never see each other's state, since each entry
    is undone by its own token; a decorated function enters afresh on every call.
    """

    def __init__(self) -> None:
        self._tokens: list[T] = []

    def enter(self) -> T:
        """Set the block's state; return what :meth:`exit` needs to undo it."""
        raise NotImplementedError

    def exit(self, token: T) -> None:
        """Undo what :meth:`enter` did."""
        raise NotImplementedError

    def __enter__(self) -> None:
        self._tokens.append(self.enter())

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.exit(self._tokens.pop())

    def __call__(self, func: F) -> F:
        """Decorate ``func`` (sync or async) so that it runs inside the block."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_inner(*args: Any, **kwargs: Any) -> Any:
                token = self.enter()
                try:
                    return await cast("Callable[..., Awaitable[Any]]", func)(*args, **kwargs)
                finally:
                    self.exit(token)

            return cast("F", async_inner)

        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            token = self.enter()
            try:
                return func(*args, **kwargs)
            finally:
                self.exit(token)

        return cast("F", inner)
