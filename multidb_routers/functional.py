"""Functional separation: apps or single models live on their own alias."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .base import BaseRouter, RouteDescription
from .exceptions import RouterOptionError
from .scope import LabelMap

if TYPE_CHECKING:
    from django.db.models import Model

__all__ = ["FunctionalRouter"]


class FunctionalRouter(BaseRouter):
    """Route apps and models to the alias ``routes`` names for them.

    ``routes`` maps an app label (``"reviews"``) or a model label
    (``"legacy.Customer"``, case-insensitive) to an alias; a model entry beats its
    app's entry. Reads, writes and migrations of a routed model go to its alias; an
    alias named in ``routes`` holds only the models routed to it; relations are
    allowed within one alias and refused across aliases. Other models are not this
    router's concern (every method returns ``None``).
    """

    options = ("routes",)
    required_options = ("routes",)

    routes: Mapping[str, str] | None = None

    def configure(self) -> None:
        """Validate ``routes`` and index it by label."""
        routes = self.routes
        if not isinstance(routes, Mapping):
            raise RouterOptionError(
                f"{type(self).__name__} routes must be a dict of label -> alias, "
                f"such as {{'reviews': 'reviews'}}, not {routes!r}."
            )
        for label, alias in routes.items():
            if not isinstance(alias, str) or not alias:
                raise RouterOptionError(
                    f"{type(self).__name__} routes[{label!r}] must be a database alias "
                    f"(a non-empty string), not {alias!r}."
                )
        self._routes: LabelMap[str] = LabelMap(routes, option="routes")
        self._routed_aliases = frozenset(routes.values())

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        """The routed alias of the model, or ``None`` when it is not routed here."""
        return self._routes.for_model(model)

    db_for_write = db_for_read

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        """Allow relations within one alias, refuse them across aliases."""
        alias1 = self._routes.for_model(type(obj1))
        alias2 = self._routes.for_model(type(obj2))
        if alias1 is None and alias2 is None:
            return None
        # Where an object was loaded from is the truth; its route only stands in until then.
        return (obj1._state.db or alias1) == (obj2._state.db or alias2)

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool | None:
        """Migrate routed models on their alias only; routed aliases hold nothing else."""
        hints["model_name"] = model_name
        alias = self._routes.for_migration(app_label, hints)
        if alias is not None:
            return db == alias
        if model_name is None and "model" not in hints and self._routes.is_partial(app_label):
            return None  # an app-wide operation of a partly routed app: cannot tell
        if db in self._routed_aliases:
            return False
        return None

    # Introspection.

    def aliases(self) -> frozenset[str]:
        """The aliases ``routes`` names."""
        return self._routed_aliases

    def labels(self) -> Iterable[tuple[str, str]]:
        """The labels ``routes`` names."""
        return (("routes", label) for label in self._routes.labels)

    def claimed_aliases(self, model: type[Model]) -> frozenset[str] | None:
        """The model's routed alias."""
        alias = self._routes.for_model(model)
        return None if alias is None else frozenset((alias,))

    def describe_route(self, model: type[Model]) -> RouteDescription | None:
        """Reads and writes both on the routed alias."""
        alias = self._routes.for_model(model)
        return None if alias is None else RouteDescription(read=alias, write=alias)
