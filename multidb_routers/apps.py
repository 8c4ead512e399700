"""Django app configuration: registers the system checks and installs connection guards."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class MultiDBRoutersConfig(AppConfig):
    """App config of multidb_routers."""

    name = "multidb_routers"
    verbose_name = "Multi-database routers"

    def ready(self) -> None:
        """Register the system checks and guard read-only connections."""
        from . import checks as router_checks

        for check in (
            router_checks.check_aliases,
            router_checks.check_labels,
            router_checks.check_overlapping_scopes,
            router_checks.check_relations,
            router_checks.check_routers,
        ):
            checks.register(check, "multidb_routers")

        from .overlay.checks import check_base_is_read_only

        # A database check: it connects (manage.py check --database ALIAS, migrate).
        checks.register(check_base_is_read_only, "multidb_routers", checks.Tags.database)

        from . import guards

        guards.install()
