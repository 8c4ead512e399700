"""Routers configured by naming convention only, for projects coming from others.

Each preset is a :class:`~multidb_routers.PrimaryReplicaRouter` whose primaries and
replicas come from the other project's settings instead of options. They read the same
settings but behave as ``PrimaryReplicaRouter`` (not drop-in replacements; for
django-multidb-router's own behaviour use :mod:`multidb_routers.compat.multidb`):

* :class:`MasterSlave`: ``default`` is the primary, every other alias a replica; reads
  go to a random alias, the primary included (RestAuth's ``MasterSlave``).
* :class:`MultipleMasterSlave`: aliases whose name starts with ``master`` take writes;
  reads go to a random alias among all (RestAuth's ``MultipleMasterSlave``).
* :class:`ReplicaRouter` and :class:`PinningReplicaRouter`: ``default`` is the primary
  and ``REPLICA_DATABASES`` its replicas (django-multidb-router's routers and settings).

The convention is read when Django builds its routers (at the first query, and again
whenever ``DATABASE_ROUTERS`` changes), and read again whenever one of the settings it
depends on changes through ``override_settings`` (Django's ``setting_changed`` signal),
never on the routing hot path. Aliases whose ``ENGINE`` is Django's dummy backend (an
empty ``DATABASES`` entry, such as ``"default": {}``) are no database and are left out.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.core.signals import setting_changed

from ..exceptions import RouterOptionError
from .router import PrimaryReplicaRouter

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "ConventionRouter",
    "MasterSlave",
    "MultipleMasterSlave",
    "PinningReplicaRouter",
    "ReplicaRouter",
]

DUMMY_ENGINES = frozenset(("", "django.db.backends.", "django.db.backends.dummy"))

#: The options a preset takes from its convention, never from arguments.
CONVENTION_OPTIONS = frozenset(("primary", "replicas", "read_from_primaries", "pin_writes"))


def database_aliases() -> list[str]:
    """The aliases of ``settings.DATABASES`` that are databases (not the dummy backend)."""
    return [
        alias
        for alias, entry in settings.DATABASES.items()
        if (entry.get("ENGINE") or "") not in DUMMY_ENGINES
    ]


class ConventionRouter(PrimaryReplicaRouter):
    """A ``PrimaryReplicaRouter`` whose primaries and replicas a naming convention gives.

    Subclasses implement :meth:`convention` and list the settings it reads in
    ``convention_settings``; the remaining options of ``PrimaryReplicaRouter`` (``apps``,
    ``pin_seconds``, ``recheck_seconds``...) still work as keyword arguments or class
    attributes.
    """

    options = tuple(name for name in PrimaryReplicaRouter.options if name not in CONVENTION_OPTIONS)
    required_options = ()
    convention_settings: ClassVar[frozenset[str]] = frozenset(("DATABASES",))

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _presets.add(self)

    def convention(self) -> tuple[str | Sequence[str], Sequence[str] | Mapping[str, float]]:
        """The primary (or primaries) and the replicas, read from settings now."""
        raise NotImplementedError

    def configure(self) -> None:
        """Read the convention, then configure as a ``PrimaryReplicaRouter``."""
        self.primary, self.replicas = self.convention()
        super().configure()


# Presets alive in this process, configured again when a setting they read changes.
_presets: weakref.WeakSet[ConventionRouter] = weakref.WeakSet()


def _read_conventions_again(*, setting: str, **kwargs: Any) -> None:
    for preset in list(_presets):
        if setting in preset.convention_settings:
            preset.configure()


setting_changed.connect(_read_conventions_again, dispatch_uid="multidb_routers.presets")


class MasterSlave(ConventionRouter):
    """``default`` takes the writes; every other alias is a replica of it.

    Reads go to a random alias, ``default`` included, unless they must be fresh
    (pinned after a write, in ``use_primary()``, in a transaction).
    """

    read_from_primaries = True

    def convention(self) -> tuple[str, list[str]]:
        """``default``, and every other alias of ``DATABASES``."""
        return "default", [alias for alias in database_aliases() if alias != "default"]


class MultipleMasterSlave(ConventionRouter):
    """Aliases whose name starts with ``master`` take writes; the others are replicas.

    A new row goes to a random ``master*`` alias, an existing row's writes to the alias
    it was saved to; reads go to a random alias among all, unless they must be fresh.
    """

    read_from_primaries = True

    def convention(self) -> tuple[list[str], list[str]]:
        """The ``master*`` aliases of ``DATABASES``, and the others."""
        aliases = database_aliases()
        masters = [alias for alias in aliases if alias.startswith("master")]
        if not masters:
            raise RouterOptionError(
                f"{type(self).__name__} sends writes to the DATABASES aliases whose name "
                "starts with 'master', and there is none (DATABASES has: "
                f"{', '.join(aliases) or 'no database'}). Rename the writable aliases."
            )
        return masters, [alias for alias in aliases if alias not in masters]


class ReplicaRouter(ConventionRouter):
    """django-multidb-router's ``ReplicaRouter``: writes to ``default``, reads to replicas.

    The replicas are ``settings.REPLICA_DATABASES`` (or the deprecated
    ``SLAVE_DATABASES``); without any, reads go to ``default``. A write pins nothing:
    reads go to a replica even right after it (``use_primary()`` and open transactions
    still send them to ``default``).
    """

    pin_writes = False
    convention_settings = frozenset(("DATABASES", "REPLICA_DATABASES", "SLAVE_DATABASES"))

    def convention(self) -> tuple[str, list[str]]:
        """``default``, and ``REPLICA_DATABASES`` (or ``SLAVE_DATABASES``)."""
        replicas = getattr(settings, "REPLICA_DATABASES", None)
        if replicas is None:
            replicas = getattr(settings, "SLAVE_DATABASES", None)
        return "default", list(replicas or ())


class PinningReplicaRouter(ReplicaRouter):
    """django-multidb-router's ``PinningReplicaRouter``: a write pins the writer's reads.

    As :class:`ReplicaRouter`, and after a write the client's reads go to ``default``
    for ``MULTIDB_PINNING_SECONDS`` (default 15), carried between requests by
    :class:`~multidb_routers.middleware.PinningMiddleware`.
    """

    pin_writes = True
    options = tuple(name for name in ConventionRouter.options if name != "pin_seconds")
    convention_settings = ReplicaRouter.convention_settings | {"MULTIDB_PINNING_SECONDS"}

    def configure(self) -> None:
        """Also read ``MULTIDB_PINNING_SECONDS`` (default 15) into ``pin_seconds``."""
        self.pin_seconds = float(getattr(settings, "MULTIDB_PINNING_SECONDS", 15))
        super().configure()
