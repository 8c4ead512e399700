"""Which alias ran each query: a recorder over every connection, in every thread."""

from __future__ import annotations

import re
import threading
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

from django.db import connections
from django.db.backends.signals import connection_created

# reviews/jobs.py runs its jobs on threads named so.
JOB_THREADS = "recount-rating"

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from django.db.backends.base.base import BaseDatabaseWrapper

TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE|JOIN)\s+"(\w+)"', re.IGNORECASE)


class QueryLog:
    """The alias and SQL of every query run on any connection while recording.

    Connections opened in other threads while recording (``across_shards()`` queries
    the shards on a thread pool) are recorded too.
    """

    def __init__(self) -> None:
        self.queries: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def _wrapper(self, alias: str) -> Callable[..., Any]:
        def record(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
            with self._lock:
                self.queries.append((alias, sql))
            return execute(sql, *args)

        return record

    @contextmanager
    def recording(self) -> Iterator[list[tuple[str, str]]]:
        """Record the queries run inside the block; yields the list they are added to."""
        self.queries = []
        added: list[tuple[BaseDatabaseWrapper, Callable[..., Any]]] = []

        def on_connect(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
            thread = threading.current_thread()
            if thread is threading.main_thread():
                return  # this thread's connections are wrapped below
            if thread.name.startswith(JOB_THREADS):
                return  # a background job's queries are its own, not the request's
            wrapper = self._wrapper(connection.alias)
            connection.execute_wrappers.append(wrapper)
            added.append((connection, wrapper))

        connection_created.connect(on_connect, weak=False)
        try:
            with ExitStack() as stack:
                for alias in connections:
                    stack.enter_context(connections[alias].execute_wrapper(self._wrapper(alias)))
                yield self.queries
        finally:
            connection_created.disconnect(on_connect)
            for connection, wrapper in added:
                if wrapper in connection.execute_wrappers:
                    connection.execute_wrappers.remove(wrapper)


def describe(queries: list[tuple[str, str]], *, tables: bool = True) -> str:
    """``default reads products_product · reviews writes reviews_review``, in order of use."""
    by_alias: dict[str, dict[str, dict[str, None]]] = {}
    for alias, sql in queries:
        kind = "reads" if sql.lstrip().upper().startswith("SELECT") else "writes"
        entry = by_alias.setdefault(alias, {"reads": {}, "writes": {}})
        entry[kind].update(dict.fromkeys(TABLE.findall(sql)))
    parts = []
    for alias, entry in by_alias.items():
        words = [f"{kind} {', '.join(names)}" for kind, names in entry.items() if names]
        parts.append(f"{alias} {' and '.join(words)}" if tables and words else alias)
    return " · ".join(parts) or "no query"
