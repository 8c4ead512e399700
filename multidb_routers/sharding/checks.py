"""System checks of the per-request shard and of the placement directory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from ..conf import conf

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["check_placements", "check_shard_middleware"]

MIDDLEWARE_PATH = "multidb_routers.sharding.middleware.ShardMiddleware"


def _uses_middleware() -> bool:
    from django.utils.module_loading import import_string

    from .middleware import ShardMiddleware

    for path in getattr(settings, "MIDDLEWARE", None) or ():
        if path == MIDDLEWARE_PATH:
            return True
        try:
            found = import_string(path)
        except ImportError:
            continue
        if isinstance(found, type) and issubclass(found, ShardMiddleware):
            return True
    return False


def check_shard_middleware(**kwargs: Any) -> list[CheckMessage]:
    """E023 resolver not importable, E024 not callable, E025 middleware without resolver,
    W021 a resolver but no middleware, E027 two ShardRouters sharing a directory name."""
    from .middleware import _import

    messages: list[CheckMessage] = []
    path = conf.SHARD_RESOLVER
    uses = _uses_middleware()
    if path is None or path == "":
        if uses:
            messages.append(
                Error(
                    "ShardMiddleware is in MIDDLEWARE but MULTIDB_ROUTERS_SHARD_RESOLVER is "
                    "not set, so no request can know its shard.",
                    hint="Set MULTIDB_ROUTERS_SHARD_RESOLVER to the dotted path of a callable "
                    "taking the request and returning a shard key or None, such as "
                    "'myproject.tenancy.shard_key'.",
                    id="multidb_routers.E025",
                )
            )
    elif not isinstance(path, str):
        messages.append(
            Error(
                f"MULTIDB_ROUTERS_SHARD_RESOLVER must be a dotted path, not {path!r}.",
                hint="Name the callable as text: 'myproject.tenancy.shard_key'.",
                id="multidb_routers.E023",
            )
        )
    else:
        try:
            _import(path)
        except ImproperlyConfigured as exc:
            callable_error = "is no callable" in str(exc)
            messages.append(
                Error(
                    str(exc).split(" (check ")[0] + ".",
                    hint="Set MULTIDB_ROUTERS_SHARD_RESOLVER to the dotted path of a function "
                    "taking the request and returning a shard key or None.",
                    id="multidb_routers.E024" if callable_error else "multidb_routers.E023",
                )
            )
        if not uses:
            messages.append(
                Warning(
                    "MULTIDB_ROUTERS_SHARD_RESOLVER is set but ShardMiddleware is not in "
                    "MIDDLEWARE, so no request uses it.",
                    hint=f"Add {MIDDLEWARE_PATH!r} to MIDDLEWARE (after the middleware the "
                    "resolver reads, such as AuthenticationMiddleware).",
                    id="multidb_routers.W021",
                )
            )
    messages.extend(_check_directory_names())
    return messages


def _check_directory_names() -> list[CheckMessage]:
    from .selection import _shard_routers

    messages: list[CheckMessage] = []
    seen: dict[str, int] = {}
    for index, router in enumerate(_shard_routers()):
        name = router.directory
        if name is None:
            continue
        if name in seen:
            messages.append(
                Error(
                    f"Two ShardRouters of DATABASE_ROUTERS (#{seen[name]} and #{index}) share "
                    f"the placement directory {name!r}: each would follow the other's entries.",
                    hint="Give each ShardRouter its own directory name.",
                    obj=router,
                    id="multidb_routers.E027",
                )
            )
        seen.setdefault(name, index)
    return messages


def check_placements(databases: Iterable[str] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """E026: a directory entry naming an alias that is not a shard of its router.

    A database check (it reads the table): ``manage.py check --database default``,
    ``migrate``.
    """
    if not databases or conf.PLACEMENT_DATABASE not in databases:
        return []
    from ..models import Placement
    from .selection import _shard_routers

    routers = {router.directory: router for router in _shard_routers() if router.directory}
    if not routers:
        return []
    try:
        rows = list(
            Placement.objects.using(conf.PLACEMENT_DATABASE)
            .filter(directory__in=list(routers))
            .values_list("directory", "key", "alias")
        )
    except DatabaseError:
        return []  # not migrated yet: migrate creates the table, and no entry exists
    messages: list[CheckMessage] = []
    for directory, key, alias in rows:
        router = routers[directory]
        if alias not in router.shard_aliases:
            messages.append(
                Error(
                    f"The placement directory {directory!r} puts the key {key!r} on {alias!r}, "
                    f"which is not one of its router's shards {list(router.shard_aliases)}: "
                    "every query of that key fails.",
                    hint=f"Place the key on one of the shards (router.place({key!r}, alias)), "
                    "remove the entry (router.unplace(key)), or add the alias to the shards.",
                    obj=router,
                    id="multidb_routers.E026",
                )
            )
    return messages
