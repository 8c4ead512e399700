"""``settings.py`` with multidb_routers installed: its system checks run on the compat router."""

from __future__ import annotations

from tests.compat.settings import *  # noqa: F403

INSTALLED_APPS = ["multidb_routers"]
