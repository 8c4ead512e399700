"""Reviews of products, kept on their own ``reviews`` database."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone
from products.models import Product


class Review(models.Model):
    """A review of a product, rated 1 to 5.

    ``product_id`` is a plain integer, not a ``ForeignKey``: the product lives on
    another database, so there is no join and no constraint to declare. A
    ``ForeignKey(db_constraint=False)`` would look tempting, but ``review.product``
    would then read the product through the review's database (Django's instance hint)
    and assigning a product would be refused by the router's ``allow_relation``, which
    rightly refuses relations across aliases. Look the product up on its own instead.
    """

    product_id = models.PositiveBigIntegerField()
    rating = models.PositiveSmallIntegerField(
        choices=[(stars, "★" * stars) for stars in range(1, 6)],
        validators=[MinValueValidator(1), MaxValueValidator(5)],
    )
    title = models.CharField(max_length=120)
    body = models.TextField()
    author_name = models.CharField(max_length=80)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # The product page: one product's reviews, latest first.
            models.Index(fields=["product_id", "created_at"], name="review_product_created"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        """The review page."""
        return reverse("review_detail", args=[self.pk])

    @property
    def product(self) -> Product:
        """The reviewed product, read from the products' database (one query)."""
        return Product.objects.get(pk=self.product_id)
