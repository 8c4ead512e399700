"""ShardRouter: rows of the scoped models spread over shards by a stable hash of a key."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Union

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured, ValidationError
from django.db import router as connection_router
from django.db import transaction

from ..base import BaseRouter, RouteDescription
from ..conf import conf
from ..exceptions import RouterOptionError, ShardKeyError
from ..scope import LabelMap, Scope
from . import placement
from .hashing import STRATEGIES, StrategyFunc, key_bytes
from .selection import _selection, current_selection, select_alias
from .selection import reset as reset_selection
from .shards import Shard, parse_shards

if TYPE_CHECKING:
    from django.core.checks import CheckMessage
    from django.db.models import Field, Model

__all__ = ["ShardKey", "ShardRouter", "chosen_shard", "find_shard_router", "require_shard_router"]

ShardKey = Union[str, Callable[[Any], Any]]  # noqa: UP007 (a runtime alias on Python 3.10)
"""A field name (``"product_id"``, ``"pk"``) or a callable taking the instance."""


_DIRECTORY_MODELS = ("placement", "shardmove")  # kept on MULTIDB_ROUTERS_PLACEMENT_DATABASE


def chosen_shard() -> str | None:
    """The alias chosen by the innermost :meth:`ShardRouter.use_shard` block, if any."""
    selection = current_selection()
    return selection.alias if selection is not None else None


def _fixes(model: type[Model]) -> str:
    name = model._meta.object_name
    return (
        f"Choose the shard: {name}.objects.shard(key) for the rows of one key, "
        f"across_shards({name}.objects.all()) to query every shard, or "
        f"{name}.objects.using(router.shard_for(key, {name})) with the ShardRouter of "
        "DATABASE_ROUTERS."
    )


def _shard_key_error(model: type[Model], what: str) -> ShardKeyError:
    return ShardKeyError(
        f"Cannot tell which shard holds {what} of the sharded model {model._meta.label}: "
        "the router got no instance and no shard was chosen; it never guesses a shard. "
        f"{_fixes(model)}"
    )


class ShardRouter(BaseRouter):
    """Spread the rows of the models in ``apps`` over ``shards`` by a stable hash of a key.

    ``shards`` is an ordered list of aliases; an entry may also be a primary with its
    replicas, ``{"primary": "s1", "replicas": ["s1_replica"]}`` (``replicas`` a list or a
    dict alias -> weight), whose reads then follow the primary/replica rules. ``shard_key``
    is a field name or a callable taking the instance, or a dict of model label -> either.
    ``strategy`` is ``"jump"``, ``"modulo"``, ``"rendezvous"`` or a callable
    ``(key_bytes, shards) -> alias``. ``directory``, a name, turns on the placement
    directory: the entries of that name (key -> alias, :meth:`place`) override the hash.

    A read or write whose shard cannot be known raises :class:`ShardKeyError`; the router
    never falls back to some shard.
    """

    options = ("shards", "apps", "shard_key", "strategy", "directory")
    shards_rows = True  # read by use_shard() to find the ShardRouters of DATABASE_ROUTERS
    required_options = ("shards", "apps")

    shards: Any = None
    apps: Iterable[str] | None = None
    shard_key: ShardKey | Mapping[str, ShardKey] = "pk"
    strategy: str | StrategyFunc = "jump"
    directory: str | None = None

    def configure(self) -> None:
        """Validate the options; the parsed shards go to ``shard_config`` and ``shard_aliases``.

        ``shards`` stays the option as given.
        """
        self.shard_config: tuple[Shard, ...] = parse_shards(self.shards, owner=type(self).__name__)
        #: The shards' names (their primaries' aliases), in the order given.
        self.shard_aliases: tuple[str, ...] = tuple(shard.alias for shard in self.shard_config)
        #: The shards hashing chooses from (``placed_only`` shards left out).
        self.hashed_aliases: tuple[str, ...] = tuple(
            shard.alias for shard in self.shard_config if not shard.placed_only
        )
        self._by_alias: dict[str, Shard] = {}
        for shard in self.shard_config:
            for alias in shard.aliases:
                self._by_alias.setdefault(alias, shard)
        self._scope = Scope(self.apps, option="apps")
        # The key field of each model, found on first use (models are not loaded yet when
        # the settings build the router); None for a callable key.
        self._key_fields: dict[type[Model], Field[Any, Any] | None] = {}
        key = self.shard_key
        if isinstance(key, Mapping):
            for label, value in key.items():
                self._validate_key(value, option=f"shard_key[{label!r}]")
            self._keys: LabelMap[ShardKey] | None = LabelMap(key, option="shard_key")
            self._default_key: ShardKey = "pk"
        else:
            self._validate_key(key, option="shard_key")
            self._keys = None
            self._default_key = key
        directory = self.directory
        if directory is not None and not (isinstance(directory, str) and 0 < len(directory) <= 100):
            raise RouterOptionError(
                f"{type(self).__name__} directory must be a name (1 to 100 characters) under "
                f"which its placements are stored, or None, not {directory!r}."
            )
        strategy = self.strategy
        if isinstance(strategy, str):
            if strategy not in STRATEGIES:
                raise RouterOptionError(
                    f"{type(self).__name__} strategy={strategy!r} is unknown; use one of "
                    f"{', '.join(map(repr, STRATEGIES))} or a callable "
                    "(key_bytes, shards) -> alias."
                )
            self._strategy: StrategyFunc = STRATEGIES[strategy]
        elif callable(strategy):
            self._strategy = strategy
        else:
            raise RouterOptionError(
                f"{type(self).__name__} strategy must be a strategy name or a callable, "
                f"not {strategy!r}."
            )

    def _validate_key(self, key: object, *, option: str) -> None:
        if not (callable(key) or (isinstance(key, str) and key)):
            raise RouterOptionError(
                f"{type(self).__name__} {option} must be a field name or a callable taking "
                f"the instance, not {key!r}."
            )

    # Keys and shards.

    def shard_for(self, key: object, model: type[Model] | None = None) -> str:
        """The alias of the shard holding the rows of ``key`` (the same in every process).

        With ``model``, the key is first made canonical by the model's key field
        (:meth:`canonical_key`): ``" 42"``, ``"42"`` and ``42`` for an integer field are
        one key. Without it, or with a callable ``shard_key``, the key is hashed by the
        canonical text of its Python value (:func:`~multidb_routers.sharding.hashing.key_bytes`).
        """
        if model is not None:
            key = self.canonical_key(model, key)
        if key is None:
            raise ShardKeyError("None is no shard key: a row needs its key before it is routed.")
        if not self.hashed_aliases:
            raise RouterOptionError(f"{type(self).__name__} has no shards to hash keys over.")
        raw = key_bytes(key)
        if self.directory is not None:
            placed = placement.lookup(self.directory, raw)
            if placed is not None:
                if placed not in self._by_alias or self._by_alias[placed].alias != placed:
                    raise ShardKeyError(
                        f"The placement directory {self.directory!r} puts the key {key!r} on "
                        f"{placed!r}, which is none of the shards {list(self.shard_aliases)}; "
                        "its rows cannot be found. Fix the entry (router.place(key, alias) "
                        "or unplace(key)), or add that shard (check multidb_routers.E026)."
                    )
                return placed
        alias = self._strategy(raw, self.hashed_aliases)
        if alias not in self._by_alias:
            raise RouterOptionError(
                f"{type(self).__name__} strategy {self.strategy!r} returned {alias!r}, "
                f"which is none of the shards {list(self.shard_aliases)}."
            )
        return alias

    def key_spec(self, model: type[Model]) -> ShardKey:
        """The model's shard key: a field name or a callable."""
        if self._keys is not None:
            spec = self._keys.for_model(model)
            if spec is not None:
                return spec
        return self._default_key

    def key_field(self, model: type[Model]) -> Field[Any, Any] | None:
        """The field holding the model's shard key; ``None`` for a callable ``shard_key``."""
        try:
            return self._key_fields[model]
        except KeyError:
            pass
        spec = self.key_spec(model)
        field: Field[Any, Any] | None
        if callable(spec):
            field = None
        elif spec == "pk":
            field = model._meta.pk
        else:
            try:
                found = model._meta.get_field(spec)
            except FieldDoesNotExist:
                raise RouterOptionError(
                    f"{type(self).__name__} shards {model._meta.label} by {spec!r}, which is no "
                    "field of the model (check multidb_routers.E020)."
                ) from None
            from django.db.models import Field  # not at import: settings import the router

            if not isinstance(found, Field) or not found.concrete:
                raise RouterOptionError(
                    f"{type(self).__name__} shards {model._meta.label} by {spec!r}, which is "
                    "no column of the model: name a concrete field or a foreign key."
                )
            field = found
        self._key_fields[model] = field
        return field

    def canonical_key(self, model: type[Model], key: object) -> object:
        """``key`` as the model's key field stores it: ``to_python()``, then ``get_prep_value()``.

        Every spelling Django stores as the same value becomes the same key (``" 42"`` and
        ``42`` for an integer field; an upper-case, brace or hex UUID; a date as text); a
        related instance gives the value of the column pointing to it. A value the field
        rejects raises :class:`ShardKeyError` naming the model, field and value. A callable
        ``shard_key`` has no field: its keys are returned unchanged.
        """
        field = self.key_field(model)
        if field is None or key is None:
            return key
        given = key
        from django.db.models import Model  # not at import: settings import the router

        if isinstance(key, Model):
            if field.is_relation and isinstance(key, field.related_model):  # type: ignore[arg-type]
                key = getattr(key, field.target_field.attname)  # type: ignore[attr-defined]
            elif isinstance(key, model):
                key = getattr(key, field.attname)
        try:
            value = field.get_prep_value(field.to_python(key))
        except (ValidationError, TypeError, ValueError, ArithmeticError) as exc:
            reason = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            raise ShardKeyError(
                f"{given!r} is no valid shard key of {model._meta.label}: its key field "
                f"{field.name!r} ({type(field).__name__}) rejects it ({reason}). Pass a value "
                "that field stores."
            ) from exc
        return value

    def key_of(self, instance: Model) -> object:
        """The canonical shard key of an instance; :class:`ShardKeyError` when it has none yet."""
        model = type(instance)
        field = self.key_field(model)
        if field is None:
            spec = self.key_spec(model)
            key = spec(instance)  # type: ignore[operator]
        else:
            key = self.canonical_key(model, getattr(instance, field.attname))
        if key is None:
            raise ShardKeyError(
                f"This {model._meta.label} has no shard key yet ({self.key_spec(model)!r} is "
                "None), so its shard cannot be known. Set the key before saving (for a primary "
                f"key, use a default such as multidb_routers.sharding.new_id). {_fixes(model)}"
            )
        return key

    def shard_of(self, instance: Model) -> str:
        """The alias of the shard an instance's key maps to."""
        return self.shard_for(self.key_of(instance))

    def shard(self, alias: str) -> Shard:
        """The shard an alias (a shard's primary or one of its replicas) belongs to."""
        try:
            return self._by_alias[alias]
        except KeyError:
            raise ValueError(
                f"{alias!r} is no shard of this router; its shards are {list(self.shard_aliases)}."
            ) from None

    def covers(self, model: type[Model]) -> bool:
        """True when the model is sharded by this router."""
        return self._scope.covers(model)

    def sharded_models(self) -> list[type[Model]]:
        """The installed concrete models this router shards (computed once per app registry)."""
        from django.apps import apps

        installed = apps.get_models()  # the same list until the registry's cache is cleared
        cached = getattr(self, "_sharded_models", None)
        if cached is None or cached[0] is not installed:
            models_ = [m for m in installed if self._scope.covers(m) and not m._meta.proxy]
            cached = self._sharded_models = (installed, models_)
        return cached[1]

    def _route(self, model: type[Model], hints: Mapping[str, Any], what: str) -> Shard:
        selection = _selection.get()
        shard: Shard | None = None
        chosen = hints.get("shard")
        if chosen is not None:
            shard = self.shard(chosen)
        else:
            instance = hints.get("instance")
            if instance is not None:
                db = instance._state.db
                if db in self._by_alias:
                    # Loaded from a shard: it stays there (as Django's own default routing does).
                    shard = self._by_alias[db]
                elif instance._meta.concrete_model is model._meta.concrete_model:
                    shard = self._by_alias[self.shard_of(instance)]
            if shard is None:
                if selection is not None:
                    shard = selection.route(self, model)
                if shard is None:
                    raise _shard_key_error(model, what)
        if selection is not None and selection.locked:
            selection.check(self, model, shard)
        return shard

    @contextmanager
    def use_shard(self, alias: str) -> Iterator[str]:
        """Within the block, queries of sharded models with no instance or shard go to ``alias``.

        For code that cannot pass a hint, such as Django's own
        ``transaction.atomic(using=router.db_for_write(Model))`` in the admin. An instance
        hint still wins. The choice lives in a context variable (per thread and task).
        Inside a locked :func:`~multidb_routers.sharding.use_shard` block, ``alias`` must be
        one of the locked key's shards (else :class:`~multidb_routers.ShardLockError`).
        To choose a shard by key, use :func:`multidb_routers.sharding.use_shard`.
        """
        token = select_alias(self, alias)
        try:
            yield alias
        finally:
            reset_selection(token)

    # The placement directory.

    def _require_directory(self) -> str:
        if self.directory is None:
            raise RouterOptionError(
                f"This {type(self).__name__} has no placement directory: give it a name, "
                "ShardRouter(..., directory='tenants'), to place keys on chosen shards."
            )
        return self.directory

    def _directory_key(self, key: object, model: type[Model] | None) -> tuple[object, str]:
        if model is not None:
            key = self.canonical_key(model, key)
        if key is None:
            raise ShardKeyError("None is no shard key: there is nothing to place.")
        try:
            text = placement.key_text(key_bytes(key))
        except UnicodeDecodeError:
            raise ShardKeyError(
                f"{key!r} cannot be placed: the directory stores keys as text, and these "
                "bytes are no UTF-8."
            ) from None
        if len(text) > 255:
            raise ShardKeyError(f"{key!r} cannot be placed: its text exceeds 255 characters.")
        return key, text

    def place(
        self, key: object, alias: str, model: type[Model] | None = None, *, force: bool = False
    ) -> None:
        """Put the rows of ``key`` on the shard ``alias`` from now on (an entry of the directory).

        ``model`` canonicalises the key by its key field (as :meth:`shard_for` does).
        Every process follows within ``MULTIDB_ROUTERS_PLACEMENT_TTL`` seconds; this one at
        once. Placing a key whose rows already live elsewhere would hide them, so it is
        refused (:class:`~multidb_routers.exceptions.MoveError`) while any model of this
        router with a key field has rows of the key on another shard, unless ``force``.
        To move the rows and place the key, use :func:`~multidb_routers.sharding.move_shard_key`.
        """
        directory = self._require_directory()
        shard = self.shard(alias)
        if shard.alias != alias:
            raise ValueError(f"{alias!r} is a replica: place keys on a shard's primary.")
        key, text = self._directory_key(key, model)
        if not force:
            self._refuse_stranded_rows(key, alias)
        from ..models import Placement

        db = conf.PLACEMENT_DATABASE
        with transaction.atomic(using=db):
            entry = (
                Placement.objects.using(db)
                .select_for_update()
                .filter(directory=directory, key=text)
                .first()
            )
            if entry is None:
                Placement.objects.using(db).create(directory=directory, key=text, alias=alias)
            elif entry.alias != alias:
                entry.alias = alias
                entry.version += 1
                entry.save(using=db, update_fields=["alias", "version", "updated_at"])
        placement.clear_cache()

    def unplace(
        self, key: object, model: type[Model] | None = None, *, force: bool = False
    ) -> bool:
        """Remove the entry of ``key``: hashing decides its shard again. True if there was one.

        Refused like :meth:`place` while rows of the key would be left on the placed shard.
        """
        from ..models import Placement

        directory = self._require_directory()
        key, text = self._directory_key(key, model)
        if not force:
            hashed = self._strategy(key_bytes(key), self.hashed_aliases)
            self._refuse_stranded_rows(key, hashed)
        deleted: int = (
            Placement.objects.using(conf.PLACEMENT_DATABASE)
            .filter(directory=directory, key=text)
            .delete()[0]
        )
        placement.clear_cache()
        return deleted > 0

    def placements(self) -> dict[str, str]:
        """This router's directory entries, key text -> alias, read from the table now."""
        return placement.entries(self._require_directory())

    def _refuse_stranded_rows(self, key: object, alias: str) -> None:
        from django.apps import apps

        from ..exceptions import MoveError

        current = self.shard_for(key)
        if current == alias:
            return
        for model in apps.get_models():
            if not self.covers(model) or model._meta.proxy:
                continue
            field = self.key_field(model)
            if field is None:
                continue
            try:
                value = self.canonical_key(model, key)
            except ShardKeyError:
                continue
            manager = model._base_manager.db_manager(current)
            if manager.filter(**{field.attname: value}).exists():
                raise MoveError(
                    f"{model._meta.label} has rows of the key {key!r} on {current!r}: placing "
                    f"the key on {alias!r} would hide them from every query. Move the rows "
                    "first with manage.py move_shard_key (which also places the key), or "
                    "pass force=True if you moved them yourself."
                )

    # Django's router methods.

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        """The shard of the instance hint or of the chosen shard, read as its replicas allow."""
        if not self._scope.covers(model):
            return None
        return self._route(model, hints, "the rows read").read_alias()

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        """The primary of the shard of the instance's key (or of the chosen shard)."""
        if not self._scope.covers(model):
            return None
        shard = self._route(model, hints, "the rows written")
        shard.note_write()
        return shard.alias

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        """Allow relations between objects on the same shard only."""
        if not (self._scope.covers(type(obj1)) or self._scope.covers(type(obj2))):
            return None
        return self._shard_primary(obj1._state.db) == self._shard_primary(obj2._state.db)

    def _shard_primary(self, alias: str | None) -> str | None:
        shard = self._by_alias.get(alias) if alias is not None else None
        return shard.alias if shard is not None else alias

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool | None:
        """Sharded models on every shard's primary and nowhere else; nothing else on shards."""
        if model_name is not None:
            hints["model_name"] = model_name
        if app_label == "multidb_routers" and hints.get("model_name") in _DIRECTORY_MODELS:
            return db == conf.PLACEMENT_DATABASE
        covered = self._scope.covers_migration(app_label, hints)
        if covered:
            shard = self._by_alias.get(db)
            return shard is not None and shard.alias == db
        if covered is None:
            return None
        if db in self._by_alias:
            return False
        return None

    # Introspection.

    def aliases(self) -> frozenset[str]:
        """Every shard alias, replicas included."""
        return frozenset(self._by_alias)

    def read_only_aliases(self) -> frozenset[str]:
        """The shards' replicas."""
        return frozenset(alias for shard in self.shard_config for alias in shard.replicas)

    def labels(self) -> Iterable[tuple[str, str]]:
        """The labels of ``apps`` and of a ``shard_key`` dict."""
        labels = [("apps", label) for label in self._scope.labels or ()]
        if self._keys is not None:
            labels.extend(("shard_key", label) for label in self._keys.labels)
        return labels

    def claimed_aliases(self, model: type[Model]) -> frozenset[str] | None:
        """Every shard's primary, for a sharded model."""
        return frozenset(self.shard_aliases) if self._scope.covers(model) else None

    def describe_route(self, model: type[Model]) -> RouteDescription | None:
        """Reads and writes go to the shard of the row's key."""
        if not self._scope.covers(model):
            return None
        spec = self.key_spec(model)
        key = spec if isinstance(spec, str) else getattr(spec, "__name__", repr(spec))
        shards = ", ".join(self.shard_aliases)
        has_replicas = any(shard.replicas for shard in self.shard_config)
        how = self.strategy_name
        if self.directory is not None:
            how += f", placement directory {self.directory!r}"
        read = f"shard of {key} ({how} over {shards})"
        return RouteDescription(
            read=read + (", replicas allowed" if has_replicas else ""),
            write=f"shard of {key} ({how} over {shards})",
        )

    @property
    def strategy_name(self) -> str:
        """The strategy's name, or the callable's name."""
        strategy = self.strategy
        return strategy if isinstance(strategy, str) else getattr(strategy, "__name__", "custom")

    def check_config(self, *, name: str, databases: Iterable[str]) -> list[CheckMessage]:
        """E020 key naming no field, E021 no shards, E022 duplicate alias, W020 plain manager."""
        from django.core.checks import Error

        messages: list[CheckMessage] = []
        if not self.shard_config:
            messages.append(
                Error(
                    f"{name} has no shards.",
                    hint="List the shard aliases: ShardRouter(shards=['shard_0', 'shard_1'], ...).",
                    obj=self,
                    id="multidb_routers.E021",
                )
            )
        seen: set[str] = set()
        for shard in self.shard_config:
            for alias in shard.aliases:
                if alias in seen:
                    messages.append(
                        Error(
                            f"{name} lists the alias {alias!r} more than once in shards.",
                            hint="Give every shard (and every replica) its own alias; two shards "
                            "on one database would hold each other's rows.",
                            obj=self,
                            id="multidb_routers.E022",
                        )
                    )
                seen.add(alias)
        messages.extend(self._check_models(name))
        return messages

    def _check_models(self, name: str) -> list[CheckMessage]:
        from django.apps import apps
        from django.core.checks import Error, Warning

        messages: list[CheckMessage] = []
        for model in apps.get_models():
            if not self._scope.covers(model) or model._meta.proxy:
                continue
            spec = self.key_spec(model)
            if isinstance(spec, str) and spec != "pk":
                try:
                    found = model._meta.get_field(spec)
                except FieldDoesNotExist:
                    found = None
                if found is None or not getattr(found, "concrete", False):
                    fields = ", ".join(f.name for f in model._meta.concrete_fields)
                    what = "no field" if found is None else "no column (a relation's other side)"
                    messages.append(
                        Error(
                            f"{name} shards {model._meta.label} by {spec!r}, which is {what} "
                            "of the model.",
                            hint=f"Set shard_key to one of its fields ({fields}), 'pk', or a "
                            "callable taking the instance.",
                            obj=model,
                            id="multidb_routers.E020",
                        )
                    )
            # ShardedManager says so itself: the manager module depends on this one.
            if not getattr(model._default_manager, "routes_by_shard_key", False):
                messages.append(
                    Warning(
                        f"{model._meta.label} is sharded by {name} but its default manager is "
                        "no ShardedManager, so Model.objects.create() cannot know its shard.",
                        hint="Declare objects = ShardedManager() "
                        "(from multidb_routers.sharding) on the model.",
                        obj=model,
                        id="multidb_routers.W020",
                    )
                )
        return messages


def find_shard_router(model: type[Model]) -> ShardRouter | None:
    """The :class:`ShardRouter` of ``DATABASE_ROUTERS`` that shards ``model``, if any."""
    for router in connection_router.routers:
        if isinstance(router, ShardRouter) and router.covers(model):
            return router
    return None


def require_shard_router(model: type[Model]) -> ShardRouter:
    """The :class:`ShardRouter` of ``DATABASE_ROUTERS`` that shards ``model``.

    Raises ``ImproperlyConfigured`` when none does (see :func:`find_shard_router`).
    """
    router = find_shard_router(model)
    if router is None:
        raise ImproperlyConfigured(
            f"No ShardRouter in DATABASE_ROUTERS shards {model._meta.label}: add it (or its "
            "app) to the apps of a ShardRouter."
        )
    return router
