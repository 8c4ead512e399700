"""Read-your-writes beyond the request: a token of what a context must see, and its restore.

:func:`capture` turns the current context's pins (the primaries a request or a command
wrote to, or is pinned to) into a small signed string; :func:`restore` makes the reads
of another context (a background job, another process) at least that fresh::

    token = capture()                   # in the view, after the write
    ...                                 # the token travels with the job
    with restore(token, mode="sticky"):  # in the job
        Review.objects.get(pk=pk)       # sees the view's write

Modes:

``"primary"``
    Reads of the token's primaries go to those primaries for the whole block.
``"sticky"`` (the default)
    A replica that has replayed the token's WAL position (``freshness="lsn"``), else the
    primary; with the time window (``freshness="time"``) the primary until the window
    ends, then any replica.
``"delayed"``
    As ``"sticky"``, but while the token's window lasts and no replica has replayed its
    position, entering the block raises :class:`~multidb_routers.exceptions.ReplicaLagError`
    so that a job queue retries the job later instead of loading the primary. After the
    window, the block falls back to the primary for a position no replica has replayed.

A ``None``, tampered, forged (another ``SECRET_KEY``), malformed or expired token
restores nothing and never raises. A token names only primaries of the routers in
``DATABASE_ROUTERS``, and its window lasts no longer than their ``pin_seconds``.
"""

from __future__ import annotations

import math
import time
from contextvars import ContextVar
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from django.core import signing

from .blocks import ContextBlock
from .exceptions import ReplicaLagError
from .replication.discovery import replica_sets_by_primary
from .replication.freshness import parse_lsn, writes_committed
from .replication.middleware import _pin_from_json
from .replication.state import (
    ContextState,
    Pin,
    RequestState,
    context_state,
    request_state,
    set_context,
    set_request,
)

if TYPE_CHECKING:
    from collections.abc import Mapping
    from contextvars import Token


__all__ = ["MODES", "TOKEN_MAX_AGE", "Mode", "capture", "restore", "restored_mode"]

Mode = Literal["primary", "sticky", "delayed"]
#: The modes :func:`restore` accepts.
MODES: tuple[str, ...] = ("primary", "sticky", "delayed")
#: Seconds after which a token restores nothing, whatever it carries (a day).
TOKEN_MAX_AGE = 24 * 3600.0
SALT = "multidb_routers.consistency"
_VERSION = 1


# -- capture() ---------------------------------------------------------------------------------


def _active_primaries(now: float) -> dict[str, Pin | None]:
    """The primaries the current context must see: written now (``None``) or pinned."""
    state = request_state()
    primaries: dict[str, Pin | None] = {}
    if state is not None:
        pins = state.pins
        primaries.update(dict.fromkeys(state.written))
    else:
        pins = context_state().pins
    for primary, pin in pins.items():
        if pin.until > now and primary not in primaries:
            primaries[primary] = pin
    return primaries


def capture() -> str | None:
    """A signed token of what the current context must see, or ``None`` when nothing is pinned.

    The token names each primary the context wrote to or is pinned to (by a request's
    cookie, a write outside a request, or an enclosing :func:`restore`), with the end
    of its window and, under ``freshness="lsn"``, the primary's WAL position now (read
    once per primary: call it after the writes, outside their transaction). It is a
    short ASCII string, safe in JSON and in message headers.
    """
    now = time.time()
    primaries = _active_primaries(now)
    if not primaries:
        return None
    sets = replica_sets_by_primary()
    payload: dict[str, Any] = {}
    with writes_committed():
        for primary, old in primaries.items():
            replica_set = sets.get(primary, (None,))[0]
            if replica_set is None:
                continue  # no router knows it: a restore would drop it anyway
            pin = replica_set.make_pin(primary)
            until = pin.until
            if old is not None and math.isfinite(old.until):
                # A cookie's or an earlier token's pin keeps its own end when later.
                until = max(until, min(old.until, now + replica_set.pin_seconds))
            if not until > now:
                continue  # pin_seconds = 0
            payload[primary] = [round(until, 3), pin.position] if pin.position else round(until, 3)
    if not payload:
        return None
    return signing.dumps({"v": _VERSION, "p": payload}, salt=SALT, compress=False)


