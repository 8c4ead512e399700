"""Settings of a project that forgot ``multidb_routers`` in INSTALLED_APPS."""

from __future__ import annotations

import os
from pathlib import Path

from multidb_routers import FunctionalRouter

VAR = Path(os.environ["MULTIDB_TEST_VAR_DIR"])
SECRET_KEY = "not-secret"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes"]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR / "default.sqlite3")},
    "users": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR / "users.sqlite3")},
}
DATABASE_ROUTERS = [FunctionalRouter(routes={"auth": "users", "contenttypes": "users"})]
