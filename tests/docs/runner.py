"""Run one snippet of the docs in a process of its own (``python -m tests.docs.runner``).

``settings PAGE LINE``: the snippet is a settings module (on top of
``tests.docs.settings``); ``manage.py check`` must find no error.
``router PAGE LINE``: the snippet is one router expression, checked the same way as
``DATABASE_ROUTERS = [<snippet>]``.
``admin PAGE LINE PACKAGE``: the snippet is an ``admin.py`` of ``PACKAGE``; the admin
classes it registers must pass Django's admin checks.
``models PAGE LINE PACKAGE``: the snippet is a ``models.py`` of ``PACKAGE``; the models it
defines (in an isolated registry) must pass Django's model checks.
"""

from __future__ import annotations

import os
import re
import sys
import types
from typing import Any

from django.utils.module_loading import import_string

import multidb_routers
from multidb_routers.base import BaseRouter
from tests.docs.snippets import ROOT, Snippet, parse

PLACEHOLDER_ITEM = re.compile(r"(?<=[\[{(])\s*\.\.\.\s*,|,\s*\.\.\.\s*(?=[\]})])")
SQLITE = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}


def find(page: str, line: int) -> Snippet:
    """The snippet of ``page`` whose directive is on ``line``."""
    for snippet in parse(ROOT / page):
        if snippet.line == line:
            return snippet
    raise LookupError(f"no code block on {page}:{line}")


def source(snippet: Snippet) -> str:
    """The code with the docs' "and the rest" placeholders (``[..., "x"]``) left out."""
    return PLACEHOLDER_ITEM.sub("", snippet.code)


def complete(namespace: dict[str, Any], base: dict[str, Any]) -> None:
    """Fill a settings snippet's placeholders with the base settings' values."""
    databases = {}
    for alias, entry in namespace["DATABASES"].items():
        entry = dict(entry) if isinstance(entry, dict) else {}  # {...}: a set
        test = entry.get("TEST", {})
        # The engine and name do not matter to the checks; no connection is opened.
        databases[alias] = {**SQLITE, **({"TEST": test} if test else {})}
    namespace["DATABASES"] = databases
    for name in ("INSTALLED_APPS", "MIDDLEWARE"):
        if namespace[name] is not base[name]:  # the snippet's, maybe one entry and "..."
            namespace[name] = list(dict.fromkeys([*base[name], *namespace[name]]))
    routers = {
        key: value
        for key, value in namespace.items()
        if isinstance(value, type) and issubclass(value, BaseRouter)
    }
    # "myproject.routers.LegacyRouter": the classes the snippet defines, else
    # functional.rst's LegacyRouter.
    from tests.docs import myproject_routers

    package = types.ModuleType("myproject")
    module = types.ModuleType("myproject.routers")
    module.__dict__.update(vars(myproject_routers))
    module.__dict__.update(routers)
    package.routers = module  # type: ignore[attr-defined]
    sys.modules["myproject"] = package
    sys.modules["myproject.routers"] = module


def settings_module(kind: str, page: str, line: int) -> None:
    """Turn the calling settings module into the snippet's settings."""
    from tests.docs import settings as base

    namespace = sys.modules[os.environ["DJANGO_SETTINGS_MODULE"]].__dict__
    snippet = find(page, line)
    code = source(snippet)
    if kind == "router":
        code = f"from multidb_routers import *\nDATABASE_ROUTERS = [\n{code}]\n"
    # A fragment may use the library's routers without showing their import.
    namespace.update({name: getattr(multidb_routers, name) for name in multidb_routers.__all__})
    exec(compile(code, f"{page}:{line}", "exec"), namespace)
    own_databases = namespace["DATABASES"] is not base.DATABASES
    complete(namespace, vars(base))
    if not own_databases:  # the snippet shows routers only: give them their aliases
        for entry in namespace["DATABASE_ROUTERS"]:
            router = import_string(entry)() if isinstance(entry, str) else entry
            if not isinstance(router, BaseRouter):
                continue
            replica_set = getattr(router, "replica_set", None)
            for alias in sorted(router.aliases()):
                entry = namespace["DATABASES"].setdefault(alias, dict(SQLITE))
                if replica_set is not None and alias in replica_set.replicas:
                    entry["TEST"] = {"MIRROR": replica_set.primary}


def run_admin(page: str, line: int, package: str) -> int:
    """Exec an admin.py snippet in ``package`` on a fresh admin site; print its errors."""
    from unittest import mock

    import django
    from django.contrib.admin import sites

    django.setup()
    site = sites.AdminSite()
    namespace: dict[str, Any] = {"__name__": f"{package}.admin", "__package__": package}
    models = __import__(f"{package}.models", fromlist=["*"])
    namespace.update({k: v for k, v in vars(models).items() if not k.startswith("_")})
    with mock.patch.object(sites, "site", site):
        exec(compile(source(find(page, line)), f"{page}:{line}", "exec"), namespace)
    errors = [error for admin in site._registry.values() for error in admin.check()]
    for error in errors:
        print(error, file=sys.stderr)
    if not site._registry:
        print("the snippet registered no ModelAdmin", file=sys.stderr)
        return 1
    return 1 if errors else 0


def run_models(page: str, line: int, package: str) -> int:
    """Exec a models.py snippet in an isolated registry of ``package``; print its errors."""
    import django
    from django.db import models
    from django.test.utils import isolate_apps

    django.setup()
    namespace: dict[str, Any] = {"__name__": f"{package}.snippet_models"}
    with isolate_apps(package):
        exec(compile(source(find(page, line)), f"{page}:{line}", "exec"), namespace)
        defined = [
            value
            for value in namespace.values()
            if isinstance(value, type)
            and issubclass(value, models.Model)
            and value.__module__ == namespace["__name__"]
        ]
        errors = [error for model in defined for error in model.check()]
    for error in errors:
        print(error, file=sys.stderr)
    if not defined:
        print("the snippet defined no model", file=sys.stderr)
        return 1
    return 1 if errors else 0


if __name__ == "__main__":
    kind, page, line, package = sys.argv[1:]
    run = run_admin if kind == "admin" else run_models
    sys.exit(run(page, int(line), package))
