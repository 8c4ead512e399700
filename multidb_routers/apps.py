"""Django app configuration: registers the system checks and installs connection guards."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class MultiDBRoutersConfig(AppConfig):
    """App config of multidb_routers."""

    name = "multidb_routers"
    verbose_name = "Multi-database routers"

    def ready(self) -> None:
        """Register the system checks, guard read-only connections, follow requests."""
        from . import checks as router_checks

        for check in (
            router_checks.check_aliases,
            router_checks.check_labels,
            router_checks.check_overlapping_scopes,
            router_checks.check_relations,
            router_checks.check_routers,
        ):
            checks.register(check, "multidb_routers")

        from . import guards

        guards.install()

        from django.core.signals import request_finished, request_started

        from .middleware import request_finished_receiver, request_started_receiver

        # Every request starts and ends its routing state, with or without the middleware.
        request_started.connect(request_started_receiver, dispatch_uid="multidb_routers.started")
        request_finished.connect(request_finished_receiver, dispatch_uid="multidb_routers.finished")
