"""Primary/replica: writes to the primary, reads from a live replica unless pinned."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.db import connections
from django.utils.module_loading import import_string

from .base import BaseRouter, RouteDescription
from .freshness import LsnFreshness, get_freshness
from .replicas import ReplicaSet
from .scope import Scope

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from django.db.models import Model

    from .freshness import Freshness

__all__ = ["PrimaryReplicaRouter"]

MIDDLEWARE_PATH = "multidb_routers.middleware.PinningMiddleware"


class PrimaryReplicaRouter(BaseRouter):
    """Writes go to ``primary``; reads go to one of ``replicas`` unless they must be fresh.

    ``primary`` is an alias, or several read/write primaries as a list or a dict of
    alias -> weight: an instance's writes go to the primary it was saved to, new rows
    to a primary chosen by weight (see :meth:`ReplicaSet.write_alias
    <multidb_routers.replicas.ReplicaSet.write_alias>`). ``replicas`` is a list of
    aliases or a dict of alias -> weight; ``read_from_primaries=True`` spreads reads
    over the primaries too; ``pin_writes=False`` keeps reads off the primary even after
    a write. ``apps`` (app or
    model labels) limits the router to those models; ``None`` means every model.
    ``pin_seconds`` is how long a write keeps the writer's reads on the primary
    (default: the ``MULTIDB_ROUTERS_PIN_SECONDS`` setting); ``recheck_seconds`` how
    long an unreachable replica is left out. Migrations run on the primaries only,
    never on a replica; relations are allowed among the primaries and the replicas.
    The decision itself is :meth:`ReplicaSet.read_alias
    <multidb_routers.replicas.ReplicaSet.read_alias>`.
    ``freshness`` (``"time"``, ``"lsn"`` or a strategy; ``lsn_cache_seconds`` and
    ``max_lag_seconds`` configure ``"lsn"``) decides when a pinned read may use a
    replica (see :mod:`multidb_routers.freshness`).
    """

    options: ClassVar[tuple[str, ...]] = (
        "primary",
        "replicas",
        "apps",
        "pin_seconds",
        "recheck_seconds",
        "read_from_primaries",
        "pin_writes",
        "freshness",
        "lsn_cache_seconds",
        "max_lag_seconds",
    )
    required_options: ClassVar[tuple[str, ...]] = ("primary", "replicas")

    primary: str | Sequence[str] | Mapping[str, float] | None = None
    replicas: Sequence[str] | Mapping[str, float] | None = None
    apps: Iterable[str] | None = None
    pin_seconds: float | None = None
    recheck_seconds: float = 5.0
    freshness: Freshness | str = "time"
    lsn_cache_seconds: float | None = None
    max_lag_seconds: float | None = None
    read_from_primaries: bool = False
    pin_writes: bool = True

    def configure(self) -> None:
        """Validate the options into a :class:`ReplicaSet` and a :class:`Scope`."""
        assert self.primary is not None  # required_options
        assert self.replicas is not None
        #: The primary, its replicas, their health and the read decision.
        self.replica_set = ReplicaSet(
            self.primary,
            self.replicas,
            pin_seconds=self.pin_seconds,
            recheck_seconds=self.recheck_seconds,
            freshness=get_freshness(
                self.freshness,
                lsn_cache_seconds=self.lsn_cache_seconds,
                max_lag_seconds=self.max_lag_seconds,
            ),
            read_from_primaries=self.read_from_primaries,
            pin_writes=self.pin_writes,
        )
        self._scope = Scope(self.apps)
        self._covers = self._scope.covers
        self._read_alias = self.replica_set.read_alias
        self._write_alias = self.replica_set.write_alias

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        """The primary or a replica (see :meth:`ReplicaSet.read_alias`); ``None`` out of scope."""
        return self._read_alias() if self._covers(model) else None

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        """A primary, pinning the writer's next reads to it; ``None`` out of scope.

        With several primaries, the ``instance`` hint's own primary when it has one.
        """
        return self._write_alias(hints.get("instance")) if self._covers(model) else None

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        """Allow relations between objects of the primaries and the replicas."""
        aliases = self.replica_set.aliases
        if self._home(obj1) in aliases and self._home(obj2) in aliases:
            return True
        return None

    def _home(self, obj: Model) -> str | None:
        db = obj._state.db
        if db is None and self._covers(type(obj)):
            return self.replica_set.primary
        return db

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool | None:
        """Never on a replica; scoped models on the primaries only."""
        replica_set = self.replica_set
        if db in replica_set.replicas:
            return False
        if model_name is not None:
            hints["model_name"] = model_name
        covered = self._scope.covers_migration(app_label, hints)
        if covered is None:
            return None
        if covered:
            return db in replica_set.primary_weights
        return None

    # Introspection.

    def aliases(self) -> frozenset[str]:
        """The primaries and the replicas."""
        return self.replica_set.aliases

    def read_only_aliases(self) -> frozenset[str]:
        """The replicas."""
        return frozenset(self.replica_set.replicas)

    def labels(self) -> Iterable[tuple[str, str]]:
        """The labels ``apps`` names."""
        return (("apps", label) for label in self._scope.labels or ())

    def claimed_aliases(self, model: type[Model]) -> frozenset[str] | None:
        """The primaries, for scoped models."""
        return frozenset(self.replica_set.primaries) if self._covers(model) else None

    def describe_route(self, model: type[Model]) -> RouteDescription | None:
        """Reads from the replicas (the primary when pinned), writes to the primaries."""
        if not self._covers(model):
            return None
        replica_set = self.replica_set
        if replica_set.readers:
            read = f"{', '.join(replica_set.readers)} (primary when pinned)"
        else:
            read = replica_set.primary
        return RouteDescription(read=read, write=", ".join(replica_set.primaries))

    def check_config(self, *, name: str, databases: Iterable[str]) -> list[CheckMessage]:
        """E010/E041: a replica's ``TEST`` ``MIRROR``; E040: a primary's; W010: no middleware."""
        messages: list[CheckMessage] = []
        replica_set = self.replica_set
        primaries = replica_set.primary_weights
        known = set(databases)
        mirrors = {
            alias: settings.DATABASES[alias].get("TEST", {}).get("MIRROR")
            for alias in replica_set.aliases
            if alias in known  # E001 reports the others
        }
        # The primaries that hold a test database of their own, for the hints.
        roots = [alias for alias in replica_set.primaries if not mirrors.get(alias)]
        root = roots[0] if roots else replica_set.primary
        if len(primaries) > 1:
            messages.extend(self._check_primary_mirrors(name, mirrors, root))
        for alias in replica_set.replicas:
            if alias not in mirrors:
                continue
            mirror = mirrors[alias]
            if mirror in primaries:
                if mirrors.get(mirror):
                    messages.append(
                        Error(
                            f"{name} lists {alias!r} as a replica, and DATABASES[{alias!r}]"
                            f"['TEST'] has MIRROR {mirror!r}, a primary that is itself a "
                            f"mirror (of {mirrors[mirror]!r}): Django does not follow mirror "
                            "chains, so tests would give the replica another database.",
                            hint=f'Set "TEST": {{"MIRROR": {mirrors[mirror]!r}}} in '
                            f"DATABASES[{alias!r}].",
                            obj=self,
                            id="multidb_routers.E041",
                        )
                    )
                continue
            found = f"MIRROR is {mirror!r}" if mirror else "no MIRROR"
            of = " or ".join(repr(primary) for primary in primaries)
            messages.append(
                Error(
                    f"{name} lists {alias!r} as a replica of {of}, but "
                    f"DATABASES[{alias!r}]['TEST'] has {found}: tests would give the "
                    "replica a database of its own that never sees the primary's rows.",
                    hint=f'Add "TEST": {{"MIRROR": {root!r}}} to DATABASES[{alias!r}].',
                    obj=self,
                    id="multidb_routers.E010",
                )
            )
        messages.extend(self._check_freshness(name, known))
        if self.replica_set.replicas and not _pinning_middleware_installed():
            messages.append(
                Warning(
                    f"{name} sends reads to replicas, but {MIDDLEWARE_PATH} is not in "
                    "settings.MIDDLEWARE: a write pins reads to the primary only until its "
                    "request ends, so the client's next request (such as the page a form "
                    "redirects to) may read from a replica that has not caught up yet.",
                    hint=f"Add {MIDDLEWARE_PATH!r} to MIDDLEWARE.",
                    obj=self,
                    id="multidb_routers.W010",
                )
            )
        return messages

    def _check_primary_mirrors(
        self, name: str, mirrors: Mapping[str, str | None], root: str
    ) -> list[CheckMessage]:
        """E040: a primary mirrors something else than a primary with its own test database."""
        messages: list[CheckMessage] = []
        primaries = self.replica_set.primary_weights
        for alias in self.replica_set.primaries:
            mirror = mirrors.get(alias)
            if not mirror or (mirror in primaries and not mirrors.get(mirror)):
                continue
            messages.append(
                Error(
                    f"{name} lists {alias!r} as a primary, but DATABASES[{alias!r}]['TEST'] "
                    f"has MIRROR {mirror!r}, which is not another primary with a test "
                    "database of its own: tests would write that primary's rows to a "
                    "database the router does not read.",
                    hint=f'Remove MIRROR from DATABASES[{alias!r}]["TEST"] (a test database '
                    f'of its own), or set "MIRROR": {root!r} (one database shared by the '
                    "primaries, as replication makes it in production).",
                    obj=self,
                    id="multidb_routers.E040",
                )
            )
        return messages

    def _check_freshness(self, name: str, known: set[str]) -> list[CheckMessage]:
        """E011: ``freshness="lsn"`` on an alias that is not PostgreSQL."""
        replica_set = self.replica_set
        if not isinstance(replica_set.freshness, LsnFreshness):
            return []
        messages: list[CheckMessage] = []
        for alias in sorted(replica_set.aliases & known):
            vendor = connections[alias].vendor
            if vendor == "postgresql":
                continue
            messages.append(
                Error(
                    f"{name} uses freshness='lsn', which reads PostgreSQL WAL positions, "
                    f"but {alias!r} is a {vendor} database: its positions are unknown, so "
                    "pinned reads would all go to the primary (and with max_lag_seconds "
                    "no read would use its replicas).",
                    hint="Use freshness='time' (the default) with this database, or "
                    "PostgreSQL streaming replicas with freshness='lsn'.",
                    obj=self,
                    id="multidb_routers.E011",
                )
            )
        return messages


def _pinning_middleware_installed() -> bool:
    from .middleware import PinningMiddleware

    for path in getattr(settings, "MIDDLEWARE", None) or ():
        if path == MIDDLEWARE_PATH:
            return True
        try:
            middleware = import_string(path)
        except ImportError:
            continue  # Django reports a bad path itself
        if isinstance(middleware, type) and issubclass(middleware, PinningMiddleware):
            return True
    return False
