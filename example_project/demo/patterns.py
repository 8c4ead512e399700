"""What each pattern needs before the site can run: tables, seed data, replicas, snapshot.

Shared by ``manage.py demo`` and ``manage.py seed`` (which ``make serve`` runs).
"""

from __future__ import annotations

from io import StringIO
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connections
from django.db import router as connection_router
from django.test import override_settings
from products.models import Product
from reviews import catalogue
from reviews.models import Review

from demo.files import copy_database, database_file
from demo.seed import seed_products, seed_reviews
from multidb_routers import PrimaryReplicaRouter
from multidb_routers.overlay import find_overlay_router

if TYPE_CHECKING:
    from collections.abc import Callable

#: Reviews seeded by default, per pattern: the demo runs all four in under a minute.
DEFAULT_REVIEWS = 10_000


def pattern() -> str:
    """The pattern of the settings module (``EXAMPLE_PATTERN``)."""
    return str(getattr(settings, "EXAMPLE_PATTERN", "") or "functional")


def replica_router() -> PrimaryReplicaRouter | None:
    """The ``PrimaryReplicaRouter`` replicating reviews, if the settings have one."""
    for router in connection_router.routers:
        if isinstance(router, PrimaryReplicaRouter) and router.claimed_aliases(Review):
            return router
    return None


def migrate() -> None:
    """``migrate_all``: each alias gets the tables its routers allow."""
    call_command("migrate_all", interactive=False, verbosity=0, stdout=StringIO())


def sync_replicas() -> list[str]:
    """Copy the reviews primary's file over its replicas' files; return the replicas."""
    router = replica_router()
    if router is None:
        return []
    replicas = list(router.replica_set.replicas)
    copy_database(router.replica_set.primary, replicas)
    return replicas


def build_snapshot(count: int, progress: Callable[[int], None] | None = None) -> str:
    """Build a fresh "production" database on the overlay's base; return its alias.

    Production would be migrated and filled by its own settings, where nothing is
    read-only; here that is imitated with the routers off (so nothing is guarded) for
    the time of the build. The connection is closed afterwards, so the next one gets the
    guard.
    """
    router = find_overlay_router(Product)
    assert router is not None
    alias = router.base_alias
    connections[alias].close()
    database_file(alias).unlink(missing_ok=True)
    with override_settings(DATABASE_ROUTERS=[]):
        call_command(
            "migrate",
            database=alias,
            interactive=False,
            verbosity=0,
            skip_checks=True,
            stdout=StringIO(),
        )
        products = seed_products(using=alias)
        seed_reviews(products, count, using=alias, progress=progress)
    connections[alias].close()
    return alias


def has_data() -> bool:
    """True when the site has products to show."""
    try:
        return bool(catalogue.products().exists())
    except DatabaseError:  # no table yet
        return False


def seed(count: int, progress: Callable[[int], None] | None = None) -> None:
    """Fill the pattern's databases: migrate, seed (or build the snapshot), copy replicas."""
    if find_overlay_router(Product) is not None:
        build_snapshot(count, progress)
        migrate()
        call_command("overlay_reset", interactive=False, stdout=StringIO())
        return
    migrate()
    seed_reviews(seed_products(), count, progress=progress)
    sync_replicas()
