"""Settings for django-multidb-router's own test module, run against the compat layer.

The layout of that package's ``test_settings.py`` (``default`` and one replica named
by ``REPLICA_DATABASES``), with its router and middleware named by their
django-multidb-router paths: ``run_upstream.py`` points ``multidb`` at
``multidb_routers.compat.multidb``, so these are the compat classes. multidb_routers is
not in ``INSTALLED_APPS``: a project switches by changing import paths only
(``settings_checked.py`` adds the app, so that its system checks run too).
"""

from __future__ import annotations

from typing import Any

SECRET_KEY = "multidb-routers-compat-tests-not-secret"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

DATABASES: dict[str, dict[str, Any]] = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    "replica": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
}
REPLICA_DATABASES = ["replica"]

INSTALLED_APPS: list[str] = []
DATABASE_ROUTERS = ["multidb.PinningReplicaRouter"]
MIDDLEWARE = ["multidb.middleware.PinningRouterMiddleware"]
