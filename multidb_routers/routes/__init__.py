"""Why each query went where it went: routing reasons, listeners, logs and counts.

Nothing is collected while nobody listens (see :mod:`multidb_routers.routes.hook`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .hook import add_listener, listen, listening, remove_listener
    from .log import RequestCounts, counting, request_counts
    from .recording import Recorder, RoutedQuery
    from .route import Route

__all__ = [
    "Recorder",
    "RequestCounts",
    "Route",
    "RoutedQuery",
    "add_listener",
    "counting",
    "listen",
    "listening",
    "remove_listener",
    "request_counts",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Recorder": "multidb_routers.routes.recording",
        "RequestCounts": "multidb_routers.routes.log",
        "Route": "multidb_routers.routes.route",
        "RoutedQuery": "multidb_routers.routes.recording",
        "add_listener": "multidb_routers.routes.hook",
        "counting": "multidb_routers.routes.log",
        "listen": "multidb_routers.routes.hook",
        "listening": "multidb_routers.routes.hook",
        "remove_listener": "multidb_routers.routes.hook",
        "request_counts": "multidb_routers.routes.log",
    },
)
