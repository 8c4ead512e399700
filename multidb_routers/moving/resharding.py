"""Finding the rows of a sharded model that are not on the shard their key maps to.

A scan reads every row of the model on each scanned alias (its content digest and its
shard key), sums the content checksums of the model and of its through tables, and
groups the misplaced rows by (source alias, target shard). Rows found on their target
too (the copy of a move interrupted before its delete) are compared: equal copies are
*leftovers*, counted once; different ones are conflicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

from ..exceptions import MoveError
from .batches import Mover, chunks, remove_state
from .checksum import Checksum, queryset_checksum, row_digest

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from django.db.models import Model

    from ..sharding.router import ShardRouter

__all__ = ["Scan", "key_reader", "scan"]


@dataclass
class Scan:
    """What a scan of a sharded model found."""

    aliases: tuple[str, ...]
    counts: dict[str, int] = field(default_factory=dict)
    misplaced: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    leftovers: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    sums: list[Checksum] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Distinct rows (a leftover pair counts once)."""
        return self.sums[0].count

    @property
    def to_move(self) -> int:
        """Misplaced rows, leftovers included."""
        return sum(len(pks) for pks in self.misplaced.values())


def key_reader(
    router: ShardRouter, model: type[Model], fields: Sequence[str], alias: str
) -> Callable[[tuple[Any, ...]], object]:
    """A function giving the canonical shard key of a row read as ``fields`` values.

    A field key goes through :meth:`ShardRouter.canonical_key`, as every write does, so a
    row is placed by the same key whichever spelling wrote it.
    """
    field = router.key_field(model)
    if field is None:
        spec = router.key_spec(model)
        names = list(fields)

        def from_instance(row: tuple[Any, ...]) -> object:
            return spec(model.from_db(alias, names, row))  # type: ignore[operator]

        return from_instance
    index = list(fields).index(field.attname)
    return lambda row: router.canonical_key(model, row[index])


def scan(mover: Mover, router: ShardRouter, aliases: Sequence[str], batch_size: int) -> Scan:
    """Scan ``aliases`` for the rows of ``mover.model`` and where they belong."""
    model = mover.model
    result = Scan(tuple(aliases), sums=[Checksum() for _ in mover.models])
    pk_index = mover.fields.index(model._meta.pk.attname)
    for alias in aliases:
        key_of = key_reader(router, model, mover.fields, alias)
        count = 0
        queryset = model._base_manager.using(alias).order_by("pk").values_list(*mover.fields)
        for row in queryset.iterator(chunk_size=max(batch_size, 2000)):
            count += 1
            result.sums[0].add(row_digest(row))
            try:
                target = router.shard_for(key_of(row))
            except (TypeError, ImproperlyConfigured, LookupError) as exc:
                raise MoveError(
                    f"The row {row[pk_index]!r} of {model._meta.label} on {alias} has no usable "
                    f"shard key: {exc}"
                ) from exc
            if target != alias:
                result.misplaced.setdefault((alias, target), []).append(row[pk_index])
        result.counts[alias] = count
        for checksum, link in zip(result.sums[1:], mover.links, strict=True):
            checksum.merge(queryset_checksum(link.through._base_manager.using(alias), link.fields))
    conflicts: list[Any] = []
    for (source, target), pks in result.misplaced.items():
        for batch in chunks(pks, batch_size):
            equal, different = mover.compare(source, target, batch)
            conflicts.extend(different)
            if equal:
                result.leftovers.setdefault((source, target), []).extend(equal)
                for state in mover.states(source, equal).values():
                    remove_state(result.sums, state)
        if conflicts:
            raise mover.conflict(conflicts, target)
    return result
