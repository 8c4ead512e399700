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
        from .concurrency import check_fanout_setting
        from .cross_database import check_cross_database_writes_setting

        for check in (
            router_checks.check_aliases,
            router_checks.check_labels,
            router_checks.check_overlapping_scopes,
            router_checks.check_relations,
            router_checks.check_routers,
            router_checks.check_stray_tables,
            check_fanout_setting,
            check_cross_database_writes_setting,
        ):
            checks.register(check, "multidb_routers")

        from .overlay.checks import check_base_is_read_only

        # A database check: it connects (manage.py check --database ALIAS, migrate).
        checks.register(check_base_is_read_only, "multidb_routers", checks.Tags.database)

        from . import guards

        guards.install()

        from . import cross_database

        cross_database.install()

        from .sharding import checks as shard_checks
        from .sharding.selection import install_lock_guard

        install_lock_guard()
        checks.register(shard_checks.check_shard_middleware, "multidb_routers")
        checks.register(shard_checks.check_placements, "multidb_routers", checks.Tags.database)

        from django.conf import settings

        from .base import BaseRouter

        # Routers made while settings loaded wait for their first call to check that this
        # app is installed; it is, so spare them that first detour.
        for router in getattr(settings, "DATABASE_ROUTERS", ()):
            if isinstance(router, BaseRouter):
                router.verified_installed()

        from django.db.models.signals import post_delete, post_save

        from . import request_signals
        from .sharding.placement import placement_changed

        # This process's placement cache follows its own changes at once (others' within
        # MULTIDB_ROUTERS_PLACEMENT_TTL). Connected here: the routers' import path stays
        # free of django.db.models.
        for signal in (post_save, post_delete):
            signal.connect(placement_changed, sender="multidb_routers.Placement")

        # Every request starts and ends its routing state, with or without the middleware,
        # and its routing counts.
        request_signals.connect()

        from .routes import log as routing_log

        # Routing reasons are collected only while someone listens: the DEBUG logger,
        # MULTIDB_ROUTERS_REQUEST_ROUTES, a test's record_routes(), the toolbar panel.
        routing_log.follow_logger()
