"""The fan-out property: ``across_shards(q)`` answers as ``q`` on one database, or refuses.

A seeded generator builds querysets (filters, orderings over nullable and descending
fields, slices, values/values_list, GROUP BY with every mergeable aggregate, aggregate(),
count(), exists(), get(), distinct values) and runs each on the sharded ``Review`` and on
``OracleReview``, the same rows in one database. A query the generator marks mergeable
must give the oracle's answer; one it marks unmergeable must raise ``CannotMergeError``;
nothing else may happen.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Avg, Count, F, Max, Min, Q, StdDev, Sum, Window
from django.db.models.functions import RowNumber

from multidb_routers.exceptions import CannotMergeError
from multidb_routers.sharding import across_shards
from tests.testapps.shard_app.models import OracleReview, Review

if TYPE_CHECKING:
    from collections.abc import Callable

FILTERS: list[Q] = [
    Q(),
    Q(rating__gte=3),
    Q(rating__isnull=True),
    Q(price__lt=30) | Q(rating=5),
    ~Q(author="ann"),
    Q(product_id__lt=12),
    Q(price__isnull=False, rating__lte=2),
    Q(author__in=["bob", "cy"]),
    Q(product_id=3),
    Q(author="nobody"),
]
ROW_TERMS: list[Any] = [
    "rating",
    "-rating",
    "price",
    "-price",
    "author",
    "-author",
    "created",
    "-created",
    "product_id",
    F("rating").asc(nulls_last=True),
    F("price").desc(nulls_first=True),
    F("rating").desc(nulls_last=True),
]
KINDS = [
    *("rows", "rows", "values", "values_list", "flat", "group", "group", "aggregate"),
    *("count", "exists", "get", "distinct", "unmergeable"),
]
GROUP_FIELDS = ["rating", "author", "product_id"]
AGGREGATES: dict[str, Callable[[], Any]] = {
    "n": lambda: Count("id"),
    "rated": lambda: Count("rating", filter=Q(price__isnull=False)),
    "total": lambda: Sum("price"),
    "low": lambda: Min("price"),
    "high": lambda: Max("created"),
    "mean": lambda: Avg("rating"),
    "spend": lambda: Avg("price", filter=Q(rating__gte=2)),
    "dflt": lambda: Sum("rating", filter=Q(author="cy"), default=0),
}
UNMERGEABLE: dict[str, Callable[[], Any]] = {
    "distinct_count": lambda: Count("author", distinct=True),
    "spread": lambda: StdDev("rating"),
}


@dataclass
class Case:
    """One generated query: how to run it on a base queryset, and whether it must merge."""

    describe: str
    run: Callable[[Any, bool], Any]
    mergeable: bool = True


def _slice(rng: random.Random) -> tuple[int | None, int | None]:
    low = rng.choice([None, 0, 1, 7, 40])
    high = rng.choice([None, 5, 30, 90, 400])
    if high is not None and low is not None and high < low:
        low, high = high, low
    return low, high


def _close(got: Any, want: Any) -> bool:
    """Equal, with averages (float or Decimal) to 12 significant digits."""
    if isinstance(want, (float, Decimal)) and isinstance(got, (float, Decimal)):
        return abs(float(got) - float(want)) <= 1e-12 * max(1.0, abs(float(want)))
    if isinstance(want, dict) and isinstance(got, dict):
        return want.keys() == got.keys() and all(_close(got[k], want[k]) for k in want)
    if isinstance(want, (list, tuple)) and isinstance(got, (list, tuple)):
        return len(got) == len(want) and all(_close(g, w) for g, w in zip(got, want, strict=True))
    return bool(got == want)


def generate(rng: random.Random) -> Case:
    """One random query."""
    where = rng.choice(FILTERS) & rng.choice(FILTERS)
    kind = rng.choice(KINDS)
    terms = [*rng.sample(ROW_TERMS, rng.randint(0, 3)), "pk"]  # pk: one total order
    low, high = _slice(rng)

    def ordered(qs: Any) -> Any:
        return qs.filter(where).order_by(*terms)

    if kind == "rows":
        sliced = rng.random() < 0.5  # sliced before or after across_shards()

        def rows(qs: Any, merged: bool) -> Any:
            query = ordered(qs)
            if merged and sliced:
                return [r.pk for r in across_shards(query[low:high])]
            out = across_shards(query) if merged else query
            return [r.pk for r in out[low:high]]

        return Case(f"rows {where} {terms} [{low}:{high}] sliced-source={sliced}", rows)
    if kind in ("values", "values_list", "flat"):
        fields = rng.sample(["author", "rating", "price", "created", "product_id"], 2)

        def values(qs: Any, merged: bool) -> Any:
            query = ordered(qs)
            if kind == "values":
                query = query.values(*fields)
            elif kind == "values_list":
                query = query.values_list(*fields)
            else:
                query = query.values_list(fields[0], flat=True)
            out = across_shards(query) if merged else query
            return list(out[low:high])

        return Case(f"{kind} {fields} {where} {terms} [{low}:{high}]", values)
    if kind == "group":
        keys = rng.sample(GROUP_FIELDS, rng.randint(1, 2))
        names = rng.sample(sorted(AGGREGATES), rng.randint(1, 4))
        # The group keys make the order total; an aggregate may come first.
        order = [rng.choice([key, f"-{key}"]) for key in keys]
        if rng.random() < 0.5:
            order.insert(0, rng.choice([names[0], f"-{names[0]}"]))
        as_list = rng.random() < 0.3

        def group(qs: Any, merged: bool) -> Any:
            query = qs.filter(where)
            query = query.values_list(*keys) if as_list else query.values(*keys)
            query = query.annotate(**{name: AGGREGATES[name]() for name in names})
            query = query.order_by(*order)
            out = across_shards(query) if merged else query
            return list(out[low:high])

        return Case(f"group {keys} {names} {where} {order} [{low}:{high}]", group)
    if kind == "aggregate":
        names = rng.sample(sorted(AGGREGATES), rng.randint(1, 4))

        def aggregate(qs: Any, merged: bool) -> Any:
            query = qs.filter(where)
            out = across_shards(query) if merged else query
            return out.aggregate(**{name: AGGREGATES[name]() for name in names})

        return Case(f"aggregate {names} {where}", aggregate)
    if kind in ("count", "exists"):

        def counted(qs: Any, merged: bool) -> Any:
            query = ordered(qs)
            out = across_shards(query) if merged else query
            out = out[low:high] if rng_slice else out
            return out.count() if kind == "count" else out.exists()

        rng_slice = rng.random() < 0.5
        return Case(f"{kind} {where} [{low}:{high}]/{rng_slice}", counted)
    if kind == "get":
        pick = rng.choice([Q(rating=5, product_id=3), Q(author="nobody"), Q(product_id=7)])

        def get(qs: Any, merged: bool) -> Any:
            query = qs.filter(where)
            out = across_shards(query) if merged else query
            try:
                return out.get(pick).pk
            except (Review.DoesNotExist, OracleReview.DoesNotExist):
                return "DoesNotExist"
            except (Review.MultipleObjectsReturned, OracleReview.MultipleObjectsReturned):
                return "MultipleObjectsReturned"

        return Case(f"get {pick} {where}", get)
    if kind == "distinct":
        field = rng.choice(["rating", "author", "product_id"])
        descending = rng.random() < 0.5

        def distinct(qs: Any, merged: bool) -> Any:
            query = qs.filter(where).values_list(field, flat=True).distinct()
            query = query.order_by(f"-{field}" if descending else field)
            out = across_shards(query) if merged else query
            return list(out[low:high])

        return Case(f"distinct {field} {where} [{low}:{high}]", distinct)
    name = rng.choice([*UNMERGEABLE, "window", "having"])

    def unmergeable(qs: Any, merged: bool) -> Any:
        query = qs.filter(where)
        if name == "window":
            query = query.annotate(rn=Window(RowNumber(), order_by=F("created").desc()))
            out = across_shards(query) if merged else query
            return list(out[:10])
        if name == "having":
            query = query.values("rating").annotate(n=Count("id")).filter(n__gt=2)
            out = across_shards(query) if merged else query
            return list(out)
        query = query.values("rating").annotate(x=UNMERGEABLE[name]()).order_by("rating")
        out = across_shards(query) if merged else query
        return list(out)

    return Case(f"unmergeable {name} {where}", unmergeable, mergeable=False)


def check(seed: int, *, seconds: float, oracle_db: str, at_least: int) -> dict[str, int]:
    """Generate queries for ``seconds`` (at least ``at_least``); assert the property."""
    rng = random.Random(seed)
    tally = {"merged": 0, "refused": 0}
    deadline = time.monotonic() + seconds
    while tally["merged"] + tally["refused"] < at_least or time.monotonic() < deadline:
        case = generate(rng)
        want = case.run(OracleReview.objects.using(oracle_db), False) if case.mergeable else None
        try:
            got = case.run(Review.objects.all(), True)
        except CannotMergeError:
            assert not case.mergeable, f"refused a mergeable query: {case.describe}"
            tally["refused"] += 1
            continue
        assert case.mergeable, f"merged an unmergeable query: {case.describe}: {got!r}"
        assert _close(got, want), f"{case.describe}:\n got {got!r}\nwant {want!r}"
        tally["merged"] += 1
        if tally["merged"] + tally["refused"] > 5 * at_least:
            break
    return tally
