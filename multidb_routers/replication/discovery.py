"""The replica sets of the routers in ``DATABASE_ROUTERS``, found once per list of routers.

A router holds :class:`~multidb_routers.replication.replica_set.ReplicaSet` values as
attributes (``PrimaryReplicaRouter.replica_set``) or in a tuple of objects that do
(``ShardRouter.shard_config``, its shards with replicas). Found again for another list
of routers, and after ``setting_changed`` (the routers or a ``MULTIDB_*`` setting).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from django.core.signals import setting_changed
from django.db import router as django_router

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from .replica_set import ReplicaSet

__all__ = ["replica_sets", "replica_sets_by_primary"]

_Found = tuple[tuple["ReplicaSet", ...], "Mapping[str, tuple[ReplicaSet, ...]]"]
_known: tuple[object, _Found] | None = None


def replica_sets() -> tuple[ReplicaSet, ...]:
    """Every replica set of ``DATABASE_ROUTERS``, each once, in the routers' order."""
    return _found()[0]


def replica_sets_by_primary() -> Mapping[str, tuple[ReplicaSet, ...]]:
    """Each primary alias of ``DATABASE_ROUTERS`` -> the replica sets it is a primary of."""
    return _found()[1]


def _found() -> _Found:
    global _known
    routers = django_router.routers
    known = _known
    if known is not None and known[0] is routers:
        return known[1]
    sets = _replica_sets_of(routers)
    by_primary: dict[str, list[ReplicaSet]] = {}
    for replica_set in sets:
        for primary in replica_set.primaries:
            by_primary.setdefault(primary, []).append(replica_set)
    found = (sets, MappingProxyType({key: tuple(value) for key, value in by_primary.items()}))
    _known = (routers, found)
    return found


def _replica_sets_of(routers: Iterable[object]) -> tuple[ReplicaSet, ...]:
    from .replica_set import ReplicaSet

    found: list[ReplicaSet] = []
    for router in routers:
        for value in getattr(router, "__dict__", {}).values():
            for item in value if isinstance(value, tuple) else (value,):
                replica_set = (
                    item if isinstance(item, ReplicaSet) else getattr(item, "replica_set", None)
                )
                if isinstance(replica_set, ReplicaSet) and replica_set not in found:
                    found.append(replica_set)
    return tuple(found)


def _forget(*, setting: str, **kwargs: Any) -> None:
    global _known
    if setting == "DATABASE_ROUTERS" or setting.startswith("MULTIDB_"):
        _known = None


setting_changed.connect(_forget, dispatch_uid="multidb_routers.replication.discovery")
