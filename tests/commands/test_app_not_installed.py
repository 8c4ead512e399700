"""Routers used without ``multidb_routers`` in INSTALLED_APPS say so, instead of going silent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from multidb_routers import FunctionalRouter
from tests.testapps.legacy_app.models import Customer

ROOT = Path(__file__).resolve().parents[2]
FIX = "Add 'multidb_routers' to INSTALLED_APPS"


def django(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m django ARGS`` in a project without ``multidb_routers`` installed."""
    return python(tmp_path, "-m", "django", *args)


def python(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` with the settings of a project without ``multidb_routers``."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.commands.settings_without_app",
        "MULTIDB_TEST_VAR_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_fails_naming_the_missing_app(tmp_path: Path) -> None:
    result = django(tmp_path, "check")

    assert result.returncode == 1
    assert "(multidb_routers.E005)" in result.stderr
    assert FIX in result.stderr


def test_a_query_through_the_routers_fails_naming_the_missing_app(tmp_path: Path) -> None:
    code = (
        "import django; django.setup()\n"
        "from django.contrib.auth.models import User\n"
        "User.objects.count()\n"
    )
    result = python(tmp_path, "-c", code)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert FIX in result.stderr


def test_a_router_made_once_apps_are_ready_refuses_at_once() -> None:
    without = override_settings(
        INSTALLED_APPS=["django.contrib.contenttypes", "tests.testapps.legacy_app"]
    )
    with without, pytest.raises(ImproperlyConfigured, match=FIX):
        FunctionalRouter(routes={"legacy_app": "legacy"})


def test_routers_of_the_settings_route_without_the_first_call_check_from_the_start() -> None:
    from django.conf import settings

    for router in settings.DATABASE_ROUTERS:
        # Only the routing functions configure() made (PrimaryReplicaRouter's db_for_read).
        own = {"db_for_read", "db_for_write", "allow_migrate"} & set(vars(router))
        assert {name: vars(router)[name] for name in own} == router._routing_functions


def test_a_primary_replica_router_made_while_settings_load_keeps_its_routing_function() -> None:
    from django.apps import apps

    from multidb_routers import PrimaryReplicaRouter, use_primary
    from tests.testapps.replica_app.models import Review

    apps.apps_ready = False
    try:
        router = PrimaryReplicaRouter(primary="reviews", replicas=["reviews_replica1"])
    finally:
        apps.apps_ready = True
    function = router._routing_functions["db_for_read"]
    assert vars(router)["db_for_read"] is not function  # the first-call check, until called

    with use_primary():
        assert router.db_for_read(Review) == "reviews"
    assert vars(router)["db_for_read"] is function


def test_the_first_routing_call_checks_once_then_leaves_the_hot_path_alone() -> None:
    router = FunctionalRouter(routes={"legacy_app": "legacy"})

    assert router.db_for_read(Customer) == "legacy"
    assert "db_for_read" not in vars(router)
    assert type(router).db_for_read is FunctionalRouter.db_for_read
