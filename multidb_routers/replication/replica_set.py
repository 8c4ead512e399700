"""One primary and its weighted replicas: where a read goes, what a write pins.

:class:`ReplicaSet` knows nothing of models or scopes, so any router can hold one
(``PrimaryReplicaRouter`` holds one; a shard router can hold one per shard).
"""

from __future__ import annotations

import logging
import random
import time
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from itertools import accumulate
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from django.core.exceptions import SynchronousOnlyOperation
from django.db import DatabaseError, OperationalError

from ..conf import conf
from ..exceptions import PinnedReadError, RouterOptionError
from ..scope import CoveredModels
from .connections import (
    cached_connection,
    drop_if_dead,
    per_thread,
    test_forbids,
    user_transaction_open,
)
from .freshness import get_freshness
from .retry import install_retry, retries_for
from .state import (
    choose_in_context,
    context_pins,
    context_state,
    pin_context,
    primary_forced,
    request_state,
    routing,
    test_transactions_ignored,
)

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models import Model

    from .freshness import Freshness
    from .state import Pin, RequestState, Routing

__all__ = ["ReplicaSet"]

logger = logging.getLogger("multidb_routers")

_random = random.random


def _validate_replicas(replicas: object, *, option: str = "replicas") -> dict[str, float]:
    kind = "replica" if option == "replicas" else option
    if isinstance(replicas, str) or not isinstance(replicas, (Sequence, Mapping)):
        raise RouterOptionError(
            f"{option} must be a list of database aliases or a dict of alias -> weight, "
            f"such as ['{kind}'] or {{'{kind}1': 3, '{kind}2': 1}}, not {replicas!r}."
        )
    if isinstance(replicas, Mapping):
        weights = dict(replicas)
    else:
        weights = dict.fromkeys(replicas, 1.0)
        if len(weights) != len(replicas):
            raise RouterOptionError(f"{option} lists an alias more than once: {list(replicas)!r}.")
    for alias, weight in weights.items():
        if not isinstance(alias, str) or not alias:
            raise RouterOptionError(f"{option} holds {alias!r}, which is not a database alias.")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0:
            raise RouterOptionError(
                f"The weight of {kind} {alias!r} must be a positive number, not {weight!r}."
            )
    return {alias: float(weight) for alias, weight in weights.items()}


def _validate_primaries(primary: object) -> dict[str, float]:
    if isinstance(primary, str):
        if not primary:
            raise RouterOptionError("primary must be a database alias, not ''.")
        return {primary: 1.0}
    if not isinstance(primary, (Sequence, Mapping)):
        raise RouterOptionError(
            "primary must be a database alias, a list of aliases or a dict of alias -> "
            f"weight, not {primary!r}."
        )
    weights = _validate_replicas(primary, option="primary")
    if not weights:
        raise RouterOptionError("primary names no database alias: give at least one.")
    return weights


def _validate_seconds(value: object, *, option: str, allow_none: bool) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise RouterOptionError(f"{option} must be a number of seconds (>= 0), not {value!r}.")
    return float(value)


def _in_scope(
    decide: Callable[..., str], covers: Callable[[type[Model]], bool] | None
) -> Callable[..., str | None]:
    """``decide(model, **hints)`` for the models ``covers`` accepts (each answer remembered).

    ``None`` (not this router's concern) for the others; ``decide`` itself when ``covers``
    is ``None`` (every model).
    """
    if covers is None:
        return decide
    covered = CoveredModels(covers)

    def scoped(model: type[Model], **hints: Any) -> str | None:
        return decide(model, **hints) if covered[model] else None

    return scoped


