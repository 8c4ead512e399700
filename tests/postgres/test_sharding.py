"""ShardRouter, ShardedManager and across_shards() on two real PostgreSQL shard databases.

``pg_shard_0`` and ``pg_shard_1`` are two databases of the cluster's shard server. The
suite's settings shard ``shard_app`` over SQLite aliases, so each test routes it over the
PostgreSQL pair and creates its table there. Results are compared with an oracle computed
in Python from the rows written, and each row's place is checked with raw SQL per alias.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from contextlib import contextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from django.db import connections
from django.db.models import Avg, Count, Max, Min, Sum

from multidb_routers import ShardRouter
from multidb_routers.concurrency import close_workers
from multidb_routers.exceptions import MergedQueryError
from multidb_routers.sharding import across_shards
from tests.testapps.shard_app.models import Review

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

SHARDS = ["pg_shard_0", "pg_shard_1"]
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, databases=SHARDS)]
START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
TABLE = Review._meta.db_table
# An uncorrelated sub-select: PostgreSQL runs it once per query, so each shard sleeps once.
SLEEP = "(SELECT true FROM pg_sleep(%s))"


@pytest.fixture
def router(settings: Any) -> Iterator[ShardRouter]:
    """shard_app.Review sharded by product over the two PostgreSQL shards, table included."""
    shard_router = ShardRouter(
        shards=SHARDS, apps=["shard_app.Review"], shard_key={"shard_app.Review": "product_id"}
    )
    settings.DATABASE_ROUTERS = [shard_router]
    for alias in SHARDS:
        connection = connections[alias]
        if TABLE not in connection.introspection.table_names():
            with connection.schema_editor() as editor:
                editor.create_model(Review)
    _truncate()
    yield shard_router
    close_workers()  # no fan-out connection outlives the test
    _truncate()


def _truncate() -> None:
    # The flush after a test only empties the tables of the session's routing.
    for alias in SHARDS:
        with connections[alias].cursor() as cursor:
            cursor.execute(f"TRUNCATE {TABLE}")


def _rows(alias: str) -> set[tuple[int, int]]:
    with connections[alias].cursor() as cursor:
        cursor.execute(f"SELECT id, product_id FROM {TABLE}")
        return set(cursor.fetchall())


def _fill(count: int = 240, seed: int = 7) -> list[Review]:
    rng = random.Random(seed)
    reviews = [
        Review(
            product_id=rng.randrange(30),
            author=rng.choice(["ann", "bob", "cy", "dee", "eve"]),  # C collation: plain order
            rating=rng.choice([None, 1, 2, 3, 4, 5]),
            price=rng.choice([None, Decimal(rng.randrange(100, 9999)) / 100]),
            created=START + dt.timedelta(hours=rng.randrange(60)),  # many ties
        )
        for _ in range(count)
    ]
    half = count // 2
    for review in reviews[:half]:
        Review.objects.create(
            id=review.id,
            product_id=review.product_id,
            author=review.author,
            rating=review.rating,
            price=review.price,
            created=review.created,
        )
    Review.objects.bulk_create(reviews[half:])
    return reviews


def _oracle(reviews: list[Review], ordering: tuple[str, ...]) -> list[int]:
    """PostgreSQL's order in Python: NULLs last ascending and first descending."""
    rows = list(reviews)
    for term in reversed((*ordering, "pk")):  # the merge breaks ties by ascending pk
        name = term.lstrip("-")
        name = "id" if name == "pk" else name
        descending = term.startswith("-")
        present = [row for row in rows if getattr(row, name) is not None]
        missing = [row for row in rows if getattr(row, name) is None]
        present.sort(key=lambda row, name=name: getattr(row, name), reverse=descending)
        rows = missing + present if descending else present + missing
    return [row.id for row in rows]


def test_writes_land_on_the_shard_of_their_key(router: ShardRouter) -> None:
    reviews = _fill()
    extra, created = Review.objects.get_or_create(
        product_id=3, author="fay", defaults={"created": START}
    )

    stored = {alias: _rows(alias) for alias in SHARDS}
    expected: dict[str, set[tuple[int, int]]] = {alias: set() for alias in SHARDS}
    for review in [*reviews, extra]:
        expected[router.shard_for(review.product_id)].add((review.id, review.product_id))
    assert created
    assert stored == expected
    assert all(stored.values())  # both shards hold rows
    assert Review.objects.shard(3).get(author="fay").id == extra.id


