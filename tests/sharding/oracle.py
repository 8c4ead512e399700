"""Sharded reviews and the same rows in one database (``OracleReview``), for comparisons."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from tests.testapps.shard_app.models import OracleReview, Review

SHARDS = ["shard_0", "shard_1", "shard_2", "shard_3"]
DATABASES = ["default", *SHARDS]
START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
FIELDS = ["id", "product_id", "author", "rating", "price", "created"]


def make_reviews(count: int, seed: int, authors: list[str]) -> list[Review]:
    """``count`` random reviews with many ties and NULLs (not saved)."""
    rng = random.Random(seed)
    return [
        Review(
            product_id=rng.randrange(40),
            author=rng.choice(authors),
            rating=rng.choice([None, 1, 2, 3, 4, 5]),
            price=rng.choice([None, Decimal(rng.randrange(100, 9999)) / 100]),
            created=START + dt.timedelta(hours=rng.randrange(50)),
        )
        for _ in range(count)
    ]


AUTHORS = ["ann", "bob", "cy", "dee", "Eve", "éa"]


def fill(
    count: int = 300, seed: int = 5, *, oracle_db: str = "default", authors: list[str] = AUTHORS
) -> list[Review]:
    """The same random rows sharded and in the one-database oracle on ``oracle_db``."""
    reviews = make_reviews(count, seed, authors)
    Review.objects.bulk_create(reviews)
    OracleReview.objects.using(oracle_db).bulk_create(
        OracleReview(**{name: getattr(review, name) for name in FIELDS}) for review in reviews
    )
    return reviews
