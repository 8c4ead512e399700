"""Freshness strategies: what a write pins, and which replicas may serve a pinned read.

A :class:`~multidb_routers.replication.replica_set.ReplicaSet` asks its strategy two questions:

* after a write, :meth:`Freshness.make_pin`: the pin to remember for the primary;
* for a read while a pin is active, :meth:`Freshness.fresh_replicas`: the replicas
  known to have caught up with it (none means "read from the primary").

Two strategies exist. :class:`TimeFreshness` (``freshness="time"``, the default, any
database): a pin lasts ``pin_seconds`` and no replica is trusted before it ends.
:class:`LsnFreshness` (``freshness="lsn"``, PostgreSQL streaming replication): the pin
carries the primary's WAL position after the write, in
:attr:`~multidb_routers.replication.state.Pin.position`, and a replica serves the pinned read as
soon as it has replayed that position; it can also leave out replicas that lag more
than ``max_lag_seconds``.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from django.core.exceptions import SynchronousOnlyOperation
from django.db import DatabaseError, connections

from ..exceptions import RouterOptionError
from .connections import user_transaction_open
from .state import Pin

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "Freshness",
    "LsnFreshness",
    "ReplicaPosition",
    "TimeFreshness",
    "format_lsn",
    "get_freshness",
    "parse_lsn",
    "writes_committed",
]

logger = logging.getLogger("multidb_routers")

_committed: ContextVar[bool] = ContextVar("multidb_routers.writes_committed", default=False)


class writes_committed:
    """Pins made in the block follow writes that have committed (the middleware's case).

    Outside a request, a replica set makes its pin when the router is asked for the
    write's alias, *before* the statement runs; a strategy that records where the
    primary stands must not do so then. :class:`~multidb_routers.middleware.PinningMiddleware`
    builds its pins in this block, once the view (and ``ATOMIC_REQUESTS``) returned.
    A class, not a generator: it runs for every response of a request that wrote.
    """

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _committed.set(True)

    def __exit__(self, *exc_info: object) -> None:
        _committed.reset(self._token)


class Freshness(Protocol):
    """How a replica set decides that a replica has caught up with a write."""

    def make_pin(self, primary: str, *, seconds: float) -> Pin:
        """The pin to remember after a write to ``primary``, lasting at most ``seconds``."""

    def fresh_replicas(self, replicas: Sequence[str], pin: Pin) -> Sequence[str]:
        """Those of ``replicas`` that can serve a read pinned by ``pin`` (an active pin)."""


class TimeFreshness:
    """A pin lasts a fixed time after the write; until then only the primary is fresh."""

    def make_pin(self, primary: str, *, seconds: float) -> Pin:
        """A pin that ends ``seconds`` from now."""
        return Pin(until=time.time() + seconds)

    def fresh_replicas(self, replicas: Sequence[str], pin: Pin) -> Sequence[str]:
        """No replica, while the pin is active."""
        return ()


# -- PostgreSQL WAL positions -----------------------------------------------------------------

_LSN = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")


def parse_lsn(text: str) -> int:
    """A PostgreSQL ``pg_lsn`` (``"16/B374D848"``) as an integer, for comparisons.

    Raises ``ValueError`` for anything else. Comparing the text would be wrong
    (``"9/0" > "10/0"``).
    """
    match = _LSN.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is no PostgreSQL WAL position (such as '16/B374D848').")
    return (int(match[1], 16) << 32) | int(match[2], 16)


def format_lsn(position: int) -> str:
    """The ``pg_lsn`` text of an integer position (the inverse of :func:`parse_lsn`)."""
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


@dataclass(frozen=True)
class ReplicaPosition:
    """What one query told about a replica: how far it replayed, how far behind it is.

    ``replayed``: the replayed WAL position, ``None`` when unknown (not PostgreSQL, not
    a standby, unreachable). ``lag``: seconds behind, ``0.0`` when it has replayed all
    it received, ``None`` when unknown. ``lag_bytes``: the WAL it received and has not
    replayed yet, ``None`` when unknown.
    """

    replayed: int | None
    lag: float | None
    lag_bytes: int | None = None


UNKNOWN = ReplicaPosition(replayed=None, lag=None)

# One round trip per replica: replayed and received positions, and the age of the last
# replayed commit. pg_lsn as text: the driver may not know the type.
POSITION_SQL = (
    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
    "pg_last_wal_receive_lsn()::text, "
    "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8"
)
# The insert position, not pg_current_wal_lsn() (the write position): with
# synchronous_commit = off a commit returns before its record is written out.
PRIMARY_SQL = "SELECT pg_current_wal_insert_lsn()::text"


def _position_from_row(row: tuple[object, ...]) -> ReplicaPosition:
    in_recovery, replayed, received, age = row
    if not in_recovery:
        # Not a standby (a promoted one, or a test mirror of the primary itself): its
        # positions say nothing about the primary's, but it does not lag either.
        return ReplicaPosition(replayed=None, lag=0.0, lag_bytes=0)
    replay = parse_lsn(replayed) if isinstance(replayed, str) else None
    receive = parse_lsn(received) if isinstance(received, str) else None
    if replay is not None and replay == receive:
        # Everything received is applied. With an idle primary, the last replayed
        # commit is old however fresh the replica is, so its age is no lag.
        lag: float | None = 0.0
    elif isinstance(age, (int, float)):
        lag = max(0.0, float(age))
    else:
        lag = None
    lag_bytes = None if replay is None or receive is None else max(0, receive - replay)
    return ReplicaPosition(replayed=replay, lag=lag, lag_bytes=lag_bytes)


def _seconds(option: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise RouterOptionError(
            f"{option} must be a number of seconds (>= 0), such as 0.5, not {value!r}."
        )
    return float(value)


def _bytes(option: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RouterOptionError(
            f"{option} must be a whole number of bytes (>= 0), such as 16 * 1024 * 1024 "
            f"for 16 MiB, not {value!r}."
        )
    return value


def _pin_position(pin: Pin) -> int | None:
    """A pin's WAL position, ``None`` when it has none (or not one ``parse_lsn`` reads)."""
    if pin.position is None:
        return None
    try:
        return parse_lsn(pin.position)
    except ValueError:
        return None


class LsnFreshness:
    """PostgreSQL: a pinned read may use a replica that has replayed the write's WAL.

    ``LsnFreshness(cache_seconds=0.2, max_lag_seconds=None, max_lag_bytes=None,
    readmit_after_seconds=None)``. After a write,
    :meth:`make_pin` records the primary's WAL insert position, read once the write has
    committed (by :class:`~multidb_routers.middleware.PinningMiddleware` at response
    time); :meth:`fresh_replicas` keeps the replicas whose replayed position
    (``pg_last_wal_replay_lsn()``) has reached it. Each replica's position is asked at
    most once per ``cache_seconds`` per process. With ``max_lag_seconds`` or
    ``max_lag_bytes``, :meth:`within_lag` leaves out, for every read, a replica further
    behind than either limit, and lets it back only once it has stayed within both for
    ``readmit_after_seconds`` (default 5 s).

    Whenever a position cannot be known (another database engine, a query error, a
    pin made before its write committed, async code), the answer is the safe one: the
    pin has no position and pinned reads go to the primary until ``pin_seconds`` end,
    and a replica of unknown lag is left out when a lag limit is set.
    """

    #: PinningMiddleware must build these pins where database queries are allowed.
    pins_query_database = True
    #: Seconds a thread with no position of a replica waits for the thread asking it.
    WAIT_SECONDS = 2.0
    #: ``readmit_after_seconds`` when a lag limit is set and it is not given.
    READMIT_AFTER_SECONDS = 5.0

    def __init__(
        self,
        *,
        cache_seconds: float = 0.2,
        max_lag_seconds: float | None = None,
        max_lag_bytes: int | None = None,
        readmit_after_seconds: float | None = None,
    ) -> None:
        #: Seconds a replica's position is reused before it is asked again.
        self.cache_seconds: float = _seconds("cache_seconds", cache_seconds)
        #: Replicas further behind than this many seconds serve no read (``None``: no limit).
        self.max_lag_seconds: float | None = (
            None if max_lag_seconds is None else _seconds("max_lag_seconds", max_lag_seconds)
        )
        #: Replicas with more received WAL than this left to replay serve no read.
        self.max_lag_bytes: int | None = _bytes("max_lag_bytes", max_lag_bytes)
        limited = self.max_lag_seconds is not None or self.max_lag_bytes is not None
        if readmit_after_seconds is not None and not limited:
            raise RouterOptionError(
                "readmit_after_seconds only applies with a lag limit: set max_lag_seconds "
                f"or max_lag_bytes too, or leave it out (got {readmit_after_seconds!r})."
            )
        #: Seconds a left-out replica must stay within the limits before it serves again.
        self.readmit_after_seconds: float = (
            self.READMIT_AFTER_SECONDS
            if readmit_after_seconds is None
            else _seconds("readmit_after_seconds", readmit_after_seconds)
        )
        self._limited = limited
        # Replica alias -> (time.monotonic() until which it holds, position).
        self._cache: dict[str, tuple[float, ReplicaPosition]] = {}
        # Replica alias -> the lock its refreshing thread holds (single flight).
        self._refreshing: dict[str, threading.Lock] = {}
        # Replica alias -> (the cache entry judged last, admitted, monotonic time since
        # which a left-out replica has been within the limits).
        self._admission: dict[str, tuple[tuple[float, ReplicaPosition], bool, float | None]] = {}

    def __repr__(self) -> str:
        extra = "".join(
            f", {name}={value!r}"
            for name, value in (
                ("max_lag_bytes", self.max_lag_bytes),
                ("readmit_after_seconds", self.readmit_after_seconds if self._limited else None),
            )
            if value is not None
        )
        return (
            f"LsnFreshness(cache_seconds={self.cache_seconds!r}, "
            f"max_lag_seconds={self.max_lag_seconds!r}{extra})"
        )

    def make_pin(self, primary: str, *, seconds: float) -> Pin:
        """A pin ending ``seconds`` from now, with the primary's WAL position if known."""
        until = time.time() + seconds
        if not _committed.get():
            return Pin(until=until)  # the write has not even run yet
        connection = connections[primary]
        if connection.vendor != "postgresql":
            return Pin(until=until)
        if user_transaction_open(connection):
            return Pin(until=until)  # the write commits later, at a position unknown now
        try:
            with connection.cursor() as cursor:
                cursor.execute(PRIMARY_SQL)
                row = cursor.fetchone()
        except (DatabaseError, SynchronousOnlyOperation):
            return Pin(until=until)
        position = row[0] if row else None
        return Pin(until=until, position=position if isinstance(position, str) else None)

    def fresh_replicas(self, replicas: Sequence[str], pin: Pin) -> Sequence[str]:
        """The replicas whose replayed position has reached the pin's."""
        return self._replayed(replicas, _pin_position(pin))

    def explain(self, replicas: Sequence[str], pin: Pin) -> str:
        """Why no replica can serve a read pinned by ``pin``, in words."""
        target = _pin_position(pin)
        if target is None:
            return "the pin carries no WAL position (its write may not have committed)"
        positions = []
        for alias in replicas:
            replayed = self.position(alias).replayed
            positions.append(
                f"{alias!r} has replayed "
                f"{'an unknown position' if replayed is None else format_lsn(replayed)}"
            )
        return (
            f"no replica has replayed the write's position {format_lsn(target)} "
            f"({'; '.join(positions) or 'no replica'})"
        )

    def _replayed(self, replicas: Sequence[str], target: int | None) -> Sequence[str]:
        if target is None:
            return ()
        fresh = []
        for alias in replicas:
            replayed = self.position(alias).replayed
            if replayed is not None and replayed >= target:
                fresh.append(alias)
        return fresh

    def within_lag(self, alias: str) -> bool:
        """Whether replica ``alias`` may serve reads: always without a lag limit.

        Judged once per new position (so at most once per ``cache_seconds``): a replica
        over a limit, or of unknown lag, is left out at once; a left-out one is let back
        after ``readmit_after_seconds`` of positions all within the limits.
        """
        if not self._limited:
            return True
        position = self.position(alias)
        # The cache entry, new with each answer (an answer not cached was not judged).
        entry = self._cache.get(alias)
        if entry is None or entry[1] is not position:
            return self._over_limit(position) is None  # unknown now (async code): out
        judged = self._admission.get(alias)
        if judged is not None and judged[0] is entry:
            return judged[1]
        admitted = judged is None or judged[1]  # never judged: in, unless over now
        since = None if judged is None else judged[2]
        now = time.monotonic()
        over = self._over_limit(position)
        if over is not None:
            if admitted:
                logger.warning(
                    "Replica %r is %s; it serves no read until it stays within the "
                    "limit for %.1f s.",
                    alias,
                    over,
                    self.readmit_after_seconds,
                )
            admitted, since = False, None
        elif not admitted:
            since = now if since is None else since
            if now - since >= self.readmit_after_seconds:
                logger.warning("Replica %r is within its lag limits again.", alias)
                admitted, since = True, None
        self._admission[alias] = (entry, admitted, since)
        return admitted

    def _over_limit(self, position: ReplicaPosition) -> str | None:
        """Why ``position`` breaks a lag limit, or ``None`` when it is within them."""
        seconds, size = self.max_lag_seconds, self.max_lag_bytes
        if seconds is not None:
            if position.lag is None:
                return "of unknown lag"
            if position.lag > seconds:
                return f"{position.lag:.3f} s behind (max_lag_seconds={seconds:g})"
        if size is not None:
            if position.lag_bytes is None:
                return "of unknown lag in bytes"
            if position.lag_bytes > size:
                return f"{position.lag_bytes} bytes behind (max_lag_bytes={size})"
        return None

    def position(self, alias: str) -> ReplicaPosition:
        """Replica ``alias``'s position, asked at most once per ``cache_seconds``.

        Once per process, whatever the threads: when the cached position expires, one
        thread asks while the others keep the expired one; a thread with no position
        at all waits for the asking one (at most :attr:`WAIT_SECONDS`, then the
        position is unknown).
        """
        cached = self._cache.get(alias)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        lock = self._refreshing.get(alias)
        if lock is None:
            lock = self._refreshing.setdefault(alias, threading.Lock())
        if cached is not None:
            if not lock.acquire(blocking=False):
                return cached[1]  # another thread is asking: the last answer will do
        elif not lock.acquire(timeout=self.WAIT_SECONDS):
            return UNKNOWN
        try:
            now = time.monotonic()
            cached = self._cache.get(alias)
            if cached is not None and cached[0] > now:
                return cached[1]  # asked by the thread that held the lock
            try:
                position = self._query(alias)
            except SynchronousOnlyOperation:
                return UNKNOWN  # async code: not cached, a thread will ask
            self._cache[alias] = (now + self.cache_seconds, position)
            return position
        finally:
            lock.release()

    def _query(self, alias: str) -> ReplicaPosition:
        connection = connections[alias]
        if connection.vendor != "postgresql":
            return UNKNOWN
        try:
            with connection.cursor() as cursor:
                cursor.execute(POSITION_SQL)
                row = cursor.fetchone()
        except DatabaseError:
            return UNKNOWN
        # One row, whose positions PostgreSQL writes as parse_lsn() reads them.
        return _position_from_row(row)


FRESHNESS_NAMES = ("time", "lsn")


LSN_OPTIONS = ("lsn_cache_seconds", "max_lag_seconds", "max_lag_bytes", "readmit_after_seconds")


def get_freshness(
    freshness: Freshness | str | None,
    *,
    lsn_cache_seconds: float | None = None,
    max_lag_seconds: float | None = None,
    max_lag_bytes: int | None = None,
    readmit_after_seconds: float | None = None,
) -> Freshness:
    """The strategy for a ``freshness`` option: ``"time"`` (or ``None``), ``"lsn"``, or one.

    ``lsn_cache_seconds``, ``max_lag_seconds``, ``max_lag_bytes`` and
    ``readmit_after_seconds`` configure ``"lsn"``; they are refused with another
    strategy, where they would silently do nothing.
    """
    values = (lsn_cache_seconds, max_lag_seconds, max_lag_bytes, readmit_after_seconds)
    lsn_options = {
        name: value for name, value in zip(LSN_OPTIONS, values, strict=True) if value is not None
    }
    if freshness == "lsn":
        return LsnFreshness(
            cache_seconds=0.2 if lsn_cache_seconds is None else lsn_cache_seconds,
            max_lag_seconds=max_lag_seconds,
            max_lag_bytes=max_lag_bytes,
            readmit_after_seconds=readmit_after_seconds,
        )
    if lsn_options:
        raise RouterOptionError(
            f"{', '.join(lsn_options)} only apply to freshness='lsn', not {freshness!r}; "
            "configure a strategy instance yourself."
        )
    if freshness is None or freshness == "time":
        return TimeFreshness()
    if isinstance(freshness, str):
        raise RouterOptionError(
            f"freshness must be one of {', '.join(map(repr, FRESHNESS_NAMES))} or a "
            f"strategy instance, not {freshness!r}."
        )
    if not (
        callable(getattr(freshness, "make_pin", None))
        and callable(getattr(freshness, "fresh_replicas", None))
    ):
        raise RouterOptionError(
            "freshness must be 'time', 'lsn' or an object with make_pin() and fresh_replicas() "
            f"(see multidb_routers.replication.freshness.Freshness), not {freshness!r}."
        )
    return freshness
