"""Which models a router serves, named by app labels and model labels.

Every router of the library answers "is this model mine?" through these two types,
so they all abstain alike for models outside their scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .exceptions import RouterOptionError

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.db.models import Model

__all__ = ["CoveredModels", "LabelMap", "Scope", "validate_labels"]

V = TypeVar("V")


def validate_labels(labels: object, *, option: str) -> tuple[str, ...]:
    """Return ``labels`` as a tuple of label strings, or raise ``TypeError`` naming ``option``.

    A label is an app label (``"reviews"``) or a model label (``"legacy.Customer"``).
    """
    if isinstance(labels, str):
        raise RouterOptionError(
            f"{option} must be a list of app or model labels, not the string {labels!r}: "
            f"write {option}=[{labels!r}]."
        )
    if not isinstance(labels, Iterable):
        raise RouterOptionError(f"{option} must be a list of app or model labels, not {labels!r}.")
    result = tuple(labels)
    for label in result:
        if not isinstance(label, str) or not label or label.count(".") > 1:
            raise RouterOptionError(
                f"{option} holds {label!r}, which is neither an app label ('reviews') "
                "nor a model label ('legacy.Customer')."
            )
    return result


class LabelMap(Generic[V]):
    """Values keyed by app label or model label; a model entry beats its app's entry.

    Labels are case-insensitive. A proxy model follows its concrete model (their rows
    share one table) and an auto-created many-to-many table follows the model that
    declares the field, unless either is named itself.
    """

    __slots__ = ("_apps", "_by_model", "_models", "labels")

    def __init__(self, entries: Mapping[str, V], *, option: str) -> None:
        self.labels = validate_labels(entries, option=option)
        self._apps: dict[str, V] = {}
        self._models: dict[str, V] = {}
        for label, value in entries.items():
            target = self._models if "." in label else self._apps
            target[label.lower()] = value
        # Routing runs on every query: remember each model's answer.
        self._by_model: dict[type[Model], V | None] = {}

    def get(self, app_label: str, model_name: str | None = None) -> V | None:
        """The value for a model (by label) or, with no ``model_name``, for a whole app."""
        if model_name is not None:
            value = self._models.get(f"{app_label}.{model_name}".lower())
            if value is not None:
                return value
        return self._apps.get(app_label.lower())

    def is_partial(self, app_label: str) -> bool:
        """True when some models of the app are named but the app itself is not.

        For such an app a question about the app as a whole (a migration's
        ``RunPython`` without a ``model_name`` hint) has no single answer.
        """
        if app_label.lower() in self._apps:
            return False
        prefix = f"{app_label.lower()}."
        return any(label.startswith(prefix) for label in self._models)

    def for_model(self, model: type[Model]) -> V | None:
        """The value for a model class, or ``None`` when neither it nor its app is named."""
        try:
            return self._by_model[model]
        except KeyError:
            value = self._by_model[model] = self._lookup(model)
            return value

    def for_migration(self, app_label: str, hints: Mapping[str, Any]) -> V | None:
        """The value for what ``allow_migrate`` was asked about (``model``, ``model_name``)."""
        model = hints.get("model")
        if model is not None:
            return self.for_model(model)
        return self.get(app_label, hints.get("model_name"))

    def _lookup(self, model: type[Model]) -> V | None:
        meta = model._meta
        value = self._models.get(meta.label_lower)
        if value is not None:
            return value
        if meta.proxy:
            return self.for_model(meta.concrete_model)  # type: ignore[arg-type]
        owner: Any = meta.auto_created  # the model declaring the field, for a through table
        if owner:
            value = self._models.get(owner._meta.label_lower)
            if value is not None:
                return value
        return self._apps.get(meta.app_label.lower())


class Scope:
    """The models a router serves: every model (``labels=None``) or those labels name.

    >>> Scope(["reviews", "legacy.Customer"])  # the reviews app and one legacy model
    """

    __slots__ = ("_map", "labels")

    def __init__(self, labels: Iterable[str] | None, *, option: str = "apps") -> None:
        if labels is None:
            self.labels: tuple[str, ...] | None = None
            self._map: LabelMap[bool] | None = None
        else:
            self.labels = validate_labels(labels, option=option)
            self._map = LabelMap(dict.fromkeys(self.labels, True), option=option)

    def __repr__(self) -> str:
        return "Scope(everything)" if self.labels is None else f"Scope({list(self.labels)!r})"

    @property
    def everything(self) -> bool:
        """True when the scope is every model."""
        return self._map is None

    def covers(self, model: type[Model]) -> bool:
        """True when the router serves this model."""
        return self._map is None or self._map.for_model(model) is not None

    def covers_label(self, app_label: str, model_name: str | None = None) -> bool:
        """True when the scope holds the app (or, given ``model_name``, that model)."""
        return self._map is None or self._map.get(app_label, model_name) is not None

    def covers_migration(self, app_label: str, hints: Mapping[str, Any]) -> bool | None:
        """Whether a migration operation is in scope; ``None`` when it cannot be told."""
        if self._map is None:
            return True
        if self._map.for_migration(app_label, hints):
            return True
        if "model" not in hints and "model_name" not in hints and self._map.is_partial(app_label):
            return None
        return False


class CoveredModels(dict["type[Model]", bool]):
    """Model -> whether ``covers`` accepts it: each model asked once, then remembered.

    For the routing hot path: ``covered[model]`` is one dictionary lookup once the model
    has been seen (a model's scope cannot change while its router lives).
    """

    __slots__ = ("covers",)

    def __init__(self, covers: Callable[[type[Model]], bool]) -> None:
        super().__init__()
        self.covers = covers

    def __missing__(self, model: type[Model]) -> bool:
        covered = self[model] = self.covers(model)
        return covered
