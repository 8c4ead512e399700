"""System checks that explain a bad routing configuration before it misplaces data.

Ids are stable and never renumbered; every id is listed in ``docs/checks.rst``.
Checks common to every router live here; each router adds its own through
:meth:`~multidb_routers.base.BaseRouter.check_config`. Ranges: ``E001``-``E009``
generic, ``E01x``/``W01x`` primary/replica, ``E02x``/``W02x`` sharding,
``E03x``/``W03x`` overlay, ``E04x``/``W04x`` several primaries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.db import router as connection_router

from .base import BaseRouter
from .inspection import alias_holdings, home_aliases

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from django.apps import AppConfig
    from django.db.models import Model

__all__ = [
    "check_aliases",
    "check_labels",
    "check_overlapping_scopes",
    "check_relations",
    "check_routers",
    "check_stray_tables",
    "library_routers",
    "router_name",
]


def library_routers() -> Iterator[tuple[int, BaseRouter]]:
    """The routers of this library in ``DATABASE_ROUTERS``, with their positions."""
    for index, router in enumerate(connection_router.routers):
        if isinstance(router, BaseRouter):
            yield index, router


def router_name(index: int, router: object) -> str:
    """How a message names a router: its place in the setting and its class."""
    return f"DATABASE_ROUTERS[{index}] ({type(router).__name__})"


def check_aliases(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """E001: a router names an alias missing from ``DATABASES``."""
    errors: list[CheckMessage] = []
    databases = set(settings.DATABASES)
    for index, router in library_routers():
        for alias in sorted(router.aliases() - databases):
            errors.append(
                Error(
                    f"{router_name(index, router)} names the database alias {alias!r}, "
                    "which is not in settings.DATABASES.",
                    hint=f"Add {alias!r} to DATABASES or fix the alias "
                    f"(DATABASES has: {', '.join(sorted(databases))}).",
                    obj=router,
                    id="multidb_routers.E001",
                )
            )
    return errors


def _label_hint(label: str, app_labels: set[str]) -> str:
    """What to write instead of an unknown label: what is installed, never the label again."""
    app_label, _, model_name = label.partition(".")
    if app_label.lower() in app_labels:
        config = next(c for c in apps.get_app_configs() if c.label.lower() == app_label.lower())
        names = sorted(model.__name__ for model in config.get_models())
        return (
            f"{config.label} has no model {model_name!r}; its models are: "
            f"{', '.join(names) or 'none'}."
        )
    installed = ", ".join(sorted(app_labels))
    return (
        f"No installed app has the label {app_label!r}: add the app to INSTALLED_APPS, or "
        "use the label of an installed one (AppConfig.label, such as 'auth' for "
        f"django.contrib.auth; installed: {installed})."
    )


def check_labels(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """E002: a router's configuration names a label that is no installed app or model."""
    app_labels = {config.label.lower() for config in apps.get_app_configs()}
    model_labels = {model._meta.label_lower for model in apps.get_models(include_auto_created=True)}
    errors: list[CheckMessage] = []
    for index, router in library_routers():
        for option, label in router.labels():
            known = model_labels if "." in label else app_labels
            if label.lower() in known:
                continue
            kind = "model" if "." in label else "app"
            errors.append(
                Error(
                    f"{router_name(index, router)} {option} names {label!r}, "
                    f"which is no installed {kind}.",
                    hint=_label_hint(label, app_labels),
                    obj=router,
                    id="multidb_routers.E002",
                )
            )
    return errors


def _describe(aliases: frozenset[str]) -> str:
    return ", ".join(sorted(aliases))


def check_overlapping_scopes(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """W001: two routers claim the same model for different aliases."""
    warnings: list[CheckMessage] = []
    routers = list(library_routers())
    for model in apps.get_models():
        claims = [
            (index, router, aliases)
            for index, router in routers
            if (aliases := router.claimed_aliases(model)) is not None
        ]
        first_index, first, first_aliases = claims[0] if claims else (0, None, frozenset())
        for index, router, aliases in claims[1:]:
            if aliases != first_aliases:
                warnings.append(
                    Warning(
                        f"{model._meta.label} is claimed by {router_name(first_index, first)} "
                        f"for {_describe(first_aliases)} and by {router_name(index, router)} "
                        f"for {_describe(aliases)}; the first one wins.",
                        hint=f"Remove {model._meta.label} (or its app) from the scope of one of "
                        "the two routers.",
                        obj=model,
                        id="multidb_routers.W001",
                    )
                )
    return warnings


def _claimed(model: type[Model], routers: list[tuple[int, BaseRouter]]) -> bool:
    return any(router.claimed_aliases(model) is not None for _, router in routers)


def check_relations(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """E003: a foreign key with a database constraint joins models on different aliases."""
    errors: list[CheckMessage] = []
    routers = list(library_routers())
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.concrete_fields:
            target = field.related_model
            if not field.is_relation or not isinstance(target, type):
                continue
            if not getattr(field, "db_constraint", True):
                continue
            if not (_claimed(model, routers) or _claimed(target, routers)):
                continue
            home, target_home = home_aliases(model), home_aliases(target)
            if home is None or target_home is None or home & target_home:
                continue
            errors.append(
                Error(
                    f"{model._meta.label}.{field.name} (on {_describe(home)}) refers to "
                    f"{target._meta.label} (on {_describe(target_home)}): a foreign key "
                    "cannot cross databases.",
                    hint=f"Route {model._meta.app_label} and {target._meta.app_label} to the "
                    "same alias (for example in FunctionalRouter routes), or declare the field "
                    "with db_constraint=False and never assign objects across databases.",
                    obj=field,
                    id="multidb_routers.E003",
                )
            )
    return errors


def check_routers(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Each router's own checks (see ``check_config`` on each router class)."""
    databases = list(settings.DATABASES)
    messages: list[CheckMessage] = []
    for index, router in library_routers():
        messages.extend(router.check_config(name=router_name(index, router), databases=databases))
    return messages


def _listing(labels: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


def check_stray_tables(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """W002: an alias a router writes to also receives tables of models nobody routes there."""
    dedicated: dict[str, tuple[int, BaseRouter]] = {}
    for index, router in library_routers():
        for alias in sorted(router.aliases() - router.read_only_aliases()):
            dedicated.setdefault(alias, (index, router))
    warnings: list[CheckMessage] = []
    for holding in alias_holdings():
        if not holding.stray or holding.alias not in dedicated:
            continue
        index, router = dedicated[holding.alias]
        role = "the primary" if hasattr(router, "replica_set") else "an alias"
        fix = (
            f"Pass exclusive=True to {type(router).__name__} to keep {holding.alias} to its "
            "own models"
            if "exclusive" in router.options
            else "Find the router in DATABASE_ROUTERS that lets them migrate there (routing "
            "--by-alias shows them)"
        )
        warnings.append(
            Warning(
                f"{holding.alias}, {role} of {router_name(index, router)}, will also receive "
                f"the tables of {len(holding.stray)} models that no router sends there "
                f"({_listing(holding.stray)}): migrate creates them, nothing reads them.",
                hint=f"{fix}, or route those models to {holding.alias} explicitly.",
                obj=router,
                id="multidb_routers.W002",
            )
        )
    return warnings