def test_every_spelling_of_a_key_finds_and_updates_the_one_row(router: ShardRouter) -> None:
    key = next(k for k in range(100) if router.shard_for(f" {k}") != router.shard_for(k))
    first, created = Review.objects.get_or_create(
        product_id=f" {key}", author="ann", defaults={"created": START}
    )
    spellings = [key, str(key), f"{key} ", Decimal(key), f"+{key}"]
    found = [Review.objects.get_or_create(product_id=s, author="ann")[0].pk for s in spellings]
    Review.objects.update_or_create(product_id=str(key), author="ann", defaults={"rating": 5})

    assert created
    assert set(found) == {first.pk}
    assert _rows(router.shard_for(key)) == {(first.pk, key)}
    assert Review.objects.shard(f" {key}").get().rating == 5
    assert all(not _rows(alias) for alias in SHARDS if alias != router.shard_for(key))


@pytest.mark.parametrize(
    "ordering",
    [("-created",), ("rating",), ("-rating", "author"), ("author", "-created"), ("-price",)],
)
def test_ordered_slices_match_the_oracle(router: ShardRouter, ordering: tuple[str, ...]) -> None:
    reviews = _fill()
    expected = _oracle(reviews, ordering)
    merged = across_shards(Review.objects.order_by(*ordering))

    assert [review.id for review in merged] == expected
    for low, high in [(0, 10), (5, 25), (100, 140), (230, 300)]:
        assert [review.id for review in merged[low:high]] == expected[low:high]


def test_counts_and_aggregates_match_the_oracle(router: ShardRouter) -> None:
    reviews = _fill()
    rated = [review.rating for review in reviews if review.rating is not None]
    prices = [review.price for review in reviews if review.price is not None]

    result = across_shards(Review.objects.all()).aggregate(
        n=Count("pk"),
        rated=Count("rating"),
        stars=Sum("rating"),
        cheapest=Min("price"),
        latest=Max("created"),
        mean=Avg("rating"),
    )

    assert result["n"] == len(reviews)
    assert result["rated"] == len(rated)
    assert result["stars"] == sum(rated)
    assert result["cheapest"] == min(prices)
    assert result["latest"] == max(review.created for review in reviews)
    assert result["mean"] == pytest.approx(sum(rated) / len(rated))
    fives = [review for review in reviews if review.rating == 5]
    assert across_shards(Review.objects.filter(rating=5)).count() == len(fives)
    assert across_shards(Review.objects.filter(author="zed")).exists() is False
    assert across_shards(Review.objects.all()).get(id=fives[0].id).author == fives[0].author


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def test_the_fan_out_queries_the_shards_in_parallel(router: ShardRouter) -> None:
    _fill(count=40)
    slow = Review.objects.extra(where=[SLEEP], params=[0.2]).order_by("-created")

    def fan_out(concurrent: bool) -> Callable[[], object]:
        return lambda: list(across_shards(slow, concurrent=concurrent)[:5])

    fan_out(True)()  # warm up: the first connections of the worker threads
    sequential = min(_timed(fan_out(False)) for _ in range(2))
    concurrent = min(_timed(fan_out(True)) for _ in range(3))

    print(
        f"\n2 shards sleeping 0.2 s each: sequential {sequential:.3f} s, "
        f"concurrent {concurrent:.3f} s"
    )
    assert sequential >= 0.4
    assert concurrent < 0.33  # one sleep and overhead, not two sleeps


@contextmanager
def _refusing_shard_1() -> Iterator[None]:
    """pg_shard_1's database refuses connections (its server stays up for pg_shard_0)."""
    name = connections["pg_shard_1"].settings_dict["NAME"]
    with connections["pg_shard_0"].cursor() as cursor:
        cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
        )
    connections["pg_shard_1"].close()
    try:
        yield
    finally:
        with connections["pg_shard_0"].cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        connections["pg_shard_1"].close()


def test_a_shard_that_is_down_raises_an_error_naming_it(router: ShardRouter) -> None:
    _fill(count=40)
    request = Review.objects.order_by("-created")
    assert len(across_shards(request)[:50]) == 40

    with _refusing_shard_1():
        for concurrent in (True, False):
            with pytest.raises(MergedQueryError, match="shard 'pg_shard_1'") as raised:
                list(across_shards(request, concurrent=concurrent)[:10])
            assert raised.value.label == "shard 'pg_shard_1'"
        with pytest.raises(MergedQueryError, match="pg_shard_1"):
            across_shards(request).count()

    assert across_shards(request).count() == 40
