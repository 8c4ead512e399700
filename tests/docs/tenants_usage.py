"""The code of docs/tenants.rst (included there), run by test_tenants_docs.py."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from multidb_routers import ShardMovingError, ShardRouter
from multidb_routers.sharding import use_shard
from tests.testapps.shard_app.models import Review

if TYPE_CHECKING:
    from django.http import HttpRequest

# [settings]
TENANT_ROUTER = ShardRouter(
    shards=[
        "shard_0",
        "shard_1",
        "shard_2",
        {"primary": "shard_3", "placed_only": True},  # for the tenants placed there
    ],
    apps=["shard_app.Review"],
    shard_key="product_id",  # the tenant: every row carries it
    directory="shops",  # the placement directory's name for this router
)
DATABASE_ROUTERS = [TENANT_ROUTER]
MIDDLEWARE = ["multidb_routers.sharding.middleware.ShardMiddleware"]
MULTIDB_ROUTERS_SHARD_RESOLVER = "tests.docs.tenants_usage.shop_key"
# [settings]


# [resolver]
def shop_key(request: HttpRequest) -> str | None:
    """The shop of a request: ``/shops/<id>/...``, else the ``X-Shop`` header, else none."""
    parts = request.path.split("/")
    if len(parts) > 2 and parts[1] == "shops" and parts[2]:
        return parts[2]
    return request.headers.get("X-Shop")  # None: a request of no shop
    # [resolver]


def nightly_report(shop_id: int) -> list[str]:
    """A background job working for one shop, outside any request."""
    # [job]
    with use_shard(shop_id, lock=True):
        # No key to pass: every query of a sharded model goes to the shop's shard, and
        # reaching another shard raises ShardLockError.
        Review.objects.create(author="report", created=dt.datetime.now(dt.timezone.utc))
        return list(Review.objects.values_list("author", flat=True))
    # [job]


def move_big_shop(router: ShardRouter) -> str:
    """Give shop 7 its own database before it writes its first row."""
    # [place]
    router.place(7, "shard_3")  # from now on, shop 7's rows live on shard_3
    assert router.shard_for(7) == "shard_3"  # every process follows within the TTL
    print(router.placements())  # {'7': 'shard_3'}
    # [place]
    return router.shard_for(7)


def move_shop(shop_id: int) -> None:
    """Move every row of a shop to its own database, then route it there."""
    # [move]
    from multidb_routers.sharding import move_shard_key

    # Same as: manage.py move_shard_key shard_app.Review --key 8 --to shard_3
    move_shard_key(Review, shop_id, to="shard_3")
    # [move]


# [retry]
def add_review(shop_id: int, author: str) -> Review:
    """Write for a shop; a write refused while the shop moves is retried."""
    for _ in range(100):
        try:
            with use_shard(shop_id), transaction.atomic(using=Review.objects.shard(shop_id).db):
                return Review.objects.create(author=author, created=timezone.now())
        except ShardMovingError as refused:
            time.sleep(refused.retry_after)  # nothing was written: retry it
    raise RuntimeError(f"shop {shop_id} kept moving")  # never for an online move
    # [retry]
