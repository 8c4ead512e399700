"""Tables the routers send to an alias but that are not there, and the commands that fix it.

The trap this finds: ``migrate --database X`` run while the routers did not yet send a
model to ``X`` (a shard not yet listed in ``ShardRouter.shards``, an app routed
elsewhere) records the model's migrations on ``X`` but creates no table. Once the
routers send the model there, ``migrate`` answers "No migrations to apply" and the table
never appears.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.apps import apps
from django.db import connections
from django.db import router as connection_router
from django.db.migrations.executor import MigrationExecutor

if TYPE_CHECKING:
    from collections.abc import Iterable

    from django.db.models import Model

__all__ = ["MissingTables", "find_missing_tables"]


@dataclass(frozen=True)
class MissingTables:
    """The tables of one app missing on one alias, and how to create them."""

    alias: str
    app_label: str
    models: tuple[str, ...]
    recorded: bool  # the app's migrations are all recorded as applied on the alias
    fix: tuple[str, ...]  # shell commands, in order; or one sentence when no command fits

    def describe(self) -> str:
        """One paragraph naming the models, the cause and the fix."""
        models = ", ".join(self.models)
        if not self.recorded:
            return (
                f"{self.alias} has no table for {models}: the migrations of "
                f"{self.app_label} have not run there. Run: {self.fix[0]}"
            )
        return (
            f"{self.alias} has no table for {models}, although the migrations of "
            f"{self.app_label} are recorded as applied there (they ran while the routers "
            f"did not send these models to {self.alias}, so they created nothing). "
            "Fix: " + " then ".join(self.fix)
        )


def _app_models_allowed(alias: str, app_label: str) -> list[type[Model]]:
    return [
        model
        for model in apps.get_app_config(app_label).get_models(include_auto_created=True)
        if connection_router.allow_migrate_model(alias, model)
    ]


def find_missing_tables(
    alias: str, models: Iterable[type[Model]] | None = None
) -> list[MissingTables]:
    """Models (default: every installed one) the routers migrate on ``alias`` without a table.

    Only apps with migrations are considered (``migrate`` creates the tables of the
    others each time it runs). Reads the alias's table names and migration records.
    """
    connection = connections[alias]
    candidates = apps.get_models(include_auto_created=True) if models is None else models
    wanted = [model for model in candidates if connection_router.allow_migrate_model(alias, model)]
    if not wanted:
        return []
    with connection.cursor() as cursor:
        existing = set(connection.introspection.table_names(cursor))
    missing: dict[str, list[type[Model]]] = {}
    for model in wanted:
        if model._meta.db_table not in existing:
            missing.setdefault(model._meta.app_label, []).append(model)
    if not missing:
        return []
    executor = MigrationExecutor(connection)
    loader = executor.loader
    applied = set(loader.applied_migrations)
    found = []
    for app_label, app_models in missing.items():
        if app_label not in loader.migrated_apps:
            continue
        labels = tuple(sorted(model._meta.label for model in app_models))
        leaves = loader.graph.leaf_nodes(app_label)
        if not all(leaf in applied for leaf in leaves):
            found.append(
                MissingTables(
                    alias,
                    app_label,
                    labels,
                    False,
                    (f"python manage.py migrate --database {alias}",),
                )
            )
            continue
        # "migrate APP zero --fake" forgets APP's migrations and those depending on them;
        # replaying them fails if one of them creates a table that is there.
        plan = executor.migration_plan([(app_label, None)])
        blocking = sorted(
            model._meta.label
            for replayed in sorted({migration.app_label for migration, _ in plan})
            for model in _app_models_allowed(alias, replayed)
            if model._meta.db_table in existing
        )
        if blocking:
            fix: tuple[str, ...] = (
                f"create the missing tables by hand on {alias} (python manage.py sqlmigrate "
                f"{app_label} MIGRATION --database {alias} prints their SQL); replaying the "
                f"migrations of {app_label} there would fail on the existing tables of "
                f"{', '.join(blocking)}.",
            )
        else:
            fix = (
                f"python manage.py migrate {app_label} zero --fake --database {alias}",
                f"python manage.py migrate --database {alias}",
            )
        found.append(MissingTables(alias, app_label, labels, True, fix))
    return found
