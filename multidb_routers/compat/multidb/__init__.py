"""django-multidb-router 0.11's ``multidb`` package, on top of multidb_routers.

Replace ``multidb`` by ``multidb_routers.compat.multidb`` in settings and imports, and
routing behaves as with django-multidb-router 0.11: writes go to ``default``; reads
go to the ``REPLICA_DATABASES`` (or the deprecated ``SLAVE_DATABASES``) in round robin,
or with :class:`PinningReplicaRouter` to ``default`` while the context is pinned
(:mod:`.pinning`, :mod:`.middleware`). Migrations run on ``default`` only.

What differs (see ``docs/migrating.rst``): the pin is per context (thread or asyncio
task), not per thread, and it is the flag of :class:`multidb_routers.use_primary`, so
both APIs see one state; the routers are :class:`~multidb_routers.PrimaryReplicaRouter`
subclasses, so the system checks and ``manage.py routing`` explain them; the replica
list is read again when ``override_settings`` changes it.
"""

from __future__ import annotations

import itertools
import random
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from multidb_routers.base import RouteDescription
from multidb_routers.presets import ReplicaRouter as _ReplicaPreset

from .pinning import db_write, this_thread_is_pinned

if TYPE_CHECKING:
    from django.core.checks import CheckMessage
    from django.db.models import Model

__all__ = [
    "DEFAULT_DB_ALIAS",
    "MasterSlaveRouter",
    "PinningMasterSlaveRouter",
    "PinningReplicaRouter",
    "ReplicaRouter",
    "db_write",
    "get_replica",
    "get_slave",
    "this_thread_is_pinned",
]

#: The version of django-multidb-router whose API this module offers.
VERSION = (0, 11, 0)
__version__ = ".".join(map(str, VERSION))

#: The primary: every write, every migration, and the reads of a pinned context.
DEFAULT_DB_ALIAS = "default"

REPLICA_SETTINGS = frozenset(("REPLICA_DATABASES", "SLAVE_DATABASES", "DATABASES"))


def configured_replicas(*, warn: bool) -> list[str]:
    """The replica aliases: ``REPLICA_DATABASES``, else the deprecated ``SLAVE_DATABASES``.

    With ``warn``, a ``DeprecationWarning`` when ``SLAVE_DATABASES`` is used and a
    ``UserWarning`` when no replica is configured (reads then go to ``default``).
    """
    name = "REPLICA_DATABASES"
    if hasattr(settings, "REPLICA_DATABASES"):
        value: Any = getattr(settings, "REPLICA_DATABASES")  # noqa: B009  (not in the stubs)
    elif hasattr(settings, "SLAVE_DATABASES"):
        name = "SLAVE_DATABASES"
        value = getattr(settings, "SLAVE_DATABASES")  # noqa: B009
        if warn:
            warnings.warn(
                "[multidb] The SLAVE_DATABASES setting is deprecated: rename it to "
                "REPLICA_DATABASES.",
                DeprecationWarning,
                stacklevel=3,
            )
    else:
        value = ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ImproperlyConfigured(
            f"{name} must be a list of DATABASES aliases, such as ['replica'], not {value!r}."
        )
    aliases = list(value)
    if warn:  # at the first read; a router built meanwhile leaves it to check E001
        for alias in aliases:
            if alias not in settings.DATABASES:
                raise ImproperlyConfigured(
                    f"{name} names {alias!r}, which is not in DATABASES (DATABASES has: "
                    f"{', '.join(map(str, settings.DATABASES))}). Add it or fix the alias."
                )
    if not aliases and warn:
        warnings.warn(
            "[multidb] No replica databases are configured, so reads go to "
            f"{DEFAULT_DB_ALIAS!r}: list them in the REPLICA_DATABASES setting.",
            UserWarning,
            stacklevel=3,
        )
    _mirror_default(aliases)
    return aliases


def _mirror_default(aliases: list[str]) -> None:
    # As django-multidb-router does: the replicas are test mirrors of default, unless a
    # MIRROR is set (then check E010 tells whether it is the right one). Django fills
    # in "MIRROR": None itself.
    for alias in aliases:
        if alias not in settings.DATABASES:
            continue
        test = settings.DATABASES[alias].setdefault("TEST", {})
        if not test.get("MIRROR"):
            test["MIRROR"] = DEFAULT_DB_ALIAS


# The round robin over the replicas, built at the first get_replica() of the process
# (and again after override_settings changes a replica setting), like the original.
_replica_cycle: Iterator[str] | None = None


