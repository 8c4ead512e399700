"""``PinningMiddleware``: read-your-writes across requests, carried in a signed cookie."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.signals import setting_changed
from django.db import router as django_router
from django.http.cookie import parse_cookie
from django.utils.http import http_date

from ..conf import conf
from ..middleware_base import SyncAsyncMiddleware
from . import signing
from .discovery import replica_sets_by_primary
from .freshness import writes_committed
from .per_second import LastSecond
from .state import (
    Pin,
    RequestState,
    begin_request,
    end_request,
    finish_request,
    new_routing,
    routing,
    set_routing,
    start_request,
)

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase

    from .replica_set import ReplicaSet

__all__ = [
    "PinningMiddleware",
    "dumps_pins",
    "loads_pins",
    "pin_limits",
    "request_finished_receiver",
    "request_started_receiver",
]

SALT = "multidb_routers.pinning"  # unchanged since 0.1: cookies signed before stay valid


def dumps_pins(pins: Mapping[str, Pin]) -> str:
    """Sign ``pins`` (primary alias -> pin) into a cookie value."""
    payload = {
        primary: pin.until if pin.position is None else [pin.until, pin.position]
        for primary, pin in pins.items()
    }
    value, signed_at = signing.dumps_with_time(payload, salt=SALT)
    # The client sends it back with its next request, most often to this process: what
    # it carries is known without checking the signature made here.
    _remember(value, (_verify_payload(payload), float(signed_at)))
    return value


def loads_pins(
    value: str, *, now: float, limits: Mapping[str, float] | None = None
) -> dict[str, Pin]:
    """The pins a cookie value carries that are still active at ``now``.

    A tampered, forged, malformed or expired value gives no pins, never an error. With
    ``limits`` (primary alias -> its routers' ``pin_seconds``), pins of other aliases are
    dropped and none lasts longer than its limit after the cookie was signed, nor after
    ``now``: a cookie cannot pin longer than the router would have. A cookie signed more
    than a second after ``now`` (by a clock ahead of this one) gives no pins. The signature check
    is remembered per cookie value (a client sends the same cookie with each request);
    the limits and ``now`` apply on every call.
    """
    verified, signed_at = _verified(value)
    if signed_at > now + 1.0:
        # Signed by a clock ahead of ours: "pin_seconds after signing" would let the same
        # cookie pin again on every request for as long as that clock is ahead.
        return {}
    pins: dict[str, Pin] = {}
    for primary, pin in verified:
        if not pin.until > now:
            continue
        if limits is not None:
            limit = limits.get(primary)
            if limit is None:
                continue
            until = min(pin.until, now + limit, signed_at + 1.0 + limit)
            if not until > now:
                continue
            pin = Pin(until=until, position=pin.position)
        pins[primary] = pin
    return pins


_Verified = tuple[tuple[tuple[str, Pin], ...], float]

#: Cookie values already verified or signed here -> what :func:`_verified` found.
_known: dict[str, _Verified] = {}
_KNOWN_MAX = 256


def _remember(value: str, verified: _Verified) -> None:
    if len(_known) >= _KNOWN_MAX:
        _known.clear()  # cheaper than tracking use, and safe from any thread
    _known[value] = verified


def _verified(value: str) -> _Verified:
    """The well-formed pins a cookie value's valid signature covers, and when it was signed.

    Remembered per value (a client sends the same cookie with each request), until the
    signing keys change.
    """
    known = _known.get(value)
    if known is None:
        known = _verify(value)
        _remember(value, known)
    return known


def _verify(value: str) -> _Verified:
    try:
        # The signature covers the time it was made (TimestampSigner, whole seconds).
        payload, stamp = signing.loads_with_time(value, salt=SALT)
        signed_at = float(stamp)
    except Exception:  # any content: bad zlib, JSON, nesting, encoding, a bad timestamp
        return (), 0.0
    return _verify_payload(payload), signed_at


def _verify_payload(payload: object) -> tuple[tuple[str, Pin], ...]:
    """The well-formed pins of a signed payload."""
    if not isinstance(payload, dict):
        return ()
    pins = []
    for primary, raw in payload.items():
        pin = _pin_from_json(raw) if isinstance(primary, str) else None
        if pin is not None:
            pins.append((primary, pin))
    return tuple(pins)


def _pin_from_json(raw: Any) -> Pin | None:
    if isinstance(raw, list) and len(raw) == 2 and isinstance(raw[1], str):
        until, position = raw
    else:
        until, position = raw, None
    if isinstance(until, bool) or not isinstance(until, (int, float)):
        return None
    try:
        until = float(until)
    except OverflowError:  # an integer of hundreds of digits
        until = math.inf if until > 0 else -math.inf
    if math.isnan(until):
        return None
    return Pin(until=until, position=position)


def pin_limits() -> Mapping[str, float]:
    """Each primary alias of the routers in ``DATABASE_ROUTERS`` -> its longest ``pin_seconds``.

    Of the replica sets :func:`~multidb_routers.replication.discovery.replica_sets_by_primary`
    finds. Computed once per list of routers, and again after ``setting_changed`` (the
    routers or ``MULTIDB_ROUTERS_PIN_SECONDS`` changed).
    """
    global _limits
    routers = django_router.routers
    known = _limits
    if known is not None and known[0] is routers:
        return known[1]
    limits = MappingProxyType(
        {
            primary: max(0.0, *(replica_set.pin_seconds for replica_set in sets))
            for primary, sets in replica_sets_by_primary().items()
        }
    )
    _limits = (routers, limits)
    return limits


_limits: tuple[object, Mapping[str, float]] | None = None


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    global _limits
    if setting == "DATABASE_ROUTERS" or setting.startswith("MULTIDB_"):
        _limits = None
    elif setting in ("SECRET_KEY", "SECRET_KEY_FALLBACKS", "SIGNING_BACKEND"):
        _known.clear()


setting_changed.connect(_settings_changed, dispatch_uid="multidb_routers.middleware")


class PinningMiddleware(SyncAsyncMiddleware):
    """Pin a client's reads to the primaries it wrote to, for their ``pin_seconds``.

    A request that wrote gets a signed, HttpOnly, SameSite=Lax cookie naming the
    written primaries and until when; the client's next requests read those
    primaries' models from the primary until then. A request that wrote nothing gets
    no cookie. Its place in ``MIDDLEWARE`` does not matter: the request's routing state
    lives from Django's ``request_started`` to ``request_finished`` (see
    :mod:`multidb_routers.replication.state`), and a write made after this middleware
    returned (``SessionMiddleware`` saving the session on the way out) still updates the
    cookie. Sync and async capable.
    """

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        """Handle a request with its own routing state; set the cookie if it wrote."""
        if self.async_mode:
            return self.__acall__(request)
        # The state request_started began (with the cookie's pins) lives until
        # request_finished: this middleware claims it (_claim_state(), inlined: this runs
        # for every request), unless another PinningMiddleware did.
        forced, state, context, _ = routing()
        if state is None or state.claimed:
            value = request.COOKIES.get(conf.PIN_COOKIE_NAME)
            pins = loads_pins(value, now=time.time(), limits=pin_limits()) if value else {}
            # An ASGIRequest keeps its scope in its __dict__ (no AttributeError for a WSGI
            # one): under ASGI, a state like __acall__'s.
            if request.__dict__.get("scope") is None:
                # Called without Django's handler: a state begun and ended here.
                # RequestState(pins) and begin_request(), inlined: their frames and a
                # second look at the routing cost 0.5% of a one-read GET (a test checks
                # the state is RequestState's, field by field).
                state = _new_object(RequestState)
                state.pins = pins
                state.written = {}
                state.replicas = {}
                state.servable = {}
                state.claimed = True
                state.on_write = None
                quick = None if forced or pins else state
                token = set_routing(new_routing((forced, state, context, quick)))
                try:
                    response: HttpResponseBase = self.get_response(request)  # type: ignore[assignment]
                finally:
                    end_request(token)
                # The state ended with the call: no later write can reach it.
                if state.written:
                    self._set_cookie(request, response, self._new_pins(state))
                return response
            state = start_request(pins)
        state.claimed = True
        # Sync mode: get_response is sync (an isinstance check of Awaitable, an ABC, costs
        # a microsecond per request; typing.cast() a Python call).
        response = self.get_response(request)  # type: ignore[assignment]
        self._respond(request, response, state, self._new_pins(state) if state.written else None)
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        """The async counterpart of ``__call__``.

        Under ASGI, Django sends ``request_started`` in another task (Django >= 5), so
        the state usually starts here, in the request's own task. It is not reset when
        this returns: the middleware listed before this one still run their
        ``process_response`` in it, and the request's task (or ``request_finished``,
        under the async test client) ends it.
        """
        state = _claim_state()
        if state is None:
            state = start_request(self._incoming_pins(request))
            state.claimed = True
        response: HttpResponseBase = await self.get_response(request)  # type: ignore[misc]
        pins: dict[str, Pin] | None = None
        if state.written:
            if _pins_query_database(state):
                # Where the view's ORM calls ran: its thread and its connections.
                pins = await sync_to_async(self._new_pins)(state)
            else:
                pins = self._new_pins(state)
        self._respond(request, response, state, pins)
        return response

    def _incoming_pins(self, request: HttpRequest) -> dict[str, Pin]:
        value = request.COOKIES.get(conf.PIN_COOKIE_NAME)
        return loads_pins(value, now=time.time(), limits=pin_limits()) if value else {}

    def _new_pins(self, state: RequestState) -> dict[str, Pin]:
        """The request's incoming pins, updated with those of the primaries it wrote."""
        pins = dict(state.pins)
        # The view returned: its writes have committed (unless a transaction opened
        # outside this middleware is still open, which a strategy can see).
        with writes_committed():
            for primary, replica_set in state.written.items():
                pins[primary] = replica_set.make_pin(primary)
        return pins

    def _respond(
        self,
        request: HttpRequest,
        response: HttpResponseBase,
        state: RequestState,
        pins: dict[str, Pin] | None,
    ) -> None:
        """Set the cookie if the request wrote; make later writes of the request update it."""
        sent = dict(state.pins) if pins is None else pins
        if pins is not None:
            self._set_cookie(request, response, sent)

        def on_write(primary: str, replica_set: ReplicaSet) -> None:
            # A write after the view (the session saved on the way out): it has not run
            # yet, so its pin carries no position and holds the primary for pin_seconds.
            sent[primary] = replica_set.make_pin(primary)
            self._set_cookie(request, response, sent)

        state.on_write = on_write

    def _set_cookie(
        self, request: HttpRequest, response: HttpResponseBase, pins: dict[str, Pin]
    ) -> None:
        now = time.time()
        pins = {
            primary: pin
            for primary, pin in pins.items()
            if pin.until > now and math.isfinite(pin.until)
        }
        if not pins:
            return  # pin_seconds = 0
        max_age = max(1, math.ceil(max(pin.until for pin in pins.values()) - now))
        name = conf.PIN_COOKIE_NAME
        # What set_cookie(max_age=...) writes, its Expires date made once a second.
        response.set_cookie(
            name,
            dumps_pins(pins),
            expires=_http_date(int(now) + max_age),
            secure=settings.SESSION_COOKIE_SECURE or request.is_secure(),
            httponly=True,
            samesite="Lax",
        )
        response.cookies[name]["max-age"] = max_age


