"""The code of docs/tenants.rst does what the page says."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from django.test import Client, override_settings
from django.urls import path

from multidb_routers.sharding import placement, use_shard
from tests.docs import tenants_usage
from tests.sharding.tenant_views import reviews
from tests.testapps.shard_app.models import Review

if TYPE_CHECKING:
    from collections.abc import Iterator

SHARDS = ["shard_0", "shard_1", "shard_2", "shard_3"]
pytestmark = [
    pytest.mark.django_db(databases=["default", *SHARDS]),
    pytest.mark.urls("tests.docs.test_tenants_docs"),
]
urlpatterns = [path("shops/<str:shop>/reviews/", reviews)]


@pytest.fixture(autouse=True)
def _tenant_settings() -> Iterator[None]:
    placement.clear_cache()
    with override_settings(
        DATABASE_ROUTERS=tenants_usage.DATABASE_ROUTERS,
        MIDDLEWARE=tenants_usage.MIDDLEWARE,
        MULTIDB_ROUTERS_SHARD_RESOLVER=tenants_usage.MULTIDB_ROUTERS_SHARD_RESOLVER,
    ):
        yield
    placement.clear_cache()


def test_the_settings_and_resolver_serve_each_shop_from_its_shard() -> None:
    router = tenants_usage.TENANT_ROUTER
    client = Client()
    client.post("/shops/5/reviews/", {"author": "by-path"})
    client.post("/shops/ignored/reviews/", {"author": "x"}, headers={"X-Shop": "6"})
    assert client.get("/shops/5/reviews/").json() == {
        "authors": ["by-path"],
        "read_from": router.shard_for(5),
    }
    assert Review.objects.using(router.shard_for(5)).get().product_id == 5
    assert router.shard_for(5) != "shard_3"  # placed_only: hashing never picks it


def test_the_resolver_gives_none_for_a_request_of_no_shop() -> None:
    from django.test import RequestFactory

    assert tenants_usage.shop_key(RequestFactory().get("/about/")) is None
    assert tenants_usage.shop_key(RequestFactory().get("/shops/9/")) == "9"


def test_the_job_works_on_one_shop_shard() -> None:
    router = tenants_usage.TENANT_ROUTER
    assert tenants_usage.nightly_report(11) == ["report"]
    assert Review.objects.using(router.shard_for(11)).get().product_id == 11
    with use_shard(12):
        assert list(Review.objects.all()) == []


def test_placing_a_big_shop_moves_its_routing(capsys: pytest.CaptureFixture[str]) -> None:
    assert tenants_usage.move_big_shop(tenants_usage.TENANT_ROUTER) == "shard_3"
    assert capsys.readouterr().out.strip() == "{'7': 'shard_3'}"
    Review.objects.create(product_id=7, author="big", created="2024-05-01T00:00:00Z")  # type: ignore[misc]
    assert Review.objects.using("shard_3").filter(product_id=7).exists()


def test_moving_a_shop_takes_its_rows_and_its_writes_along(settings: Any) -> None:
    settings.MULTIDB_ROUTERS_PLACEMENT_TTL = 0.05
    router = tenants_usage.TENANT_ROUTER
    source = router.shard_for(8)
    for n in range(5):
        tenants_usage.add_review(8, f"before {n}")

    tenants_usage.move_shop(8)

    assert router.shard_for(8) == "shard_3"
    assert not Review.objects.using(source).filter(product_id=8).exists()
    tenants_usage.add_review(8, "after")
    assert Review.objects.using("shard_3").filter(product_id=8).count() == 6


def test_a_write_refused_during_a_move_is_retried_until_it_lands(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from multidb_routers import ShardMovingError

    tries: list[int] = []
    create = Review.objects.create

    def refused_twice(**fields: Any) -> Review:
        tries.append(1)
        if len(tries) <= 2:
            raise ShardMovingError("moving")
        return create(**fields)

    monkeypatch.setattr(ShardMovingError, "retry_after", 0.0)
    monkeypatch.setattr(Review.objects, "create", refused_twice)
    review = tenants_usage.add_review(9, "patient")
    assert len(tries) == 3
    assert review.product_id == 9
