"""What the configured routers decide, in a form commands and checks can show."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.apps import apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.db import router as connection_router

from .base import BaseRouter, RouteDescription

if TYPE_CHECKING:
    from collections.abc import Iterable

    from django.db.models import Model

__all__ = [
    "AliasHolding",
    "ModelRoute",
    "alias_holdings",
    "holding_aliases",
    "home_aliases",
    "model_route",
    "read_only_aliases",
    "skipped_aliases",
]

#: What ``ENGINE`` is for a placeholder entry such as ``"default": {}``.
NO_ENGINE = frozenset(("", "django.db.backends.dummy"))


@dataclass(frozen=True)
class ModelRoute:
    """Where one model's reads, writes and migrations go, and which router decided."""

    label: str
    router: str
    read: str
    write: str
    migrates_on: tuple[str, ...]


def read_only_aliases() -> dict[str, str]:
    """Aliases that never hold tables of their own, each with the reason why.

    Replicas and read-only bases named by the routers, and aliases marked as test
    mirrors (``TEST: {"MIRROR": ...}``), which are replicas by declaration.
    """
    reasons: dict[str, str] = {}
    for router in connection_router.routers:
        if isinstance(router, BaseRouter):
            for alias in router.read_only_aliases():
                reasons.setdefault(alias, f"read-only for {type(router).__name__}")
    for alias, config in settings.DATABASES.items():
        mirror = (config.get("TEST") or {}).get("MIRROR")
        if mirror:
            reasons.setdefault(alias, f"replica of {mirror}")
    return reasons


def skipped_aliases() -> dict[str, str]:
    """Aliases that cannot hold tables, each with the reason: read-only ones and placeholders.

    A placeholder is an entry without an ``ENGINE`` (``"default": {}``, Django's dummy
    backend), as in configurations whose routers never use ``default``.
    """
    reasons = {
        alias: "no ENGINE (a placeholder entry)"
        for alias, config in settings.DATABASES.items()
        if (config.get("ENGINE") or "") in NO_ENGINE
    }
    for alias, reason in read_only_aliases().items():
        reasons.setdefault(alias, reason)
    return reasons


def holding_aliases() -> list[str]:
    """The aliases of ``DATABASES`` that can hold tables, in settings order."""
    skipped = skipped_aliases()
    return [alias for alias in settings.DATABASES if alias not in skipped]


def _decision(model: type[Model], method: str) -> tuple[str, str] | None:
    """The first router's answer for ``db_for_read``/``db_for_write``, with its name."""
    for router in connection_router.routers:
        if isinstance(router, BaseRouter):
            description: RouteDescription | None = router.describe_route(model)
            if description is not None:
                text = description.read if method == "db_for_read" else description.write
                return type(router).__name__, text
            continue
        func = getattr(router, method, None)
        if func is None:
            continue
        try:
            alias = func(model)
        except Exception as exc:  # a custom router that needs an instance hint
            return type(router).__name__, f"? ({type(exc).__name__})"
        if alias is not None:
            return type(router).__name__, str(alias)
    return None


def model_route(model: type[Model]) -> ModelRoute:
    """Describe how the router chain routes ``model``."""
    read = _decision(model, "db_for_read")
    write = _decision(model, "db_for_write")
    routers = {decision[0] for decision in (read, write) if decision}
    return ModelRoute(
        label=model._meta.label,
        router=", ".join(sorted(routers)) or "(default)",
        read=read[1] if read else DEFAULT_DB_ALIAS,
        write=write[1] if write else DEFAULT_DB_ALIAS,
        migrates_on=tuple(
            alias
            for alias in settings.DATABASES
            if connection_router.allow_migrate_model(alias, model)
        ),
    )


def home_aliases(model: type[Model]) -> frozenset[str] | None:
    """The aliases holding the model's rows, as the router chain decides; ``None`` if unknown."""
    for router in connection_router.routers:
        if isinstance(router, BaseRouter):
            aliases = router.claimed_aliases(model)
            if aliases is not None:
                return aliases
            continue
        method = getattr(router, "db_for_write", None)
        if method is None:
            continue
        try:
            alias = method(model)
        except Exception:  # a custom router that needs an instance: its home is unknown
            return None
        if alias is not None:
            return frozenset((alias,))
    return frozenset((DEFAULT_DB_ALIAS,))


@dataclass(frozen=True)
class AliasHolding:
    """The models whose tables ``migrate`` creates on one alias.

    ``stray`` are those of them no router sends there: their reads and writes go to
    another alias, so their tables on this one stay empty.
    """

    alias: str
    models: tuple[str, ...]
    stray: tuple[str, ...]


def alias_holdings(models: Iterable[type[Model]] | None = None) -> list[AliasHolding]:
    """For each alias that can hold tables, in settings order, the models migrating there."""
    if models is None:
        models = apps.get_models(include_auto_created=True)
    models = sorted(models, key=lambda model: model._meta.label)
    homes = {model: home_aliases(model) for model in models}
    holdings = []
    for alias in holding_aliases():
        held = [model for model in models if connection_router.allow_migrate_model(alias, model)]
        holdings.append(
            AliasHolding(
                alias=alias,
                models=tuple(model._meta.label for model in held),
                stray=tuple(
                    model._meta.label
                    for model in held
                    if (home := homes[model]) is not None and alias not in home
                ),
            )
        )
    return holdings
