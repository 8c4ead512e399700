"""How the test suite runs each Python code block of the docs (see test_snippets.py).

Every ``.. code-block:: python`` of docs/*.rst and README.rst must be listed here, by
its page and first line (a repeated first line gets `` #2``). A new snippet fails the
suite until it is listed; an entry whose snippet is gone fails it too. Modes:

``settings``
    A settings module, on top of ``tests/docs/settings.py`` (which installs the apps
    the docs name); ``manage.py check`` must find no error.
``router``
    One router expression, checked as ``DATABASE_ROUTERS = [<snippet>]``.
``example:PATTERN``
    A copy of ``example_project``'s settings of that pattern: executed on its base
    settings, it must give the same DATABASES, DATABASE_ROUTERS and MIDDLEWARE.
``module``
    Definitions executed with the library's public names imported.
``models:PACKAGE`` / ``admin:PACKAGE``
    A ``models.py`` / ``admin.py`` of a docs app: its models / registered admins must
    pass Django's checks.
``query``
    Executed against the test databases, in a context test_snippets.py gives it.
``skip: REASON``
    Not run; the reason says why and where the behaviour is tested instead.
``broken: REASON``
    Known to fail (an expected failure, strict): the reason names the error. Fix the
    snippet, then change its mode.
"""

from __future__ import annotations

DOCS_APPS = "tests.docs.apps"

MODES: dict[str, str] = {
    "README.rst: INSTALLED_APPS = [": "settings",
    "README.rst: from multidb_routers import FunctionalRouter, PrimaryReplicaRouter": "settings",
    "docs/admin.rst: # reviews/admin.py": f"admin:{DOCS_APPS}.reviews",
    "docs/admin.rst: from django.contrib.admin.options import InlineModelAdmin": "module",
    "docs/api.rst: from multidb_routers import use_primary": "query",
    "docs/example.rst: DATABASES = {": "example:functional",
    'docs/example.rst: REPLICAS = ["reviews_replica_1", "reviews_replica_2"]': "example:replica",
    'docs/example.rst: SHARDS = [f"reviews_{number}" for number in range(4)]': "example:sharded",
    "docs/example.rst: DATABASES = { #2": "example:overlay",
    "docs/faq.rst: DATABASE_ROUTERS = [": "settings",
    "docs/functional.rst: from multidb_routers import FunctionalRouter": "settings",
    "docs/functional.rst: # myproject/routers.py": "settings",
    "docs/functional.rst: class ArchiveRouter(FunctionalRouter):": "module",
    "docs/installation.rst: INSTALLED_APPS = [": "settings",
    "docs/overlay.rst: from multidb_routers import OverlayRouter": "settings",
    'docs/overlay.rst: DATABASES["base"] = {': (
        "skip: needs a PostgreSQL server with that role; the role's SQL and check E033 run "
        "against the suite's cluster in tests/overlay/test_base_role_check.py"
    ),
    "docs/overlay.rst: # shop/models.py": f"models:{DOCS_APPS}.shop",
    'docs/overlay.rst: Product.objects.filter(price__lt=50).order_by("-price")[:10]   # merged': (
        "skip: needs a base snapshot holding the products anvil and bucket; the merged "
        "view's reads and writes are tested in tests/overlay/test_merged.py"
    ),
    "docs/transactions.rst: from multidb_routers import atomic": "query",
    "docs/transactions.rst: import warnings": "query",
    'docs/transactions.rst: MULTIDB_ROUTERS_CROSS_DATABASE_WRITES = "error"': "settings",
    "docs/replication.rst: from multidb_routers import PrimaryReplicaRouter": "settings",
    "docs/replication.rst: PrimaryReplicaRouter(": "router",
    "docs/replication.rst: lag_aware = PrimaryReplicaRouter(": "module",
    "docs/replication.rst: from multidb_routers import use_primary": (
        "skip: Account is an illustration, no model of the suite; use_primary() as a "
        "context manager and on sync and async functions is tested in "
        "tests/replication/test_pinning.py"
    ),
    "docs/replication.rst: from multidb_routers.replication.replica_set import ReplicaSet": "query",
    "docs/replication.rst: import pytest": "module",
    "docs/resharding.rst: ShardRouter(shards=["
    '"shard_0", "shard_1", "shard_2", "shard_3", "shard_4"],': "router",
    "docs/resharding.rst: DATABASES = {": "settings",
    "docs/routing.rst: from multidb_routers.routes import listen": "query",
    'docs/routing.rst: MULTIDB_ROUTERS_REQUEST_ROUTES = "log"': "settings",
    "docs/routing.rst: from multidb_routers.routes import request_counts": "module",
    "docs/routing.rst: DEBUG_TOOLBAR_PANELS = [": "settings",
    "docs/sharding.rst: # settings.py": "settings",
    "docs/sharding.rst: # reviews/models.py": f"models:{DOCS_APPS}.reviews",
    "docs/sharding.rst: from django.contrib import admin": f"admin:{DOCS_APPS}.reviews",
    "docs/testing.rst: import pytest": "module",
}
