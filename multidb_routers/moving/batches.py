"""Copying and deleting a model's rows between two databases, one batch at a time.

A batch is copied into the target in one transaction, committed, then deleted from the
source in a second transaction. A crash between the two leaves the rows on both
databases; running the move again finds the copies, checks they are equal and only
deletes the source rows. A row already on the target with other content is never
overwritten: the move stops with :class:`MoveError` before writing anything of the batch.

Rows of the auto-created through tables of the model's many-to-many fields travel with
the row they belong to (they get new ids on the target). Rows of other models that
reference a moved row are not moved: deleting the source copy would delete or orphan
them, so a move with deletion refuses such batches.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.management.color import no_style
from django.db import IntegrityError, connections, transaction
from django.db.models import ForeignObjectRel

from ..exceptions import MoveError
from .checksum import Checksum, content_fields, row_digest

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from django.db.models import Field, Model

__all__ = [
    "BatchResult",
    "Link",
    "Mover",
    "RowState",
    "add_state",
    "chunks",
    "delete_where",
    "remove_state",
    "reset_sequences",
    "table_exists",
]


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def table_exists(model: type[Model], alias: str) -> bool:
    """True when the model's table exists on the database ``alias``."""
    with connections[alias].cursor() as cursor:
        names = connections[alias].introspection.table_names(cursor)
    return model._meta.db_table in names


def reset_sequences(models: Sequence[type[Model]], alias: str) -> int:
    """Set the id sequences of ``models`` on ``alias`` past their largest id.

    Needed on PostgreSQL after rows were inserted with their ids; a no-op on SQLite, which
    follows the largest id by itself. Returns the number of statements run.
    """
    connection = connections[alias]
    statements = connection.ops.sequence_reset_sql(no_style(), list(models))
    if statements:
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
    return len(statements)


@dataclass(frozen=True)
class Link:
    """The through table of a many-to-many field declared on the moved model."""

    through: type[Model]
    owner_field: Field[Any, Any]  # the through table's foreign key to the moved model
    fields: tuple[str, ...]


@dataclass(frozen=True)
class RowState:
    """A row's content digest and the digests of its through rows, one counter per link."""

    digest: bytes
    links: tuple[Counter[bytes], ...]


@dataclass
class BatchResult:
    """What moving one batch did."""

    copied: int = 0
    deleted: int = 0


