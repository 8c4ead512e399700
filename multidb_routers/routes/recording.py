"""Collect the routing decisions and the SQL they led to, in the current context.

A :class:`Recorder` is active from :meth:`Recorder.start` to :meth:`Recorder.stop`:
it receives the routes decided in its context (a context variable holds the active
recorders, so concurrent requests and tests do not mix) and, through an execute
wrapper on each connection of the thread that started it, every statement run. A
statement is matched with the latest route that chose its alias, the route that
made Django pick that connection.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import connections

from ..replication.discovery import replica_sets
from . import hook

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.db.backends.base.base import BaseDatabaseWrapper

    from .route import Route

__all__ = ["Recorder", "RoutedQuery", "primary_aliases", "replica_aliases"]

# Statements no router decides: transaction control Django or the database driver runs.
_UNROUTED = re.compile(
    r"\s*(SAVEPOINT|RELEASE\b|ROLLBACK\b|BEGIN\b|COMMIT\b|START\s+TRANSACTION)", re.IGNORECASE
)
_READ = re.compile(r"\s*(SELECT|WITH|EXPLAIN|SHOW|PRAGMA)\b", re.IGNORECASE)

_active: ContextVar[tuple[Recorder, ...]] = ContextVar("multidb_routers.recorders", default=())


@dataclass(frozen=True)
class RoutedQuery:
    """One statement run on ``alias``, with the :class:`Route` that chose the alias.

    ``route`` is ``None`` for a statement no router chose (transaction control, raw SQL
    on a connection taken by alias, a queryset's ``using()``).
    """

    alias: str
    sql: str
    route: Route | None

    @property
    def action(self) -> str:
        """``"read"`` or ``"write"``: the route's, else guessed from the statement."""
        if self.route is not None:
            return self.route.action
        return "read" if _READ.match(self.sql) else "write"

    @property
    def label(self) -> str | None:
        """The routed model's label, or ``None`` when no router chose."""
        return self.route.label if self.route is not None else None

    @property
    def reason(self) -> str:
        """Why the query ran on its alias."""
        if self.route is not None:
            return self.route.reason
        return "not routed (the connection was used directly)"

    @property
    def control(self) -> bool:
        """Whether the statement is transaction control (``SAVEPOINT``, ``COMMIT``...)."""
        return self.route is None and _UNROUTED.match(self.sql) is not None

    @property
    def code(self) -> str:
        """The route's code, ``"unrouted"`` without one."""
        return self.route.code if self.route is not None else "unrouted"


def _deliver(route: Route) -> None:
    for recorder in _active.get():
        recorder.add_route(route)


class Recorder:
    """Routes and statements of the context that started it (see the module's docstring).

    ``on_query`` is called with each :class:`RoutedQuery`; ``keep=False`` keeps no list
    (for counting).
    """

    def __init__(
        self, on_query: Callable[[RoutedQuery], None] | None = None, *, keep: bool = True
    ) -> None:
        #: Every routing decision, in order.
        self.routes: list[Route] = []
        #: Every statement run on this thread's connections, in order.
        self.queries: list[RoutedQuery] = []
        self._latest: dict[str, Route] = {}
        self._on_query = on_query
        self._keep = keep
        self._token: Token[tuple[Recorder, ...]] | None = None
        self._wrapped: list[BaseDatabaseWrapper] = []

    def add_route(self, route: Route) -> None:
        """Record a routing decision."""
        if self._keep:
            self.routes.append(route)
        self._latest[route.alias] = route

    def add_query(self, alias: str, sql: str) -> None:
        """Record a statement run on ``alias``."""
        route = None if _UNROUTED.match(sql) else self._latest.get(alias)
        query = RoutedQuery(alias, sql, route)
        if self._keep:
            self.queries.append(query)
        if self._on_query is not None:
            self._on_query(query)

    def start(self) -> None:
        """Start recording in the current context and thread."""
        if self._token is not None:
            raise RuntimeError("This recorder is already recording.")
        self._token = _active.set((*_active.get(), self))
        hook.add_listener(_deliver)
        for connection in connections.all():
            connection.execute_wrappers.append(self._execute)
            self._wrapped.append(connection)

    def stop(self) -> None:
        """Stop recording (the routes and queries stay)."""
        if self._token is None:
            return
        for connection in self._wrapped:
            if self._execute in connection.execute_wrappers:
                connection.execute_wrappers.remove(self._execute)
        self._wrapped.clear()
        hook.remove_listener(_deliver)
        try:
            _active.reset(self._token)
        except ValueError:  # stopped in another context (a response closed elsewhere)
            _active.set(tuple(r for r in _active.get() if r is not self))
        self._token = None

    def _execute(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        if hook.deciding():  # the routers' own queries (a replica's position...), not the app's
            return execute(sql, params, many, context)
        try:
            return execute(sql, params, many, context)
        finally:
            connection = context["connection"]
            text = sql
            if not many and params is not None:
                try:
                    text = str(connection.ops.last_executed_query(context["cursor"], sql, params))
                except Exception:
                    text = sql
            self.add_query(connection.alias, text)


def replica_aliases() -> frozenset[str]:
    """Every replica the library's routers read from (their shards' replicas included)."""
    return frozenset(alias for each in replica_sets() for alias in each.replicas)


def primary_aliases() -> frozenset[str]:
    """Every primary that has replicas in the library's routers."""
    return frozenset(alias for each in replica_sets() for alias in each.primaries)
