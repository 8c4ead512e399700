"""Reviews of products: on their own ``reviews`` database, or replicated, sharded, overlaid.

The same model serves every pattern of the example (see ``example_project/settings``):
its id comes from :func:`~multidb_routers.sharding.new_id`, so it is known before the
insert and unique across shards, and its manager routes writes by ``product_id`` when
a ``ShardRouter`` shards reviews and behaves as a plain manager otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db import router as connection_router
from django.urls import reverse
from django.utils import timezone

from multidb_routers import ShardRouter
from multidb_routers.overlay import OverlayManager
from multidb_routers.sharding import ShardedManager, ShardedQuerySet, new_id

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from products.models import Product


def is_sharded(model: type[models.Model]) -> bool:
    """True when a ``ShardRouter`` of ``DATABASE_ROUTERS`` shards ``model`` (read at call time)."""
    return any(
        isinstance(router, ShardRouter) and router.covers(model)
        for router in connection_router.routers
    )


class ReviewQuerySet(ShardedQuerySet["Review"]):
    """Writes routed by ``product_id`` when reviews are sharded; a plain queryset otherwise.

    ``ShardedQuerySet`` alone raises ``ImproperlyConfigured`` from ``create()`` and
    ``bulk_create()`` when no ``ShardRouter`` covers the model, and the example runs
    the same model under settings without one.
    """

    def create(self, **kwargs: Any) -> Review:
        """Create on the key's shard when sharded, as Django does otherwise."""
        if is_sharded(self.model):
            return super().create(**kwargs)
        return models.QuerySet.create(self, **kwargs)

    def get_or_create(
        self, defaults: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> tuple[Review, bool]:
        """``get_or_create()`` on the key's shard when sharded, as Django does otherwise."""
        if is_sharded(self.model):
            return super().get_or_create(defaults, **kwargs)
        return models.QuerySet.get_or_create(self, defaults, **kwargs)

    def update_or_create(
        self,
        defaults: Mapping[str, Any] | None = None,
        create_defaults: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> tuple[Review, bool]:
        """``update_or_create()`` on the key's shard when sharded, as Django does otherwise."""
        if is_sharded(self.model):
            return super().update_or_create(defaults, create_defaults, **kwargs)
        return models.QuerySet.update_or_create(self, defaults, create_defaults, **kwargs)

    def bulk_create(self, objs: Iterable[Review], *args: Any, **kwargs: Any) -> list[Review]:
        """One insert per shard when sharded, as Django does otherwise."""
        if is_sharded(self.model):
            return super().bulk_create(objs, *args, **kwargs)
        return models.QuerySet.bulk_create(self, objs, *args, **kwargs)


class ReviewManager(ShardedManager["Review"]):
    """``ShardedManager`` whose querysets are :class:`ReviewQuerySet`."""

    def get_queryset(self) -> ReviewQuerySet:
        """A :class:`ReviewQuerySet` (``ShardedManager.from_queryset()`` would be ignored)."""
        return ReviewQuerySet(self.model, using=self._db, hints=self._hints)  # type: ignore[attr-defined]


class Review(models.Model):
    """A review of a product, rated 1 to 5.

    ``product_id`` is a plain integer, not a ``ForeignKey``: the product lives on
    another database, so there is no join and no constraint to declare. A
    ``ForeignKey(db_constraint=False)`` would look tempting, but ``review.product``
    would then read the product through the review's database (Django's instance hint)
    and assigning a product would be refused by the router's ``allow_relation``, which
    rightly refuses relations across aliases. Look the product up on its own instead.
    ``product_id`` is also the shard key under the sharded settings.
    """

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    product_id = models.PositiveBigIntegerField()
    rating = models.PositiveSmallIntegerField(
        choices=[(stars, "★" * stars) for stars in range(1, 6)],
        validators=[MinValueValidator(1), MaxValueValidator(5)],
    )
    title = models.CharField(max_length=120)
    body = models.TextField()
    author_name = models.CharField(max_length=80)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ReviewManager()

    class Meta:
        indexes = [
            # The product page: one product's reviews, latest first.
            models.Index(fields=["product_id", "created_at"], name="review_product_created"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        """The review page, under its product (whose id is the shard key when sharded)."""
        return reverse("review_detail", args=[self.product.slug, self.pk])

    @property
    def product(self) -> Product:
        """The reviewed product, read from the products' database (one query)."""
        from reviews import catalogue

        return catalogue.products().get(pk=self.product_id)


class MergedReview(Review):
    """Reviews seen through an ``OverlayRouter``: the snapshot with local changes on top.

    Used only under the overlay settings. A proxy, because ``OverlayManager`` on
    ``Review`` itself would break every other pattern: its save hook raises
    ``ImproperlyConfigured`` when no ``OverlayRouter`` covers the model.
    """

    objects = OverlayManager()  # type: ignore[misc]

    class Meta:
        proxy = True
