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

import re
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from django.core.exceptions import SynchronousOnlyOperation
from django.db import DatabaseError, connections

from ..exceptions import RouterOptionError
from .connections import user_transaction_open
from .state import Pin

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

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

_committed: ContextVar[bool] = ContextVar("multidb_routers.writes_committed", default=False)


@contextmanager
def writes_committed() -> Iterator[None]:
    """Pins made in the block follow writes that have committed (the middleware's case).

    Outside a request, a replica set makes its pin when the router is asked for the
    write's alias, *before* the statement runs; a strategy that records where the
    primary stands must not do so then. :class:`~multidb_routers.middleware.PinningMiddleware`
    builds its pins in this block, once the view (and ``ATOMIC_REQUESTS``) returned.
    """
    token = _committed.set(True)
    try:
        yield
    finally:
        _committed.reset(token)


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
    it received, ``None`` when unknown.
    """

    replayed: int | None
    lag: float | None


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
        return ReplicaPosition(replayed=None, lag=0.0)
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
    return ReplicaPosition(replayed=replay, lag=lag)


class LsnFreshness:
    """PostgreSQL: a pinned read may use a replica that has replayed the write's WAL.

    ``LsnFreshness(cache_seconds=0.2, max_lag_seconds=None)``. After a write,
    :meth:`make_pin` records the primary's WAL insert position, read once the write has
    committed (by :class:`~multidb_routers.middleware.PinningMiddleware` at response
    time); :meth:`fresh_replicas` keeps the replicas whose replayed position
    (``pg_last_wal_replay_lsn()``) has reached it. Each replica's position is asked at
    most once per ``cache_seconds`` per process. With ``max_lag_seconds``,
    :meth:`within_lag` leaves out replicas further behind than that, for every read.

    Whenever a position cannot be known (another database engine, a query error, a
    pin made before its write committed, async code), the answer is the safe one: the
    pin has no position and pinned reads go to the primary until ``pin_seconds`` end,
    and a replica of unknown lag is left out when ``max_lag_seconds`` is set.
    """

    #: PinningMiddleware must build these pins where database queries are allowed.
    pins_query_database = True
    #: Seconds a thread with no position of a replica waits for the thread asking it.
    WAIT_SECONDS = 2.0

    def __init__(self, *, cache_seconds: float = 0.2, max_lag_seconds: float | None = None) -> None:
        for option, value in (
            ("cache_seconds", cache_seconds),
            ("max_lag_seconds", max_lag_seconds),
        ):
            if value is None and option == "max_lag_seconds":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise RouterOptionError(
                    f"{option} must be a number of seconds (>= 0), not {value!r}."
                )
        #: Seconds a replica's position is reused before it is asked again.
        self.cache_seconds: float = float(cache_seconds)
        #: Replicas further behind than this many seconds serve no read (``None``: no limit).
        self.max_lag_seconds: float | None = (
            None if max_lag_seconds is None else float(max_lag_seconds)
        )
        # Replica alias -> (time.monotonic() until which it holds, position).
        self._cache: dict[str, tuple[float, ReplicaPosition]] = {}
        # Replica alias -> the lock its refreshing thread holds (single flight).
        self._refreshing: dict[str, threading.Lock] = {}

    def __repr__(self) -> str:
        return (
            f"LsnFreshness(cache_seconds={self.cache_seconds!r}, "
            f"max_lag_seconds={self.max_lag_seconds!r})"
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
        if pin.position is None:
            return ()
        try:
            target = parse_lsn(pin.position)
        except ValueError:
            return ()
        fresh = []
        for alias in replicas:
            replayed = self.position(alias).replayed
            if replayed is not None and replayed >= target:
                fresh.append(alias)
        return fresh

    def within_lag(self, alias: str) -> bool:
        """Whether replica ``alias`` may serve reads: always without ``max_lag_seconds``."""
        limit = self.max_lag_seconds
        if limit is None:
            return True
        lag = self.position(alias).lag
        return lag is not None and lag <= limit

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


def get_freshness(
    freshness: Freshness | str | None,
    *,
    lsn_cache_seconds: float | None = None,
    max_lag_seconds: float | None = None,
) -> Freshness:
    """The strategy for a ``freshness`` option: ``"time"`` (or ``None``), ``"lsn"``, or one.

    ``lsn_cache_seconds`` and ``max_lag_seconds`` configure ``"lsn"``; they are refused
    with another strategy, where they would silently do nothing.
    """
    lsn_options = {
        name: value
        for name, value in (
            ("lsn_cache_seconds", lsn_cache_seconds),
            ("max_lag_seconds", max_lag_seconds),
        )
        if value is not None
    }
    if freshness == "lsn":
        return LsnFreshness(
            cache_seconds=0.2 if lsn_cache_seconds is None else lsn_cache_seconds,
            max_lag_seconds=max_lag_seconds,
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
