"""The base of every router: options from keyword arguments or class attributes.

A router is configured either as an instance in ``DATABASE_ROUTERS``::

    FunctionalRouter(routes={"auth": "users"})

or as a subclass named by dotted path, with class attributes of the same names::

    class LegacyRouter(FunctionalRouter):
        routes = {"legacy": "legacy_db"}

Keyword arguments win over class attributes. Besides Django's four router methods,
routers describe themselves (aliases, scope, routes) so that the system checks and
the ``routing`` and ``migrate_all`` commands can explain a configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from .exceptions import RouterOptionError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from django.core.checks import CheckMessage
    from django.db.models import Model

__all__ = ["BaseRouter", "RouteDescription", "check_app_installed"]

APP = "multidb_routers"
# The methods that check, at their first call, that the app is installed. Not
# allow_migrate: system checks ask it (Django 6.1's field checks do, for every alias),
# and check E005 must be the one to report the missing app there.
ROUTER_METHODS = ("db_for_read", "db_for_write", "allow_relation")


def _not_installed(router: object) -> str:
    return (
        f"DATABASE_ROUTERS uses {type(router).__name__}, but {APP!r} is not in "
        "INSTALLED_APPS: without it the library's system checks, its management commands "
        "(routing, migrate_all, reshard, ...), the read-only guard of an overlay base and "
        f"the overlay's Tombstone table are missing. Add {APP!r} to INSTALLED_APPS."
    )


def check_app_installed(app_configs: object = None, **kwargs: Any) -> list[CheckMessage]:
    """E005: a router of the library is configured but the app is not installed.

    Registered by the first router made, so it runs even when the app (which registers
    every other check) is missing.
    """
    if apps.is_installed(APP):
        return []
    from django.core import checks
    from django.db import router as connection_router

    users = [r for r in connection_router.routers if isinstance(r, BaseRouter) and r.requires_app]
    if not users:
        return []
    return [
        checks.Error(
            _not_installed(users[0]),
            hint=f"Add {APP!r} to INSTALLED_APPS.",
            id="multidb_routers.E005",
        )
    ]


@dataclass(frozen=True)
class RouteDescription:
    """How a router routes one model, in words a person can read (``manage.py routing``)."""

    read: str
    write: str


class BaseRouter:
    """Base class of the library's routers.

    Subclasses list their option names in ``options`` (and the ones without a usable
    default in ``required_options``), declare them as class attributes with their
    defaults, and turn them into routing state in :meth:`configure`.
    """

    options: ClassVar[tuple[str, ...]] = ()
    required_options: ClassVar[tuple[str, ...]] = ()
    #: False for routers that work without ``multidb_routers`` in ``INSTALLED_APPS``
    #: (the compatibility routers, whose users changed import paths only).
    requires_app: ClassVar[bool] = True

    def __init__(self, **kwargs: Any) -> None:
        unknown = sorted(set(kwargs).difference(self.options))
        if unknown:
            names = ", ".join(repr(name) for name in unknown)
            accepted = ", ".join(self.options) or "none"
            plural = "s" if len(unknown) > 1 else ""
            raise RouterOptionError(
                f"{type(self).__name__}() got unexpected keyword argument{plural} {names}; "
                f"it accepts: {accepted}."
            )
        for name, value in kwargs.items():
            setattr(self, name, value)
        missing = [name for name in self.required_options if getattr(self, name, None) is None]
        if missing:
            raise RouterOptionError(
                f"{type(self).__name__} needs {', '.join(missing)}: pass "
                f"{'/'.join(missing)}=... to the constructor or set "
                f"{'/'.join(missing)} = ... as a class attribute of a subclass."
            )
        # Functions configure() routes with instead of the class's methods (route_with()).
        self._routing_functions: dict[str, Any] = {}
        self._checking = False
        self.configure()
        if not self.requires_app:
            return
        from django.core import checks  # not at import: settings import the routers

        checks.register(check_app_installed)  # a set: registering again is a no-op
        if apps.apps_ready:
            self._verify_installed()
        else:
            # Made while settings load: check at the first routing call, then get out of
            # the way (the instance attributes shadow the class's methods until then).
            self._checking = True
            for method in ROUTER_METHODS:
                if hasattr(type(self), method):
                    self.__dict__[method] = self._first_call(method)

    def _verify_installed(self) -> None:
        if not apps.is_installed(APP):
            raise ImproperlyConfigured(_not_installed(self))

    def _first_call(self, method: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            if apps.apps_ready:
                self.verified_installed()
            function = self._routing_functions.get(method)
            if function is not None:
                return function(*args, **kwargs)
            return getattr(type(self), method)(self, *args, **kwargs)

        return call

    def verified_installed(self) -> None:
        """Raise unless the app is installed; then route without the first-call check."""
        self._verify_installed()
        for name in ROUTER_METHODS:
            self.__dict__.pop(name, None)
        self._checking = False
        self.__dict__.update(self._routing_functions)

    def route_with(self, method: str, function: Any) -> None:
        """Answer ``method`` (``"db_for_read"``...) with ``function`` instead of the class's.

        For :meth:`configure`: a function made for the options (one call frame on the
        routing hot path) must answer exactly as the class's method does. Before the
        first-call check has run, it is used once the check passed.
        """
        self._routing_functions[method] = function
        if not self._checking:
            self.__dict__[method] = function

    def configure(self) -> None:
        """Validate the options and build the routing state from them."""

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={getattr(self, name, None)!r}" for name in self.options)
        return f"{type(self).__name__}({args})"

    # Introspection, for the system checks and the management commands.

    def aliases(self) -> frozenset[str]:
        """Every database alias this router names."""
        return frozenset()

    def read_only_aliases(self) -> frozenset[str]:
        """Aliases this router never writes to and never migrates (replicas, read-only bases)."""
        return frozenset()

    def labels(self) -> Iterable[tuple[str, str]]:
        """The app and model labels the configuration names, as ``(option, label)`` pairs."""
        return ()

    def claimed_aliases(self, model: type[Model]) -> frozenset[str] | None:
        """The aliases where this router keeps the model's rows, or ``None`` when out of scope."""
        return None

    def describe_route(self, model: type[Model]) -> RouteDescription | None:
        """How this router routes the model's reads and writes, or ``None`` when out of scope."""
        return None

    def check_config(self, *, name: str, databases: Iterable[str]) -> list[CheckMessage]:
        """Router-specific system checks (the generic ones live in :mod:`multidb_routers.checks`).

        ``name`` is how messages name the router (``"DATABASE_ROUTERS[1] (ShardRouter)"``);
        ``databases`` are the aliases in ``settings.DATABASES``.
        """
        return []
