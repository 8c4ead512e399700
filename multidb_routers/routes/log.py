"""The ``multidb_routers.routing`` logger and each request's routing counts.

* Each decision is logged at DEBUG while the logger is enabled for DEBUG (looked at when
  the app is ready and at each request's start, so a logging configuration applied at
  startup is all it takes).
* With ``MULTIDB_ROUTERS_REQUEST_ROUTES = "count"`` (or ``"log"``), each WSGI request and
  each task run (:mod:`multidb_routers.contrib.celery`, :mod:`multidb_routers.contrib.tasks`)
  counts its statements per alias (reads and writes) and whether its reads were pinned to
  a primary; :func:`request_counts` returns them. With ``"log"``, one INFO line sums them
  up when the request or run ends. :class:`counting` is that unit of work.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

from ..conf import conf
from . import hook
from .recording import Recorder, replica_aliases

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .recording import RoutedQuery
    from .route import Route

__all__ = ["RequestCounts", "counting", "logger", "request_counts"]

#: Where routing decisions (DEBUG) and request summaries (INFO) are logged.
logger = logging.getLogger("multidb_routers.routing")

#: Route codes of reads that a pin (a write of the request, its cookie, a consistency
#: token) kept fresh.
PINNED_CODES = frozenset({"written", "pinned", "token", "caught_up"})
MODES = (None, False, "count", "log")


@dataclass
class RequestCounts:
    """A request's statements per alias, and whether a pin decided any of its reads.

    ``reads``/``writes``: alias -> number of statements. ``pinned``: the primaries a
    pin (a write of this request, or the pin cookie it carried) sent reads to.
    ``replicas``: the aliases that are replicas, to tell replica reads apart.
    """

    reads: dict[str, int] = field(default_factory=dict)
    writes: dict[str, int] = field(default_factory=dict)
    pinned: set[str] = field(default_factory=set)
    replicas: frozenset[str] = frozenset()

    @property
    def replica_reads(self) -> int:
        """Reads served by a replica."""
        return sum(n for alias, n in self.reads.items() if alias in self.replicas)

    @property
    def total_reads(self) -> int:
        """Every read."""
        return sum(self.reads.values())

    def add(self, query: RoutedQuery) -> None:
        """Count one statement (transaction control is not counted)."""
        if query.control:
            return
        counts = self.reads if query.action == "read" else self.writes
        counts[query.alias] = counts.get(query.alias, 0) + 1
        if query.route is not None and query.route.code in PINNED_CODES:
            self.pinned.add(query.alias)

    def as_dict(self) -> dict[str, Any]:
        """Plain data, for structured logs."""
        return {
            "reads": dict(self.reads),
            "writes": dict(self.writes),
            "replica_reads": self.replica_reads,
            "total_reads": self.total_reads,
            "pinned": sorted(self.pinned),
        }

    def summary(self) -> str:
        """One line: reads and writes per alias, the replicas' share, the pins."""

        def per_alias(counts: Mapping[str, int]) -> str:
            return " ".join(f"{alias}={n}" for alias, n in sorted(counts.items())) or "none"

        pinned = ", ".join(sorted(self.pinned)) or "no"
        return (
            f"reads {per_alias(self.reads)} ({self.replica_reads} of {self.total_reads} "
            f"from replicas); writes {per_alias(self.writes)}; pinned {pinned}"
        )


