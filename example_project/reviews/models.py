"""Reviews of products: on their own ``reviews`` database, or replicated, sharded, overlaid.

The same model serves every pattern of the example (see ``example_project/settings``):
its id comes from :func:`~multidb_routers.sharding.new_id`, so it is known before the
insert and unique across shards. ``objects`` routes writes by ``product_id`` when a
``ShardRouter`` shards reviews, and ``merged`` is the snapshot with the overlay's
changes on top when an ``OverlayRouter`` covers them; without those routers each is a
plain manager.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

from multidb_routers.overlay import OverlayManager
from multidb_routers.sharding import ShardedManager, new_id

if TYPE_CHECKING:
    from products.models import Product


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

    objects = ShardedManager["Review"]()
    merged = OverlayManager["Review"]()

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
