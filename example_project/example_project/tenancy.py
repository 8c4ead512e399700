"""The shard resolver of the tenants settings: which shop (product) a request works for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from products.models import Product

if TYPE_CHECKING:
    from django.http import HttpRequest


def shop_key(request: HttpRequest) -> int | str | None:
    """The product of ``/products/<slug>/...``, else the ``X-Shop`` header, else ``None``.

    ``None`` (the product list, the latest reviews, the admin) leaves the request without
    a shard: those pages name their shards themselves or fan out over every one.
    """
    parts = request.path.split("/")
    if len(parts) > 2 and parts[1] == "products" and parts[2]:
        return Product.objects.filter(slug=parts[2]).values_list("pk", flat=True).first()
    return request.headers.get("X-Shop")
