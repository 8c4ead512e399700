"""across_shards() and MergedQuerySet: the same answers as one database holding every row."""

from __future__ import annotations

import datetime as dt
import random
import threading
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from django.db import connections, transaction
from django.db.backends.signals import connection_created
from django.db.models import Avg, Count, F, Max, Min, Q, StdDev, Sum

from multidb_routers.concurrency import close_workers
from multidb_routers.exceptions import MergedQueryError
from multidb_routers.merge import MergedQuerySet
from multidb_routers.sharding import across_shards, require_shard_router
from tests.testapps.shard_app.models import OracleReview, Review

if TYPE_CHECKING:
    from collections.abc import Iterator

SHARDS = ["shard_0", "shard_1", "shard_2", "shard_3"]
DATABASES = ["default", *SHARDS]
START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)

ORDERINGS: list[tuple[Any, ...]] = [
    (),  # Meta.ordering: -created
    ("rating",),
    ("-rating", "author"),
    (F("author"), "created__date"),
    ("author", "-created"),
    ("price",),
    ("-price", "rating"),
    (F("rating").asc(nulls_last=True), "-price"),
    (F("rating").desc(nulls_first=True),),
    ("product_id", "-pk"),
    ("-id",),
]
SLICES = [(None, None), (0, 10), (5, 25), (17, None), (0, 0), (290, 400)]


def _fill(count: int = 300, seed: int = 5) -> None:
    """The same random rows, sharded and in the one-database oracle."""
    rng = random.Random(seed)
    reviews = [
        Review(
            product_id=rng.randrange(40),
            author=rng.choice(["ann", "bob", "cy", "dee", "Eve", "éa"]),
            rating=rng.choice([None, 1, 2, 3, 4, 5]),
            price=rng.choice([None, Decimal(rng.randrange(100, 9999)) / 100]),
            created=START + dt.timedelta(hours=rng.randrange(50)),  # many ties
        )
        for _ in range(count)
    ]
    Review.objects.bulk_create(reviews)
    fields = ["id", "product_id", "author", "rating", "price", "created"]
    OracleReview.objects.bulk_create(
        OracleReview(**{name: getattr(review, name) for name in fields}) for review in reviews
    )


@pytest.fixture
def filled() -> None:
    _fill()


def _pair(ordering: tuple[Any, ...]) -> tuple[MergedQuerySet, Any]:
    merged = across_shards(Review.objects.all())
    oracle = OracleReview.objects.all()
    if ordering:
        merged = merged.order_by(*ordering)
        oracle = oracle.order_by(*ordering)
    # The merge breaks ties by primary key; give the oracle the same total order.
    terms = oracle.query.order_by or OracleReview._meta.ordering
    if not any(str(term).lstrip("-") in {"pk", "id"} for term in terms):
        oracle = oracle.order_by(*terms, "pk")
    return merged, oracle


pytestmark = pytest.mark.django_db(databases=DATABASES)


@pytest.mark.usefixtures("filled")
def test_ordered_slices_match_one_database() -> None:
    for ordering in ORDERINGS:
        merged, oracle = _pair(ordering)
        for low, high in SLICES:
            got = [review.pk for review in merged[low:high]]
            assert got == [review.pk for review in oracle[low:high]], (ordering, low, high)
            assert merged[low:high].count() == oracle[low:high].count()


@pytest.mark.usefixtures("filled")
def test_values_and_values_list_match_one_database() -> None:
    for ordering in ORDERINGS[:7]:
        merged, oracle = _pair(ordering)
        fields = ["pk", "product_id", "author", "rating", "price", "created"]
        assert list(merged.values_list(*fields)[:20]) == list(oracle.values_list(*fields)[:20])
        assert list(merged.values("author", "rating")[3:40]) == list(
            oracle.values("author", "rating")[3:40]
        )
        assert list(merged.values()[:15]) == list(oracle.values()[:15])
        assert list(merged.values_list("rating", "price")[:30]) == list(
            oracle.values_list("rating", "price")[:30]
        )
        assert list(merged.values_list("author", flat=True)[10:50]) == list(
            oracle.values_list("author", flat=True)[10:50]
        )
        named = list(merged.values_list("pk", "author", named=True)[:5])
        assert [(row.pk, row.author) for row in named] == list(
            oracle.values_list("pk", "author")[:5]
        )


@pytest.mark.usefixtures("filled")
def test_reverse_first_and_last_match_one_database() -> None:
    for ordering in ORDERINGS[1:5]:
        merged, oracle = _pair(ordering)
        assert [r.pk for r in merged.reverse()[:20]] == [r.pk for r in oracle.reverse()[:20]]
        assert merged.first().pk == oracle.first().pk
        assert merged.last().pk == oracle.last().pk


@pytest.mark.usefixtures("filled")
def test_ordering_by_an_annotation_matches_one_database() -> None:
    score = F("rating") * 10 + F("product_id")
    merged = across_shards(Review.objects.annotate(score=score)).order_by("-score")
    oracle = OracleReview.objects.annotate(score=score).order_by("-score", "pk")
    assert [(r.pk, r.score) for r in merged[:40]] == [(r.pk, r.score) for r in oracle[:40]]


