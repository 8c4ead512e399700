"""Read-your-writes state in ``contextvars``: ``use_primary()``, write pins, request state.

Three pieces of state decide whether a read may leave the primary, all held in one
context variable (a :class:`Routing`, replaced on each change) so that concurrent asyncio
tasks and threads never see each other's (never ``threading.local``, never module
globals), and so that the routing hot path reads it once:

* ``use_primary()`` sets a flag for the code it wraps; each block restores the flag it
  found, so blocks nest.
* Inside a request (:class:`RequestState`, started on Django's ``request_started``
  signal or by :class:`~multidb_routers.middleware.PinningMiddleware`, ended on
  ``request_finished``): the pins the request carried in its cookie, the primaries it
  wrote to, and the replica each replica set chose for it. The object is mutable
  because it lives exactly as long as its request.
* Outside a request (:class:`ContextState`), a write pins its primary for the current
  context only, and each replica set keeps reading from the replica it first chose in
  the context (monotonic reads in commands and tasks). The state is immutable and
  replaced on each change, so a task or thread that copied the context earlier never
  sees a later pin or choice of another one.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

from ..blocks import ContextBlock

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from .replica_set import ReplicaSet

__all__ = [
    "ContextState",
    "Pin",
    "RequestState",
    "Routing",
    "begin_request",
    "choose_in_context",
    "context_pins",
    "context_state",
    "end_request",
    "finish_request",
    "fresh_state",
    "ignore_test_transactions",
    "new_routing",
    "pin_context",
    "primary_forced",
    "request_state",
    "routing",
    "set_context",
    "set_forced",
    "set_request",
    "set_routing",
    "start_request",
    "test_transactions_ignored",
    "use_primary",
]


@dataclass(frozen=True)
class Pin:
    """A read-your-writes marker for one primary.

    ``until`` (seconds since the epoch) is when the pin stops mattering. ``position``
    is an optional freshness marker a strategy may add (such as a WAL position); the
    time window strategy leaves it ``None``.
    """

    until: float
    position: str | None = None


@dataclass(init=False, eq=False, slots=True)
class RequestState:
    """Routing state of one request; a new one for every request.

    ``pins``: valid pins the request carried, by primary alias. ``written``: the
    primaries written during the request, with the replica set that wrote them (the
    middleware asks it for the pin to send back). ``replicas``: the replica each
    replica set chose for this request, so that its reads are monotonic.
    """

    pins: Mapping[str, Pin]
    written: dict[str, ReplicaSet]
    replicas: dict[ReplicaSet, str]
    #: The same choices while nothing is written in the request: the routing hot path
    #: serves a read from these without further checks of the state (a write empties
    #: it; the states of nested blocks share it).
    servable: dict[ReplicaSet, str]
    #: Whether a ``PinningMiddleware`` handles this request (it loaded the cookie's pins).
    claimed: bool
    #: Called with (primary, replica set) on each write once the middleware has its
    #: response, so that writes made after it returned still reach the client's cookie.
    on_write: Callable[[str, ReplicaSet], None] | None

    # Written out: one is made per request, and the dataclass's own __init__ (calling a
    # default factory per dict) costs half as much again.
    def __init__(
        self,
        pins: Mapping[str, Pin] | None = None,
        written: dict[str, ReplicaSet] | None = None,
        replicas: dict[ReplicaSet, str] | None = None,
        servable: dict[ReplicaSet, str] | None = None,
        claimed: bool = False,
        on_write: Callable[[str, ReplicaSet], None] | None = None,
    ) -> None:
        self.pins = {} if pins is None else pins
        self.written = {} if written is None else written
        self.replicas = {} if replicas is None else replicas
        self.servable = {} if servable is None else servable
        self.claimed = claimed
        self.on_write = on_write


_new_object = object.__new__

_NO_PINS: Mapping[str, Pin] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ContextState:
    """Routing state of a context outside a request: its pins and its chosen replicas.

    ``pins``: the context's write pins, by primary alias. ``replicas``: the replica each
    replica set chose in this context. Replaced, never mutated.
    """

    # No defaults: Python 3.11's dataclasses refuse an unhashable (mappingproxy) one.
    pins: Mapping[str, Pin]
    replicas: Mapping[ReplicaSet, str]


_EMPTY = ContextState(_NO_PINS, MappingProxyType({}))


class Routing(NamedTuple):
    """All the routing state of a context, in one context variable; replaced, never mutated.

    ``forced``: inside ``use_primary()``. ``request``: the current request's state, or
    ``None``. ``context``: the state outside a request. ``quick``: ``request`` when nothing
    but its writes can keep its reads off the replica it chose (not forced, no pins), so
    that the routing hot path reads one context variable and one attribute.
    """

    forced: bool
    request: RequestState | None
    context: ContextState
    quick: RequestState | None


#: ``new_routing((forced, request, context, quick))``: a :class:`Routing` made without
#: the Python frame of its generated ``__new__`` (one or two per request).
new_routing: Callable[
    [tuple[bool, RequestState | None, ContextState, RequestState | None]], Routing
] = partial(tuple.__new__, Routing)


def _routing_of(forced: bool, request: RequestState | None, context: ContextState) -> Routing:
    quick = request if request is not None and not forced and not request.pins else None
    return new_routing((forced, request, context, quick))


_OUTSIDE = _routing_of(False, None, _EMPTY)
_routing: ContextVar[Routing] = ContextVar("multidb_routers.routing", default=_OUTSIDE)

#: Set by ``multidb_routers.testing.lagging_replicas()``: reads inside a ``TestCase``'s
#: own transaction are routed as production routes them (the code's transactions still
#: keep reads on the primary).
ignore_test_transactions: ContextVar[bool] = ContextVar(
    "multidb_routers.ignore_test_transactions", default=False
)

# The routing hot path calls these on every read: bound ``ContextVar.get`` methods.
#: True inside ``lagging_replicas()``.
test_transactions_ignored: Callable[[], bool] = ignore_test_transactions.get
#: The current context's :class:`Routing`.
routing: Callable[[], Routing] = _routing.get


def primary_forced() -> bool:
    """True inside ``use_primary()``."""
    return _routing.get().forced


def request_state() -> RequestState | None:
    """The current request's :class:`RequestState`, or ``None`` outside a request."""
    return _routing.get().request


