"""Library settings, read from ``django.conf.settings`` at call time.

Reading at call time (never caching at import) is what makes
``override_settings`` and pytest-django's ``settings`` fixture just work.
"""

from __future__ import annotations

from django.conf import settings

__all__ = ["Settings", "conf"]


class Settings:
    """Typed access to the ``MULTIDB_ROUTERS_*`` settings, with their defaults."""

    @property
    def PIN_COOKIE_NAME(self) -> str:
        """Name of the cookie that carries read-your-writes pins between requests."""
        return str(getattr(settings, "MULTIDB_ROUTERS_PIN_COOKIE_NAME", "multidb_pin"))

    @property
    def PIN_SECONDS(self) -> float:
        """Default time a client's reads stay on a primary after it wrote."""
        return float(getattr(settings, "MULTIDB_ROUTERS_PIN_SECONDS", 5.0))

    @property
    def ID_NODE(self) -> int | None:
        """This process's node number in sharded ids (0-8191), or ``None`` to derive one."""
        node = getattr(settings, "MULTIDB_ROUTERS_ID_NODE", None)
        return None if node is None else int(node)


conf = Settings()
