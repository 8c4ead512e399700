"""ShardMiddleware: each request works on the shard of the key its resolver names.

``MULTIDB_ROUTERS_SHARD_RESOLVER`` names a callable taking the request and returning a
shard key (a shop id, an account slug) or ``None``. The request's view then runs inside
:func:`~multidb_routers.sharding.use_shard` for that key, locked by default
(``MULTIDB_ROUTERS_SHARD_LOCK``, or the ``lock`` attribute of a subclass). A request whose
resolver returns ``None`` runs with no shard chosen: a query of a sharded model that names
no key raises :class:`~multidb_routers.ShardKeyError`, as outside the middleware.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.core.exceptions import BadRequest, ImproperlyConfigured
from django.core.signals import setting_changed
from django.http import HttpRequest
from django.utils.module_loading import import_string

from ..conf import conf
from ..exceptions import ShardKeyError
from ..middleware_base import SyncAsyncMiddleware
from .selection import ShardSelection, _nested, _selection, _shard_routers

if TYPE_CHECKING:
    from django.db.models import Model
    from django.http.response import HttpResponseBase

    from .router import ShardRouter

__all__ = ["ShardMiddleware", "resolver"]

Resolver = Callable[[HttpRequest], object]


@functools.lru_cache(maxsize=8)
def _import(path: str) -> Resolver:
    try:
        found = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"MULTIDB_ROUTERS_SHARD_RESOLVER = {path!r} cannot be imported ({exc}); name a "
            "callable by its dotted path, such as 'myproject.tenancy.shard_key' "
            "(check multidb_routers.E023)."
        ) from exc
    if not callable(found):
        raise ImproperlyConfigured(
            f"MULTIDB_ROUTERS_SHARD_RESOLVER = {path!r} is no callable: name a function "
            "taking the request and returning a shard key or None (check multidb_routers.E024)."
        )
    return found  # type: ignore[no-any-return]


def resolver() -> Resolver:
    """The callable ``MULTIDB_ROUTERS_SHARD_RESOLVER`` names (imported once, until it changes)."""
    path = conf.SHARD_RESOLVER
    if not isinstance(path, str) or not path:
        raise ImproperlyConfigured(
            "ShardMiddleware needs MULTIDB_ROUTERS_SHARD_RESOLVER, the dotted path of a "
            "callable taking the request and returning a shard key or None "
            "(check multidb_routers.E023)."
        )
    return _import(path)


def _forget(*, setting: str, **kwargs: Any) -> None:
    if setting == "MULTIDB_ROUTERS_SHARD_RESOLVER":
        _import.cache_clear()


setting_changed.connect(_forget, dispatch_uid="multidb_routers.sharding.middleware")


def _select(key: object, lock: bool) -> ShardSelection:
    """The request's selection; a key no sharded model accepts is a 400, not a 500 later."""
    try:
        selection = _nested(_selection.get(), key, lock)
    except ShardKeyError as exc:
        raise BadRequest(str(exc)) from exc
    for router in _shard_routers():
        models = router.sharded_models()
        if models and not any(_accepts(router, model, key) for model in models):
            raise BadRequest(
                f"The shard key {key!r} of this request is no valid key of the models "
                "sharded by the ShardRouter (their key fields reject it)."
            )
    return selection


def _accepts(router: ShardRouter, model: type[Model], key: object) -> bool:
    try:
        router.shard_for(key, model)
    except (ShardKeyError, TypeError):
        return False
    return True


class ShardMiddleware(SyncAsyncMiddleware):
    """Run each request inside ``use_shard(resolver(request), lock=True)``.

    Sync and async capable. ``lock`` (``None``: the setting ``MULTIDB_ROUTERS_SHARD_LOCK``,
    ``True`` by default) may be set on a subclass. A key that no sharded model's key field
    accepts gets a 400 response. Place it after the middleware the resolver relies on
    (``AuthenticationMiddleware`` for a key read from ``request.user``).
    """

    lock: bool | None = None

    def _selection_for(self, request: HttpRequest) -> ShardSelection | None:
        key = resolver()(request)
        if key is None:
            return None
        return _select(key, conf.SHARD_LOCK if self.lock is None else bool(self.lock))

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        """Handle the request on its key's shard."""
        if self.async_mode:
            return self.__acall__(request)
        selection = self._selection_for(request)
        if selection is None:
            return self.get_response(request)
        token = _selection.set(selection)
        try:
            return self.get_response(request)
        finally:
            _selection.reset(token)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        """The async counterpart of ``__call__``.

        The resolver (which may query the database) and the key's validation (which may
        read the placement directory) run in a thread, as Django runs sync code.
        """
        selection = await sync_to_async(self._selection_for)(request)
        if selection is None:
            return await self.get_response(request)  # type: ignore[no-any-return, misc]
        token = _selection.set(selection)
        try:
            return await self.get_response(request)  # type: ignore[no-any-return, misc]
        finally:
            _selection.reset(token)
