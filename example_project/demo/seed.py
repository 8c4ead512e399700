"""Realistic seed data: a catalogue of products and many reviews of them."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.utils import timezone
from django.utils.text import slugify
from products.models import Product
from reviews.catalogue import clear_reviews
from reviews.models import Review

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

PRODUCTS = [
    ("Aurora Wireless Headphones", "Over-ear, 30-hour battery, active noise cancelling.", "199.00"),
    ("Basalt Cast-Iron Skillet", "Pre-seasoned 26 cm skillet that lasts a lifetime.", "45.50"),
    ("Cirrus Ultralight Tent", "Two-person, 1.2 kg, pitches in three minutes.", "329.00"),
    ("Delta Mechanical Keyboard", "Tenkeyless, hot-swappable switches, PBT keycaps.", "129.99"),
    ("Ember Pour-Over Kettle", "Gooseneck kettle with temperature hold.", "89.00"),
    ("Fjord Merino Sweater", "Fine-knit merino wool, made to be worn daily.", "110.00"),
    ("Granite Standing Desk", "Dual-motor frame, four memory presets.", "549.00"),
    ("Harbor Rain Jacket", "Three-layer waterproof shell with taped seams.", "185.00"),
    ("Iris E-Reader", "Glare-free 7-inch screen, weeks of battery.", "139.00"),
    ("Juniper Chef's Knife", "20 cm, Japanese steel, walnut handle.", "98.00"),
    ("Kestrel Trail Shoes", "Grippy, light and quick-drying.", "135.00"),
    ("Lumen Desk Lamp", "Dimmable LED with adjustable colour temperature.", "64.90"),
    ("Meridian Smartwatch", "GPS, heart rate, five-day battery.", "249.00"),
    ("Nimbus Memory Pillow", "Cooling gel memory foam, washable cover.", "59.00"),
    ("Orbit Robot Vacuum", "Maps your home, empties itself.", "399.00"),
    ("Pinnacle Espresso Grinder", "Stepless burr grinder for espresso and filter.", "279.00"),
    ("Quill Fountain Pen", "Steel nib, piston filler, resin body.", "42.00"),
    ("Ridge Hiking Backpack", "38 litres, ventilated back panel.", "159.00"),
    ("Solstice Bluetooth Speaker", "Waterproof, 360° sound, 20-hour battery.", "119.00"),
    ("Tundra Insulated Bottle", "Keeps drinks cold for 24 hours, hot for 12.", "34.95"),
]

FIRST_NAMES = ["Ada", "Ben", "Chloé", "Dev", "Elif", "Femi", "Grace", "Hugo", "Ines", "Jon"]
LAST_NAMES = [f"{initial}." for initial in "ABCDEFGHKLMNOPRSTW"]
TITLES = {
    1: ["Broke within a week", "Not as described", "Would not buy again"],
    2: ["Disappointing", "Some good ideas, poor execution", "Expected more"],
    3: ["Does the job", "Fine for the price", "Mixed feelings"],
    4: ["Very good", "Solid purchase", "Happy with it"],
    5: ["Excellent", "Exactly what I wanted", "Best purchase this year"],
}
SENTENCES = {
    1: ["It stopped working after a few days.", "Support never answered my emails."],
    2: ["The finish feels cheap.", "It works, but not well."],
    3: ["It is okay for everyday use.", "Nothing special, nothing wrong."],
    4: ["Well made and easy to use.", "A couple of small flaws, otherwise great."],
    5: ["Beautifully made and a joy to use.", "I have recommended it to all my friends."],
}
COMMON = [
    "Delivery was quick.",
    "The packaging was mostly recyclable.",
    "I have used it every day for a month.",
    "Compared with my old one, it is a clear step up.",
]
RATING_WEIGHTS = [5, 7, 15, 33, 40]  # reviews lean positive, as they do


def seed_products(using: str | None = None) -> list[Product]:
    """Replace the catalogue with :data:`PRODUCTS` (on ``using``, or as routed)."""
    products = Product.objects.using(using)
    products.all().delete()
    products.bulk_create(
        Product(name=name, slug=slugify(name), description=description, price=Decimal(price))
        for name, description, price in PRODUCTS
    )
    return list(products.order_by("pk"))


def _reviews(product_ids: list[int], count: int, now: datetime) -> Iterator[Review]:
    rng = random.Random(2024)  # the same data on every run
    for _ in range(count):
        rating = rng.choices(range(1, 6), weights=RATING_WEIGHTS)[0]
        yield Review(
            product_id=rng.choice(product_ids),
            rating=rating,
            title=rng.choice(TITLES[rating]),
            body=" ".join([*rng.sample(SENTENCES[rating], 2), rng.choice(COMMON)]),
            author_name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            created_at=now - timedelta(minutes=rng.randrange(365 * 24 * 60)),
        )


def seed_reviews(
    products: list[Product],
    count: int,
    *,
    using: str | None = None,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Replace the reviews with ``count`` random reviews of ``products``, in batches.

    Written on ``using``, or as the routers say: each row to its product's shard when
    sharded (``ShardedManager.bulk_create`` makes one insert per shard and batch).
    """
    reviews = _reviews([product.pk for product in products], count, timezone.now())
    clear_reviews(using)
    done = 0
    while done < count:
        batch = [next(reviews) for _ in range(min(batch_size, count - done))]
        Review.objects.using(using).bulk_create(batch)
        done += len(batch)
        if progress is not None:
            progress(done)