# -- Reading a token ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenPins:
    """A verified token's pins (by primary alias) and when it was signed."""

    pins: Mapping[str, Pin]
    signed_at: float


def read_token(token: object, *, now: float | None = None) -> TokenPins | None:
    """The pins of a valid token, or ``None`` (not a string, tampered, foreign, expired).

    A pin whose primary no router of ``DATABASE_ROUTERS`` knows is dropped, and no window
    ends later than that primary's ``pin_seconds`` after the token was signed. A
    position that is not a WAL position is dropped with its pin's window kept.
    """
    if not isinstance(token, str) or not token or len(token) > 4096:
        return None
    now = time.time() if now is None else now
    try:
        payload = signing.loads(token, salt=SALT)
        signed_at = float(signing.b62_decode(token.rsplit(":", 2)[-2]))
    except Exception:  # any content: bad signature, JSON, encoding, timestamp
        return None
    if signed_at < now - TOKEN_MAX_AGE:
        return None  # expired
    # A token signed "in the future" is kept: the clocks of the web and worker hosts
    # may differ, and dropping it would read replicas the token says may be behind.
    if not isinstance(payload, dict) or payload.get("v") != _VERSION:
        return None
    raw_pins = payload.get("p")
    if not isinstance(raw_pins, dict):
        return None
    sets = replica_sets_by_primary()
    pins: dict[str, Pin] = {}
    for primary, raw in raw_pins.items():
        known = sets.get(primary) if isinstance(primary, str) else None
        pin = _pin_from_json(raw) if known else None
        if pin is None or known is None:
            continue
        limit = max(replica_set.pin_seconds for replica_set in known)
        until = min(pin.until, signed_at + 1.0 + limit)
        position = pin.position
        if position is not None:
            try:
                parse_lsn(position)
            except ValueError:
                position = None
        pins[primary] = Pin(until=until, position=position)
    return TokenPins(MappingProxyType(pins), signed_at)


# -- restore() ---------------------------------------------------------------------------------


def _validate_mode(mode: object) -> Mode:
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(
            f"mode must be one of {', '.join(map(repr, MODES))}, not {mode!r}: "
            "'primary' always reads the primary, 'sticky' a replica that caught up else "
            "the primary, 'delayed' raises ReplicaLagError while no replica caught up."
        )
    return mode  # type: ignore[return-value]  # one of MODES


def _fresh_somewhere(primary: str, pin: Pin) -> bool:
    """Whether a replica of ``primary`` has replayed ``pin``'s position (or none exists)."""
    sets = replica_sets_by_primary().get(primary, ())
    if not any(replica_set.readers for replica_set in sets):
        return True  # nothing to lag behind: every read goes to a primary
    return any(
        replica_set.freshness.fresh_replicas(replica_set.replicas, pin) for replica_set in sets
    )


def pins_to_restore(token_pins: TokenPins, mode: Mode, *, now: float) -> dict[str, Pin]:
    """The pins a block restoring ``token_pins`` in ``mode`` holds (may raise for ``delayed``).

    ``math.inf`` windows last as long as the block: a position keeps mattering until a
    replica replays it, and ``"primary"`` holds whatever the windows say.
    """
    pins: dict[str, Pin] = {}
    for primary, pin in token_pins.pins.items():
        active = pin.until > now
        if mode == "primary":
            pins[primary] = Pin(until=math.inf)
        elif pin.position is not None:
            if mode == "delayed" and active and not _fresh_somewhere(primary, pin):
                raise ReplicaLagError(primary, pin.position, retry_after=pin.until - now)
            pins[primary] = Pin(until=math.inf, position=pin.position)
        elif active:
            if mode == "delayed" and not _fresh_somewhere(primary, pin):
                raise ReplicaLagError(primary, None, retry_after=pin.until - now)
            pins[primary] = pin
    return pins


def _merge(old: Pin | None, new: Pin, now: float) -> Pin:
    """The stronger of two pins of one primary: what both require."""
    if old is None or not old.until > now:
        return new
    position: str | None = None  # when one of them trusts no replica
    if old.position is not None and new.position is not None:
        try:
            position = max(old.position, new.position, key=parse_lsn)
        except ValueError:  # a strategy of its own may write positions otherwise
            position = None
    return Pin(until=max(old.until, new.until), position=position)


