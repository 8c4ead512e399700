"""``SyncAsyncMiddleware``: the base of a middleware that serves WSGI and ASGI alike."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from django.http import HttpRequest
    from django.http.response import HttpResponseBase

    GetResponse = (
        Callable[[HttpRequest], HttpResponseBase]
        | Callable[[HttpRequest], Awaitable[HttpResponseBase]]
    )

__all__ = ["SyncAsyncMiddleware"]


class SyncAsyncMiddleware:
    """Sync and async capable: async when the next handler is a coroutine function.

    Django builds the chain once and passes the next handler, sync or async; an async
    ``get_response`` makes the middleware a coroutine function too (``async_mode``), so
    a subclass's ``__call__`` delegates to its ``__acall__`` in that mode.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            # The subclass's __call__ makes it callable; the base only marks it.
            markcoroutinefunction(cast("Callable[..., object]", self))