def context_state() -> ContextState:
    """The current context's :class:`ContextState` (what matters outside a request)."""
    return _routing.get().context


def context_pins() -> Mapping[str, Pin]:
    """The out-of-request pins of the current context, by primary alias."""
    return _routing.get().context.pins


def set_forced(forced: bool) -> bool:
    """Set the ``use_primary()`` flag of the current context; return the one it replaces."""
    current = _routing.get()
    _routing.set(_routing_of(forced, current.request, current.context))
    return current.forced


def set_request(state: RequestState | None) -> RequestState | None:
    """Make ``state`` the current request's state; return the one it replaces."""
    current = _routing.get()
    _routing.set(_routing_of(current.forced, state, current.context))
    return current.request


def set_context(context: ContextState) -> ContextState:
    """Make ``context`` the current context's state; return the one it replaces."""
    current = _routing.get()
    _routing.set(_routing_of(current.forced, current.request, context))
    return current.context


def begin_request(pins: Mapping[str, Pin]) -> tuple[RequestState, Token[Routing]]:
    """Start a request's routing state with the pins it carried.

    Pass the second value returned to :func:`end_request` in ``finally``, in the same
    context.
    """
    # RequestState(pins) and _routing_of(), inlined: this runs for every request, and
    # their frames cost 0.4% of a one-read GET through Django's handler (a test checks
    # the state is RequestState's, field by field).
    state = _new_object(RequestState)
    state.pins = pins
    state.written = {}
    state.replicas = {}
    state.servable = {}
    state.claimed = False
    state.on_write = None
    forced, _, context, _ = _routing.get()
    quick = None if forced or pins else state
    return state, _routing.set(new_routing((forced, state, context, quick)))


#: End the request's routing state (call in ``finally``) with the token
#: :func:`begin_request` returned: the routing state is again what it was then, and
#: nothing the request set (its state, a context pin, a forgotten ``use_primary()``
#: flag) outlives it. The context variable's own ``reset``: no Python frame per request.
end_request: Callable[[Token[Routing]], None] = _routing.reset
#: Make a :class:`Routing` the current one; returns the token :func:`end_request` takes.
#: For ``PinningMiddleware``, which begins a request's state in its own frame.
set_routing: Callable[[Routing], Token[Routing]] = _routing.set


def start_request(pins: Mapping[str, Pin]) -> RequestState:
    """Start a request's routing state that lasts until :func:`finish_request`.

    For Django's ``request_started`` signal: the state then lives until the response is
    closed (``request_finished``), after every middleware returned.
    """
    return begin_request(pins)[0]


def finish_request() -> None:
    """End the current request's routing state, whoever started it.

    Called on ``request_started`` and ``request_finished``: a thread serving request
    after request (``runserver --nothreading``, WSGI worker threads) keeps its context,
    so nothing a request decided may outlive it.
    """
    forced, _, context, _ = _routing.get()
    # set_request(None), in one frame: this runs for every request.
    _routing.set(new_routing((forced, None, context, None)))


def pin_context(primary: str, pin: Pin) -> None:
    """Pin ``primary`` in the current context (outside a request) until ``pin.until``."""
    state = _routing.get().context
    set_context(ContextState(MappingProxyType({**state.pins, primary: pin}), state.replicas))


def choose_in_context(replica_set: ReplicaSet, alias: str) -> None:
    """Remember ``alias`` as the replica ``replica_set`` reads from in the current context."""
    state = _routing.get().context
    set_context(ContextState(state.pins, MappingProxyType({**state.replicas, replica_set: alias})))


@contextmanager
def fresh_state() -> Iterator[None]:
    """Run a block as if nothing was pinned: no pins, no request, no ``use_primary()``.

    Nor any replica chosen outside a request.

    For test suites: pins from writes outside a request stay in the test thread's
    context for ``pin_seconds``, so one test's writes would route the next test's reads.
    """
    token = _routing.set(_OUTSIDE)
    try:
        yield
    finally:
        _routing.reset(token)


class use_primary(ContextBlock[bool]):
    """Send reads to the primaries inside a block or a decorated function.

    A context manager (``with use_primary():``) and a decorator (``@use_primary()``)
    for sync and async functions. The state is a context variable set on entry and
    reset on exit, so blocks nest and concurrent tasks and threads are independent.
    """

    def enter(self) -> bool:
        """Force reads to the primaries."""
        return set_forced(True)

    def exit(self, previous: bool) -> None:
        """Restore the flag as it was before :meth:`enter` (pins made inside stay)."""
        set_forced(previous)