_new_object = object.__new__

#: ``django.utils.http.http_date`` of a second (the cookie's ``Expires``).
_http_date = LastSecond(http_date)


def _claim_state() -> RequestState | None:
    """The state ``request_started`` began for this request, now this middleware's.

    ``None`` when there is none (called outside Django's handler, or the signal ran in
    another context) or another ``PinningMiddleware`` already handles it.
    """
    state = routing().request
    if state is None or state.claimed:
        return None
    state.claimed = True
    return state


def request_started_receiver(
    sender: object, environ: Mapping[str, Any] | None = None, **kwargs: Any
) -> None:
    """``request_started``: a new request's routing state, with its cookie's pins.

    Started here rather than in the middleware, so that it covers every middleware,
    listed before or after ``PinningMiddleware`` (or without it).
    """
    name = conf.PIN_COOKIE_NAME
    if environ is not None:
        header = environ.get("HTTP_COOKIE", "")
    else:
        scope = kwargs.get("scope")
        headers = scope.get("headers", ()) if isinstance(scope, Mapping) else ()
        header = "; ".join(raw.decode("latin-1") for key, raw in headers if key == b"cookie")
    if not isinstance(header, str):
        header = ""
    value = parse_cookie(header).get(name) if name in header else None
    # start_request(), without its frame: this runs for every request.
    begin_request(loads_pins(value, now=time.time(), limits=pin_limits()) if value else {})


def request_finished_receiver(sender: object, **kwargs: Any) -> None:
    """``request_finished`` (the response was closed): the request's routing state ends."""
    finish_request()


def _pins_query_database(state: RequestState) -> bool:
    return any(
        getattr(replica_set.freshness, "pins_query_database", False)
        for replica_set in state.written.values()
    )
