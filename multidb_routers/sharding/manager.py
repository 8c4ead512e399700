"""ShardedManager: querysets on one key's shard, and writes routed by each row's key.

Django passes the router no instance for ``Model.objects.create()``, ``get_or_create()``
or ``bulk_create()``, so a plain manager cannot know a sharded row's shard (and the
router then raises :class:`~multidb_routers.ShardKeyError`). This manager builds the
instance first, asks the router for the shard of its key, and writes there.

When no ``ShardRouter`` covers the model (the same model class under settings without
sharding), the manager and its querysets behave as Django's own: ``shard(key)`` is
``all()``, and only ``on_shard(alias)`` refuses, since there is no shard to name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db import models

from ..exceptions import ShardKeyError
from .router import ShardRouter, find_shard_router
from .selection import current_selection

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["ShardedManager", "ShardedQuerySet", "on_shard"]

M = TypeVar("M", bound=models.Model)
Q = TypeVar("Q", bound=models.QuerySet[Any])


def on_shard(queryset: Q, alias: str) -> Q:
    """``queryset`` on the shard named ``alias``: reads go to the shard (or its replicas,
    as the router decides), writes to the shard's primary."""
    clone: Q = queryset.using(None)
    clone._hints = {**clone._hints, "shard": alias}  # type: ignore[attr-defined]
    return clone


def _fill_selected_key(router: ShardRouter, objs: Iterable[models.Model]) -> None:
    """Inside ``use_shard(key)``, give new rows with no key (a non-pk key field) that key."""
    selection = current_selection()
    if selection is None or not selection.has_key:
        return
    for obj in objs:
        model = type(obj)
        field = router.key_field(model)
        if field is None or field.primary_key or getattr(obj, field.attname) is not None:
            continue
        setattr(obj, field.attname, router.canonical_key(model, selection.key))


