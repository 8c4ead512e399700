"""django-multidb-router's ``multidb.middleware``: pin by HTTP method and a plain cookie.

A request whose method may write (anything but GET, HEAD, OPTIONS, TRACE), or that
carries the pin cookie, runs pinned (:mod:`.pinning`). A response to such a method, or
marked by :func:`~.pinning.db_write`, sets the cookie for ``MULTIDB_PINNING_SECONDS``.
The cookie's value is ``"y"`` and unsigned, as in django-multidb-router 0.11, so clients
pinned before a switch stay pinned after it. Settings are read at each call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.deprecation import MiddlewareMixin

from .pinning import pin_this_thread, unpin_this_thread

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase

__all__ = [
    "READ_ONLY_METHODS",
    "PinningRouterMiddleware",
    "pinning_cookie",
    "pinning_cookie_httponly",
    "pinning_cookie_samesite",
    "pinning_cookie_secure",
    "pinning_seconds",
]

#: The HTTP methods taken to write nothing.
READ_ONLY_METHODS = frozenset(("GET", "HEAD", "OPTIONS", "TRACE"))

_SAMESITE_VALUES = ("Lax", "Strict", "None")


def pinning_cookie() -> str:
    """The pin cookie's name: ``MULTIDB_PINNING_COOKIE`` (default ``"multidb_pin_writes"``)."""
    name = getattr(settings, "MULTIDB_PINNING_COOKIE", "multidb_pin_writes")
    if not isinstance(name, str) or not name:
        raise ImproperlyConfigured(
            f"MULTIDB_PINNING_COOKIE must be a non-empty cookie name, not {name!r}."
        )
    return name


def pinning_cookie_httponly() -> bool:
    """``MULTIDB_PINNING_COOKIE_HTTPONLY`` (default ``False``)."""
    return bool(getattr(settings, "MULTIDB_PINNING_COOKIE_HTTPONLY", False))


SameSite = Literal["Lax", "Strict", "None"]


def pinning_cookie_samesite() -> SameSite | None:
    """``MULTIDB_PINNING_COOKIE_SAMESITE``: ``"Lax"`` (default), ``"Strict"``, ``"None"``.

    ``None`` (or ``False``) leaves the attribute out of the cookie.
    """
    value: Any = getattr(settings, "MULTIDB_PINNING_COOKIE_SAMESITE", "Lax")
    if value is None or value is False:
        return None
    if not isinstance(value, str) or value.lower() not in {v.lower() for v in _SAMESITE_VALUES}:
        raise ImproperlyConfigured(
            f"MULTIDB_PINNING_COOKIE_SAMESITE must be one of {', '.join(_SAMESITE_VALUES)} "
            f"(or None to leave the attribute out), not {value!r}."
        )
    return cast("SameSite", value)


def pinning_cookie_secure() -> bool:
    """``MULTIDB_PINNING_COOKIE_SECURE`` (default ``False``)."""
    return bool(getattr(settings, "MULTIDB_PINNING_COOKIE_SECURE", False))


def pinning_seconds() -> int:
    """Seconds a client stays pinned after a write: ``MULTIDB_PINNING_SECONDS`` (default 15)."""
    value = getattr(settings, "MULTIDB_PINNING_SECONDS", 15)
    try:
        seconds = int(value)
    except (TypeError, ValueError, OverflowError):
        seconds = -1
    if isinstance(value, bool) or seconds < 0:
        raise ImproperlyConfigured(
            f"MULTIDB_PINNING_SECONDS must be a whole number of seconds (>= 0), not {value!r}."
        )
    return seconds


class PinningRouterMiddleware(MiddlewareMixin):
    """Pin requests that may write or carry the cookie; set the cookie after writes.

    ``process_request`` sets the current context's pin for the request (pinned, or
    unpinned in case an earlier request of the same thread was pinned);
    ``process_response`` sets the cookie after a method that may write or a response
    marked with ``_db_write``. Sync and async capable (``MiddlewareMixin``).
    """

    def process_request(self, request: HttpRequest) -> None:
        """Pin the context if the request carries the cookie or its method may write."""
        if pinning_cookie() in request.COOKIES or request.method not in READ_ONLY_METHODS:
            pin_this_thread()
        else:
            unpin_this_thread()

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        """Set (or renew) the cookie after a method that may write or a marked response."""
        if request.method not in READ_ONLY_METHODS or getattr(response, "_db_write", False):
            response.set_cookie(
                pinning_cookie(),
                value="y",
                max_age=pinning_seconds(),
                secure=pinning_cookie_secure(),
                httponly=pinning_cookie_httponly(),
                samesite=pinning_cookie_samesite(),
            )
        return response
