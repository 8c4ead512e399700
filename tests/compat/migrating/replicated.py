"""docs/migrating.rst, from django_replicated: a path-based override and the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from multidb_routers import PrimaryReplicaRouter, use_primary

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.http import HttpRequest, HttpResponseBase


def admin_on_primary(
    get_response: Callable[[HttpRequest], HttpResponseBase],
) -> Callable[[HttpRequest], HttpResponseBase]:
    """Send every read of the admin's pages to the primary."""

    def middleware(request: HttpRequest) -> HttpResponseBase:
        if request.path.startswith("/admin/"):
            with use_primary():
                return get_response(request)
        return get_response(request)

    return middleware


DATABASE_ROUTERS = [
    PrimaryReplicaRouter(primary="default", replicas=["slave1", "slave2"], recheck_seconds=20),
]
MIDDLEWARE = [
    "multidb_routers.middleware.PinningMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
]
