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
        from .concurrency import check_fanout_setting

        for check in (
            router_checks.check_aliases,
            router_checks.check_labels,
            router_checks.check_overlapping_scopes,
            router_checks.check_relations,
            router_checks.check_routers,
            check_fanout_setting,
        ):
            checks.register(check, "multidb_routers")

        from . import guards

        guards.install()
