"""The primary/replica benchmarks' site: importing this module configures Django.

``default``, two replicas and ``other_primary``, each its own in-memory SQLite database
(shared cache, so a fresh thread's connection sees the same rows), each holding the same
rows of
:class:`~benchmarks.item.Item`. ``bench_replica`` and ``bench_routes`` import it first
(settings are configured once per process: each benchmark module runs in its own).
"""

from __future__ import annotations

import django
from django.conf import settings

REPLICAS = ["replica1", "replica2"]
#: A primary whose replica is ``default``: routed reads then hit the database that reads
#: without a router hit, so that only the routing differs (``bench_replica``'s ORM goals).
OTHER_PRIMARY = "other_primary"
ALIASES = ["default", *REPLICAS, OTHER_PRIMARY]

settings.configure(
    DEBUG=False,
    USE_TZ=True,
    SECRET_KEY="bench",
    ALLOWED_HOSTS=["*"],
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    INSTALLED_APPS=["multidb_routers"],
    DATABASES={
        alias: {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": f"file:bench_replica_{alias}?mode=memory&cache=shared",
            "OPTIONS": {"uri": True},
        }
        for alias in ALIASES
    },
    DATABASE_ROUTERS=[],
    MIDDLEWARE=[],
    ROOT_URLCONF="benchmarks.replica_urls",  # the rows through Django's handler
    REPLICA_DATABASES=REPLICAS,  # django-multidb-router's setting
)
django.setup()

from django.db import connections  # noqa: E402

from benchmarks.item import Item  # noqa: E402


def create_tables() -> None:
    """The item table with one row on every alias."""
    for alias in ALIASES:
        with connections[alias].schema_editor() as editor:
            editor.create_model(Item)
        Item.objects.using(alias).create(name="one")


def read() -> Item | None:
    """The measured ORM read."""
    return Item.objects.filter(pk=1).first()
