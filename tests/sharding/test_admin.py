"""ShardedModelAdmin through the test client as a superuser."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pytest
from django.urls import reverse

from multidb_routers.sharding import require_shard_router
from tests.testapps.shard_app.models import Review

if TYPE_CHECKING:
    from django.test import Client

SHARDS = ["shard_0", "shard_1", "shard_2", "shard_3"]
NOW = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
pytestmark = pytest.mark.django_db(databases=["default", "users", *SHARDS])


def _url(view: str, *args: object) -> str:
    return reverse(f"admin:shard_app_review_{view}", args=args)


def _holders(pk: int) -> list[str]:
    return [alias for alias in SHARDS if Review._base_manager.using(alias).filter(pk=pk).exists()]


@pytest.fixture
def reviews() -> list[Review]:
    return [Review.objects.create(product_id=n, author=f"a{n}", created=NOW) for n in range(16)]


@pytest.mark.usefixtures("reviews")
def test_the_changelist_shows_one_shard_at_a_time(admin_client: Client) -> None:
    router = require_shard_router(Review)
    for alias in (None, "shard_2"):
        response = admin_client.get(_url("changelist"), {"shard": alias} if alias else {})
        shown = {review.product_id for review in response.context["cl"].result_list}
        expected = {n for n in range(16) if router.shard_for(n) == (alias or "shard_0")}
        assert shown == expected
        assert f"?shard={alias or 'shard_0'}" in response.content.decode()


@pytest.mark.parametrize("alias", ["default", "shard_4", "bogus"])
def test_the_shard_filter_accepts_only_the_router_aliases(admin_client: Client, alias: str) -> None:
    response = admin_client.get(_url("changelist"), {"shard": alias})
    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


def test_add_saves_the_row_on_the_shard_of_its_key(admin_client: Client) -> None:
    data = {"product_id": 11, "author": "new", "rating": 3, "created_0": "2024-05-01"}
    response = admin_client.post(_url("add"), {**data, "created_1": "10:00:00"})
    assert response.status_code == 302
    review = Review.objects.shard(11).get(author="new")
    assert _holders(review.pk) == [require_shard_router(Review).shard_for(11)]


def test_change_finds_the_row_on_its_shard_and_saves_it_there(
    admin_client: Client, reviews: list[Review]
) -> None:
    review = next(r for r in reviews if r._state.db == "shard_3")
    page = _url("change", review.pk)
    assert admin_client.get(page).status_code == 200
    data = {"product_id": review.product_id, "author": "changed", "created_0": "2024-05-01"}
    response = admin_client.post(page, {**data, "created_1": "10:00:00"})
    assert response.status_code == 302
    assert Review.objects.on_shard("shard_3").get(pk=review.pk).author == "changed"
    assert _holders(review.pk) == ["shard_3"]
    assert admin_client.get(_url("history", review.pk)).status_code == 200


def test_delete_removes_the_row_from_its_shard(admin_client: Client, reviews: list[Review]) -> None:
    review = next(r for r in reviews if r._state.db == "shard_1")
    assert admin_client.get(_url("delete", review.pk)).status_code == 200
    response = admin_client.post(_url("delete", review.pk), {"post": "yes"})
    assert response.status_code == 302
    assert _holders(review.pk) == []


@pytest.mark.parametrize("object_id", ["123", "not-a-number"])
def test_a_missing_or_malformed_id_leads_back_to_the_admin_index(
    admin_client: Client, object_id: str
) -> None:
    response = admin_client.get(_url("change", object_id))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")


def _tenant_settings() -> Any:
    from django.conf import settings
    from django.test import override_settings

    return override_settings(
        MIDDLEWARE=[*settings.MIDDLEWARE, "multidb_routers.sharding.middleware.ShardMiddleware"],
        MULTIDB_ROUTERS_SHARD_RESOLVER="tests.sharding.tenant_views.shop_from_header",
    )


@pytest.mark.usefixtures("reviews")
def test_inside_a_locked_shop_request_the_admin_works_on_that_shop_shard(
    admin_client: Client,
) -> None:
    router = require_shard_router(Review)
    key = next(n for n in range(16) if router.shard_for(n) != "shard_0")
    home = router.shard_for(key)
    with _tenant_settings():
        headers = {"X-Shop": str(key)}
        response = admin_client.get(_url("changelist"), headers=headers)
        shown = {review.product_id for review in response.context["cl"].result_list}
        assert shown == {n for n in range(16) if router.shard_for(n) == home}
        mine = Review.objects.shard(key).get()
        assert admin_client.get(_url("change", mine.pk), headers=headers).status_code == 200
        data = {"product_id": key, "author": "added", "rating": 3, "created_0": "2024-05-01"}
        response = admin_client.post(_url("add"), {**data, "created_1": "10:00"}, headers=headers)
        assert response.status_code == 302
        assert _holders(Review.objects.shard(key).get(author="added").pk) == [home]
        # Another shop's row is not found from this shop's request, never shown.
        theirs = Review.objects.shard(next(n for n in range(16) if router.shard_for(n) != home))
        response = admin_client.get(_url("change", theirs.get().pk), headers=headers)
        assert response.status_code == 302  # Django's "doesn't exist" redirect
