"""The snippets docs/migrating.rst includes from tests/compat/migrating/ do what it says."""

from __future__ import annotations

import contextvars
import importlib
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.db import connections
from django.test import RequestFactory, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils.module_loading import import_string

import multidb_routers.compat.multidb as compat
import multidb_routers.compat.multidb.middleware as compat_middleware
import multidb_routers.compat.multidb.pinning as compat_pinning
from multidb_routers import PrimaryReplicaRouter
from multidb_routers.middleware import PinningMiddleware
from tests.compat.migrating import replicated, step1_views, step2_views
from tests.testapps.replica_app.models import Review

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

    from django.http import HttpRequest, HttpResponseBase

SNIPPETS = Path(__file__).parent / "migrating"
DATABASES = ["default", "reviews", "reviews_replica1", "reviews_replica2"]
factory = RequestFactory()


def settings_of(module: ModuleType) -> dict[str, Any]:
    return {name: getattr(module, name) for name in dir(module) if name.isupper()}


def body(path: Path) -> str:
    """The settings themselves, from ``DATABASES`` on (the docstrings differ)."""
    text = path.read_text()
    return text[text.index("DATABASES") :]


def test_step_1_changes_import_paths_only() -> None:
    before = body(SNIPPETS / "before_settings.py")
    assert "multidb." in before
    after = before.replace('"multidb.', '"multidb_routers.compat.multidb.')
    assert body(SNIPPETS / "step1_settings.py") == after


def test_the_old_and_the_new_paths_name_the_same_compat_classes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = importlib.import_module("tests.compat.migrating.before_settings")
    after = importlib.import_module("tests.compat.migrating.step1_settings")
    new = [import_string(path) for path in [*after.DATABASE_ROUTERS, *after.MIDDLEWARE]]
    assert new[0] is compat.PinningReplicaRouter
    assert new[1] is compat_middleware.PinningRouterMiddleware
    # What run_upstream.py does for django-multidb-router's own suite.
    monkeypatch.setitem(sys.modules, "multidb", compat)
    monkeypatch.setitem(sys.modules, "multidb.middleware", compat_middleware)
    monkeypatch.setitem(sys.modules, "multidb.pinning", compat_pinning)
    old = [import_string(path) for path in [*before.DATABASE_ROUTERS, *before.MIDDLEWARE]]
    assert old == new


def test_step_1_settings_route_and_pin_as_before() -> None:
    step1 = importlib.import_module("tests.compat.migrating.step1_settings")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Django warns about overriding DATABASES
        overridden = override_settings(**settings_of(step1))
        overridden.enable()
    try:
        router = import_string(step1.DATABASE_ROUTERS[0])()
        reads = {router.db_for_read(None) for _ in range(4)}
        assert reads == {"replica-1", "replica-2"}
        with compat_pinning.use_primary_db:
            assert router.db_for_read(None) == "default"
        middleware = import_string(step1.MIDDLEWARE[0])
        response = middleware(lambda request: step1_views.HttpResponse())(factory.post("/"))
        assert response.cookies["multidb_pin_writes"]["max-age"] == 5
        # As django-multidb-router did, the replicas became test mirrors of default.
        assert step1.DATABASES["replica-1"]["TEST"]["MIRROR"] == "default"
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            overridden.disable()


def test_step_2_settings_configure_the_native_router_and_pass_its_checks() -> None:
    step2 = importlib.import_module("tests.compat.migrating.step2_settings")
    router = step2.DATABASE_ROUTERS[0]
    assert isinstance(router, PrimaryReplicaRouter)
    assert router.replica_set.replicas == ("replica-1", "replica-2")
    assert router.replica_set.pin_seconds == 5
    assert import_string(step2.MIDDLEWARE[0]) is PinningMiddleware
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        overridden = override_settings(**settings_of(step2))
        overridden.enable()
    try:
        assert router.check_config(name="step2", databases=step2.DATABASES) == []
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            overridden.disable()


def primary_queries(view: Callable[..., HttpResponseBase], request: HttpRequest, pk: int) -> Any:
    with CaptureQueriesContext(connections["reviews"]) as queries:
        response = view(request, pk)
    return response, [query["sql"] for query in queries.captured_queries]


def create_review(title: str) -> Any:
    """A row on the primary, without pinning this context (the write runs in a copy)."""
    return contextvars.copy_context().run(Review.objects.create, title=title, stars=1)


@pytest.mark.django_db(databases=DATABASES, transaction=True)
@pytest.mark.parametrize(
    ("views", "middleware", "cookie"),
    [
        (step1_views, compat_middleware.PinningRouterMiddleware, "multidb_pin_writes"),
        (step2_views, PinningMiddleware, "multidb_pin"),
    ],
    ids=["step1", "step2"],
)
def test_the_views_of_each_step_read_their_write_from_the_primary_and_pin_the_client(
    views: ModuleType, middleware: type, cookie: str
) -> None:
    review = create_review("Sturdy")
    handler = middleware(lambda request: views.star(request, review.pk))
    with CaptureQueriesContext(connections["reviews"]) as queries:
        response = handler(factory.get("/"))
    assert response.content == b"5"
    assert cookie in response.cookies
    assert sum("SELECT" in query["sql"] for query in queries.captured_queries) == 1
    response, sql = primary_queries(views.confirm, factory.get("/"), review.pk)
    assert response.content == b"Sturdy"
    assert any("SELECT" in statement for statement in sql)


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_the_admin_on_primary_middleware_reads_admin_pages_from_the_primary() -> None:
    review = create_review("Admin")

    def view(request: HttpRequest) -> Any:
        return step1_views.HttpResponse(Review.objects.get(pk=review.pk).title)

    handler = replicated.admin_on_primary(view)
    with CaptureQueriesContext(connections["reviews"]) as queries:
        assert handler(factory.get("/admin/reviews/")).content == b"Admin"
    assert len(queries.captured_queries) == 1
    with CaptureQueriesContext(connections["reviews"]) as queries:
        assert handler(factory.get("/reviews/")).content == b"Admin"
    assert queries.captured_queries == []


def test_the_django_replicated_settings_configure_the_native_router() -> None:
    router = replicated.DATABASE_ROUTERS[0]
    assert router.replica_set.replicas == ("slave1", "slave2")
    assert router.replica_set.recheck_seconds == 20
    assert import_string(replicated.MIDDLEWARE[0]) is PinningMiddleware
