"""OverlayManager: the base with the overlay's changes on top, and the writes that make them.

Writes of a model with this manager go to the overlay (the router sends them there):

* ``save()`` of a row read from the base copies it up: Django's UPDATE finds no row in
  the overlay and INSERTs it with the same primary key;
* ``delete()`` deletes the overlay's copy, if any, and records a
  :class:`~multidb_routers.models.Tombstone` in the overlay when the base has the row;
* a new row with an automatic primary key gets ``max(base, overlay) + 1``, so it can
  never collide with a base row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, cast

from django.db import models
from django.db.models import Max
from django.db.models.signals import class_prepared, post_delete, post_save, pre_save

from ..merge import MergedQuerySet
from .router import find_overlay_router, require_overlay_router

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from django.db.models import QuerySet

    from ..models import Tombstone
    from .router import OverlayRouter

__all__ = ["OverlayManager", "OverlayQuerySet", "next_pk", "shadowed_pks", "tombstoned_pks"]

M = TypeVar("M", bound=models.Model)

_AUTO_FIELDS = frozenset({"AutoField", "BigAutoField", "SmallAutoField"})


def _has_auto_pk(model: type[models.Model]) -> bool:
    return model._meta.pk is not None and model._meta.pk.get_internal_type() in _AUTO_FIELDS


def next_pk(model: type[models.Model], router: OverlayRouter) -> int:
    """A primary key above every key in the base and in the overlay."""
    highest = 0
    for alias in (router.base_alias, router.overlay_alias):
        value = model._base_manager.using(alias).aggregate(highest=Max("pk"))["highest"]
        highest = max(highest, value or 0)
    return highest + 1


def _tombstones(model: type[models.Model], router: OverlayRouter) -> models.QuerySet[Tombstone]:
    from ..models import Tombstone

    tombstones = Tombstone.objects.using(router.overlay_alias)
    return cast("models.QuerySet[Tombstone]", tombstones.filter(model=model._meta.label_lower))


def tombstoned_pks(model: type[models.Model], router: OverlayRouter) -> list[Any]:
    """The primary keys of the base rows deleted through the overlay."""
    to_python = model._meta.pk.to_python
    return [to_python(pk) for pk in _tombstones(model, router).values_list("object_pk", flat=True)]


def shadowed_pks(model: type[models.Model], router: OverlayRouter) -> list[Any]:
    """Primary keys of the base rows the merged view hides: changed or deleted in the overlay."""
    overlay_pks = model._base_manager.using(router.overlay_alias).values_list("pk", flat=True)
    return [*overlay_pks, *tombstoned_pks(model, router)]


def _assign_pk(
    sender: type[models.Model], instance: models.Model, raw: bool, using: str, **kwargs: Any
) -> None:
    router = find_overlay_router(sender)
    if router is None:
        return
    if not raw and using == router.overlay_alias and instance.pk is None and _has_auto_pk(sender):
        instance.pk = next_pk(sender, router)


def _clear_tombstone(
    sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any
) -> None:
    router = find_overlay_router(sender)
    if router is not None and using == router.overlay_alias:
        _tombstones(sender, router).filter(object_pk=str(instance.pk)).delete()


def _write_tombstone(
    sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any
) -> None:
    from ..models import Tombstone

    router = find_overlay_router(sender)
    if router is None or using != router.overlay_alias:
        return
    if sender._base_manager.using(router.base_alias).filter(pk=instance.pk).exists():
        Tombstone.objects.using(router.overlay_alias).get_or_create(
            model=sender._meta.label_lower, object_pk=str(instance.pk)
        )


class OverlayQuerySet(MergedQuerySet):
    """The merged view as a read-only queryset: base rows minus shadowed ones, plus overlay rows.

    Which base rows are hidden (changed in the overlay, or deleted through it) is read
    each time the queryset runs, so a queryset built before a write still sees it.
    """

    def prepare_sources(self, querysets: Sequence[QuerySet[Any]]) -> Sequence[QuerySet[Any]]:
        """Hide the base rows the overlay shadows."""
        router = require_overlay_router(self.model)
        hidden = shadowed_pks(self.model, router)
        if not hidden:
            return querysets
        return [qs.exclude(pk__in=hidden) if qs.db == router.base_alias else qs for qs in querysets]

    # Writes and single-database views.

    def using(self, alias: str) -> QuerySet[Any]:
        """A plain ``QuerySet`` with the same filters on one side of the merge.

        ``using(base)`` reads the snapshot's rows as they are (changed and deleted rows
        included, and read-only); ``using(overlay)`` reads only the overlay's rows.
        """
        router = require_overlay_router(self.model)
        if alias not in (router.base_alias, router.overlay_alias):
            raise ValueError(
                f"The merged view of {self.model._meta.label} reads two databases: "
                f"using({router.base_alias!r}) gives the snapshot's rows, "
                f"using({router.overlay_alias!r}) the overlay's; {alias!r} is neither."
            )
        if self.is_sliced:
            raise TypeError("Cannot call using() on a merged queryset once it is sliced.")
        return self.querysets[[qs.db for qs in self.querysets].index(alias)]

    def delete(self) -> tuple[int, dict[str, int]]:
        """Delete every row of the merged view through its instance, in the overlay.

        Each ``delete()`` removes the overlay's copy and records a tombstone for a base
        row, as the instance's own ``delete()`` does; cascades happen in the overlay.
        """
        if self.is_sliced:
            raise TypeError("Cannot call delete() on a merged queryset once it is sliced.")
        label = self.model._meta.label
        total, per_model = 0, dict[str, int]()
        for instance in list(self):
            count, counts = instance.delete()
            if not counts.get(label):  # a base row: hidden by its tombstone, still one row
                count, counts = count + 1, {**counts, label: 1}
            total += count
            for label, number in counts.items():
                per_model[label] = per_model.get(label, 0) + number
        return total, per_model

    def bulk_create(self, objs: Iterable[Any], **kwargs: Any) -> list[Any]:
        """Create the rows in the overlay, giving automatic keys no base row has.

        A row given a base row's key is that row's new version (as ``save()``), and
        revives it if it was deleted through the overlay.
        """
        router = require_overlay_router(self.model)
        instances = list(objs)
        if _has_auto_pk(self.model):
            missing = [instance for instance in instances if instance.pk is None]
            if missing:
                first = next_pk(self.model, router)
                for offset, instance in enumerate(missing):
                    instance.pk = first + offset
        local: QuerySet[Any] = models.QuerySet(self.model, using=router.overlay_alias)
        created = local.bulk_create(instances, **kwargs)
        keys = [str(instance.pk) for instance in instances]
        _tombstones(self.model, router).filter(object_pk__in=keys).delete()
        return created

    def update(self, **kwargs: Any) -> int:
        """Refused: the merged view's rows live in two databases, one read-only."""
        label = self.model._meta.label
        raise TypeError(
            f"update() on the merged view of {label} is not supported: most of its rows "
            "are in the read-only base. save() each instance instead (for obj in qs: "
            "obj.field = value; obj.save()), which copies base rows up into the overlay; "
            f"or {self.model.__name__}.objects.local().filter(...).update(...) to change "
            "only the rows already in the overlay."
        )

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("_") and hasattr(models.QuerySet, name):
            router = require_overlay_router(self.model)
            raise AttributeError(
                f"The merged view of {self.model._meta.label} has no {name}(): it reads "
                "two databases. Use a plain queryset of one side: "
                f".using({router.base_alias!r}) (the snapshot, read-only) or "
                f".using({router.overlay_alias!r}) (the overlay); write through instances "
                "(save(), delete()) or the manager's create()."
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def _connect_hooks(model: type[models.Model]) -> None:
    uid = f"multidb_routers.overlay.{model._meta.label_lower}"
    pre_save.connect(_assign_pk, sender=model, dispatch_uid=uid)
    post_save.connect(_clear_tombstone, sender=model, dispatch_uid=uid)
    post_delete.connect(_write_tombstone, sender=model, dispatch_uid=uid)


def _connect_inheritor(sender: type[models.Model], **kwargs: Any) -> None:
    """``class_prepared``: hook a concrete model whose merged manager an abstract base gave it."""
    opts = sender._meta
    if not opts.proxy and any(isinstance(manager, OverlayManager) for manager in opts.managers):
        _connect_hooks(sender)


class OverlayManager(models.Manager[M]):
    """The merged view of a model: base rows, overlay rows in their place, deleted rows hidden.

    Give a model in an :class:`~multidb_routers.OverlayRouter`'s scope this manager to
    change its rows locally while still seeing the base. Reads (``all()``,
    ``filter()``, ``get()``, ``count()``...) return an :class:`OverlayQuerySet`;
    ``create()`` and each instance's ``save()``/``delete()`` write to the overlay.

    When no ``OverlayRouter`` covers the model (the production settings an overlay copies),
    it is a plain manager: ``get_queryset()`` returns a ``QuerySet`` and writes go where
    the other routers send them; only ``base()`` and ``local()`` need the router.
    """

    merges_overlay = True  # read by the router: a model with this manager is MERGED

    def contribute_to_class(self, cls: type[M], name: str) -> None:  # type: ignore[override]
        """Connect the copy-up, tombstone and primary-key hooks for the model.

        On an abstract model, for each concrete model inheriting the manager: Django
        copies it to them without calling this method again.
        """
        super().contribute_to_class(cls, name)
        if cls._meta.abstract:
            class_prepared.connect(_connect_inheritor, dispatch_uid="multidb_routers.overlay")
        else:
            _connect_hooks(cls)

    def get_queryset(self) -> OverlayQuerySet | QuerySet[M]:  # type: ignore[override]
        """The merged view of every row; a plain ``QuerySet`` when no overlay covers the model."""
        router = find_overlay_router(self.model)
        if router is None:
            return super().get_queryset()
        return OverlayQuerySet(
            [self.base(), self.local()],
            labels=[router.base_alias, router.overlay_alias],
            concurrent=False,  # the overlay is local and small: not worth a thread
        )

    def base(self) -> QuerySet[M]:
        """The base's rows as the snapshot has them, without the overlay's changes."""
        return models.QuerySet(self.model, using=require_overlay_router(self.model).base_alias)

    def local(self) -> QuerySet[M]:
        """The overlay's rows: the changed and the added ones."""
        return models.QuerySet(self.model, using=require_overlay_router(self.model).overlay_alias)

    def create(self, **kwargs: Any) -> M:
        """Create a row in the overlay, with a primary key no base row has."""
        router = find_overlay_router(self.model)
        if router is None:
            return super().create(**kwargs)
        instance = self.model(**kwargs)
        instance.save(force_insert=True, using=router.overlay_alias)
        return instance
