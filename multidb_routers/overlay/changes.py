"""What the overlay changed, per model, and how to discard it (the overlay commands' logic)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import router as connection_router

from .manager import tombstoned_pks
from .router import Kind, OverlayRouter

if TYPE_CHECKING:
    from django.db.models import Model

__all__ = ["ModelChanges", "changes", "overlay_models", "reset"]


@dataclass(frozen=True)
class ModelChanges:
    """The primary keys an overlay added, changed and deleted for one merged model."""

    added: list[Any]
    changed: list[Any]
    deleted: list[Any]

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.deleted)


def overlay_models() -> list[tuple[type[Model], OverlayRouter, Kind]]:
    """The merged and replaced models of the overlay routers, by label."""
    found: list[tuple[type[Model], OverlayRouter, Kind]] = []
    for model in apps.get_models():
        for router in connection_router.routers:
            if not isinstance(router, OverlayRouter):
                continue
            kind = router.kind(model)
            if kind is not None:
                if kind in (Kind.MERGED, Kind.REPLACED):
                    found.append((model, router, kind))
                break
    return sorted(found, key=lambda item: item[0]._meta.label)


def _values(
    model: type[Model], alias: str, pks: list[Any] | None = None
) -> dict[Any, tuple[Any, ...]]:
    """Each row's field values by primary key: every row on ``alias``, or those of ``pks``."""
    rows = model._base_manager.using(alias).all()
    if pks is not None:
        rows = rows.filter(pk__in=pks)
    fields = [field.attname for field in model._meta.concrete_fields]
    return {row[0]: row[1:] for row in rows.values_list("pk", *fields)}


def changes(model: type[Model], router: OverlayRouter) -> ModelChanges:
    """Rows of a merged model only in the overlay, differing from the base, and deleted."""
    local = _values(model, router.overlay_alias)
    tombstoned = tombstoned_pks(model, router)
    base = _values(model, router.base_alias, [*local, *tombstoned])
    return ModelChanges(
        added=sorted(pk for pk in local if pk not in base),
        changed=sorted(pk for pk, row in local.items() if pk in base and base[pk] != row),
        deleted=sorted(pk for pk in tombstoned if pk in base),
    )


def reset(model: type[Model], router: OverlayRouter) -> tuple[int, int]:
    """Delete the model's rows and tombstones in the overlay; return how many of each."""
    from ..models import Tombstone

    tombstones = Tombstone.objects.using(router.overlay_alias).filter(model=model._meta.label_lower)
    recorded = tombstones.count()
    _, per_model = model._base_manager.using(router.overlay_alias).all().delete()
    # After the rows: deleting a copied-up row records a tombstone, which goes too.
    tombstones.delete()
    return per_model.get(model._meta.label, 0), recorded
