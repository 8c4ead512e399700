"""Settings a settings snippet of the docs runs on top of (see runner.py).

The apps the docs name (``reviews``, ``legacy``, ``billing``, ``shop``, ``metrics``) are
installed from ``tests/docs/apps``; what a snippet sets replaces these values, and its
placeholders (``{...}``, ``[..., "x"]``) are filled in by :func:`runner.complete`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "docs-snippets-not-secret"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "multidb_routers",
    "tests.docs.apps.reviews.apps.Config",
    "tests.docs.apps.legacy.apps.Config",
    "tests.docs.apps.billing.apps.Config",
    "tests.docs.apps.shop.apps.Config",
    "tests.docs.apps.metrics.apps.Config",
]
DATABASES: dict[str, dict[str, Any]] = {
    # "reviews": the alias admin.rst's ModelAdmin uses.
    alias: {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    for alias in ("default", "reviews")
}
DATABASE_ROUTERS: list[Any] = []
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