class ReplicaSet:
    """One primary (or several) and its weighted replicas: the read decision and writes.

    ``ReplicaSet(primary, replicas, *, pin_seconds=None, recheck_seconds=5.0,
    freshness=None, read_from_primaries=False, pin_writes=True)``: ``primary`` is an
    alias, or several read/write primaries as a list (equal weights) or a dict of
    alias -> positive weight; ``replicas`` is a list of aliases (equal weights) or a dict of
    alias -> positive weight; ``read_from_primaries`` adds the primaries, with their
    weights, to the aliases unpinned reads are spread over; ``pin_writes=False`` makes
    writes pin nothing (reads then leave the primary even right after a write);
    ``pin_seconds`` is how long a write pins reads to the
    primary outside a request and in the middleware's cookie (``None``: the
    ``MULTIDB_ROUTERS_PIN_SECONDS`` setting, read at each write); ``recheck_seconds``
    is the mean time an unreachable replica stays out (jittered by +-50%);
    ``freshness`` decides which replicas may serve a pinned read
    (``"time"``, the default: :class:`~multidb_routers.replication.freshness.TimeFreshness`;
    ``"lsn"``: :class:`~multidb_routers.replication.freshness.LsnFreshness`; or a strategy).

    Use it from a router: ``read_alias()`` in ``db_for_read``, ``write_alias()`` (or
    ``note_write()`` then ``primary``) in ``db_for_write``; ``aliases`` for
    ``allow_relation``; ``primaries`` migrate, ``replicas`` never do. With several
    primaries, :meth:`write_alias` keeps an instance's writes where it was saved and
    pins the primary it chose. Health (unreachable replicas) is
    kept per instance and shared by every request; the request-scoped choices live
    in :mod:`multidb_routers.replication.state`. Instances hash by identity.
    """

    __slots__ = (
        "_cumulative",
        "_down",
        "_pin_seconds",
        "_pins_nothing",
        "_read_weights",
        "_several",
        "_total",
        "_uniform",
        "_within_lag",
        "_write_cumulative",
        "aliases",
        "freshness",
        "pin_writes",
        "primaries",
        "primary",
        "primary_weights",
        "read_from_primaries",
        "readers",
        "recheck_seconds",
        "replicas",
        "weights",
    )

    def __init__(
        self,
        primary: str | Sequence[str] | Mapping[str, float],
        replicas: Sequence[str] | Mapping[str, float],
        *,
        pin_seconds: float | None = None,
        recheck_seconds: float = 5.0,
        freshness: Freshness | str | None = None,
        read_from_primaries: bool = False,
        pin_writes: bool = True,
    ) -> None:
        primary_weights = _validate_primaries(primary)
        weights = _validate_replicas(replicas)
        for alias in primary_weights:
            if alias in weights:
                raise RouterOptionError(
                    f"{alias!r} cannot be both the primary and one of its replicas."
                )
        primaries = tuple(primary_weights)
        #: The (first) primary's alias: every write, and every read that must be fresh.
        self.primary: str = primaries[0]
        #: Every primary, in the order given (one unless several were given).
        self.primaries: tuple[str, ...] = primaries
        #: Each primary's weight in the choice of a primary for a new row.
        self.primary_weights: Mapping[str, float] = MappingProxyType(primary_weights)
        #: The replicas' aliases, in the order given.
        self.replicas: tuple[str, ...] = tuple(weights)
        #: Each replica's weight in the random choice.
        self.weights: Mapping[str, float] = MappingProxyType(weights)
        #: Whether unpinned reads may go to the primaries too.
        self.read_from_primaries: bool = bool(read_from_primaries)
        #: Whether a write pins the writer's reads to the primary it wrote to.
        self.pin_writes: bool = bool(pin_writes)
        readers = {**weights, **primary_weights} if read_from_primaries else weights
        #: The aliases unpinned reads are spread over: the replicas (and the primaries).
        self.readers: tuple[str, ...] = tuple(readers)
        self._read_weights: Mapping[str, float] = MappingProxyType(readers)
        #: The primaries and the replicas.
        self.aliases: frozenset[str] = frozenset((*primaries, *weights))
        self._several = len(primaries) > 1
        # Nothing to pin: no write pins, or one primary that serves every read anyway.
        self._pins_nothing = not pin_writes or (not readers and not self._several)
        self._write_cumulative = list(accumulate(primary_weights.values()))
        self._pin_seconds = _validate_seconds(pin_seconds, option="pin_seconds", allow_none=True)
        recheck = _validate_seconds(recheck_seconds, option="recheck_seconds", allow_none=False)
        #: Mean seconds an unreachable replica is left out before it is tried again.
        self.recheck_seconds: float = recheck or 0.0
        #: The strategy that tells which replicas have caught up with a pin.
        self.freshness: Freshness = get_freshness(freshness)
        # LsnFreshness(max_lag_seconds=...) leaves out replicas too far behind.
        self._within_lag: Callable[[str], bool] | None = getattr(self.freshness, "within_lag", None)
        self._cumulative: list[float] = list(accumulate(readers.values()))
        self._total: float = self._cumulative[-1] if self._cumulative else 0.0
        # Equal weights (a list of replicas): the first read of a request draws an index.
        self._uniform = len(set(readers.values())) == 1
        # Replica alias -> time.monotonic() after which it is tried again.
        self._down: dict[str, float] = {}

    def __repr__(self) -> str:
        primary = dict(self.primary_weights) if self._several else self.primary
        return f"ReplicaSet(primary={primary!r}, replicas={dict(self.weights)!r})"

    @property
    def pin_seconds(self) -> float:
        """Seconds a write pins reads to the primary (the setting when not given)."""
        seconds = self._pin_seconds
        return conf.PIN_SECONDS if seconds is None else seconds

    # Reads.

    def read_alias(self) -> str:
        """The alias a read should use now. Never raises for an unreachable replica.

        The primary when: there are no replicas; inside ``use_primary()``; the current
        request wrote to the primary; a pin (from the request's cookie, or outside a
        request a write in this context) is active and the freshness strategy trusts
        no replica; a transaction is open on the primary (Django's ``TestCase``
        transaction included: no replica sees its rows). Otherwise a live replica,
        chosen by weight and then kept (monotonic reads) for the whole request, or
        outside a request for the context (a command, a task), while it stays live;
        the primary if none is live.
        With ``read_from_primaries`` the primaries are among the aliases chosen from.
        With several primaries, "the primary" is the one the reader wrote to (or is
        pinned to, or holds a transaction open on), else the first one.
        """
        return self.reader()

    @property
    def reader(self) -> Callable[[], str]:
        """:meth:`read_alias` for this set's shape (one primary or several), to bind once."""
        return self._read_several if self._several else self._read_one

    def routing_function(
        self, covers: Callable[[type[Model]], bool] | None = None
    ) -> Callable[..., str | None]:
        """A ``db_for_read(model, **hints)`` for a router holding this set, in one frame.

        ``covers`` says whether a model is the router's (``None``: every model); each
        model's answer is remembered. The function answers exactly as :meth:`read_alias`
        (``None`` for a model out of scope); the common case, a read that keeps the
        replica already chosen in its request, is decided without a further call; a
        request's first read and a read outside a request that keeps its context's
        replica with one more (:meth:`_first_read`, :meth:`_read_outside`); everything
        else by :meth:`read_alias`.
        """
        if self._several:
            read_several = self._read_several
            return _in_scope(lambda model, **hints: read_several(), covers)
        read = self._read_one
        primary = self.primary
        if not self.readers:
            return _in_scope(lambda model, **hints: primary, covers)
        replica_set = self
        down = self._down
        current = routing
        thread = per_thread
        covered = None if covers is None else CoveredModels(covers)
        # With a lag limit every replica chosen is checked: _read_one's rules.
        if self._within_lag is None:
            first_read, outside = self._first_read, self._read_outside
        else:
            first_read, outside = (lambda state: read()), (lambda now: read())

        # The conditions below are _read_one's, in its order; any other case is its.
        # Reads outside the request path and a request's first read are the methods':
        # each variable of this function costs each of its calls a little.
        def db_for_read(model: type[Model], **hints: Any) -> str | None:
            if covered is not None and not covered[model]:
                return None
            now = current()
            state = now.quick  # the request's state, when only its writes could matter
            if state is None:
                return outside(now)
            servable = state.servable
            if not servable:  # each request's first read: a KeyError costs several hits
                return first_read(state)
            try:
                chosen = servable[replica_set]
                connection = thread.__dict__[primary]
            except KeyError:
                return first_read(state)  # another replica set's, or no connection yet
            if down and chosen in down:
                return read()
            # Autocommit first: atomic() turns it off before it marks its block, so a
            # connection in autocommit holds no transaction (one attribute read in the
            # common case).
            if not connection.autocommit and (
                connection.in_atomic_block or connection.connection is not None
            ):
                # A transaction: whose it is (the code's or TestCase's, which
                # lagging_replicas() ignores) is for the full rules to say.
                return read()
            return chosen

        return db_for_read

    def write_function(
        self, covers: Callable[[type[Model]], bool] | None = None
    ) -> Callable[..., str | None]:
        """A ``db_for_write(model, **hints)`` for a router holding this set.

        :meth:`write_alias` with the ``instance`` hint; ``covers`` as for
        :meth:`routing_function` (``None`` for a model out of scope, each model's answer
        remembered).
        """
        write_alias = self.write_alias
        return _in_scope(lambda model, **hints: write_alias(hints.get("instance")), covers)

    def _read_one(self) -> str:
        # read_alias() with one primary: the routing hot path, in one frame.
        primary = self.primary
        replicas: Sequence[str] = self.readers
        now = routing()
        if not replicas or now.forced:
            return primary
        state = now.request
        if state is None:
            outside = now.context
            pin = outside.pins.get(primary)
            chosen = outside.replicas.get(self)
        elif primary in state.written:
            return primary
        else:
            pin = state.pins.get(primary)
            chosen = state.replicas.get(self)
        if pin is not None and pin.until > time.time():
            replicas = self.freshness.fresh_replicas(self.replicas, pin)
            if not replicas:
                return self._pinned_primary(primary, pin)
        connection = per_thread.__dict__.get(primary)
        if connection is None:
            connection = cached_connection(primary)
        # A transaction on the primary must see its own rows, and so must a test inside
        # Django's TestCase (its rows are in the test's transaction, which no replica's
        # connection sees). Inlined transaction_open(). Inside lagging_replicas(), only the
        # code's own transactions count, as in production.
        if (
            connection.in_atomic_block
            or (not connection.autocommit and connection.connection is not None)
        ) and (not test_transactions_ignored() or user_transaction_open(connection)):
            return primary
        # The replica was reachable when chosen: unless a reader has found it down since,
        # keep it (its connection is open or the query will say so). Outside a request,
        # no request signal checks the connection: a failed query makes the next read
        # check it.
        if (
            chosen is not None
            and chosen in replicas
            and chosen not in self._down
            and (state is not None or self._still_usable(chosen))
        ):
            return chosen
        alias = self._choose(replicas)
        if alias != primary or self.read_from_primaries:
            if state is None:
                choose_in_context(self, alias)
            else:
                state.replicas[self] = alias
                if not state.written:
                    state.servable[self] = alias
        return alias

    def _read_outside(self, now: Routing) -> str:
        """A read that :meth:`routing_function` found outside a request's quick state.

        :meth:`_read_one`, with the usual case outside a request (a command, a task)
        decided here: no pin, not forced, and the replica this context chose still
        usable. Without a lag limit.
        """
        if now.forced or now.request is not None:
            return self._read_one()
        context = now.context
        if context.pins:
            return self._read_one()
        try:
            chosen = context.replicas[self]
            wrappers: dict[str, BaseDatabaseWrapper] = per_thread.__dict__
            connection = wrappers[self.primary]
            kept = wrappers[chosen]
        except KeyError:
            return self._read_one()
        down = self._down
        if (down and chosen in down) or (
            not connection.autocommit
            and (connection.in_atomic_block or connection.connection is not None)
        ):
            return self._read_one()
        # _still_usable(chosen), inlined: no request signal checks it.
        if kept.errors_occurred or kept.connection is None or "cursor" in kept.__dict__:
            return self._read_one()
        return chosen

    def _first_read(self, state: RequestState) -> str:
        """A read of a request with no replica to keep (usually its first read).

        :meth:`_read_one`, with the usual case in one frame: nothing written, no
        transaction, and a replica drawn by weight whose connection is open, checked and
        ready. Anything else is left to :meth:`_read_one`, which draws again among the
        replicas that can serve: a replica found down or unusable here is not drawn
        twice, so each is still chosen in proportion to its weight among those.
        """
        wrappers: dict[str, BaseDatabaseWrapper] = per_thread.__dict__
        connection = wrappers.get(self.primary)
        # Called by routing_function() when this set has no servable replica in the
        # request (or no primary connection in this thread: then None here); without a
        # lag limit. A transaction, as the hit path tests it.
        if (
            connection is None
            or state.written
            or self in state.replicas
            or (
                not connection.autocommit
                and (connection.in_atomic_block or connection.connection is not None)
            )
        ):
            return self._read_one()
        readers = self.readers
        # Equal weights (a list of replicas): an index, without _pick()'s frame.
        alias = readers[int(_random() * len(readers))] if self._uniform else self._pick(readers)
        down = self._down
        kept = wrappers.get(alias)
        ready = not (
            kept is None
            or kept.connection is None
            or kept.errors_occurred
            or "cursor" in kept.__dict__
            or (kept.health_check_enabled and not kept.health_check_done)  # type: ignore[attr-defined]
            or (down and alias in down)
            or (
                alias not in self.primary_weights
                and kept.vendor != "sqlite"
                and not retries_for(kept, self)
            )
        )
        # Else checked as _choose() checks a replica it drew.
        if not ready and (
            (down and down.get(alias, 0.0) > time.monotonic()) or not self._usable(alias)
        ):
            return self._read_one()
        state.replicas[self] = alias
        state.servable[self] = alias
        return alias

    def _read_several(self) -> str:
        # read_alias() with several primaries: the same rules, "the primary" being the
        # one this reader must see (its transaction, its write, its pin).
        in_test = False
        for alias in self.primaries:
            connection = cached_connection(alias)
            if user_transaction_open(connection):
                return alias
            # Only TestCase's own blocks are left: no replica sees the test's rows.
            in_test = in_test or connection.in_atomic_block
        state = request_state()
        fresh, pin = self._fresh_primary(state)
        if (in_test and not test_transactions_ignored()) or primary_forced():
            return fresh or self.primary
        readers: Sequence[str] = self.readers
        if fresh is not None:
            if pin is None:  # written in this request
                return fresh
            readers = self.freshness.fresh_replicas(self.replicas, pin)
            if not readers:
                return self._pinned_primary(fresh, pin)
        if not readers:
            return self.primary
        chosen_by = context_state().replicas if state is None else state.replicas
        chosen = chosen_by.get(self)
        if (
            chosen is not None
            and chosen in readers
            and chosen not in self._down
            and (state is not None or self._still_usable(chosen))
        ):
            return chosen
        alias = self._choose(readers)
        if alias not in readers:  # none is live
            return fresh or alias
        if state is None:
            choose_in_context(self, alias)
        else:
            state.replicas[self] = alias
        return alias

    def _fresh_primary(self, state: RequestState | None) -> tuple[str | None, Pin | None]:
        """The primary this reader must read from, and its pin (``None``: written now).

        The first primary the request wrote to; else the primary of the latest active
        pin (the request's cookie, or outside a request this context's writes).
        """
        if state is not None:
            for alias in state.written:
                if alias in self.primary_weights:
                    return alias, None
            pins = state.pins
        else:
            pins = context_pins()
        fresh: str | None = None
        latest: Pin | None = None
        if pins:
            now = time.time()
            for alias in self.primaries:
                pin = pins.get(alias)
                if (
                    pin is not None
                    and pin.until > now
                    and (latest is None or pin.until > latest.until)
                ):
                    fresh, latest = alias, pin
        return fresh, latest

    def _pinned_primary(self, primary: str, pin: Pin) -> str:
        """``primary`` for a read that ``pin`` holds there, when it can be reached.

        Its connection is opened now if it is not open, or checked as its query would
        check it first (the read would do so next anyway): when the primary cannot be
        reached, :class:`~multidb_routers.exceptions.PinnedReadError` says why no
        database can serve the read (rather than the connection's bare error).
        """
        connection = cached_connection(primary)
        guard = connection.__dict__.get("cursor")
        if guard is not None and test_forbids(guard):
            return primary  # the test's own error says it
        if connection.connection is not None:
            if connection.in_atomic_block or not (
                connection.errors_occurred
                or (connection.health_check_enabled and not connection.health_check_done)  # type: ignore[attr-defined]
            ):
                return primary
            drop_if_dead(connection)  # the check its query would run first
            if connection.connection is not None:
                return primary
        try:
            connection.ensure_connection()
        except SynchronousOnlyOperation:
            return primary  # async code: the query connects in its thread
        except DatabaseError as exc:
            freshness = self.freshness
            explain = getattr(freshness, "explain", None)
            reason = (
                explain(self.replicas, pin)
                if explain is not None
                else f"{type(freshness).__name__} trusts no replica while a pin lasts"
            )
            raise PinnedReadError(
                f"This read is pinned to the primary {primary!r} by a recent write (for "
                f"{max(0.0, pin.until - time.time()):.1f} s more), and the primary is "
                f"unreachable ({str(exc).strip()}); {reason}."
            ) from exc
        return primary

    def _choose(self, candidates: Sequence[str]) -> str:
        down = self._down
        if down:
            now = time.monotonic()
            candidates = [alias for alias in candidates if down.get(alias, 0.0) <= now]
        while candidates:
            alias = self._pick(candidates)
            if self._usable(alias):
                return alias
            candidates = [other for other in candidates if other != alias]
        return self.primary

    def _pick(self, candidates: Sequence[str]) -> str:
        if len(candidates) == 1:
            return candidates[0]
        replicas = self.readers
        if candidates is replicas:
            index = bisect_right(self._cumulative, _random() * self._total)
            return replicas[index] if index < len(replicas) else replicas[-1]
        weights = self._read_weights
        return random.choices(candidates, [weights[alias] for alias in candidates])[0]

    # Health.

    def _still_usable(self, alias: str) -> bool:
        """Whether the replica a context chose outside a request may keep its reads.

        Yes while its connection is open and no query failed on it since; else (and
        with a lag limit to check) as for a replica being chosen.
        """
        connection = per_thread.__dict__.get(alias)
        if connection is None or self._within_lag is not None:
            return self._usable(alias)
        # "cursor" in its __dict__: a test's guard forbids it (checked by _usable).
        if (
            connection.errors_occurred
            or connection.connection is None
            or "cursor" in connection.__dict__
        ):
            return self._usable(alias)
        return True

    def _usable(self, alias: str) -> bool:
        connection: BaseDatabaseWrapper = per_thread.__dict__.get(alias) or cached_connection(alias)
        guard = connection.__dict__.get("cursor")
        if guard is not None and test_forbids(guard):
            return False  # a test left this alias out of its databases: not down, not ours
        # The retry of a read whose connection was lost: not for SQLite, whose connection
        # is in the process and never lost (is_usable() is always true), so its reads
        # do not pay for Django's execute-wrapper machinery.
        if (
            alias not in self.primary_weights
            and connection.vendor != "sqlite"
            and not retries_for(connection, self)
        ):
            install_retry(connection, self)
        try:
            if connection.connection is None:
                connection.ensure_connection()
            elif (
                # Inlined: this runs for every read outside a request.
                connection.errors_occurred
                or (connection.health_check_enabled and not connection.health_check_done)  # type: ignore[attr-defined]
            ) and not connection.in_atomic_block:
                drop_if_dead(connection)
                if connection.connection is None:
                    connection.ensure_connection()
        except SynchronousOnlyOperation:
            # Called from async code: the query itself runs in a thread and connects there.
            return True
        except DatabaseError as exc:
            self._mark_down(alias, exc)
            return False
        if self._down and alias in self._down:
            # Re-admitted only once it answers a query: behind a pooler (PgBouncer)
            # connecting succeeds while the server behind it is still down.
            if not connection.is_usable():
                self._mark_down(alias, OperationalError("it did not answer a query"))
                return False
            self._mark_up(alias)
        within_lag = self._within_lag
        return within_lag is None or within_lag(alias)

    def mark_down(self, alias: str, exc: Exception) -> None:
        """Leave replica ``alias`` out for about ``recheck_seconds``: ``exc`` says it is down."""
        if alias in self.replicas:
            self._mark_down(alias, exc)

    def _mark_down(self, alias: str, exc: Exception) -> None:
        delay = self.recheck_seconds * random.uniform(0.5, 1.5)
        was_up = alias not in self._down
        self._down[alias] = time.monotonic() + delay
        if not was_up:
            logger.debug("Replica %r of %r is still unreachable: %s", alias, self.primary, exc)
            return
        live = [other for other in self.replicas if other not in self._down]
        logger.warning(
            "Replica %r of %r is unreachable (%s); it is left out for %.1f s. Reads go to %s.",
            alias,
            self.primary,
            exc,
            delay,
            ", ".join(live) if live else f"the primary {self.primary!r} (no live replica)",
        )

    def _mark_up(self, alias: str) -> None:
        if self._down.pop(alias, None) is not None:
            logger.warning("Replica %r of %r is reachable again.", alias, self.primary)

    def down_replicas(self) -> frozenset[str]:
        """The replicas currently left out as unreachable (including those due a recheck)."""
        return frozenset(self._down)

    # Writes.

    def note_write(self, primary: str | None = None) -> None:
        """Record a write to ``primary`` (default: the first): pin the writer's reads to it.

        Inside a request the pin lasts until the request ends and is then sent in the
        middleware's cookie; outside a request it lasts ``pin_seconds`` in the current
        context only. Nothing is pinned with ``pin_writes=False``.
        """
        if self._pins_nothing:
            return
        alias = self.primary if primary is None else primary
        state = request_state()
        if state is not None:
            state.written[alias] = self
            state.servable.clear()
            if state.on_write is not None:  # after the middleware returned
                state.on_write(alias, self)
        else:
            pin_context(alias, self.make_pin(alias))

    def write_alias(self, instance: Model | None = None) -> str:
        """Choose the primary of a write, record it (:meth:`note_write`), return its alias.

        With one primary, that primary. With several: the primary ``instance`` was
        saved to or loaded from, when it is one of them (an update goes where the row
        is); else the primary the writer already wrote to or is pinned to; else a
        random primary, in proportion to the weights.
        """
        if not self._several:
            self.note_write()
            return self.primary
        alias = self._write_primary(instance)
        self.note_write(alias)
        return alias

    def _write_primary(self, instance: Model | None) -> str:
        if instance is not None:
            db = instance._state.db
            if db in self.primary_weights:
                return db  # type: ignore[return-value]  # a key, so a str
        fresh, _ = self._fresh_primary(request_state())
        if fresh is not None:
            return fresh
        cumulative = self._write_cumulative
        index = bisect_right(cumulative, random.random() * cumulative[-1])
        return self.primaries[min(index, len(self.primaries) - 1)]

    def make_pin(self, primary: str | None = None) -> Pin:
        """A pin for a write to ``primary`` (default: the first) that just happened."""
        return self.freshness.make_pin(
            self.primary if primary is None else primary, seconds=self.pin_seconds
        )
