"""across_shards(): more spellings of issue 12's cases, each compared with one database.

Sliced grouped sources, window functions reached through ``alias()``, groups of
expressions, offset-only slices: each gives ``OracleReview``'s answer (the same rows in
one database) or raises :class:`CannotMergeError`.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Count, F, Max, Sum, Window
from django.db.models.functions import Lower, RowNumber, TruncDate

from multidb_routers.exceptions import CannotMergeError
from multidb_routers.sharding import across_shards
from tests.sharding.oracle import DATABASES, fill
from tests.testapps.shard_app.models import OracleReview, Review

pytestmark = [pytest.mark.django_db(databases=DATABASES), pytest.mark.usefixtures("filled")]


@pytest.fixture
def filled() -> None:
    fill()


def _rows(rows: Any) -> list[tuple[Any, ...]]:
    return sorted((tuple(sorted(row.items())) for row in rows), key=repr)


def test_a_sliced_unordered_grouped_source_gives_whole_groups() -> None:
    # Slicing each shard's groups before merging would count part of each group.
    counts = {
        row["rating"]: row["n"]
        for row in OracleReview.objects.values("rating").annotate(n=Count("id"))
    }
    got = list(across_shards(Review.objects.values("rating").annotate(n=Count("id"))[:3]))
    assert len(got) == 3
    assert all(row["n"] == counts[row["rating"]] for row in got), (got, counts)
    assert across_shards(Review.objects.values("rating").annotate(n=Count("id"))[:4]).count() == 4


def test_a_sliced_ordered_grouped_source_is_sliced_after_the_merge() -> None:
    grouped = Review.objects.values("rating").annotate(n=Count("id"))
    oracle = OracleReview.objects.values("rating").annotate(n=Count("id"))
    assert list(across_shards(grouped.order_by("rating")[1:3])) == list(
        oracle.order_by("rating")[1:3]
    )
    assert list(across_shards(grouped.order_by("-n", "rating")[:2])) == list(
        oracle.order_by("-n", "rating")[:2]
    )
    assert across_shards(grouped).get(rating=3)["n"] == oracle.get(rating=3)["n"]


def test_a_window_function_reached_through_alias_and_filter_is_refused() -> None:
    newest = Review.objects.alias(rn=Window(RowNumber(), order_by=F("created").desc()))
    with pytest.raises(CannotMergeError, match="Window"):
        list(across_shards(newest.filter(rn__lte=2)))
    with pytest.raises(CannotMergeError, match="Window"):
        list(across_shards(Review.objects.values("rating").annotate(rn=Window(RowNumber()))))


def test_groups_of_expressions_merge_as_one_database() -> None:
    by_day = across_shards(
        Review.objects.values(day=TruncDate("created")).annotate(n=Count("id")).order_by("day")
    )
    assert list(by_day) == list(
        OracleReview.objects.values(day=TruncDate("created"))
        .annotate(n=Count("id"))
        .order_by("day")
    )
    lowered = across_shards(
        Review.objects.values(a=Lower("author")).annotate(n=Count("id"), top=Max("price"))
    )
    assert _rows(lowered) == _rows(
        OracleReview.objects.values(a=Lower("author")).annotate(n=Count("id"), top=Max("price"))
    )


def test_an_expression_over_aggregates_and_hidden_group_columns_are_refused() -> None:
    grouped = Review.objects.values("rating")
    for query in (
        grouped.annotate(mean=Sum("price") / Count("id")),  # a sum of ratios is no ratio
        grouped.annotate(n=Count("id")).exclude(n=0),  # HAVING over partial groups
        grouped.annotate(n=Count("id")).values_list("n", flat=True),  # groups it hides
    ):
        with pytest.raises(CannotMergeError):
            list(across_shards(query))


def test_offset_only_slices_of_the_source_and_of_the_merge_match_one_database() -> None:
    want = list(OracleReview.objects.order_by("pk").values_list("pk", flat=True)[295:])
    assert [r.pk for r in across_shards(Review.objects.order_by("pk"))[295:]] == want
    assert [r.pk for r in across_shards(Review.objects.order_by("pk")[295:])] == want
    assert across_shards(Review.objects.order_by()[290:]).count() == 10
    assert len(list(across_shards(Review.objects.order_by()[:5]).iterator())) == 5
    reversed_ = across_shards(Review.objects.order_by("price", "pk").reverse()[:7])
    assert [r.pk for r in reversed_] == [
        r.pk for r in OracleReview.objects.order_by("price", "pk").reverse()[:7]
    ]