@dataclass
class Mover:
    """Moves rows of ``model`` (with their through rows) from one alias to another."""

    model: type[Model]
    fields: tuple[str, ...] = field(init=False)
    links: tuple[Link, ...] = field(init=False)

    def __post_init__(self) -> None:
        meta = self.model._meta
        if meta.proxy:
            self.model = meta.concrete_model  # type: ignore[assignment]
            meta = self.model._meta
        if meta.parents:
            raise MoveError(
                f"{meta.label} inherits the table of {next(iter(meta.parents))._meta.label} "
                "(multi-table inheritance); moving such rows is not supported."
            )
        self.fields = tuple(content_fields(self.model))
        links = []
        for m2m in meta.local_many_to_many:
            through: type[Model] = m2m.remote_field.through  # type: ignore[assignment]
            owner = through._meta.get_field(m2m.m2m_field_name())
            links.append(Link(through, owner, tuple(content_fields(through))))  # type: ignore[arg-type]
        self.links = tuple(links)

    @property
    def models(self) -> tuple[type[Model], ...]:
        """The model and its through models."""
        return (self.model, *(link.through for link in self.links))

    # Reading.

    def rows(self, alias: str, pks: Sequence[Any]) -> dict[Any, tuple[Any, ...]]:
        """The rows of ``pks`` found on ``alias``, as values in :attr:`fields` order."""
        pk_index = self.fields.index(self.model._meta.pk.attname)
        queryset = self.model._base_manager.using(alias).filter(pk__in=pks)
        return {row[pk_index]: row for row in queryset.values_list(*self.fields)}

    def link_rows(
        self, link: Link, alias: str, pks: Sequence[Any]
    ) -> dict[Any, list[tuple[Any, ...]]]:
        """The through rows of ``pks`` on ``alias``, grouped by the moved row's pk."""
        owner = link.owner_field.attname
        owner_index = link.fields.index(owner)
        queryset = link.through._base_manager.using(alias).filter(**{f"{owner}__in": pks})
        grouped: dict[Any, list[tuple[Any, ...]]] = {}
        for row in queryset.values_list(*link.fields):
            grouped.setdefault(row[owner_index], []).append(row)
        return grouped

    def states(self, alias: str, pks: Sequence[Any]) -> dict[Any, RowState]:
        """The :class:`RowState` of each of ``pks`` present on ``alias``."""
        rows = self.rows(alias, pks)
        links = [self.link_rows(link, alias, list(rows)) for link in self.links]
        return {
            pk: RowState(
                row_digest(row),
                tuple(Counter(row_digest(r) for r in grouped.get(pk, ())) for grouped in links),
            )
            for pk, row in rows.items()
        }

    def checksums(self, alias: str, pks: Sequence[Any], batch_size: int) -> list[Checksum]:
        """Checksums of the rows of ``pks`` on ``alias``: the model's, then each link's."""
        sums = [Checksum() for _ in self.models]
        for batch in chunks(pks, batch_size):
            for state in self.states(alias, batch).values():
                add_state(sums, state)
        return sums

    def compare(self, source: str, target: str, pks: Sequence[Any]) -> tuple[list[Any], list[Any]]:
        """Pks of ``pks`` on both aliases with equal content, and those with different content."""
        theirs = self.states(target, pks)
        if not theirs:
            return [], []
        ours = self.states(source, list(theirs))
        equal = [pk for pk, state in ours.items() if theirs[pk] == state]
        different = [pk for pk, state in ours.items() if theirs[pk] != state]
        return equal, different

    # Writing.

    def _copy(
        self,
        target: str,
        rows: dict[Any, tuple[Any, ...]],
        to_copy: list[Any],
        links: list[dict[Any, list[tuple[Any, ...]]]],
    ) -> None:
        """Insert the rows of ``to_copy`` and their link rows on ``target``, all or nothing."""
        with transaction.atomic(using=target):
            self.model._base_manager.using(target).bulk_create(
                [self.build(self.model, self.fields, rows[pk]) for pk in to_copy]
            )
            for link, grouped in zip(self.links, links, strict=True):
                link.through._base_manager.using(target).bulk_create(
                    [
                        self.build(link.through, link.fields, row)
                        for pk in to_copy
                        for row in grouped.get(pk, ())
                    ]
                )

    def move(
        self, pks: Sequence[Any], source: str, target: str, *, delete_source: bool
    ) -> BatchResult:
        """Copy the rows of ``pks`` from ``source`` to ``target``, then delete them at the source.

        Rows already on the target with equal content are not copied again; a row there
        with other content stops the move with :class:`MoveError` before anything of the
        batch is written.
        """
        result = BatchResult()
        rows = self.rows(source, pks)
        equal, different = self.compare(source, target, list(rows))
        if different:
            raise self.conflict(different, target)
        if delete_source:
            self.refuse_dependents(source, list(rows))
        present = set(equal)
        to_copy = [pk for pk in rows if pk not in present]
        if to_copy:
            links = [self.link_rows(link, source, to_copy) for link in self.links]
            try:
                self._copy(target, rows, to_copy, links)
            except IntegrityError as exc:
                raise MoveError(
                    f"Copying rows of {self.model._meta.label} to {target} failed ({exc}); "
                    "nothing of the batch was written. The rows they refer to must be on the "
                    "target first: move the referenced models before this one."
                ) from exc
            result.copied = len(to_copy)
        if delete_source and rows:
            with transaction.atomic(using=source):
                for link in self.links:
                    delete_where(link.through, link.owner_field, list(rows), source)
                result.deleted = delete_where(
                    self.model,
                    self.model._meta.pk,
                    list(rows),
                    source,
                )
        return result

    def conflict(self, pks: Sequence[Any], target: str) -> MoveError:
        """The error for rows whose copy on ``target`` holds other content."""
        shown = ", ".join(map(str, list(pks)[:5])) + (", ..." if len(pks) > 5 else "")
        return MoveError(
            f"{len(pks)} row(s) of {self.model._meta.label} already on {target} hold other "
            f"content than the rows to move (pk {shown}); nothing of them was overwritten. "
            "Compare the two copies and delete the wrong one, then run the command again."
        )

    def refuse_dependents(self, alias: str, pks: Sequence[Any]) -> None:
        """Raise :class:`MoveError` if rows of other models on ``alias`` reference ``pks``."""
        owners = {link.through: link.owner_field for link in self.links}
        for relation in self.model._meta.get_fields(include_hidden=True):
            # Reverse foreign keys and one-to-ones. The rows of another model's many-to-many
            # field pointing here are found through its through table's foreign key.
            if not isinstance(relation, ForeignObjectRel) or relation.many_to_many:
                continue
            related: type[Model] = relation.related_model
            if relation.field is owners.get(related):
                continue  # the model's own through rows, deleted with their row
            if not table_exists(related, alias):
                continue
            queryset = related._base_manager.using(alias).filter(
                **{f"{relation.field.name}__in": pks}
            )
            if related is self.model:
                queryset = queryset.exclude(pk__in=pks)  # moved with them
            elif related in owners:
                # The other side of a many-to-many field to the model's own model.
                queryset = queryset.exclude(**{f"{owners[related].name}__in": pks})
            count = queryset.count()
            if count:
                raise MoveError(
                    f"{count} row(s) of {related._meta.label} on {alias} reference rows of "
                    f"{self.model._meta.label} being moved; deleting the source rows would "
                    f"delete or orphan them. Move those rows first, or copy without deleting."
                )

    @staticmethod
    def build(model: type[Model], fields: Sequence[str], row: Sequence[Any]) -> Model:
        """An unsaved instance of ``model`` holding ``row``."""
        return model(**dict(zip(fields, row, strict=True)))


def add_state(sums: Sequence[Checksum], state: RowState) -> None:
    """Count a row and its through rows into ``sums`` (the model's, then each link's)."""
    sums[0].add(state.digest)
    for checksum, counter in zip(sums[1:], state.links, strict=True):
        for digest, times in counter.items():
            for _ in range(times):
                checksum.add(digest)


def remove_state(sums: Sequence[Checksum], state: RowState) -> None:
    """Take a row counted twice back out of ``sums``."""
    sums[0].remove(state.digest)
    for checksum, counter in zip(sums[1:], state.links, strict=True):
        for digest, times in counter.items():
            for _ in range(times):
                checksum.remove(digest)


def delete_where(
    model: type[Model], column: Field[Any, Any], values: Sequence[Any], alias: str
) -> int:
    """Delete the rows of ``model`` on ``alias`` whose ``column`` is in ``values``.

    Plain SQL on purpose: moving is not deleting, so no ``pre_delete``/``post_delete``
    signal fires and nothing cascades (references were checked before).
    """
    connection = connections[alias]
    quote = connection.ops.quote_name
    prepared = [column.get_db_prep_value(value, connection) for value in values]
    placeholders = ", ".join(["%s"] * len(prepared))
    sql = (
        f"DELETE FROM {quote(model._meta.db_table)} "
        f"WHERE {quote(str(column.column))} IN ({placeholders})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, prepared)
        return int(cursor.rowcount)