@pytest.mark.usefixtures("filled")
def test_filters_and_unordered_results_match_one_database() -> None:
    lookups = [Q(rating__gte=3), Q(author__in=["ann", "éa"]) | Q(price__lt=20), ~Q(rating=None)]
    for lookup in lookups:
        merged = across_shards(Review.objects.filter(lookup)).exclude(product_id=3).order_by()
        oracle = OracleReview.objects.filter(lookup).exclude(product_id=3)
        assert sorted(r.pk for r in merged) == sorted(r.pk for r in oracle)
        assert merged.count() == oracle.count()
        assert merged.exists() is oracle.exists()
    assert not across_shards(Review.objects.filter(author="nobody")).exists()


@pytest.mark.usefixtures("filled")
def test_aggregates_match_one_database() -> None:
    cases: list[dict[str, Any]] = [
        {"n": Count("pk"), "rated": Count("rating"), "total": Sum("rating")},
        {"first": Min("created"), "last": Max("created"), "cheapest": Min("price")},
        {"dearest": Max("price"), "spent": Sum("price")},
        {
            "good": Count("pk", filter=Q(rating__gte=4)),
            "top": Max("rating", filter=Q(author="ann")),
        },
        {
            "none": Sum("rating", filter=Q(author="nobody"), default=0),
            "nomin": Min("price", filter=Q(pk=0)),
            # Only one shard holds product 3: the others' empty results must not yield 0.
            "low": Min("rating", filter=Q(product_id=3), default=0),
        },
    ]
    for aggregates in cases:
        assert across_shards(Review.objects.all()).aggregate(**aggregates) == (
            OracleReview.objects.aggregate(**aggregates)
        )
    for lookup in (Q(), Q(rating__lte=2), Q(product_id__lt=10)):
        got = across_shards(Review.objects.filter(lookup)).aggregate(Avg("rating"), p=Avg("price"))
        want = OracleReview.objects.filter(lookup).aggregate(Avg("rating"), p=Avg("price"))
        assert got["rating__avg"] == pytest.approx(want["rating__avg"])
        assert float(got["p"]) == pytest.approx(float(want["p"]))


@pytest.mark.usefixtures("filled")
def test_aggregates_that_cannot_be_combined_are_refused() -> None:
    merged = across_shards(Review.objects.all())
    for aggregate in (Count("author", distinct=True), StdDev("rating")):
        with pytest.raises(TypeError):
            merged.aggregate(x=aggregate)


@pytest.mark.usefixtures("filled")
def test_get_finds_exactly_one_row_over_all_shards() -> None:
    oracle = OracleReview.objects.order_by("pk")[7]
    found = across_shards(Review.objects.all()).get(pk=oracle.pk)
    assert (found.pk, found.author) == (oracle.pk, oracle.author)
    assert found._state.db == require_shard_router(Review).shard_for(oracle.product_id)
    with pytest.raises(Review.DoesNotExist):
        across_shards(Review.objects.all()).get(author="nobody")
    with pytest.raises(Review.MultipleObjectsReturned):
        across_shards(Review.objects.all()).get(author="ann")


def test_merge_needs_querysets_of_one_model() -> None:
    with pytest.raises(TypeError):
        MergedQuerySet([Review.objects.using("shard_0"), OracleReview.objects.all()])
    with pytest.raises(TypeError):
        list(MergedQuerySet([OracleReview.objects.order_by("?")]))


def _worker_connections() -> tuple[list[str], Any]:
    names: list[str] = []

    def record(sender: Any, connection: Any, **kwargs: Any) -> None:
        names.append(threading.current_thread().name)

    return names, record


@pytest.fixture
def no_workers() -> Iterator[None]:
    """No fan-out worker (nor its connection) outlives the test."""
    close_workers()
    yield
    close_workers()


@pytest.mark.django_db(databases=DATABASES, transaction=True)
@pytest.mark.usefixtures("no_workers")
def test_shards_are_queried_concurrently_outside_transactions(settings: Any) -> None:
    settings.MULTIDB_ROUTERS_FANOUT = "concurrent"
    _fill(80)
    names, record = _worker_connections()
    connection_created.connect(record)
    try:
        merged, oracle = _pair(("-rating", "author"))
        assert [r.pk for r in merged[:20]] == [r.pk for r in oracle[:20]]
    finally:
        connection_created.disconnect(record)
    assert len([name for name in names if name.startswith("merged-query")]) == len(SHARDS)


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_inside_a_transaction_the_fan_out_sees_its_uncommitted_rows() -> None:
    names, record = _worker_connections()
    connection_created.connect(record)
    try:
        with transaction.atomic(using="shard_0"):
            Review.objects.on_shard("shard_0").create(product_id=5, author="a", created=START)
            assert across_shards(Review.objects.all()).count() == 1
    finally:
        connection_created.disconnect(record)
    assert not [name for name in names if name.startswith("merged-query")]


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_a_failing_shard_raises_naming_the_shard() -> None:
    with connections["shard_2"].cursor() as cursor:
        cursor.execute("ALTER TABLE shard_app_review RENAME TO shard_app_review_gone")
    try:
        with pytest.raises(MergedQueryError, match="shard_2") as excinfo:
            list(across_shards(Review.objects.all())[:5])
        assert excinfo.value.label == "shard 'shard_2'"
    finally:
        with connections["shard_2"].cursor() as cursor:
            cursor.execute("ALTER TABLE shard_app_review_gone RENAME TO shard_app_review")