class counting:
    """Count the statements of one unit of work (a request, a task run) in this context.

    ``with counting("task shop.recount"):`` starts counting when
    ``MULTIDB_ROUTERS_REQUEST_ROUTES`` is ``"count"`` or ``"log"`` (and does nothing
    otherwise): inside, :func:`request_counts` returns this unit's :class:`RequestCounts`;
    at the end, ``"log"`` logs one INFO line ``"<label>: <summary>"``. Units nest (a task
    run eagerly in a request): the inner one counts its own statements, the outer one
    all of them. Also usable as :meth:`start`/:meth:`stop` from two signal handlers.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        #: The unit's counts, ``None`` while it is not counting.
        self.counts: RequestCounts | None = None
        self._recorder: Recorder | None = None
        self._log = False
        self._token: Token[counting | None] | None = None

    def __repr__(self) -> str:
        return f"counting({self.label!r})"

    def start(self) -> RequestCounts | None:
        """Start counting if the setting asks; the counts, or ``None``."""
        if self._recorder is not None:
            raise RuntimeError(f"{self!r} is already counting.")
        mode = _mode()
        if not mode:
            return None
        self.counts = RequestCounts(replicas=replica_aliases())
        self._log = mode == "log"
        self._recorder = Recorder(on_query=self.counts.add, keep=False)
        self._recorder.start()
        self._token = _current.set(self)
        return self.counts

    def stop(self) -> RequestCounts | None:
        """Stop counting, log the summary line (``"log"``); the counts, or ``None``."""
        recorder, token = self._recorder, self._token
        if recorder is None or token is None:
            return None
        self._recorder = self._token = None
        recorder.stop()
        try:
            _current.reset(token)
        except ValueError:  # stopped in another context (a response closed elsewhere)
            _current.set(None)
        counts = self.counts
        if counts is not None and self._log:
            logger.info("%s: %s", self.label, counts.summary(), extra={"routing": counts.as_dict()})
        return counts

    def __enter__(self) -> RequestCounts | None:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


_current: ContextVar[counting | None] = ContextVar("multidb_routers.request_routes", default=None)


def _mode() -> object:
    mode = conf.REQUEST_ROUTES
    if mode not in MODES:
        raise ImproperlyConfigured(
            f"MULTIDB_ROUTERS_REQUEST_ROUTES must be None, 'count' or 'log', not {mode!r}."
        )
    return mode


def request_counts() -> RequestCounts | None:
    """The :class:`RequestCounts` of the current request or task run (the innermost one).

    ``None`` outside one, or when ``MULTIDB_ROUTERS_REQUEST_ROUTES`` is off.
    """
    unit = _current.get()
    return unit.counts if unit is not None else None


def log_route(route: Route) -> None:
    """Log one decision at DEBUG (the listener installed while DEBUG is enabled)."""
    logger.debug("%s", route, extra={"route": route})


def follow_logger() -> None:
    """Listen while ``multidb_routers.routing`` is enabled for DEBUG, and only then."""
    enabled = logger.isEnabledFor(logging.DEBUG)
    registered = log_route in hook._listeners
    if enabled and not registered:
        hook.add_listener(log_route)
    elif registered and not enabled:
        hook.remove_listener(log_route)


class _RequestCounting(counting):
    """A request's unit: started and ended by Django's request signals."""


def request_started_receiver(
    sender: object, environ: Mapping[str, Any] | None = None, **kwargs: Any
) -> None:
    """``request_started``: follow the logger; start counting when the setting asks."""
    # Runs for every request: nothing more than follow_logger() is called unless a unit
    # is left over or the setting is on.
    follow_logger()
    if _current.get() is not None:
        _end_request(log=False)  # one left over by a request whose end was never signalled
    if conf.REQUEST_ROUTES is None or not _mode() or environ is None:
        # Under ASGI, Django sends the signal from another task or thread than the
        # request's: a count started there would never be seen or ended.
        return
    method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
    _RequestCounting(f"{method} {path}").start()


def request_finished_receiver(sender: object, **kwargs: Any) -> None:
    """``request_finished``: log the summary line (``"log"``) and stop counting."""
    if _current.get() is not None:
        _end_request()


def _end_request(*, log: bool = True) -> None:
    """Stop the current request's unit; a unit of other work (a task run) goes on."""
    unit = _current.get()
    if isinstance(unit, _RequestCounting):
        unit._log = unit._log and log
        unit.stop()
