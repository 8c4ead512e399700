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
from django.db.models.signals import post_delete, post_save, pre_save

from .router import router_for

if TYPE_CHECKING:
    from ..models import Tombstone
    from .router import OverlayRouter

__all__ = ["OverlayManager", "next_pk", "shadowed_pks"]

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
    router = router_for(sender)
    if not raw and using == router.overlay_alias and instance.pk is None and _has_auto_pk(sender):
        instance.pk = next_pk(sender, router)


def _clear_tombstone(
    sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any
) -> None:
    router = router_for(sender)
    if using == router.overlay_alias:
        _tombstones(sender, router).filter(object_pk=str(instance.pk)).delete()


def _write_tombstone(
    sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any
) -> None:
    from ..models import Tombstone

    router = router_for(sender)
    if using != router.overlay_alias:
        return
    if sender._base_manager.using(router.base_alias).filter(pk=instance.pk).exists():
        Tombstone.objects.using(router.overlay_alias).get_or_create(
            model=sender._meta.label_lower, object_pk=str(instance.pk)
        )


class OverlayManager(models.Manager[M]):
    """The merged view of a model: base rows, overlay rows in their place, tombstones hidden.

    Give a model in an :class:`~multidb_routers.OverlayRouter`'s scope this manager to
    change its rows locally while still seeing the base.
    """

    def contribute_to_class(self, cls: type[M], name: str) -> None:  # type: ignore[override]
        """Connect the copy-up, tombstone and primary-key hooks for the model."""
        super().contribute_to_class(cls, name)
        if cls._meta.abstract:
            return
        uid = f"multidb_routers.overlay.{cls._meta.label_lower}"
        pre_save.connect(_assign_pk, sender=cls, dispatch_uid=uid)
        post_save.connect(_clear_tombstone, sender=cls, dispatch_uid=uid)
        post_delete.connect(_write_tombstone, sender=cls, dispatch_uid=uid)
