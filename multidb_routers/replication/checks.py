"""The system checks of :class:`~multidb_routers.PrimaryReplicaRouter` (``manage.py check``).

Kept out of the router's module so that settings.py does not import
``django.core.checks``; the router's ``check_config`` calls :func:`check_router`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.db import connections
from django.utils.module_loading import import_string

from .freshness import LsnFreshness
from .middleware import PinningMiddleware

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from .router import PrimaryReplicaRouter

__all__ = ["MIDDLEWARE_PATH", "check_router"]

MIDDLEWARE_PATH = "multidb_routers.middleware.PinningMiddleware"


def check_router(
    router: PrimaryReplicaRouter, *, name: str, databases: Iterable[str]
) -> list[CheckMessage]:
    """E010/E041: a replica's ``TEST`` ``MIRROR``; E040: a primary's; W010: no middleware."""
    messages: list[CheckMessage] = []
    replica_set = router.replica_set
    primaries = replica_set.primary_weights
    known = set(databases)
    mirrors = {
        alias: settings.DATABASES[alias].get("TEST", {}).get("MIRROR")
        for alias in replica_set.aliases
        if alias in known  # E001 reports the others
    }
    # The primaries that hold a test database of their own, for the hints.
    roots = [alias for alias in replica_set.primaries if not mirrors.get(alias)]
    root = roots[0] if roots else replica_set.primary
    if len(primaries) > 1:
        messages.extend(_check_primary_mirrors(router, name, mirrors, root))
    for alias in replica_set.replicas:
        if alias not in mirrors:
            continue
        mirror = mirrors[alias]
        if mirror in primaries:
            if mirrors.get(mirror):
                messages.append(
                    Error(
                        f"{name} lists {alias!r} as a replica, and DATABASES[{alias!r}]"
                        f"['TEST'] has MIRROR {mirror!r}, a primary that is itself a "
                        f"mirror (of {mirrors[mirror]!r}): Django does not follow mirror "
                        "chains, so tests would give the replica another database.",
                        hint=f'Set "TEST": {{"MIRROR": {mirrors[mirror]!r}}} in '
                        f"DATABASES[{alias!r}].",
                        obj=router,
                        id="multidb_routers.E041",
                    )
                )
            continue
        found = f"MIRROR is {mirror!r}" if mirror else "no MIRROR"
        of = " or ".join(repr(primary) for primary in primaries)
        messages.append(
            Error(
                f"{name} lists {alias!r} as a replica of {of}, but "
                f"DATABASES[{alias!r}]['TEST'] has {found}: tests would give the "
                "replica a database of its own that never sees the primary's rows.",
                hint=f'Add "TEST": {{"MIRROR": {root!r}}} to DATABASES[{alias!r}].',
                obj=router,
                id="multidb_routers.E010",
            )
        )
    messages.extend(_check_freshness(router, name, known))
    if router.replica_set.replicas and not _pinning_middleware_installed():
        messages.append(
            Warning(
                f"{name} sends reads to replicas, but {MIDDLEWARE_PATH} is not in "
                "settings.MIDDLEWARE: a write pins reads to the primary only until its "
                "request ends, so the client's next request (such as the page a form "
                "redirects to) may read from a replica that has not caught up yet.",
                hint=f"Add {MIDDLEWARE_PATH!r} to MIDDLEWARE.",
                obj=router,
                id="multidb_routers.W010",
            )
        )
    return messages


def _check_primary_mirrors(
    router: PrimaryReplicaRouter, name: str, mirrors: Mapping[str, str | None], root: str
) -> list[CheckMessage]:
    """E040: a primary mirrors something else than a primary with its own test database."""
    messages: list[CheckMessage] = []
    primaries = router.replica_set.primary_weights
    for alias in router.replica_set.primaries:
        mirror = mirrors.get(alias)
        if not mirror or (mirror in primaries and not mirrors.get(mirror)):
            continue
        messages.append(
            Error(
                f"{name} lists {alias!r} as a primary, but DATABASES[{alias!r}]['TEST'] "
                f"has MIRROR {mirror!r}, which is not another primary with a test "
                "database of its own: tests would write that primary's rows to a "
                "database the router does not read.",
                hint=f'Remove MIRROR from DATABASES[{alias!r}]["TEST"] (a test database '
                f'of its own), or set "MIRROR": {root!r} (one database shared by the '
                "primaries, as replication makes it in production).",
                obj=router,
                id="multidb_routers.E040",
            )
        )
    return messages


def _check_freshness(
    router: PrimaryReplicaRouter, name: str, known: set[str]
) -> list[CheckMessage]:
    """E011: ``freshness="lsn"`` on an alias that is not PostgreSQL."""
    replica_set = router.replica_set
    if not isinstance(replica_set.freshness, LsnFreshness):
        return []
    messages: list[CheckMessage] = []
    for alias in sorted(replica_set.aliases & known):
        vendor = connections[alias].vendor
        if vendor == "postgresql":
            continue
        messages.append(
            Error(
                f"{name} uses freshness='lsn', which reads PostgreSQL WAL positions, "
                f"but {alias!r} is a {vendor} database: its positions are unknown, so "
                "pinned reads would all go to the primary (and with max_lag_seconds "
                "no read would use its replicas).",
                hint="Use freshness='time' (the default) with this database, or "
                "PostgreSQL streaming replicas with freshness='lsn'.",
                obj=router,
                id="multidb_routers.E011",
            )
        )
    return messages


def _pinning_middleware_installed() -> bool:
    for path in getattr(settings, "MIDDLEWARE", None) or ():
        if path == MIDDLEWARE_PATH:
            return True
        try:
            middleware = import_string(path)
        except ImportError:
            continue  # Django reports a bad path itself
        if isinstance(middleware, type) and issubclass(middleware, PinningMiddleware):
            return True
    return False
