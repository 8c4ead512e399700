"""Two response headers saying where a request's review reads ran and why it failed.

``X-Loadtest-Read``: the aliases whose SELECT of the reviews table succeeded during the
request, in order of first use (``reviews_standby``, ``reviews``, or both). Recorded
where the statement runs, not where the router pointed, so a read that failed on the
standby and was served elsewhere counts where it was served.
``X-Loadtest-Error``: the exception class and first line of the error that made Django
answer 500 (``got_request_exception``), when there was one.

A record lives in a context variable set by :class:`ServedByMiddleware`; the record is
mutated, not replaced, so the copies of the context ``sync_to_async`` makes under ASGI
see the same record.
"""

from __future__ import annotations

import sys
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.signals import got_request_exception
from django.db.backends.signals import connection_created

from benchmarks.loadtest import ERROR_HEADER, READ_HEADER

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.http import HttpRequest, HttpResponse

REVIEW_TABLE = '"reviews_review"'


@dataclass
class Record:
    """What one request did: the aliases that served its review reads, its error."""

    aliases: list[str] = field(default_factory=list)
    error: str = ""


SERVED: ContextVar[Record | None] = ContextVar("loadtest_served", default=None)


def record_reads(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    """Execute wrapper: note the alias of a successful SELECT of the reviews table."""
    result = execute(sql, params, many, context)
    record = SERVED.get()
    if record is not None and REVIEW_TABLE in sql and sql.lstrip()[:6].upper() == "SELECT":
        record.aliases.append(context["connection"].alias)
    return result


def wrap_connection(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """Install :func:`record_reads` on every connection once, when it first connects."""
    if record_reads not in connection.execute_wrappers:
        connection.execute_wrappers.append(record_reads)


def note_error(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    """Keep the exception Django is turning into an error response."""
    record = SERVED.get()
    error = sys.exc_info()[1]
    if record is not None and error is not None:
        first_line = (str(error).strip().splitlines() or [""])[0]
        text = f"{type(error).__name__}: {first_line}"[:300]
        record.error = text.encode("ascii", "replace").decode()


connection_created.connect(wrap_connection, dispatch_uid="loadtest-served")
got_request_exception.connect(note_error, dispatch_uid="loadtest-served")


class ServedByMiddleware:
    """Set :data:`READ_HEADER` and :data:`ERROR_HEADER` on every response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        """Record the request's reads and error, then report them in the headers."""
        record = Record()
        token = SERVED.set(record)
        try:
            response = self.get_response(request)
        finally:
            SERVED.reset(token)
        response[READ_HEADER] = ",".join(dict.fromkeys(record.aliases))
        if record.error:
            response[ERROR_HEADER] = record.error
        return response