#: The pins the enclosing :func:`restore` blocks put in place, by primary, with their mode
#: (read only by the routing reasons, to tell a token's pin from a cookie's or a write's).
_restored: ContextVar[Mapping[str, tuple[Pin, Mode]]] = ContextVar(
    "multidb_routers.restored_pins", default=MappingProxyType({})
)


def restored_mode(primary: str, pin: Pin) -> Mode | None:
    """The mode of the :func:`restore` block that put ``pin`` on ``primary``, else ``None``.

    ``None`` as well when a later write or cookie replaced the token's pin.
    """
    restored = _restored.get().get(primary)
    return restored[1] if restored is not None and restored[0] is pin else None


@dataclass(frozen=True)
class _Entered:
    """What :meth:`restore.exit` needs to undo an entry."""

    #: The request state the block replaced (inside a request).
    request: RequestState | None
    #: The context state the block replaced (outside a request).
    context: ContextState | None
    restored: Mapping[str, Pin]
    by_token: Token[Mapping[str, tuple[Pin, Mode]]] | None = None


class restore(ContextBlock[_Entered]):
    """Make reads inside a block (or a decorated function) at least as fresh as ``token``.

    ``restore(token, mode="sticky")``: a context manager and a decorator for sync and
    async functions; ``mode`` is ``"primary"``, ``"sticky"`` or ``"delayed"`` (see
    :mod:`multidb_routers.consistency`). Blocks nest, inside a request or outside one,
    the strongest pin of each primary winning; the token is read on each entry (a
    decorated function re-checks ``"delayed"`` on each call). Writes made in the block
    still pin the context after it.
    """

    def __init__(self, token: str | None, mode: Mode = "sticky") -> None:
        super().__init__()
        self.mode: Mode = _validate_mode(mode)
        self.token = token

    def __repr__(self) -> str:
        return f"restore(<token>, mode={self.mode!r})"

    def enter(self) -> _Entered:
        """Add the token's pins to the current request's or context's pins."""
        now = time.time()
        token_pins = read_token(self.token, now=now)
        pins = {} if token_pins is None else pins_to_restore(token_pins, self.mode, now=now)
        if not pins:
            return _Entered(None, None, MappingProxyType({}))
        state = request_state()
        if state is not None:
            merged = dict(state.pins)
            for primary, pin in pins.items():
                merged[primary] = _merge(merged.get(primary), pin, now)
            by_token = self._mark(pins, merged)
            # The same written/replicas objects: writes in the block reach the cookie.
            inner = RequestState(
                pins=MappingProxyType(merged),
                written=state.written,
                replicas=state.replicas,
                servable=state.servable,
                claimed=state.claimed,
                on_write=state.on_write,
            )
            return _Entered(set_request(inner), None, MappingProxyType(merged), by_token)
        outer = context_state()
        merged = dict(outer.pins)
        for primary, pin in pins.items():
            merged[primary] = _merge(merged.get(primary), pin, now)
        by_token = self._mark(pins, merged)
        frozen = MappingProxyType(merged)
        context = set_context(ContextState(frozen, outer.replicas))
        return _Entered(None, context, frozen, by_token)

    def _mark(
        self, pins: Mapping[str, Pin], merged: Mapping[str, Pin]
    ) -> Token[Mapping[str, tuple[Pin, Mode]]]:
        """Remember which pins this block put in place, for the routing reasons."""
        marks = dict(_restored.get())
        marks.update((primary, (merged[primary], self.mode)) for primary in pins)
        return _restored.set(MappingProxyType(marks))

    def exit(self, entered: _Entered) -> None:
        """Drop the token's pins; keep the pins of writes made inside the block."""
        if entered.by_token is not None:
            _restored.reset(entered.by_token)
        if entered.request is not None:
            set_request(entered.request)
            return
        if entered.context is None:
            return
        inner = context_state()
        set_context(entered.context)
        made_inside = {
            primary: pin
            for primary, pin in inner.pins.items()
            if entered.restored.get(primary) is not pin
        }
        if made_inside:
            outer = context_state()
            set_context(
                ContextState(MappingProxyType({**outer.pins, **made_inside}), outer.replicas)
            )
