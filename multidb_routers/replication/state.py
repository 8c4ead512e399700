"""Read-your-writes state in ``contextvars``: ``use_primary()``, write pins, request state.

Three pieces of state decide whether a read may leave the primary, all held in
context variables so that concurrent asyncio tasks and threads never see each
other's (never ``threading.local``, never module globals):

* ``use_primary()`` sets a flag for the code it wraps; tokens make nesting correct.
* Inside a request (:class:`RequestState`, started on Django's ``request_started``
  signal or by :class:`~multidb_routers.middleware.PinningMiddleware`, ended on
  ``request_finished``): the pins the request carried in its cookie, the primaries it
  wrote to, and the replica each replica set chose for it. The object is mutable
  because it lives exactly as long as its request.
* Outside a request, a write pins its primary for the current context only; the
  mapping of pins is immutable and replaced on each write, so a task or thread
  that copied the context earlier never sees a later pin of another one.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from .replica_set import ReplicaSet

__all__ = [
    "Pin",
    "RequestState",
    "begin_request",
    "context_pins",
    "end_request",
    "finish_request",
    "fresh_state",
    "pin_context",
    "primary_forced",
    "request_state",
    "start_request",
    "use_primary",
]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Pin:
    """A read-your-writes marker for one primary.

    ``until`` (seconds since the epoch) is when the pin stops mattering. ``position``
    is an optional freshness marker a strategy may add (such as a WAL position); the
    time window strategy leaves it ``None``.
    """

    until: float
    position: str | None = None


@dataclass(eq=False, slots=True)
class RequestState:
    """Routing state of one request; a new one for every request.

    ``pins``: valid pins the request carried, by primary alias. ``written``: the
    primaries written during the request, with the replica set that wrote them (the
    middleware asks it for the pin to send back). ``replicas``: the replica each
    replica set chose for this request, so that its reads are monotonic.
    """

    pins: Mapping[str, Pin] = field(default_factory=dict)
    written: dict[str, ReplicaSet] = field(default_factory=dict)
    replicas: dict[ReplicaSet, str] = field(default_factory=dict)
    #: Whether a ``PinningMiddleware`` handles this request (it loaded the cookie's pins).
    claimed: bool = False
    #: Called with (primary, replica set) on each write once the middleware has its
    #: response, so that writes made after it returned still reach the client's cookie.
    on_write: Callable[[str, ReplicaSet], None] | None = None


_NO_PINS: Mapping[str, Pin] = MappingProxyType({})

_primary_forced: ContextVar[bool] = ContextVar("multidb_routers.primary_forced", default=False)
_request_state: ContextVar[RequestState | None] = ContextVar(
    "multidb_routers.request_state", default=None
)
_context_pins: ContextVar[Mapping[str, Pin]] = ContextVar(
    "multidb_routers.context_pins", default=_NO_PINS
)

# The routing hot path calls these on every read: bound ``ContextVar.get`` methods.
#: True inside ``use_primary()``.
primary_forced: Callable[[], bool] = _primary_forced.get
#: The current request's :class:`RequestState`, or ``None`` outside a request.
request_state: Callable[[], RequestState | None] = _request_state.get
#: The out-of-request pins of the current context, by primary alias.
context_pins: Callable[[], Mapping[str, Pin]] = _context_pins.get


def begin_request(pins: Mapping[str, Pin]) -> tuple[RequestState, Token[RequestState | None]]:
    """Start a request's routing state with the pins it carried.

    Pass the returned token to :func:`end_request` in ``finally``.
    """
    state = RequestState(pins=pins)
    return state, _request_state.set(state)


def end_request(token: Token[RequestState | None]) -> None:
    """End the request's routing state (call in ``finally``)."""
    _request_state.reset(token)


def start_request(pins: Mapping[str, Pin]) -> RequestState:
    """Start a request's routing state that lasts until :func:`finish_request`.

    For Django's ``request_started`` signal: the state then lives until the response is
    closed (``request_finished``), after every middleware returned.
    """
    state = RequestState(pins=pins)
    _request_state.set(state)
    return state


def finish_request() -> None:
    """End the current request's routing state, whoever started it.

    Called on ``request_started`` and ``request_finished``: a thread serving request
    after request (``runserver --nothreading``, WSGI worker threads) keeps its context,
    so nothing a request decided may outlive it.
    """
    _request_state.set(None)


def pin_context(primary: str, pin: Pin) -> None:
    """Pin ``primary`` in the current context (outside a request) until ``pin.until``."""
    pins = dict(_context_pins.get())
    pins[primary] = pin
    _context_pins.set(MappingProxyType(pins))


@contextmanager
def fresh_state() -> Iterator[None]:
    """Run a block as if nothing was pinned: no pins, no request, no ``use_primary()``.

    For test suites: pins from writes outside a request stay in the test thread's
    context for ``pin_seconds``, so one test's writes would route the next test's reads.
    """
    tokens = (
        _primary_forced.set(False),
        _request_state.set(None),
        _context_pins.set(_NO_PINS),
    )
    try:
        yield
    finally:
        _context_pins.reset(tokens[2])
        _request_state.reset(tokens[1])
        _primary_forced.reset(tokens[0])


class use_primary:
    """Send reads to the primaries inside a block or a decorated function.

    A context manager (``with use_primary():``) and a decorator (``@use_primary()``)
    for sync and async functions. The state is a context variable set on entry and
    reset on exit, so blocks nest and concurrent tasks and threads are independent.
    """

    def __init__(self) -> None:
        self._tokens: list[Token[bool]] = []

    def __enter__(self) -> None:
        self._tokens.append(_primary_forced.set(True))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _primary_forced.reset(self._tokens.pop())

    def __call__(self, func: F) -> F:
        """Decorate ``func`` (sync or async) so that its reads go to the primaries."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_inner(*args: Any, **kwargs: Any) -> Any:
                token = _primary_forced.set(True)
                try:
                    return await cast("Callable[..., Awaitable[Any]]", func)(*args, **kwargs)
                finally:
                    _primary_forced.reset(token)

            return cast("F", async_inner)

        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            token = _primary_forced.set(True)
            try:
                return func(*args, **kwargs)
            finally:
                _primary_forced.reset(token)

        return cast("F", inner)
