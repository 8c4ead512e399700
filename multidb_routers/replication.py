"""Primary/replica: writes to the primary, reads from a live replica unless pinned."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.utils.module_loading import import_string

from .base import BaseRouter, RouteDescription
from .replicas import ReplicaSet
from .scope import Scope

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from django.db.models import Model

__all__ = ["PrimaryReplicaRouter"]

MIDDLEWARE_PATH = "multidb_routers.middleware.PinningMiddleware"


class PrimaryReplicaRouter(BaseRouter):
    """Writes go to ``primary``; reads go to one of ``replicas`` unless they must be fresh.

    ``replicas`` is a list of aliases or a dict of alias -> weight. ``apps`` (app or
    model labels) limits the router to those models; ``None`` means every model.
    ``pin_seconds`` is how long a write keeps the writer's reads on the primary
    (default: the ``MULTIDB_ROUTERS_PIN_SECONDS`` setting); ``recheck_seconds`` how
    long an unreachable replica is left out. Migrations run on the primary only,
    never on a replica; relations are allowed among the primary and its replicas.
    The decision itself is :meth:`ReplicaSet.read_alias
    <multidb_routers.replicas.ReplicaSet.read_alias>`.
    """

    options = ("primary", "replicas", "apps", "pin_seconds", "recheck_seconds")
    required_options = ("primary", "replicas")

    primary: str | None = None
    replicas: Sequence[str] | Mapping[str, float] | None = None
    apps: Iterable[str] | None = None
    pin_seconds: float | None = None
    recheck_seconds: float = 5.0

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
        )
        self._scope = Scope(self.apps)
        self._covers = self._scope.covers
        self._read_alias = self.replica_set.read_alias
        self._write_alias = self.replica_set.write_alias

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        """The primary or a replica (see :meth:`ReplicaSet.read_alias`); ``None`` out of scope."""
        return self._read_alias() if self._covers(model) else None

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        """The primary, pinning the writer's next reads to it; ``None`` out of scope."""
        return self._write_alias() if self._covers(model) else None

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        """Allow relations between objects of the primary and its replicas."""
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
        """Never on a replica; scoped models on the primary only."""
        replica_set = self.replica_set
        if db in replica_set.replicas:
            return False
        if model_name is not None:
            hints["model_name"] = model_name
        covered = self._scope.covers_migration(app_label, hints)
        if covered is None:
            return None
        if covered:
            return db == replica_set.primary
        return None

    # Introspection.

    def aliases(self) -> frozenset[str]:
        """The primary and its replicas."""
        return self.replica_set.aliases

    def read_only_aliases(self) -> frozenset[str]:
        """The replicas."""
        return frozenset(self.replica_set.replicas)

    def labels(self) -> Iterable[tuple[str, str]]:
        """The labels ``apps`` names."""
        return (("apps", label) for label in self._scope.labels or ())

    def claimed_aliases(self, model: type[Model]) -> frozenset[str] | None:
        """The primary, for scoped models."""
        return frozenset((self.replica_set.primary,)) if self._covers(model) else None

    def describe_route(self, model: type[Model]) -> RouteDescription | None:
        """Reads from the replicas (the primary when pinned), writes to the primary."""
        if not self._covers(model):
            return None
        replica_set = self.replica_set
        if replica_set.replicas:
            read = f"{', '.join(replica_set.replicas)} (primary when pinned)"
        else:
            read = replica_set.primary
        return RouteDescription(read=read, write=replica_set.primary)

    def check_config(self, *, name: str, databases: Iterable[str]) -> list[CheckMessage]:
        """E010: a replica without ``TEST: {"MIRROR": primary}``; W010: no PinningMiddleware."""
        messages: list[CheckMessage] = []
        primary = self.replica_set.primary
        known = set(databases)
        for alias in self.replica_set.replicas:
            if alias not in known:
                continue  # E001 reports it
            mirror = settings.DATABASES[alias].get("TEST", {}).get("MIRROR")
            if mirror == primary:
                continue
            found = f"MIRROR is {mirror!r}" if mirror else "no MIRROR"
            messages.append(
                Error(
                    f"{name} lists {alias!r} as a replica of {primary!r}, but "
                    f"DATABASES[{alias!r}]['TEST'] has {found}: tests would give the "
                    "replica a database of its own that never sees the primary's rows.",
                    hint=f'Add "TEST": {{"MIRROR": {primary!r}}} to DATABASES[{alias!r}].',
                    obj=self,
                    id="multidb_routers.E010",
                )
            )
        if self.replica_set.replicas and not _pinning_middleware_installed():
            messages.append(
                Warning(
                    f"{name} sends reads to replicas, but {MIDDLEWARE_PATH} is not in "
                    "settings.MIDDLEWARE: a client's reads right after its write (such as "
                    "the page a form redirects to) may come from a replica that has not "
                    "caught up yet.",
                    hint=f"Add {MIDDLEWARE_PATH!r} to MIDDLEWARE.",
                    obj=self,
                    id="multidb_routers.W010",
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
