"""Library settings, read from ``django.conf.settings`` when first used, then cached.

The cache is cleared on Django's ``setting_changed`` signal, which ``override_settings``
and pytest-django's ``settings`` fixture send, so they just work. It matters: a setting
left unset costs Django's ``LazySettings`` a failed lookup on every read, and the pin
cookie's name and ``PIN_SECONDS`` are read on every request.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

__all__ = ["Settings", "conf"]


class Settings:
    """Typed access to the ``MULTIDB_ROUTERS_*`` settings, with their defaults (cached)."""

    def clear(self) -> None:
        """Forget the values read (on ``setting_changed``)."""
        self.__dict__.clear()

    @cached_property
    def PIN_COOKIE_NAME(self) -> str:
        """Name of the cookie that carries read-your-writes pins between requests.

        ``MULTIDB_ROUTERS_PIN_COOKIE_NAME``; else django-multidb-router's
        ``MULTIDB_PINNING_COOKIE`` when a project coming from it still sets it (so that
        rules keyed on the cookie's name, in a cache or a load balancer, keep working);
        else ``"multidb_pin"``.
        """
        name = getattr(settings, "MULTIDB_ROUTERS_PIN_COOKIE_NAME", None)
        if name is None:
            name = getattr(settings, "MULTIDB_PINNING_COOKIE", "multidb_pin")
        return str(name)

    @cached_property
    def PIN_SECONDS(self) -> float:
        """Default time a client's reads stay on a primary after it wrote."""
        return float(getattr(settings, "MULTIDB_ROUTERS_PIN_SECONDS", 5.0))

    @cached_property
    def ID_NODE(self) -> int | None:
        """This process's node number in sharded ids (0-8191), or ``None`` to derive one."""
        node = getattr(settings, "MULTIDB_ROUTERS_ID_NODE", None)
        return None if node is None else int(node)

    @cached_property
    def FANOUT(self) -> object:
        """How ``across_shards()`` runs the shards: ``"auto"``, ``"sequential"``, ``"concurrent"``.

        ``MULTIDB_ROUTERS_FANOUT``; validated by the check ``multidb_routers.E050``.
        """
        return getattr(settings, "MULTIDB_ROUTERS_FANOUT", "auto")

    @cached_property
    def CROSS_DATABASE_WRITES(self) -> object:
        """What a write routed outside the open transaction's alias does.

        ``MULTIDB_ROUTERS_CROSS_DATABASE_WRITES``: ``"warn"`` (the default) emits
        :class:`~multidb_routers.exceptions.CrossDatabaseWriteWarning`, ``"error"`` raises
        :class:`~multidb_routers.exceptions.CrossDatabaseWriteError`, ``"ignore"`` does
        nothing; validated by the check ``multidb_routers.E070``.
        """
        return getattr(settings, "MULTIDB_ROUTERS_CROSS_DATABASE_WRITES", "warn")

    @property
    def SHARD_RESOLVER(self) -> object:
        """Dotted path of the callable ``ShardMiddleware`` asks for a request's shard key.

        ``MULTIDB_ROUTERS_SHARD_RESOLVER``: the callable takes the request and returns a key
        or ``None``; validated by the checks ``multidb_routers.E023``/``E024``/``W021``.
        """
        return getattr(settings, "MULTIDB_ROUTERS_SHARD_RESOLVER", None)

    @property
    def SHARD_LOCK(self) -> bool:
        """Whether ``ShardMiddleware`` locks each request to its key's shards (default)."""
        return bool(getattr(settings, "MULTIDB_ROUTERS_SHARD_LOCK", True))

    @property
    def PLACEMENT_DATABASE(self) -> str:
        """The alias holding the placement directory's table (``"default"``)."""
        return str(getattr(settings, "MULTIDB_ROUTERS_PLACEMENT_DATABASE", "default"))

    @property
    def PLACEMENT_TTL(self) -> float:
        """Seconds a process trusts its copy of the placement directory (``5``)."""
        return float(getattr(settings, "MULTIDB_ROUTERS_PLACEMENT_TTL", 5.0))

    @cached_property
    def REQUEST_ROUTES(self) -> object:
        """Per-request routing counts: ``None`` (off), ``"count"`` or ``"log"``.

        ``MULTIDB_ROUTERS_REQUEST_ROUTES``: ``"count"`` makes
        :func:`multidb_routers.routes.request_counts` return the current request's (or
        task run's) counts; ``"log"`` also logs one INFO line per request or run on
        ``multidb_routers.routing``. Read at each request's (or run's) start.
        """
        return getattr(settings, "MULTIDB_ROUTERS_REQUEST_ROUTES", None)


conf = Settings()


def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("MULTIDB_"):
        conf.clear()


setting_changed.connect(_setting_changed, dispatch_uid="multidb_routers.conf")
