"""Settings of a RestAuth-style project (docs/migrating.rst): ``"default": {}``."""

from __future__ import annotations

import os
from pathlib import Path

VAR = Path(os.environ["MULTIDB_TEST_VAR_DIR"])
SECRET_KEY = "not-secret"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "multidb_routers"]
DATABASES = {
    "default": {},
    "master-a": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR / "master-a.sqlite3")},
    "slave": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(VAR / "slave.sqlite3"),
        "TEST": {"MIRROR": "master-a"},
    },
}
SILENCED_SYSTEM_CHECKS = ["multidb_routers.W010"]  # no middleware in a commands-only project
DATABASE_ROUTERS = ["multidb_routers.presets.MultipleMasterSlave"]
