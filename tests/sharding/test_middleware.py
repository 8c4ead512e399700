"""ShardMiddleware through the Django test client: each request on its shop's shard, locked."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import AsyncClient, Client, override_settings

from multidb_routers import ShardKeyError, ShardLockError
from multidb_routers.sharding import require_shard_router
from multidb_routers.sharding.checks import check_shard_middleware
from multidb_routers.sharding.middleware import ShardMiddleware
from tests.testapps.shard_app.models import Review

SHARDS = ["shard_0", "shard_1", "shard_2", "shard_3"]
MIDDLEWARE = ["multidb_routers.sharding.middleware.ShardMiddleware"]
pytestmark = [
    pytest.mark.django_db(databases=["default", *SHARDS]),
    pytest.mark.urls("tests.sharding.tenant_views"),
]
by_path = override_settings(
    MIDDLEWARE=MIDDLEWARE,
    MULTIDB_ROUTERS_SHARD_RESOLVER="tests.sharding.tenant_views.shop_from_path",
)


def _outside(key: int) -> int:
    router = require_shard_router(Review)
    return next(k for k in range(1000) if router.shard_for(k) != router.shard_for(key))


@by_path
def test_each_request_reads_and_writes_its_shop_shard_only() -> None:
    client = Client()
    other = _outside(7)
    assert client.post("/shops/7/reviews/", {"author": "ann"}).status_code == 200
    client.post(f"/shops/{other}/reviews/", {"author": "zed"})
    body = client.get("/shops/7/reviews/").json()
    assert body == {"authors": ["ann"], "read_from": require_shard_router(Review).shard_for(7)}
    assert client.get(f"/shops/{other}/reviews/").json()["authors"] == ["zed"]
    assert list(Review.objects.shard(7).values_list("author", flat=True)) == ["ann"]


@by_path
def test_a_request_cannot_reach_another_shop_shard_by_default() -> None:
    with pytest.raises(ShardLockError):
        Client().get(f"/shops/7/other/{_outside(7)}/")
    with pytest.raises(ShardLockError, match="every shard"):
        Client().get("/shops/7/all/")


@by_path
def test_locking_is_turned_off_by_the_setting_or_the_middleware_attribute() -> None:
    with override_settings(MULTIDB_ROUTERS_SHARD_LOCK=False):
        assert Client().get(f"/shops/7/other/{_outside(7)}/").json() == {"count": 0}

    class Unlocked(ShardMiddleware):
        lock = False

    middleware = Unlocked(lambda request: None)  # type: ignore[arg-type,return-value]
    assert middleware.lock is False
    with override_settings(MIDDLEWARE=[f"{__name__}.UnlockedMiddleware"]):
        assert Client().get("/shops/7/all/").json() == {"count": 0}


class UnlockedMiddleware(ShardMiddleware):
    lock = False


@by_path
def test_a_request_without_a_shop_keeps_refusing_keyless_queries() -> None:
    with pytest.raises(ShardKeyError):
        Client().get("/plain/")


@by_path
def test_a_shop_no_key_field_accepts_is_a_400_not_a_500() -> None:
    response = Client(raise_request_exception=False).get("/shops/not-a-number/reviews/")
    assert response.status_code == 400


@override_settings(
    MIDDLEWARE=MIDDLEWARE,
    MULTIDB_ROUTERS_SHARD_RESOLVER="tests.sharding.tenant_views.shop_from_header",
)
def test_the_resolver_is_read_at_call_time_and_may_use_a_header() -> None:
    Review.objects.create(product_id=7, author="ann", created="2024-05-01T00:00:00Z")  # type: ignore[misc]
    response = Client().get("/shops/ignored/reviews/", headers={"X-Shop": " 7"})
    assert response.json()["authors"] == ["ann"]


@pytest.mark.django_db(databases=["default", *SHARDS], transaction=True)
@by_path
def test_the_async_path_runs_the_view_on_the_shop_shard() -> None:
    async def get() -> Any:
        return await AsyncClient().get("/shops/7/async/")

    response = async_to_sync(get)()
    assert response.json() == {
        "authors": [],
        "read_from": require_shard_router(Review).shard_for(7),
    }


def test_the_middleware_is_sync_and_async_capable() -> None:
    assert ShardMiddleware.sync_capable
    assert ShardMiddleware.async_capable


@pytest.mark.parametrize(
    ("settings_", "expected"),
    [
        ({"MULTIDB_ROUTERS_SHARD_RESOLVER": "tests.sharding.tenant_views.missing"}, "E023"),
        ({"MULTIDB_ROUTERS_SHARD_RESOLVER": "no.such.module.resolver"}, "E023"),
        ({"MULTIDB_ROUTERS_SHARD_RESOLVER": 42}, "E023"),
        ({"MULTIDB_ROUTERS_SHARD_RESOLVER": "tests.sharding.tenant_views.NOT_CALLABLE"}, "E024"),
        ({"MULTIDB_ROUTERS_SHARD_RESOLVER": None}, "E025"),
    ],
)
@pytest.mark.django_db(databases="__all__")  # Django 6.1 checks models on every alias
def test_checks_name_a_bad_resolver(settings_: dict[str, object], expected: str) -> None:
    with override_settings(MIDDLEWARE=MIDDLEWARE, **settings_):
        ids = [message.id for message in check_shard_middleware()]
        assert ids == [f"multidb_routers.{expected}"]
        with pytest.raises(SystemCheckError, match=expected):
            call_command("check")


def test_a_resolver_without_the_middleware_is_a_warning() -> None:
    with override_settings(
        MULTIDB_ROUTERS_SHARD_RESOLVER="tests.sharding.tenant_views.shop_from_path"
    ):
        assert [m.id for m in check_shard_middleware()] == ["multidb_routers.W021"]
    with by_path:
        assert check_shard_middleware() == []


def shop_from_the_database(request: Any) -> object:
    """A resolver that queries: the shop of the path, if a review of it exists."""
    key = request.path.split("/")[2]
    return Review.objects.shard(key).values_list("product_id", flat=True).first()


@pytest.mark.django_db(databases=["default", *SHARDS], transaction=True)
def test_async_requests_may_resolve_by_query_and_read_the_directory() -> None:
    from multidb_routers import ShardRouter
    from multidb_routers.sharding import placement

    router = ShardRouter(
        shards=SHARDS, apps=["shard_app.Review"], shard_key="product_id", directory="shops"
    )
    target = next(alias for alias in SHARDS if alias != router.shard_for(7))
    placement.clear_cache()
    with override_settings(
        DATABASE_ROUTERS=[router],
        MIDDLEWARE=MIDDLEWARE,
        MULTIDB_ROUTERS_SHARD_RESOLVER=f"{__name__}.shop_from_the_database",
    ):
        router.place(7, target)
        Review.objects.create(product_id=7, author="ann", created="2024-05-01T00:00:00Z")  # type: ignore[misc]
        placement.clear_cache()  # the request's own validation reads the directory

        async def get() -> Any:
            return await AsyncClient().get("/shops/7/async/")

        response = async_to_sync(get)()
        assert response.json() == {"authors": ["ann"], "read_from": target}
    placement.clear_cache()