class ShardedQuerySet(models.QuerySet[M]):
    """A queryset that can choose its shard, and routes unchosen writes by each row's key.

    A plain ``QuerySet`` when no ``ShardRouter`` covers the model, except ``on_shard()``.
    """

    def shard(self, key: object) -> ShardedQuerySet[M]:
        """The rows of ``key``, read from (and written to) the shard holding them.

        ``key`` is made canonical by the model's key field first (``" 42"`` is ``42`` for
        an integer field) and the queryset is filtered on it: the shard also holds other
        keys' rows, which ``shard(key)`` leaves out. With a callable ``shard_key`` there is
        no field to filter on: the queryset is that key's shard, every row of it. When no
        ``ShardRouter`` covers the model, ``all()``.
        """
        router = find_shard_router(self.model)
        if router is None:
            clone: ShardedQuerySet[M] = self.all()
            return clone
        model = self.model
        canonical = router.canonical_key(model, key)
        queryset = on_shard(self, router.shard_for(canonical))
        field = router.key_field(model)
        if field is not None:
            queryset = queryset.filter(**{field.attname: canonical})
        return queryset

    def on_shard(self, alias: str) -> ShardedQuerySet[M]:
        """The queryset on the shard named ``alias`` (one of ``router.shard_aliases``)."""
        router = find_shard_router(self.model)
        if router is None:
            meta = self.model._meta
            raise ImproperlyConfigured(
                f"{meta.label} is not sharded: no ShardRouter in DATABASE_ROUTERS covers it, "
                f"so it has no shard {alias!r}. Use {meta.object_name}.objects.using({alias!r}) "
                "for a database alias, or add the model to a ShardRouter's apps."
            )
        router.shard(alias)  # refuse an alias that is no shard
        return on_shard(self, alias)

    def none(self) -> ShardedQuerySet[M]:
        """An empty queryset that never asks for a shard (it runs no query)."""
        clone: ShardedQuerySet[M] = super().none()
        router = self._shard_router()
        if router is not None and router.shard_aliases:
            # Any shard will do: an empty queryset reads nothing, but Django still asks
            # the routers for its database, and a keyless query would raise ShardKeyError.
            clone._hints = {**clone._hints, "shard": router.shard_aliases[0]}  # type: ignore[attr-defined]
        return clone

    def _shard_router(self) -> ShardRouter | None:
        """The router to route this queryset's writes by key; ``None`` when already chosen."""
        if self._db is not None or "shard" in self._hints:  # type: ignore[attr-defined]
            return None
        return find_shard_router(self.model)

    def create(self, **kwargs: Any) -> M:
        """Create a row on the shard of its key.

        On a queryset of a shard (``shard(key)``, ``on_shard(alias)``) the row must belong
        to that shard: a row whose key maps to another shard raises :class:`ShardKeyError`
        instead of being stored where no read by its key would look.
        """
        router = self._shard_router()
        if router is None:
            router = self._chosen_shard_router()
            if router is None:
                return super().create(**kwargs)
            obj = self.model(**kwargs)
            self._check_placement(router, [obj])
            self._for_write = True
            obj.save(force_insert=True, using=self.db)
            return obj
        obj = self.model(**kwargs)
        _fill_selected_key(router, [obj])
        # The shard router's own db_for_write, as save() would reach it: it records the
        # write, which pins the shard's later reads to its primary (and sets the cookie).
        using = router.db_for_write(self.model, shard=router.shard_of(obj))
        self._for_write = True
        obj.save(force_insert=True, using=using)
        return obj

    def _chosen_shard_router(self) -> ShardRouter | None:
        """The router when this queryset is on a shard chosen by hint (``shard``/``on_shard``)."""
        if self._db is not None or "shard" not in self._hints:  # type: ignore[attr-defined]
            return None
        return find_shard_router(self.model)

    def _check_placement(self, router: ShardRouter, objs: Iterable[M]) -> None:
        alias = self._hints["shard"]  # type: ignore[attr-defined]
        for obj in objs:
            home = router.shard_of(obj)
            if home != alias:
                label = self.model._meta.label
                raise ShardKeyError(
                    f"This {label} (shard key {router.key_of(obj)!r}) belongs on {home}, not on "
                    f"the shard {alias} of this queryset; it would be stored where no read by "
                    f"its key looks. Create it with {self.model._meta.object_name}.objects"
                    ".create(...), which routes it by its key."
                )

    def _lookup_shard(self, method: str, kwargs: dict[str, Any]) -> ShardedQuerySet[M]:
        router = self._shard_router()
        if router is None:
            return self
        field = router.key_field(self.model)
        meta = self.model._meta
        if field is None:
            probe = self.model(**{k: v for k, v in kwargs.items() if "__" not in k})
            return on_shard(self, router.shard_of(probe))
        spec = router.key_spec(self.model)
        if field is meta.pk:
            names = ["pk", field.name, field.attname]
        else:
            names = [field.name, field.attname]
        for name in [*names, *(f"{name}__exact" for name in names)]:
            if name in kwargs:
                return on_shard(self, router.shard_for(kwargs[name], self.model))
        raise ShardKeyError(
            f"{meta.label}.objects.{method}() needs the shard key {spec!r} among its lookups "
            f"to know the shard; got {sorted(kwargs)}. Pass {names[0]}=..., or call "
            f"{meta.object_name}.objects.shard(key).{method}(...)."
        )

    def get_or_create(
        self, defaults: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> tuple[M, bool]:
        """``get_or_create()`` on the shard of the key in ``kwargs``."""
        target = self._lookup_shard("get_or_create", kwargs)
        if target is self:
            return super().get_or_create(defaults, **kwargs)
        return target.get_or_create(defaults, **kwargs)

    def update_or_create(
        self,
        defaults: Mapping[str, Any] | None = None,
        create_defaults: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> tuple[M, bool]:
        """``update_or_create()`` on the shard of the key in ``kwargs``."""
        target = self._lookup_shard("update_or_create", kwargs)
        if target is not self:
            return target.update_or_create(defaults, create_defaults, **kwargs)
        if create_defaults is not None:  # Django 5.0+; 4.2 has no such argument
            kwargs["create_defaults"] = create_defaults
        return super().update_or_create(defaults, **kwargs)

    def bulk_create(self, objs: Iterable[M], *args: Any, **kwargs: Any) -> list[M]:
        """Insert ``objs`` grouped by shard: one ``bulk_create`` per shard, in the given order.

        Each shard's insert is its own transaction: a failure on one shard leaves the rows
        already inserted on the others.
        """
        objs = list(objs)
        router = self._shard_router()
        if router is None:
            chosen = self._chosen_shard_router()
            if chosen is not None:
                self._check_placement(chosen, objs)
            return super().bulk_create(objs, *args, **kwargs)
        _fill_selected_key(router, objs)
        groups: dict[str, list[M]] = {}
        for obj in objs:
            groups.setdefault(router.shard_of(obj), []).append(obj)
        for alias, group in groups.items():
            on_shard(self, alias).bulk_create(group, *args, **kwargs)
        return objs


class ShardedManager(models.Manager[M]):
    """The manager of a sharded model: ``.shard(key)``, and writes routed by key.

    ``create``, ``get_or_create``, ``update_or_create`` and ``bulk_create`` route each
    row by its shard key; ``Model.save()`` is routed by the router itself. A plain
    manager when no ``ShardRouter`` covers the model. ``ShardedManager.from_queryset()``
    takes a subclass of :class:`ShardedQuerySet`.
    """

    routes_by_shard_key = True  # read by the router's check of the models

    _queryset_class: type[ShardedQuerySet[Any]] = ShardedQuerySet

    @classmethod
    def from_queryset(
        cls, queryset_class: type[models.QuerySet[Any]], class_name: str | None = None
    ) -> Any:
        """A manager class with the methods of ``queryset_class``, a ShardedQuerySet subclass."""
        if not (isinstance(queryset_class, type) and issubclass(queryset_class, ShardedQuerySet)):
            name = getattr(queryset_class, "__name__", repr(queryset_class))
            raise TypeError(
                f"ShardedManager.from_queryset() got {name}, which is no subclass of "
                "ShardedQuerySet: its querysets could not route "
                "writes by key nor choose a shard. Derive it from "
                "multidb_routers.sharding.ShardedQuerySet."
            )
        return super().from_queryset(queryset_class, class_name)

    def get_queryset(self) -> ShardedQuerySet[M]:
        """A :class:`ShardedQuerySet` (or the class given to ``from_queryset()``)."""
        return self._queryset_class(self.model, using=self._db, hints=self._hints)  # type: ignore[attr-defined]

    def shard(self, key: object) -> ShardedQuerySet[M]:
        """The queryset on the shard holding the rows of ``key``."""
        return self.get_queryset().shard(key)

    def on_shard(self, alias: str) -> ShardedQuerySet[M]:
        """The queryset on the shard named ``alias``."""
        return self.get_queryset().on_shard(alias)

    def create(self, **kwargs: Any) -> M:
        """Create a row on the shard of its key."""
        return self.get_queryset().create(**kwargs)

    def get_or_create(
        self, defaults: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> tuple[M, bool]:
        """``get_or_create()`` on the shard of the key in ``kwargs``."""
        return self.get_queryset().get_or_create(defaults, **kwargs)

    def update_or_create(
        self,
        defaults: Mapping[str, Any] | None = None,
        create_defaults: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> tuple[M, bool]:
        """``update_or_create()`` on the shard of the key in ``kwargs``."""
        return self.get_queryset().update_or_create(defaults, create_defaults, **kwargs)

    def bulk_create(self, objs: Iterable[M], *args: Any, **kwargs: Any) -> list[M]:
        """Insert ``objs`` grouped by shard."""
        return self.get_queryset().bulk_create(objs, *args, **kwargs)
