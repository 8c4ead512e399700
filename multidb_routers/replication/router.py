"""Primary/replica: writes to the primary, reads from a live replica unless pinned."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ..base import BaseRouter, RouteDescription
from ..scope import CoveredModels, Scope
from .freshness import get_freshness
from .replica_set import ReplicaSet

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from django.core.checks import CheckMessage
    from django.db.models import Model

    from .freshness import Freshness

__all__ = ["PrimaryReplicaRouter"]


class PrimaryReplicaRouter(BaseRouter):
    """Writes go to ``primary``; reads go to one of ``replicas`` unless they must be fresh.

    ``primary`` is an alias, or several read/write primaries as a list or a dict of
    alias -> weight: an instance's writes go to the primary it was saved to, new rows
    to a primary chosen by weight (see :meth:`ReplicaSet.write_alias
    <multidb_routers.replication.replica_set.ReplicaSet.write_alias>`). ``replicas`` is a list of
    aliases or a dict of alias -> weight; ``read_from_primaries=True`` spreads reads
    over the primaries too; ``pin_writes=False`` keeps reads off the primary even after
    a write. ``apps`` (app or
    model labels) limits the router to those models; ``None`` means every model.
    ``pin_seconds`` is how long a write keeps the writer's reads on the primary
    (default: the ``MULTIDB_ROUTERS_PIN_SECONDS`` setting); ``recheck_seconds`` how
    long an unreachable replica is left out. Migrations run on the primaries only,
    never on a replica; relations are allowed among the primaries and the replicas.
    The decision itself is :meth:`ReplicaSet.read_alias
    <multidb_routers.replication.replica_set.ReplicaSet.read_alias>`.
    ``freshness`` (``"time"``, ``"lsn"`` or a strategy; ``lsn_cache_seconds``,
    ``max_lag_seconds``, ``max_lag_bytes`` and ``readmit_after_seconds`` configure
    ``"lsn"``) decides when a pinned read may use a replica, and which replicas lag too
    much to serve reads (see :mod:`multidb_routers.replication.freshness`).
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
        "max_lag_bytes",
        "readmit_after_seconds",
        "exclusive",
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
    max_lag_bytes: int | None = None
    readmit_after_seconds: float | None = None
    read_from_primaries: bool = False
    pin_writes: bool = True
    exclusive: bool = False

    def configure(self) -> None:
        """Validate the options into a :class:`ReplicaSet` and a :class:`Scope`."""
        assert self.primary is not None  # required_options
        assert self.replicas is not None
        if not isinstance(self.exclusive, bool):
            raise TypeError(
                f"{type(self).__name__} exclusive must be True or False, not {self.exclusive!r}."
            )
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
                max_lag_bytes=self.max_lag_bytes,
                readmit_after_seconds=self.readmit_after_seconds,
            ),
            read_from_primaries=self.read_from_primaries,
            pin_writes=self.pin_writes,
        )
        self._scope = Scope(self.apps)
        self._covers = self._scope.covers
        # Routing runs on every query: each model's scope answer is remembered, and the
        # read method for one primary or several is chosen now, not per read.
        self._covered = CoveredModels(self._covers)
        self._read_alias = self.replica_set.reader
        self._write_alias = self.replica_set.write_alias
        # Unless a subclass overrides them, the instance routes with one function call
        # each (Django's router finds it before the class's method, which answers the same).
        covers = None if self._scope.everything else self._covers
        if type(self).db_for_read is PrimaryReplicaRouter.db_for_read:
            self.route_with("db_for_read", self.replica_set.routing_function(covers))
        if type(self).db_for_write is PrimaryReplicaRouter.db_for_write:
            self.route_with("db_for_write", self.replica_set.write_function(covers))

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        """The primary or a replica (see :meth:`ReplicaSet.read_alias`); ``None`` out of scope."""
        return self._read_alias() if self._covered[model] else None

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        """A primary, pinning the writer's next reads to it; ``None`` out of scope.

        With several primaries, the ``instance`` hint's own primary when it has one.
        """
        return self._write_alias(hints.get("instance")) if self._covers(model) else None

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        """Allow relations between objects of the primaries and the replicas."""
        aliases = self.replica_set.aliases
        if self._alias_of(obj1) in aliases and self._alias_of(obj2) in aliases:
            return True
        return None

    def _alias_of(self, obj: Model) -> str | None:
        db = obj._state.db
        if db is None and self._covers(type(obj)):
            return self.replica_set.primary
        return db

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool | None:
        """Never on a replica; scoped models on the primaries (with ``exclusive``, nothing else)."""
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
        if self.exclusive and db in replica_set.primary_weights:
            return False
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
        # Imported here: only ``manage.py check`` needs the checks (and django.core.checks).
        from .checks import check_router

        return check_router(self, name=name, databases=databases)
