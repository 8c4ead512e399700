"""``across_shards()``: one query over every shard of a sharded model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..merge import MergedQuerySet
from .manager import on_shard
from .router import find_shard_router
from .selection import current_selection

if TYPE_CHECKING:
    from django.db.models import QuerySet

__all__ = ["across_shards"]


def across_shards(
    queryset: QuerySet[Any], *, concurrent: bool | None = None, max_workers: int | None = None
) -> MergedQuerySet:
    """``queryset`` run on every shard of its model's router, merged into one result.

    Returns a :class:`~multidb_routers.merge.MergedQuerySet`: iteration merged in the
    queryset's ordering, ``[a:b]`` fetching at most ``b`` rows per shard, ``count()``,
    ``exists()``, ``get()``, ``aggregate()``, ``values()``/``values_list()``, GROUP BY with
    Count/Sum/Min/Max/Avg; what it cannot merge exactly raises
    :class:`~multidb_routers.exceptions.CannotMergeError`. ``concurrent`` overrides
    ``MULTIDB_ROUTERS_FANOUT`` (``None``: SQLite shards one after another, network
    databases concurrently); a failing shard raises
    :class:`~multidb_routers.exceptions.MergedQueryError` naming it.

    When no ``ShardRouter`` covers the model, the one source is ``queryset`` itself, so
    code written for sharded settings runs unchanged without sharding.
    """
    router = find_shard_router(queryset.model)
    if router is None:
        label = f"unsharded {queryset.model._meta.label}"
        return MergedQuerySet([queryset], labels=[label], concurrent=False)
    selection = current_selection()
    if selection is not None and selection.locked:
        selection.check_fan_out(router, f"across_shards({queryset.model._meta.object_name})")
    return MergedQuerySet(
        [on_shard(queryset, alias) for alias in router.shard_aliases],
        labels=[f"shard {alias!r}" for alias in router.shard_aliases],
        concurrent=concurrent,
        max_workers=max_workers,
    )
