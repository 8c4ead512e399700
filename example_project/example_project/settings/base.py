"""Settings every pattern of the example shares; a pattern module adds databases and routers.

A pattern module starts with ``from .base import *`` and sets ``DATABASES`` (with
:func:`sqlite`) and ``DATABASE_ROUTERS``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parents[2]

# The SQLite files live here, one folder per pattern; tests point it at a temporary folder.
VAR_DIR = Path(os.environ.get("EXAMPLE_VAR_DIR") or PROJECT_DIR / "var")


def sqlite(pattern: str, name: str, **extra: Any) -> dict[str, Any]:
    """A ``DATABASES`` entry for ``var/<pattern>/<name>.sqlite3``, creating the folder."""
    folder = VAR_DIR / pattern
    folder.mkdir(parents=True, exist_ok=True)
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": folder / f"{name}.sqlite3", **extra}


# The pattern a settings module shows (each sets its own; shown in the site's header).
EXAMPLE_PATTERN = ""

# A development key: this site is an example, never deployed.
SECRET_KEY = "example-project-not-secret"
DEBUG = os.environ.get("EXAMPLE_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "multidb_routers",
    "products",
    "reviews",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PROJECT_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "demo.context_processors.pattern",
            ]
        },
    }
]

AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-debug-toolbar with multidb_routers' RoutingPanel, for `make serve` (which sets
# EXAMPLE_TOOLBAR=1) and only with DEBUG. Not in the tests or `make demo` unless asked.
TOOLBAR = DEBUG and os.environ.get("EXAMPLE_TOOLBAR") == "1"
if TOOLBAR:
    INSTALLED_APPS.append("debug_toolbar")
    # First: the toolbar must see the response after PinningMiddleware set the pin cookie.
    MIDDLEWARE.insert(0, "debug_toolbar.middleware.DebugToolbarMiddleware")
    INTERNAL_IPS = ["127.0.0.1", "::1"]
    DEBUG_TOOLBAR_PANELS = [
        "debug_toolbar.panels.history.HistoryPanel",
        "debug_toolbar.panels.versions.VersionsPanel",
        "debug_toolbar.panels.timer.TimerPanel",
        "debug_toolbar.panels.settings.SettingsPanel",
        "debug_toolbar.panels.headers.HeadersPanel",
        "debug_toolbar.panels.request.RequestPanel",
        "debug_toolbar.panels.sql.SQLPanel",
        "multidb_routers.contrib.debug_toolbar.RoutingPanel",
        "debug_toolbar.panels.templates.TemplatesPanel",
        "debug_toolbar.panels.signals.SignalsPanel",
    ]
    # The browser test serves the site from pytest, whose environment the toolbar would
    # take for a test run (and then refuse to show itself).
    DEBUG_TOOLBAR_CONFIG = {"IS_RUNNING_TESTS": False}
