"""``RoutingPanel``: a django-debug-toolbar panel showing where each query went, and why.

Add ``"multidb_routers.contrib.debug_toolbar.RoutingPanel"`` to ``DEBUG_TOOLBAR_PANELS``
(and keep ``DebugToolbarMiddleware`` before ``PinningMiddleware`` in ``MIDDLEWARE``, as
the toolbar asks to be first). For the request shown: each query with its database, the
model and the reason it went there, and its SQL; reads and writes per database with the
database's role; the pins the request came in with and those its response sends out.
Works with django-debug-toolbar 6.3 (Django 4.2) to 8.x (Django 5.2 to 6.1).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from debug_toolbar.panels import Panel

from ..conf import conf
from ..replication.middleware import loads_pins, pin_limits
from ..routes.recording import Recorder

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase

    from ..replication.state import Pin

__all__ = ["RoutingPanel", "database_roles"]


def database_roles() -> dict[str, str]:
    """Each alias the library's routers name, with its role (primary, replica, shard...)."""
    from django.db import router

    roles: dict[str, str] = {}
    for each in router.routers:
        replica_set = getattr(each, "replica_set", None)
        if replica_set is not None:
            roles.update(dict.fromkeys(replica_set.primaries, "primary"))
            roles.update(dict.fromkeys(replica_set.replicas, "replica"))
        for shard in getattr(each, "shard_config", ()):
            roles.setdefault(shard.alias, "shard")
            roles.update(dict.fromkeys(shard.replicas, f"replica of {shard.alias}"))
        if hasattr(each, "base_alias"):
            roles.setdefault(each.base_alias, "overlay base (read-only)")
            roles.setdefault(each.overlay_alias, "overlay")
    return roles


def _pins(value: str | None, now: float) -> list[dict[str, Any]]:
    pins: dict[str, Pin] = loads_pins(value, now=now, limits=pin_limits()) if value else {}
    return [
        {
            "primary": primary,
            "seconds_left": round(pin.until - now, 1),
            "position": pin.position or "",
        }
        for primary, pin in sorted(pins.items())
    ]


class RoutingPanel(Panel):  # type: ignore[misc,unused-ignore]  # untyped without the toolbar
    """The routing of the request's queries: database, reason, SQL; counts; pins."""

    title = "Routing"
    template = "multidb_routers/debug_toolbar_routing.html"
    is_async = False

    @property
    def nav_subtitle(self) -> str:
        """Queries and how many reads replicas served."""
        stats = self.get_stats()
        if not stats:
            return ""
        return (
            f"{len(stats['queries'])} queries, {stats['replica_reads']} of "
            f"{stats['total_reads']} reads from replicas"
        )

    def process_request(self, request: HttpRequest) -> HttpResponseBase:
        """Record the routes and queries of everything after the toolbar's middleware."""
        recorder = Recorder()
        recorder.start()
        try:
            return super().process_request(request)  # type: ignore[no-any-return]
        finally:
            recorder.stop()
            self._recorder = recorder

    def generate_stats(self, request: HttpRequest, response: HttpResponseBase) -> None:
        """Turn the recording into plain data (the toolbar may store it as JSON)."""
        recorder: Recorder | None = getattr(self, "_recorder", None)
        queries = recorder.queries if recorder is not None else []
        roles = database_roles()
        counts: dict[str, dict[str, Any]] = {}
        rows: list[dict[str, Any]] = []
        for number, query in enumerate(queries, start=1):
            row = counts.setdefault(
                query.alias,
                {"alias": query.alias, "role": roles.get(query.alias, ""), "read": 0, "write": 0},
            )
            if not query.control:
                row[query.action] += 1
            rows.append(
                {
                    "number": number,
                    "alias": query.alias,
                    "role": roles.get(query.alias, ""),
                    "action": query.action,
                    "model": query.label or "",
                    "code": query.code,
                    "reason": query.reason,
                    "sql": query.sql,
                }
            )
        now = time.time()
        name = conf.PIN_COOKIE_NAME
        sent = response.cookies.get(name) if hasattr(response, "cookies") else None
        reads = [row for row in rows if row["action"] == "read"]
        self.record_stats(
            {
                "queries": rows,
                "counts": sorted(counts.values(), key=lambda row: row["alias"]),
                "total_reads": len(reads),
                "replica_reads": sum(1 for row in reads if row["role"].startswith("replica")),
                "pins_in": _pins(request.COOKIES.get(name), now),
                "pins_out": _pins(sent.value if sent is not None else None, now),
                "cookie": name,
            }
        )
