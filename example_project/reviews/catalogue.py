"""Where the views read products and reviews, whichever pattern the settings configure.

Most of the example's code is the same under every pattern, and so are the managers:
without the router they serve, ``ShardedManager`` and ``OverlayManager`` are plain
managers. What differs is here, only where a pattern changes what a query must say:

* sharded: a product's reviews are read from that product's shard
  (``Review.objects.shard(product_id)``, every review when unsharded); the latest
  reviews fan out over every shard (``across_shards``, one query when unsharded);
* overlay: products and reviews are read through the merged view (``Product.merged``,
  ``Review.merged``: the snapshot with the overlay's changes on top, a plain queryset
  under the other patterns);
* functional and primary/replica: plain querysets; the routers pick the alias.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import router as connection_router
from django.db.models import Count, Sum
from products.models import Product

from multidb_routers.overlay import find_overlay_router
from multidb_routers.overlay.manager import shadowed_pks
from multidb_routers.sharding import across_shards, find_shard_router

from .models import Review

if TYPE_CHECKING:
    from django.db.models import Model, QuerySet

__all__ = [
    "clear_reviews",
    "home_alias",
    "latest_reviews",
    "product_reviews",
    "products",
    "review_stats",
]


def products() -> Any:
    """Every product: the merged view under an overlay, a plain queryset otherwise."""
    return Product.merged.all()


def product_reviews(product_id: int) -> Any:
    """One product's reviews, latest first: from one shard when sharded."""
    if find_overlay_router(Review) is not None:
        reviews: Any = Review.merged.all()
    else:
        reviews = Review.objects.shard(product_id)
    return reviews.filter(product_id=product_id).order_by("-created_at", "-pk")


def latest_reviews(count: int) -> list[Review]:
    """The ``count`` latest reviews of every product: a fan-out when sharded."""
    if find_overlay_router(Review) is not None:
        return list(Review.merged.order_by("-created_at", "-pk")[:count])
    return list(across_shards(Review.objects.order_by("-created_at", "-pk"))[:count])


def _disjoint_sources() -> list[QuerySet[Review]]:
    """Querysets that hold every review exactly once between them."""
    router = find_shard_router(Review)
    if router is not None:
        return [Review.objects.on_shard(alias) for alias in router.shard_aliases]
    overlay = find_overlay_router(Review)
    if overlay is not None:
        hidden = shadowed_pks(Review, overlay)
        base = Review.merged.base()
        return [base.exclude(pk__in=hidden) if hidden else base, Review.merged.local()]
    return [Review.objects.all()]


def review_stats() -> dict[int, dict[str, float]]:
    """Each product's review ``count`` and ``average`` rating, by product id.

    One grouped query per source (per shard when sharded, base and overlay under an
    overlay), combined from counts and sums: the fan-out helpers offer no ``GROUP BY``.
    """
    totals: dict[int, list[int]] = {}
    for source in _disjoint_sources():
        rows = source.order_by().values("product_id").annotate(count=Count("pk"), sum=Sum("rating"))
        for row in rows:
            entry = totals.setdefault(row["product_id"], [0, 0])
            entry[0] += row["count"]
            entry[1] += row["sum"]
    return {
        product_id: {"count": count, "average": total / count}
        for product_id, (count, total) in totals.items()
        if count
    }


def clear_reviews(using: str | None = None) -> None:
    """Delete every review (on ``using``, or wherever the pattern keeps them)."""
    if using is not None:
        Review.objects.using(using).all().delete()
        return
    router = find_shard_router(Review)
    aliases = router.shard_aliases if router is not None else [None]
    for alias in aliases:
        Review.objects.using(alias).all().delete()


def home_alias(model: type[Model]) -> str:
    """The alias holding ``model``'s rows for the admin: the one its router claims.

    A primary for a replicated model (the admin reads what it just wrote), the overlay's
    base for an overlaid one (where production's rows are), ``default`` when no router
    claims the model. Not meaningful for a sharded model (see ``ShardedModelAdmin``).
    """
    overlay = find_overlay_router(model)
    if overlay is not None:
        return overlay.base_alias
    for router in connection_router.routers:
        claimed = getattr(router, "claimed_aliases", None)
        aliases = claimed(model) if claimed is not None else None
        if aliases and len(aliases) == 1:
            return next(iter(aliases))
    return "default"