def _replica_list() -> Iterator[str]:
    global _replica_cycle
    cycle = _replica_cycle
    if cycle is None:
        aliases = configured_replicas(warn=True)
        if aliases:
            # Start at a random replica, so that processes starting together spread out.
            start = random.randrange(len(aliases))
            cycle = itertools.cycle(aliases[start:] + aliases[:start])
        else:
            cycle = itertools.repeat(DEFAULT_DB_ALIAS)
        _replica_cycle = cycle
    return cycle


def _forget_replicas(*, setting: str, **kwargs: Any) -> None:
    global _replica_cycle
    if setting in REPLICA_SETTINGS:
        _replica_cycle = None


setting_changed.connect(_forget_replicas, dispatch_uid="multidb_routers.compat.multidb")


def get_replica() -> str:
    """The alias of the next replica in round robin (``default`` when none is configured)."""
    return next(_replica_list())


def get_slave() -> str:
    """Deprecated name of :func:`get_replica` (warns ``DeprecationWarning``)."""
    warnings.warn(
        "[multidb] get_slave() is deprecated: use get_replica() instead.",
        DeprecationWarning,
        stacklevel=2,
    )
    return get_replica()


class ReplicaRouter(_ReplicaPreset):
    """Reads to a replica in round robin (:func:`get_replica`), writes to ``default``.

    Pins are ignored, as in django-multidb-router: use :class:`PinningReplicaRouter`
    for ``use_primary_db`` and the middleware to matter. Relations are always allowed;
    migrations run on ``default`` only. Takes no arguments.
    """

    options: ClassVar[tuple[str, ...]] = ()
    requires_app: ClassVar[bool] = False

    def convention(self) -> tuple[str, list[str]]:
        """``default``, and ``REPLICA_DATABASES`` (or ``SLAVE_DATABASES``)."""
        return DEFAULT_DB_ALIAS, configured_replicas(warn=False)

    def db_for_read(self, model: type[Model] | None, **hints: Any) -> str:
        """The next replica in round robin."""
        return get_replica()

    def db_for_write(self, model: type[Model] | None, **hints: Any) -> str:
        """``default``."""
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool:
        """Always: the replicas hold the primary's rows."""
        return True

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool:
        """On ``default`` only."""
        return db == DEFAULT_DB_ALIAS

    def allow_syncdb(self, db: str, model: type[Model] | None) -> bool:
        """On ``default`` only (the name Django before 1.7 used)."""
        return db == DEFAULT_DB_ALIAS

    def describe_route(self, model: type[Model]) -> RouteDescription | None:
        """Reads from the replicas in round robin, writes to ``default``."""
        replicas = self.replica_set.replicas
        read = f"{', '.join(replicas)} (round robin)" if replicas else DEFAULT_DB_ALIAS
        return RouteDescription(read=read, write=DEFAULT_DB_ALIAS)

    def check_config(self, *, name: str, databases: Any) -> list[CheckMessage]:
        """The checks of ``PrimaryReplicaRouter`` but W010: this router pins nothing itself."""
        return [
            message
            for message in super().check_config(name=name, databases=databases)
            if message.id != "multidb_routers.W010"
        ]


class PinningReplicaRouter(ReplicaRouter):
    """As :class:`ReplicaRouter`, but a pinned context reads from ``default``.

    The pin is set by ``PinningRouterMiddleware``, ``use_primary_db``, ``db_write``,
    ``pin_this_thread()`` and also :class:`multidb_routers.use_primary`.
    """

    def db_for_read(self, model: type[Model] | None, **hints: Any) -> str:
        """``default`` when the context is pinned, else the next replica in round robin."""
        return DEFAULT_DB_ALIAS if this_thread_is_pinned() else get_replica()

    def describe_route(self, model: type[Model]) -> RouteDescription | None:
        """Reads from the replicas in round robin (``default`` when pinned)."""
        route = super().describe_route(model)
        if route is None or not self.replica_set.replicas:
            return route
        return RouteDescription(
            read=f"{route.read}, {DEFAULT_DB_ALIAS} when pinned", write=route.write
        )


class DeprecationMixin:
    """Warns (``DeprecationWarning``) when a router of the old names is created."""

    def __init__(self, **kwargs: Any) -> None:
        warnings.warn(
            f"[multidb] {type(self).__name__} is deprecated: use ReplicaRouter or "
            "PinningReplicaRouter instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(**kwargs)


class MasterSlaveRouter(DeprecationMixin, ReplicaRouter):
    """Deprecated name of :class:`ReplicaRouter`."""


class PinningMasterSlaveRouter(DeprecationMixin, PinningReplicaRouter):
    """Deprecated name of :class:`PinningReplicaRouter`."""
