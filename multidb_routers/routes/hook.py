"""Routing listeners: Django's router reports its decisions only while someone listens.

With no listener, nothing of this module runs on a query: Django's ``ConnectionRouter``
(``django.db.router``) keeps its own ``db_for_read``/``db_for_write`` and the library's
routers their fast paths. The first listener puts two instrumented methods on that one
object (instance attributes shadow the class's), which ask each router in turn as
Django does, with each router's explainer (:mod:`multidb_routers.routes.reasons`); the
last listener to leave takes them off again.

Listeners are process-wide and called in the thread that routed. Keep per-request or
per-test collections in context variables (as :func:`~multidb_routers.testing.record_routes`
and the debug toolbar panel do) so that concurrent requests do not mix.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from django.db import DEFAULT_DB_ALIAS

from .reasons import explainer_for
from .route import Route

if TYPE_CHECKING:
    from collections.abc import Iterator

    from django.db.models import Model
    from django.db.utils import ConnectionRouter

__all__ = ["add_listener", "listen", "listening", "remove_listener"]

Listener = Callable[[Route], None]

_listeners: tuple[Listener, ...] = ()
_lock = threading.Lock()
# What the router object had as instance attributes before (restored when uninstalled).
_shadowed: dict[str, Any] = {}
_deciding: ContextVar[bool] = ContextVar("multidb_routers.deciding", default=False)


def deciding() -> bool:
    """Whether a router is deciding now (its own queries, such as a replica's position)."""
    return _deciding.get()


def listening() -> bool:
    """Whether anyone listens (the routers are then instrumented)."""
    return bool(_listeners)


def add_listener(listener: Listener) -> None:
    """Call ``listener`` with every :class:`Route` decided from now on, in any thread."""
    global _listeners
    with _lock:
        _listeners = (*_listeners, listener)
        if len(_listeners) == 1:
            _install()


def remove_listener(listener: Listener) -> None:
    """Stop calling ``listener`` (one registration of it); uninstrument when none is left."""
    global _listeners
    with _lock:
        listeners = list(_listeners)
        listeners.remove(listener)
        _listeners = tuple(listeners)
        if not _listeners:
            _uninstall()


@contextmanager
def listen(listener: Listener) -> Iterator[None]:
    """Call ``listener`` with every :class:`Route` decided inside the block."""
    add_listener(listener)
    try:
        yield
    finally:
        remove_listener(listener)


def _router_name(index: int, router: object) -> str:
    return f"DATABASE_ROUTERS[{index}] ({type(router).__name__})"


def _instrumented(connection_router: ConnectionRouter, action: str) -> Callable[..., str]:
    attribute = f"db_for_{action}"

    def route(model: type[Model], **hints: Any) -> str:
        # Django's ConnectionRouter._router_func, with each router's reason.
        for index, router in enumerate(connection_router.routers):
            method = getattr(router, attribute, None)
            if method is None:
                continue
            token = _deciding.set(True)
            try:
                alias, code, reason = explainer_for(router)(router, action, model, hints, method)
            finally:
                _deciding.reset(token)
            if alias:
                _emit(Route(action, model, alias, code, reason, _router_name(index, router)))
                return str(alias)
        instance = hints.get("instance")
        if instance is not None and instance._state.db:
            alias = instance._state.db
            code, reason = "instance", f"no router chose: the instance's database {alias}"
        else:
            alias = DEFAULT_DB_ALIAS
            code, reason = "default", "no router chose: the default database"
        _emit(Route(action, model, alias, code, reason))
        return str(alias)

    route.__name__ = route.__qualname__ = attribute
    return route


def _emit(route: Route) -> None:
    for listener in _listeners:
        listener(route)


def _install() -> None:
    from django.db import router

    for action in ("read", "write"):
        name = f"db_for_{action}"
        decide = _instrumented(router, action)
        if name in router.__dict__:
            shadowed = _shadowed[name] = router.__dict__[name]
            # A wrapper that checks the decision (the cross-database write check) stays
            # around the instrumented decider: listening must not change what happens.
            around = getattr(shadowed, "around", None)
            if around is not None:
                decide = around(decide)
        router.__dict__[name] = decide


def _uninstall() -> None:
    from django.db import router

    for action in ("read", "write"):
        name = f"db_for_{action}"
        router.__dict__.pop(name, None)
        if name in _shadowed:
            router.__dict__[name] = _shadowed.pop(name)
