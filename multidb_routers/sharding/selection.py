"""``use_shard(key)``: the shard of one key for a block of code, optionally locked to it.

The selection lives in one context variable (``multidb_routers.shard_selection``), set on
entry and reset with its token on exit, so blocks nest and concurrent threads and asyncio
tasks never see each other's. The router reads it once per routing call.

With several ShardRouters, the key selects a shard in each: the models of every router
route to that router's shard of the key. The lock is a wall between shards, not between
keys: inside a locked block, every shard a router would reach for the key stays open (keys
of other tenants on that same shard included) and every other shard of that router is
refused, by the router and by a guard on the shards' connections (``using()``, raw SQL).
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

from django.db.utils import DatabaseError

from ..blocks import ContextBlock
from ..exceptions import ShardKeyError, ShardLockError

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models import Model

    from .router import ShardRouter
    from .shards import Shard

__all__ = ["ShardSelection", "current_selection", "install_lock_guard", "use_shard"]


_NO_KEY: Any = object()

_selection: ContextVar[ShardSelection | None] = ContextVar(
    "multidb_routers.shard_selection", default=None
)


def current_selection() -> ShardSelection | None:
    """The innermost :func:`use_shard` (or ``ShardRouter.use_shard``) selection, if any."""
    return _selection.get()


def _shard_routers() -> list[ShardRouter]:
    from django.db import router as connection_router

    # ShardRouter says so itself: the router module depends on this one.
    return [router for router in connection_router.routers if getattr(router, "shards_rows", False)]


class ShardSelection:
    """What a :func:`use_shard` block chose: a key (or one router's alias) and the lock.

    ``key``: the key hint-less queries route by (canonicalised per model at routing time).
    ``alias``: a shard alias chosen by ``ShardRouter.use_shard(alias)`` instead of a key.
    ``lock_key``: the key whose shards are the only ones reachable, when locked.
    """

    __slots__ = ("_allowed", "_blocked", "_keys", "_walls", "alias", "key", "lock_key")

    def __init__(self, key: object = _NO_KEY, alias: str | None = None, lock_key: object = _NO_KEY):
        self.key = key
        self.alias = alias
        self.lock_key = lock_key
        self._keys: dict[tuple[ShardRouter, type[Model]], object] = {}
        self._allowed: dict[tuple[ShardRouter, type[Model]], str] = {}
        self._walls: dict[ShardRouter, frozenset[str]] = {}
        self._blocked: dict[str, str | None] = {}

    @property
    def has_key(self) -> bool:
        """True when a key (not one router's alias) was chosen."""
        return self.key is not _NO_KEY

    @property
    def locked(self) -> bool:
        """True inside a locked block (``use_shard(key, lock=True)``, ``ShardMiddleware``)."""
        return self.lock_key is not _NO_KEY

    def route(self, router: ShardRouter, model: type[Model]) -> Shard | None:
        """The shard a hint-less query of ``model`` goes to, or ``None`` if none was chosen."""
        if self.alias is not None:
            shard = router._by_alias.get(self.alias)
            if shard is not None:
                return shard
        if self.key is _NO_KEY:
            return None
        try:
            key = self._keys[router, model]
        except KeyError:
            key = self._keys[router, model] = router.canonical_key(model, self.key)
        # Not the alias: a placement changed during the block is followed at once.
        return router._by_alias[router.shard_for(key)]

    def check(self, router: ShardRouter, model: type[Model], shard: Shard) -> None:
        """Raise :class:`ShardLockError` when ``shard`` is not the locked key's shard."""
        try:
            allowed = self._allowed[router, model]
        except KeyError:
            allowed = self._allowed[router, model] = router.shard_for(self.lock_key, model)
        if shard.alias != allowed:
            raise ShardLockError(
                f"A query of {model._meta.label} would reach the shard {shard.alias!r}, but "
                f"this block is locked to the shard of the key {self.lock_key!r} "
                f"({allowed!r}) by use_shard(..., lock=True) or ShardMiddleware: a request "
                "must not reach another tenant's shard. Query the rows of that key only, or "
                "run the code that must cross shards outside the locked block (use_shard("
                "key, lock=False), or ShardMiddleware.lock = False)."
            )

    def wall(self, router: ShardRouter) -> frozenset[str]:
        """The primaries of ``router`` the locked key may reach (its shard for each model).

        Models whose key field rejects the key add nothing: if none accepts it, no shard of
        the router is reachable.
        """
        try:
            return self._walls[router]
        except KeyError:
            pass
        aliases: set[str] = set()
        for model in router.sharded_models():
            try:
                aliases.add(router.shard_for(self.lock_key, model))
            except (ShardKeyError, TypeError):
                continue
        wall = self._walls[router] = frozenset(aliases)
        return wall

    def blocked(self, alias: str) -> str | None:
        """Why a statement on the connection ``alias`` is refused here, or ``None``."""
        try:
            return self._blocked[alias]
        except KeyError:
            pass
        reason = None
        for router in _shard_routers():
            shard = router._by_alias.get(alias)
            if shard is not None and shard.alias not in self.wall(router):
                reason = (
                    f"A statement on the database {alias!r} (shard {shard.alias!r}) was refused: "
                    f"this block is locked to the shards of the key {self.lock_key!r} "
                    f"({sorted(self.wall(router))}) by use_shard(..., lock=True) or "
                    "ShardMiddleware, and using() another shard would reach another tenant's "
                    "rows. Run the code that must cross shards outside the locked block."
                )
                break
        self._blocked[alias] = reason
        return reason

    def check_alias(self, router: ShardRouter, alias: str) -> None:
        """Raise :class:`ShardLockError` when the shard ``alias`` is outside the wall."""
        shard = router.shard(alias)
        if shard.alias not in self.wall(router):
            raise ShardLockError(
                f"The shard {alias!r} is outside this block, locked to the shards of the key "
                f"{self.lock_key!r} ({sorted(self.wall(router))}) by use_shard(..., "
                "lock=True) or ShardMiddleware: a request must not reach another tenant's "
                "shard. Run the code that must cross shards outside the locked block."
            )

    def check_fan_out(self, router: ShardRouter, what: str) -> None:
        """Refuse a query over every shard of ``router`` (``across_shards``) when locked."""
        outside = [alias for alias in router.shard_aliases if alias not in self.wall(router)]
        if outside:
            raise ShardLockError(
                f"{what} would query every shard, but this block is locked to the shards of "
                f"the key {self.lock_key!r} ({sorted(self.wall(router))}) by use_shard(..., "
                "lock=True) or ShardMiddleware. Query that key's rows (Model.objects.all() "
                "routes there), or run the fan-out outside the locked block."
            )


def _nested(selection: ShardSelection | None, key: object, lock: bool) -> ShardSelection:
    if key is None:
        raise ShardKeyError(
            "use_shard(None): None is no shard key. Enter the block only when the key is "
            "known (ShardMiddleware does so when its resolver returns None)."
        )
    if selection is None or not selection.locked:
        return ShardSelection(key=key, lock_key=key if lock else _NO_KEY)
    outer = selection.lock_key
    inner = ShardSelection(key=key, lock_key=key)
    for router in _shard_routers():
        if inner.wall(router) != selection.wall(router):
            raise ShardLockError(
                f"use_shard({key!r}) inside a block locked to the key {outer!r}: that key's "
                f"shards ({sorted(inner.wall(router))}) are not the locked ones "
                f"({sorted(selection.wall(router))}). A locked block (ShardMiddleware locks "
                "each request) can only nest blocks of keys on its own shards."
            )
    inner.lock_key = outer
    return inner


class use_shard(ContextBlock[Token[ShardSelection | None]]):
    """Route hint-less queries of sharded models to the shard of ``key``; lock it if asked.

    A context manager (``with use_shard(shop_id):``) and a decorator
    (``@use_shard(shop_id)``) for sync and async functions. Inside, a query, ``create()``
    or admin view of a sharded model that names no key goes to ``key``'s shard (the key is
    canonicalised by each model's key field at routing time) instead of raising
    :class:`~multidb_routers.ShardKeyError`; an instance or ``.shard(other)`` still routes
    by its own key.

    With ``lock=True``, reaching any other shard of a router inside the block (another
    key's shard, ``using()`` another shard alias, ``across_shards()``) raises
    :class:`~multidb_routers.ShardLockError`. Nested blocks: the inner block replaces the
    outer one until it ends; inside a locked block, an inner block stays locked, and one
    for a key on other shards raises ``ShardLockError``.
    """

    def __init__(self, key: object, lock: bool = False) -> None:
        super().__init__()
        self.key = key
        self.lock = lock

    def enter(self) -> Token[ShardSelection | None]:
        """Select the key's shard (refused inside a lock on other shards)."""
        return _selection.set(_nested(_selection.get(), self.key, self.lock))

    def exit(self, token: Token[ShardSelection | None]) -> None:
        """Restore the selection before :meth:`enter`."""
        _selection.reset(token)


def select_alias(router: ShardRouter, alias: str) -> Token[ShardSelection | None]:
    """Choose ``router``'s shard ``alias`` for hint-less queries (``ShardRouter.use_shard``).

    Inside a locked block the alias must be inside the wall; the lock carries on. Inside
    a ``use_shard(key)`` block the alias routes, and the key stays the block's.
    """
    router.shard(alias)  # refuse an alias that is no shard
    outer = _selection.get()
    if outer is None:
        return _selection.set(ShardSelection(alias=alias))
    if outer.locked:
        outer.check_alias(router, alias)
    # The outer key stays known (create() fills it in), the alias routes.
    return _selection.set(ShardSelection(key=outer.key, alias=alias, lock_key=outer.lock_key))


def reset(token: Token[ShardSelection | None]) -> None:
    """End a selection made by :func:`select_alias`."""
    _selection.reset(token)


def _lock_guard(
    execute: Callable[..., Any], sql: Any, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    selection = _selection.get()
    if selection is not None and selection.lock_key is not _NO_KEY:
        reason = selection.blocked(context["connection"].alias)
        if reason is not None:
            raise ShardLockError(reason)
    try:
        return execute(sql, params, many, context)
    except DatabaseError as exc:
        # A write refused by the trigger of a shard key's move: say so, retryably.
        from ..moving.capture import moving_error

        moving = moving_error(exc)
        if moving is not None:
            raise moving from exc
        raise


def guard_connection(connection: BaseDatabaseWrapper) -> None:
    """Install the lock guard on a connection (once)."""
    if _lock_guard not in connection.execute_wrappers:
        connection.execute_wrappers.append(_lock_guard)


def _is_shard(alias: str, routers: list[Any] | None = None) -> bool:
    found = _shard_routers() if routers is None else routers
    return any(alias in getattr(router, "_by_alias", ()) for router in found)


def _on_connection_created(sender: object, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    # Only a shard's statements can cross the wall: other connections pay nothing.
    if _is_shard(connection.alias):
        guard_connection(connection)


def _on_setting_changed(*, setting: str, value: Any = None, **kwargs: Any) -> None:
    # New routers may make shards of aliases already connected (tests, override_settings).
    # Read from the new value: Django's own receiver may reset router.routers after this one.
    if setting == "DATABASE_ROUTERS":
        from django.db.utils import ConnectionRouter

        _guard_open_shards(ConnectionRouter(value or []).routers)
    elif setting == "DATABASES":
        _guard_open_shards()


def _guard_open_shards(routers: list[Any] | None = None) -> None:
    from django.db import connections

    shard_routers = routers
    if shard_routers is not None:
        shard_routers = [
            router for router in shard_routers if getattr(router, "shards_rows", False)
        ]
    for connection in connections.all(initialized_only=True):
        if _is_shard(connection.alias, shard_routers):
            guard_connection(connection)


def install_lock_guard() -> None:
    """Guard the shards' connections, present and future (from ``AppConfig.ready``)."""
    from django.core.signals import setting_changed
    from django.db.backends.signals import connection_created

    connection_created.connect(_on_connection_created, dispatch_uid="multidb_routers.shard_lock")
    setting_changed.connect(_on_setting_changed, dispatch_uid="multidb_routers.shard_lock")
    _guard_open_shards()
