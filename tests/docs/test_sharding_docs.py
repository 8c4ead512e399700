"""The code of docs/sharding.rst does what the page says."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from multidb_routers.sharding import require_shard_router
from tests.docs.sharding_usage import usage
from tests.testapps.shard_app.models import Review

pytestmark = pytest.mark.once  # one environment per run, not every Django/Python pair

SHARDS = ["shard_0", "shard_1", "shard_2", "shard_3"]
NOW = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.django_db(databases=["default", *SHARDS])
def test_the_usage_example_reads_only_product_42s_rows_from_its_shard() -> None:
    router = require_shard_router(Review)
    home = router.shard_for(42)
    neighbour = next(k for k in range(1, 100) if k != 42 and router.shard_for(k) == home)
    elsewhere = next(k for k in range(1, 100) if router.shard_for(k) != home)
    for minute, product in enumerate([neighbour, elsewhere, 42]):
        Review.objects.create(
            product_id=product, author="bo", rating=4, created=NOW + dt.timedelta(minutes=minute)
        )

    good, latest, average = usage(NOW + dt.timedelta(hours=1))

    assert good.db == home
    assert sorted((r.product_id, r.rating) for r in good) == [(42, 4), (42, 5)]
    assert [r.product_id for r in latest] == [42, 42, elsewhere, neighbour]
    assert average == {"rating__avg": 4.25}


def test_the_page_includes_the_tested_usage_example() -> None:
    page = (DOCS / "sharding.rst").read_text()
    assert ".. literalinclude:: ../tests/docs/sharding_usage.py" in page
    assert "shard(42).filter(rating__gte=4)" not in page  # only through the include
