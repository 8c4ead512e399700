"""OverlayRouter: reads from a read-only ``base``, writes only to a local ``overlay``."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.db import router as connection_router

from ..base import BaseRouter, RouteDescription
from ..exceptions import ReadOnlyDatabaseError, RouterOptionError
from ..scope import Scope

if TYPE_CHECKING:
    from collections.abc import Iterable

    from django.core.checks import CheckMessage
    from django.db.models import Model

__all__ = ["Kind", "OverlayRouter", "find_overlay_router", "require_overlay_router"]

TOMBSTONE_LABEL = "multidb_routers.tombstone"


class Kind(enum.Enum):
    """How an overlay router treats a model in its scope."""

    REPLACED = "replaced"  # lives wholly in the overlay
    MERGED = "merged"  # has an OverlayManager: the base with the overlay's changes on top
    BASE = "base"  # read from the base, never written
    TOMBSTONE = "tombstone"  # the library's own record of deletions, in the overlay


def _is_merged(model: type[Model]) -> bool:
    # OverlayManager says so itself (``merges_overlay``): the manager module depends on
    # this one, never the other way round.
    return any(getattr(manager, "merges_overlay", False) for manager in model._meta.managers)


class OverlayRouter(BaseRouter):
    """Read the scoped models from the read-only ``base``; write only to ``overlay``.

    ``apps`` (app or model labels, ``None`` for every model) limits the scope;
    ``replace`` names the models (or apps) that live wholly in the overlay. Other scoped
    models are read from the base; a plain write to one of them raises
    :class:`~multidb_routers.ReadOnlyDatabaseError`, unless the model has the merged
    manager (:class:`~multidb_routers.overlay.manager.OverlayManager`), whose writes go
    to the overlay. Nothing migrates on the base, and its connection is guarded against
    every write (see :mod:`multidb_routers.guards`). The overlay holds the scoped
    models and the library's tombstones, nothing else.
    """

    options = ("base", "overlay", "apps", "replace")
    required_options = ("base", "overlay")

    base: str | None = None
    overlay: str | None = None
    apps: Iterable[str] | None = None
    replace: Iterable[str] = ()

    def configure(self) -> None:
        """Validate the aliases and build the scope."""
        for option in ("base", "overlay"):
            value = getattr(self, option)
            if not isinstance(value, str) or not value:
                raise RouterOptionError(
                    f"{type(self).__name__} {option} must be a database alias "
                    f"(a non-empty string), not {value!r}."
                )
        self.base_alias: str = self.base  # type: ignore[assignment]
        self.overlay_alias: str = self.overlay  # type: ignore[assignment]
        if self.replace is None:
            raise RouterOptionError(
                f"{type(self).__name__} replace must be a list of labels (or empty), not None."
            )
        self._scope = Scope(self.apps, option="apps")
        self._replace = Scope(self.replace, option="replace")
        self._kinds: dict[type[Model], Kind | None] = {}

    def kind(self, model: type[Model]) -> Kind | None:
        """How this router treats the model, or ``None`` when it is out of scope."""
        try:
            return self._kinds[model]
        except KeyError:
            kind = self._kinds[model] = self._classify(model)
            return kind

    def _classify(self, model: type[Model]) -> Kind | None:
        if model._meta.label_lower == TOMBSTONE_LABEL:
            return Kind.TOMBSTONE
        if self._replace.labels and self._replace.covers(model):
            return Kind.REPLACED
        if not self._scope.covers(model):
            return None
        return Kind.MERGED if _is_merged(model) else Kind.BASE

    # Django's router methods.

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        """Replaced models read the overlay; others the base (or the instance's own alias)."""
        kind = self.kind(model)
        if kind is None:
            return None
        if kind in (Kind.REPLACED, Kind.TOMBSTONE):
            return self.overlay_alias
        state = getattr(hints.get("instance"), "_state", None)
        if kind is Kind.MERGED and state is not None and state.db in self.aliases():
            return str(state.db)
        return self.base_alias

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        """The overlay; a plain write to a base-only model raises ``ReadOnlyDatabaseError``."""
        kind = self.kind(model)
        if kind is None:
            return None
        if kind is Kind.BASE:
            label = model._meta.label
            raise ReadOnlyDatabaseError(
                f"{label} is read from the read-only base database {self.base_alias!r}, "
                f"so it cannot be written. To change {label} rows locally, either add "
                f"{label!r} to OverlayRouter(replace=[...]) so the model lives wholly in "
                f"{self.overlay_alias!r}, or give {model.__name__} the merged manager "
                "(objects = multidb_routers.overlay.OverlayManager()) so that writes go "
                f"to {self.overlay_alias!r} on top of the base."
            )
        return self.overlay_alias

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        """Allow relations between the base and the overlay (they are one logical database)."""
        if self.kind(type(obj1)) is None and self.kind(type(obj2)) is None:
            return None
        ours = (self.base_alias, self.overlay_alias)
        return obj1._state.db in ours and obj2._state.db in ours

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool | None:
        """Never migrate the base; the overlay holds the scoped models and the tombstones.

        Inside :func:`~multidb_routers.guards.allow_writes` on the base (loading a
        snapshot), the base accepts the models read from it: the scoped ones that are not
        replaced, so that ``migrate`` and ``loaddata`` with ``database=<base>`` work there.
        """
        is_tombstone = f"{app_label}.{model_name}".lower() == TOMBSTONE_LABEL
        if model_name is not None:
            hints["model_name"] = model_name
        if db == self.base_alias:
            from ..guards import writes_allowed

            if is_tombstone or not writes_allowed(db):
                return False
            replaced = bool(self._replace.labels) and self._replace.covers_migration(
                app_label, hints
            )
            return bool(self._scope.covers_migration(app_label, hints)) and not replaced
        if is_tombstone:
            return db == self.overlay_alias
        covered = self._scope.covers_migration(app_label, hints)
        if not covered and self._replace.labels:
            replaced = self._replace.covers_migration(app_label, hints)
            covered = True if replaced else (None if None in (covered, replaced) else False)
        if covered:
            return db == self.overlay_alias
        if covered is None:
            return None  # an app-wide operation of a partly scoped app: cannot tell
        return False if db == self.overlay_alias else None

    # The guard (see multidb_routers.guards).

    def guarded_aliases(self) -> frozenset[str]:
        """The base: its connection refuses every write."""
        return frozenset((self.base_alias,))

    # Introspection.

    def aliases(self) -> frozenset[str]:
        """The base and the overlay."""
        return frozenset((self.base_alias, self.overlay_alias))

    def read_only_aliases(self) -> frozenset[str]:
        """The base."""
        return frozenset((self.base_alias,))

    def labels(self) -> Iterable[tuple[str, str]]:
        """The labels of ``apps`` and ``replace``."""
        yield from (("apps", label) for label in self._scope.labels or ())
        yield from (("replace", label) for label in self._replace.labels or ())

    def claimed_aliases(self, model: type[Model]) -> frozenset[str] | None:
        """Replaced models: the overlay; other scoped models: the base and the overlay."""
        kind = self.kind(model)
        if kind is None:
            return None
        if kind in (Kind.REPLACED, Kind.TOMBSTONE):
            return frozenset((self.overlay_alias,))
        return self.aliases()

    def describe_route(self, model: type[Model]) -> RouteDescription | None:
        """Where reads and writes of the model go, in words."""
        kind = self.kind(model)
        if kind is None:
            return None
        base, overlay = self.base_alias, self.overlay_alias
        if kind in (Kind.REPLACED, Kind.TOMBSTONE):
            return RouteDescription(read=overlay, write=overlay)
        if kind is Kind.MERGED:
            return RouteDescription(read=f"{base} + {overlay} (merged)", write=overlay)
        return RouteDescription(read=base, write=f"refused ({base} is read-only)")

    def check_config(self, *, name: str, databases: Iterable[str]) -> list[CheckMessage]:
        """E030-E032, W030: see ``docs/checks.rst`` (E033 is a database check: ``checks.py``)."""
        from django.apps import apps as django_apps
        from django.conf import settings
        from django.core.checks import Error, Warning

        messages: list[CheckMessage] = []
        if self.base_alias == self.overlay_alias:
            messages.append(
                Error(
                    f"{name} uses {self.base_alias!r} as both base and overlay: every "
                    "write would be refused, or the snapshot would be written.",
                    hint="Point overlay at a separate, writable database alias.",
                    obj=self,
                    id="multidb_routers.E030",
                )
            )
        if not self._scope.everything:
            for label in self._replace.labels or ():
                app_label, _, model_name = label.partition(".")
                if self._scope.covers_label(app_label, model_name or None):
                    continue
                messages.append(
                    Error(
                        f"{name} replace names {label!r}, which is outside its apps.",
                        hint=f"Add {label!r} (or its app {app_label!r}) to apps, or remove it "
                        "from replace.",
                        obj=self,
                        id="multidb_routers.E031",
                    )
                )
        for model in django_apps.get_models():
            if self.kind(model) is Kind.REPLACED and _is_merged(model):
                messages.append(
                    Error(
                        f"{name} replaces {model._meta.label}, which has the merged manager "
                        "OverlayManager: a replaced model never reads the base.",
                        hint=f"Remove {model._meta.label} from replace to see the base with "
                        "your changes on top, or give it a plain manager.",
                        obj=model,
                        id="multidb_routers.E032",
                    )
                )
        base_settings = settings.DATABASES.get(self.base_alias)
        if base_settings is not None:
            engine = str(base_settings.get("ENGINE", ""))
            if not any(vendor in engine for vendor in ("sqlite3", "postgresql")):
                messages.append(
                    Warning(
                        f"{name} base {self.base_alias!r} uses {engine}, which has no "
                        "database-level read-only lock here: only the statement guard "
                        "protects it, and a raw DB-API cursor bypasses that.",
                        hint="Connect to the base with a database user that has read-only "
                        "rights (walls known: SQLite's read-only open, and a PostgreSQL "
                        "role without write privileges, verified by E033).",
                        obj=self,
                        id="multidb_routers.W030",
                    )
                )
        return messages


def find_overlay_router(model: type[Model]) -> OverlayRouter | None:
    """The first overlay router in ``DATABASE_ROUTERS`` whose scope covers the model, if any."""
    for router in connection_router.routers:
        if isinstance(router, OverlayRouter) and router.kind(model) is not None:
            return router
    return None


def require_overlay_router(model: type[Model]) -> OverlayRouter:
    """The first overlay router in ``DATABASE_ROUTERS`` whose scope covers the model.

    Raises ``ImproperlyConfigured`` when none does (see :func:`find_overlay_router`).
    """
    router = find_overlay_router(model)
    if router is None:
        raise ImproperlyConfigured(
            f"{model._meta.label} uses the overlay's merged view, but no OverlayRouter in "
            "DATABASE_ROUTERS covers it: add its app or label to OverlayRouter(apps=[...])."
        )
    return router
