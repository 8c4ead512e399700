"""Where the views read products and reviews, whichever pattern the settings configure.

Most of the example's code is the same under every pattern. What differs is here, in
one place, and only where a pattern changes what a query must say:

* sharded: a product's reviews are read from that product's shard
  (``Review.objects.shard(product_id)``); the latest reviews and the per-product stats
  fan out over every shard;
* overlay: products and reviews are read through the merged view (the snapshot with
  the overlay's changes on top, ``MergedProduct``/``MergedReview``);
* functional and primary/replica: plain querysets; the routers pick the alias.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import router as connection_router
from django.db.models import Count, Sum
from products.models import MergedProduct, Product

from multidb_routers import OverlayRouter, ShardRouter
from multidb_routers.overlay.manager import shadowed_pks
from multidb_routers.sharding import across_shards

from .models import MergedReview, Review

if TYPE_CHECKING:
    from django.db.models import Model, QuerySet

__all__ = [
    "clear_reviews",
    "home_alias",
    "latest_reviews",
    "new_review",
    "overlay_router",
    "product_reviews",
    "products",
    "review_stats",
    "shard_router",
]


def shard_router() -> ShardRouter | None:
    """The ``ShardRouter`` sharding reviews, if the settings have one."""
    for router in connection_router.routers:
        if isinstance(router, ShardRouter) and router.covers(Review):
            return router
    return None


def overlay_router(model: type[Model] = Review) -> OverlayRouter | None:
    """The ``OverlayRouter`` covering ``model``, if the settings have one."""
    for router in connection_router.routers:
        if isinstance(router, OverlayRouter) and router.kind(model) is not None:
            return router
    return None


def products() -> Any:
    """Every product: a queryset, or the merged view under an overlay."""
    if overlay_router(Product) is not None:
        return MergedProduct.objects.all()
    return Product.objects.all()


def new_review(**fields: Any) -> Review:
    """An unsaved review that saves where the pattern writes reviews."""
    model = MergedReview if overlay_router() is not None else Review
    return model(**fields)


def product_reviews(product_id: int) -> Any:
    """One product's reviews, latest first: from one shard when sharded."""
    if shard_router() is not None:
        reviews: Any = Review.objects.shard(product_id)
    elif overlay_router() is not None:
        reviews = MergedReview.objects.all()
    else:
        reviews = Review.objects.all()
    return reviews.filter(product_id=product_id).order_by("-created_at", "-pk")


def latest_reviews(count: int) -> list[Review]:
    """The ``count`` latest reviews of every product: a fan-out when sharded."""
    if shard_router() is not None:
        return list(across_shards(Review.objects.order_by("-created_at", "-pk"))[:count])
    if overlay_router() is not None:
        return list(MergedReview.objects.order_by("-created_at", "-pk")[:count])
    return list(Review.objects.order_by("-created_at", "-pk")[:count])


def _disjoint_sources() -> list[QuerySet[Review]]:
    """Querysets that hold every review exactly once between them."""
    router = shard_router()
    if router is not None:
        return [Review.objects.on_shard(alias) for alias in router.shards]
    overlay = overlay_router()
    if overlay is not None:
        hidden = shadowed_pks(MergedReview, overlay)
        base = MergedReview.objects.base()
        return [base.exclude(pk__in=hidden) if hidden else base, MergedReview.objects.local()]
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
    router = shard_router()
    aliases = router.shards if router is not None else [None]
    for alias in aliases:
        Review.objects.using(alias).all().delete()


def home_alias(model: type[Model]) -> str:
    """The alias holding ``model``'s rows for the admin: the one its router claims.

    A primary for a replicated model (the admin reads what it just wrote), the overlay's
    base for an overlaid one (where production's rows are), ``default`` when no router
    claims the model. Not meaningful for a sharded model (see ``ShardedModelAdmin``).
    """
    overlay = overlay_router(model)
    if overlay is not None:
        return overlay.base_alias
    for router in connection_router.routers:
        claimed = getattr(router, "claimed_aliases", None)
        aliases = claimed(model) if claimed is not None else None
        if aliases and len(aliases) == 1:
            return next(iter(aliases))
    return "default"
