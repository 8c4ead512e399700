"""A read-only queryset merged from several querysets, each evaluated on its own database.

:class:`MergedQuerySet` is the machinery behind ``across_shards()`` (one source per shard)
and the overlay's merged view (base rows and overlay rows)::

    merged = MergedQuerySet(
        [Review.objects.using("shard_0"), Review.objects.using("shard_1")],
        labels=["shard_0", "shard_1"],
    )
    merged.filter(rating__gte=4).order_by("-created")[:20]   # top 20 over both
    merged.aggregate(Avg("rating"), total=Count("pk"))

What it promises, assuming the sources hold **disjoint** rows of one model:

* Iteration yields the rows one query on a database holding every row would yield, in the
  sources' common ordering (``order_by()``, else ``Meta.ordering``), merged with a k-way
  heap merge. The primary key is appended to the ordering as a tie-breaker, so the order
  is total and repeatable. ``None`` sorts where the first source's database puts it
  (first ascending on SQLite and MySQL, last on PostgreSQL and Oracle) unless the ordering
  says ``nulls_first``/``nulls_last``. Unordered sources are concatenated in source order.
* Ordering terms may be field names (``"-created"``, ``"product__name"``, ``"pk"``), ``F()``
  and ``F().desc(nulls_last=True)``; other expressions and ``"?"`` raise
  :class:`CannotMergeError`, as does a relation whose model has ``Meta.ordering`` (order
  by its key or one of its fields). Values are compared in Python, so strings merge in
  code point order; text that a PostgreSQL source orders by a language collation
  (ordering, ``Min``/``Max``) and values Python cannot compare (mixed types) raise
  :class:`CannotMergeError`.
* ``[a:b]`` fetches at most ``b`` rows from each source, then merges and skips ``a``; a
  sliced source (``across_shards(qs[:5])``) is sliced the same way, once over all rows.
* ``count()``, ``exists()``, ``get()`` (exactly one match over all sources, else the model's
  ``DoesNotExist``/``MultipleObjectsReturned``), ``aggregate()`` with ``Count``, ``Sum``,
  ``Min``, ``Max`` and ``Avg`` (from per-source sums and counts; ``distinct=True`` refused),
  ``in_bulk()``, ``latest()``/``earliest()``, ``iterator()``.
* Grouped rows (``values(...).annotate(n=Count(...))``) and distinct values
  (``values(...).distinct()``, ``dates()``, ``datetimes()``) are combined in Python: each
  source runs unordered and unsliced, equal groups are merged (Count and Sum added, Min
  and Max kept, Avg from per-source sums and counts, defaults applied last), then the
  ordering and the slice apply. A distinct Count, any other aggregate, a filter on an
  aggregate (HAVING) and an ordering by a field the groups do not show are refused.
* Refused with :class:`CannotMergeError` before anything runs: window expressions,
  subqueries in annotations or filters, ``union()``/``intersection()``/``difference()``,
  ``select_for_update()``, ``distinct(*fields)``, ``extra(tables=...)``.
* ``filter()``, ``exclude()``, ``order_by()``, ``reverse()``, ``values()``, ``values_list()``,
  ``annotate()``, ``distinct()``, ``select_related()``, ``prefetch_related()``, ``only()``,
  ``defer()`` return a new merged queryset applying the call to every source; ``first()``
  and ``last()`` fetch one row per source.

Sources are queried one after another or concurrently as ``MULTIDB_ROUTERS_FANOUT`` says
(by default concurrently when they are on network databases, see
:mod:`multidb_routers.concurrency`), on persistent worker threads that keep their
connections and run in a copy of the caller's ``contextvars`` context; always one after
the other in the calling thread when it is inside a transaction on one of the sources'
databases (other threads could not see its uncommitted rows). Each source's rows are
loaded in memory before merging; slice to bound them. A source failing with a database
error raises :class:`MergedQueryError` naming the source; no partial result is returned.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import functools
import heapq
import itertools
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.exceptions import FieldDoesNotExist
from django.core.signals import setting_changed
from django.db import DatabaseError, connections
from django.db.models import (
    Aggregate,
    Avg,
    CharField,
    Count,
    F,
    Max,
    Min,
    Subquery,
    Sum,
    TextField,
    Value,
)
from django.db.models.constants import LOOKUP_SEP
from django.db.models.expressions import BaseExpression, Col, OrderBy
from django.db.models.functions import Coalesce, Collate
from django.db.models.lookups import Lookup
from django.db.models.query import (
    FlatValuesListIterable,
    ModelIterable,
    NamedValuesListIterable,
    ValuesIterable,
    ValuesListIterable,
)
from django.db.models.sql import Query
from django.db.models.sql.where import WhereNode
from django.db.models.utils import create_namedtuple_class

from .concurrency import concurrent_for, in_worker, run_all, vendor_of
from .exceptions import CannotMergeError, MergedQueryError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from django.db.models import Model, QuerySet

__all__ = ["CannotMergeError", "MergedQueryError", "MergedQuerySet"]

R = TypeVar("R")

MAX_GET_RESULTS = 21  # as Django's QuerySet.get()
_KEY_PREFIX = "_merge_key_"


@dataclass(frozen=True)
class _Term:
    """One ordering term: a lookup path, its direction, and explicit null placement."""

    path: str
    descending: bool = False
    nulls_first: bool | None = None

    def reversed(self) -> _Term:
        nulls = None if self.nulls_first is None else not self.nulls_first
        return replace(self, descending=not self.descending, nulls_first=nulls)


def _parse_term(item: object) -> _Term:
    if isinstance(item, str):
        if item == "?":
            raise CannotMergeError(
                "A merged queryset cannot be ordered randomly ('?'): each database would "
                "shuffle its own rows; shuffle the merged rows with random.shuffle() instead."
            )
        if item.startswith("-"):
            return _Term(item[1:], descending=True)
        return _Term(item.lstrip("+"))
    if isinstance(item, F):
        return _Term(str(getattr(item, "name")))  # noqa: B009 (untyped in the stubs)
    if isinstance(item, OrderBy) and isinstance(item.expression, F):
        nulls = True if item.nulls_first else False if item.nulls_last else None
        name = str(getattr(item.expression, "name"))  # noqa: B009
        return _Term(name, descending=item.descending, nulls_first=nulls)
    raise CannotMergeError(
        f"A merged queryset can only be ordered by fields (names, F() or F().desc()), "
        f"not by {item!r}: annotate the expression and order by the annotation's name."
    )


class _Desc:
    """Inverts the order of a value, for descending terms."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Desc) -> bool:
        return bool(other.value < self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and bool(self.value == other.value)

    __hash__ = None  # type: ignore[assignment]


@dataclass
class _Plan:
    """How to run one source and read merge keys and output rows from its raw rows."""

    queryset: QuerySet[Any]
    getters: list[Callable[[Any], Any]]
    output: Callable[[Any], Any]


def _identity(row: Any) -> Any:
    return row


class MergedQuerySet:
    """A read-only queryset over ``querysets`` (disjoint rows of one model, any databases).

    ``labels`` name the sources in error messages (default: each source's ``using()``
    alias or its position); ``concurrent`` forces the sources to be queried concurrently
    (``True``) or one after the other (``False``); ``None`` follows
    ``MULTIDB_ROUTERS_FANOUT`` (see :mod:`multidb_routers.concurrency`); ``max_workers``
    bounds how many sources run at once (default: all).
    """

    def __init__(
        self,
        querysets: Sequence[QuerySet[Any]],
        *,
        labels: Sequence[str] | None = None,
        concurrent: bool | None = None,
        max_workers: int | None = None,
    ) -> None:
        self.querysets: tuple[QuerySet[Any], ...] = tuple(querysets)
        if not self.querysets:
            raise ValueError("A merged queryset needs at least one queryset.")
        self.model: type[Model] = self.querysets[0].model
        concrete = self.model._meta.concrete_model
        for qs in self.querysets[1:]:
            if qs.model._meta.concrete_model is not concrete:
                raise TypeError(
                    f"Cannot merge querysets of {self.model._meta.label} and "
                    f"{qs.model._meta.label}: the sources must hold one model."
                )
        if labels is None:
            labels = [
                getattr(qs, "_db", None) or f"source {index}"
                for index, qs in enumerate(self.querysets)
            ]
        if len(labels) != len(self.querysets):
            raise ValueError("labels must name every queryset, one label each.")
        self.labels: tuple[str, ...] = tuple(labels)
        self.concurrent = concurrent
        self.max_workers = max_workers
        self._low = 0
        self._high: int | None = None
        self._cache: list[Any] | None = None
        limits = {(qs.query.low_mark, qs.query.high_mark) for qs in self.querysets}
        if limits != {(0, None)}:
            # A sliced source is sliced once, over the merged rows, not on each database.
            if len(limits) > 1:
                raise CannotMergeError(
                    "The merged querysets are sliced differently: slice the merged queryset."
                )
            ((self._low, self._high),) = limits
            self.querysets = tuple(_unsliced(qs) for qs in self.querysets)

    def __repr__(self) -> str:
        return f"<MergedQuerySet of {self.model._meta.label} over {', '.join(self.labels)}>"

    # Building new merged querysets.

    def _clone(self, querysets: Sequence[QuerySet[Any]] | None = None) -> MergedQuerySet:
        clone = type(self)(
            self.querysets if querysets is None else querysets,
            labels=self.labels,
            concurrent=self.concurrent,
            max_workers=self.max_workers,
        )
        clone._low, clone._high = self._low, self._high
        return clone

    @property
    def is_sliced(self) -> bool:
        """True once ``[a:b]`` was taken."""
        return self._low != 0 or self._high is not None

    def _each(self, method: str, *args: Any, **kwargs: Any) -> MergedQuerySet:
        if self.is_sliced:
            raise TypeError(f"Cannot call {method}() on a merged queryset once it is sliced.")
        return self._clone([getattr(qs, method)(*args, **kwargs) for qs in self.querysets])

    def filter(self, *args: Any, **kwargs: Any) -> MergedQuerySet:
        """Filter every source."""
        return self._each("filter", *args, **kwargs)

    def exclude(self, *args: Any, **kwargs: Any) -> MergedQuerySet:
        """Exclude from every source."""
        return self._each("exclude", *args, **kwargs)

    def order_by(self, *fields: Any) -> MergedQuerySet:
        """Order every source (and so the merge) by ``fields``."""
        return self._each("order_by", *fields)

    def reverse(self) -> MergedQuerySet:
        """Reverse the ordering of every source and of the merge."""
        return self._each("reverse")

    def values(self, *fields: Any, **expressions: Any) -> MergedQuerySet:
        """Yield dicts, as ``QuerySet.values()``."""
        return self._each("values", *fields, **expressions)

    def values_list(self, *fields: Any, flat: bool = False, named: bool = False) -> MergedQuerySet:
        """Yield tuples, as ``QuerySet.values_list()``."""
        return self._each("values_list", *fields, flat=flat, named=named)

    def select_related(self, *fields: Any) -> MergedQuerySet:
        """``select_related()`` on every source."""
        return self._each("select_related", *fields)

    def prefetch_related(self, *lookups: Any) -> MergedQuerySet:
        """``prefetch_related()`` on every source (prefetched rows come from its database)."""
        return self._each("prefetch_related", *lookups)

    def only(self, *fields: str) -> MergedQuerySet:
        """``only()`` on every source."""
        return self._each("only", *fields)

    def defer(self, *fields: str) -> MergedQuerySet:
        """``defer()`` on every source."""
        return self._each("defer", *fields)

    def annotate(self, *args: Any, **kwargs: Any) -> MergedQuerySet:
        """``annotate()`` on every source (refused at run time when it cannot be merged)."""
        return self._each("annotate", *args, **kwargs)

    def distinct(self, *fields: str) -> MergedQuerySet:
        """``distinct()`` on every source; rows equal over several sources are kept once."""
        return self._each("distinct", *fields)

    def dates(self, field_name: str, kind: str, order: str = "ASC") -> MergedQuerySet:
        """``dates()`` over all sources: each date once, in order."""
        return self._each("dates", field_name, kind, order=order)

    def datetimes(self, field_name: str, kind: str, order: str = "ASC") -> MergedQuerySet:
        """``datetimes()`` over all sources: each date and time once, in order."""
        return self._each("datetimes", field_name, kind, order=order)

    def all(self) -> MergedQuerySet:
        """A copy (evaluated afresh)."""
        return self._clone()

    # Running the sources.

    def prepare_sources(self, querysets: Sequence[QuerySet[Any]]) -> Sequence[QuerySet[Any]]:
        """The querysets to run, just before they run (same order, unsliced).

        A hook for subclasses that narrow a source with what is only known at run time
        (the overlay's merged view hides the base rows the overlay changed or deleted).
        """
        return querysets

    def _map(
        self, func: Callable[[QuerySet[Any]], R], querysets: Sequence[QuerySet[Any]]
    ) -> list[R]:
        querysets = self.prepare_sources(querysets)
        # Resolve each source's database in the calling thread, where routing state lives.
        bound = [qs.using(qs.db) for qs in querysets]
        aliases = [str(qs.db) for qs in bound]
        in_transaction = any(connections[alias].in_atomic_block for alias in aliases)
        if in_transaction or in_worker() or not concurrent_for(aliases, self.concurrent):
            return [
                self._run(label, func, qs) for label, qs in zip(self.labels, bound, strict=True)
            ]
        return run_all(
            [
                (alias, functools.partial(self._run, label, func, qs))
                for alias, label, qs in zip(aliases, self.labels, bound, strict=True)
            ],
            max_workers=self.max_workers,
        )

    def _run(self, label: str, func: Callable[[QuerySet[Any]], R], qs: QuerySet[Any]) -> R:
        try:
            return func(qs)
        except DatabaseError as error:
            raise MergedQueryError(label, error) from error

    # Ordering and merge keys.

    def _terms(self, qs: QuerySet[Any]) -> tuple[list[Any], list[_Term]]:
        """The source's raw ordering items (pk tie-breaker added) and the merge terms."""
        query = qs.query
        if query.extra_order_by:
            raise CannotMergeError(
                "A merged queryset cannot be ordered by extra(order_by=...): annotate the "
                "expression and order by the annotation's name."
            )
        if query.order_by:
            items = list(query.order_by)
        elif query.default_ordering and self.model._meta.ordering:
            items = list(self.model._meta.ordering)
        else:
            return [], []
        terms = [_parse_term(item) for item in items]
        pk = self.model._meta.pk
        assert pk is not None
        if not any(term.path in {"pk", pk.name, pk.attname} for term in terms):
            items.append("pk")
            terms.append(_Term("pk"))
        if not query.standard_ordering:
            terms = [term.reversed() for term in terms]
        return items, terms

    def _plan(self, qs: QuerySet[Any]) -> tuple[_Plan, list[_Term]]:
        items, terms = self._terms(qs)
        if items:
            qs = qs.order_by(*items)
        for term in terms:
            self._refuse_related_ordering(term.path)
        iterable = qs._iterable_class
        meta = self.model._meta
        if iterable is ModelIterable:
            getters, extras = [], {}
            for index, term in enumerate(terms):
                attname = self._local_attname(term.path, set(qs.query.annotations))
                if attname is None:
                    attname = f"{_KEY_PREFIX}{index}"
                    extras[attname] = F(term.path)
                getters.append(_attrgetter(attname))
            if extras:
                qs = qs.annotate(**extras)
            return _Plan(qs, getters, _identity), terms
        if iterable not in (
            ValuesIterable,
            ValuesListIterable,
            FlatValuesListIterable,
            NamedValuesListIterable,
        ):
            raise CannotMergeError(f"A merged queryset cannot read rows of {iterable.__name__}.")
        fields = getattr(qs, "_fields", None) or ()
        names = list(fields) or [
            *(field.attname for field in meta.concrete_fields),
            *qs.query.extra_select,
            *qs.query.annotation_select,
        ]
        positions: list[str] = []
        extra_exprs: dict[str, F] = {}
        for index, term in enumerate(terms):
            name = self._output_name(term.path, names)
            if name is None:
                name = f"{_KEY_PREFIX}{index}"
                extra_exprs[name] = F(term.path)
            positions.append(name)
        if iterable is ValuesIterable or extra_exprs:
            # Read dict rows (adding the missing merge keys), then shape them as asked.
            if extra_exprs or iterable is not ValuesIterable:
                qs = qs.values(*names, **extra_exprs)
            getters = [_itemgetter(name) for name in positions]
            return _Plan(qs, getters, _shaper(iterable, names, list(extra_exprs))), terms
        if iterable is FlatValuesListIterable:  # type: ignore[comparison-overlap]
            return _Plan(qs, [_identity for _ in positions], _identity), terms  # type: ignore[unreachable]
        getters = [_itemgetter(names.index(name)) for name in positions]
        return _Plan(qs, getters, _identity), terms

    def _local_attname(self, path: str, annotations: set[str]) -> str | None:
        """The instance attribute holding ``path``'s value, if the instance has one."""
        meta = self.model._meta
        if path == "pk":
            return meta.pk.attname if meta.pk is not None else None
        if path in annotations:
            return path
        try:
            field = meta.get_field(path)
        except FieldDoesNotExist:
            return None
        if not getattr(field, "concrete", False) or field.many_to_many:
            return None  # a reverse or many-to-many relation: no value on the instance
        return str(getattr(field, "attname", path))

    def _refuse_related_ordering(self, path: str) -> None:
        """Refuse ``path`` when it ends on a relation whose model has ``Meta.ordering``.

        Django then orders the source by the related model's ordering, not by the key.
        """
        model: Any = self.model
        field: Any = None
        for piece in path.split(LOOKUP_SEP):
            if field is not None:
                if field.related_model is None:  # a transform of a plain field
                    return
                model = field.related_model
            try:
                field = model._meta.get_field(piece)
            except FieldDoesNotExist:  # "pk", a transform or an annotation
                return
        related = field.related_model
        by_key = piece == getattr(field, "attname", None) and not field.many_to_many
        if related is not None and not by_key and related._meta.ordering:
            raise CannotMergeError(
                f"Ordering by the relation {path!r} orders by "
                f"{related._meta.label}.Meta.ordering, which a merged queryset cannot "
                f"follow: order by {path}__<field> or by its key."
            )

    def _output_name(self, path: str, names: list[str]) -> str | None:
        """The key of a values() row holding ``path``'s value, if the row has one."""
        meta = self.model._meta
        candidates = [path]
        pk = meta.pk
        if pk is not None and path in {"pk", pk.name, pk.attname}:
            candidates += ["pk", pk.name, pk.attname]
        else:
            try:
                field = meta.get_field(path)
            except FieldDoesNotExist:
                field = None
            if field is not None and getattr(field, "concrete", False):
                candidates += [field.name, getattr(field, "attname", field.name)]
        return next((name for name in candidates if name in names), None)

    def _merge_key(
        self, plan: _Plan, terms: list[_Term], nulls_largest: bool
    ) -> Callable[[Any], Any]:
        parts = []
        for getter, term in zip(plan.getters, terms, strict=True):
            if term.nulls_first is not None:
                nulls_first = term.nulls_first
            else:
                # A database that sorts NULL as the largest value puts it last ascending.
                nulls_first = nulls_largest == term.descending
            parts.append((getter, term.descending, 0 if nulls_first else 2))

        def key(row: Any) -> tuple[Any, ...]:
            out: list[tuple[int, Any]] = []
            for getter, descending, null_rank in parts:
                value = getter(row)
                if value is None:
                    out.append((null_rank, None))
                else:
                    out.append((1, _Desc(value) if descending else value))
            return tuple(out)

        return key

    # Reading.

    def _fetch(self, high: int | None) -> Iterator[Any]:
        for qs in self.querysets:
            _refuse_unmergeable(qs)
        if self._combines():
            return self._combine()
        planned = [self._plan(qs) for qs in self.querysets]
        plans = [plan for plan, _ in planned]
        terms = planned[0][1]
        _refuse_text_order(self.querysets, [term.path for term in terms], "Ordering by")

        def rows(qs: QuerySet[Any]) -> list[Any]:
            return list(qs if high is None else qs[:high])

        results = self._map(rows, [plan.queryset for plan in plans])
        if terms:
            nulls_largest = self._nulls_largest([plan.queryset for plan in plans])
            streams = [
                _keyed(result, self._merge_key(plan, terms, nulls_largest), index)
                for index, (plan, result) in enumerate(zip(plans, results, strict=True))
            ]
            outputs = [plan.output for plan in plans]
            merged: Iterator[Any] = (
                outputs[index](row)
                for _, index, row in heapq.merge(*streams, key=lambda item: item[:2])
            )
        else:
            merged = (
                plan.output(row)
                for plan, result in zip(plans, results, strict=True)
                for row in result
            )
        return merged

    def _rows(self) -> list[Any]:
        if self._cache is None:
            merged = self._fetch(self._high)
            with _comparing():
                self._cache = list(itertools.islice(merged, self._low, self._high))
        return self._cache

    def _nulls_largest(self, querysets: Sequence[QuerySet[Any]]) -> bool:
        """Where the sources' databases put NULL by default: all must agree."""
        found = {connections[qs.db].features.nulls_order_largest for qs in querysets}
        if len(found) > 1:
            raise CannotMergeError(
                "The sources' databases put NULL at different ends of an ordering: say "
                "where with F(...).asc(nulls_first=True) or nulls_last=True."
            )
        return found.pop()

    # Rows combined in Python: GROUP BY groups and DISTINCT values over several sources.

    def _combines(self) -> bool:
        """True when equal rows of several sources make one row (grouped or distinct values)."""
        qs = self.querysets[0]
        if qs._iterable_class is ModelIterable:
            return False  # model rows carry their primary key: never equal over sources
        return bool(qs.query.distinct) or _grouped(qs)

    def _combine_terms(self, qs: QuerySet[Any]) -> list[_Term]:
        query = qs.query
        if query.extra_order_by:
            raise CannotMergeError(
                "A merged queryset cannot be ordered by extra(order_by=...): annotate the "
                "expression and order by the annotation's name."
            )
        items: list[Any] = list(query.order_by)
        if not items and query.default_ordering and not _grouped(qs):
            items = list(self.model._meta.ordering or ())  # GROUP BY ignores Meta.ordering
        terms = [_parse_term(item) for item in items]
        if not query.standard_ordering:
            terms = [term.reversed() for term in terms]
        return terms

    def _combine(self) -> Iterator[Any]:
        """Run the sources unordered and unsliced, combine equal rows, then order."""
        first = self.querysets[0]
        grouped = _grouped(first)
        if grouped and first.query.where.contains_aggregate:
            raise CannotMergeError(
                "A filter on an aggregate (HAVING) sees each database's part of a group: "
                "filter the merged rows in Python instead."
            )
        names = _row_names(first)
        aggregates = _aggregates(first) if grouped else {}
        keys = [name for name in names if name not in aggregates]
        if grouped and len(first.query.group_by or ()) != len(keys):  # type: ignore[arg-type]
            raise CannotMergeError(
                "This query groups by columns its rows do not show: select every grouped "
                "field with values()."
            )
        terms = self._combine_terms(first)
        _refuse_text_order(self.querysets, [term.path for term in terms], "Ordering by")
        _refuse_text_order(
            self.querysets,
            [name for name, (a, _) in aggregates.items() if isinstance(a, (Min, Max))],
            "Min/Max of",
        )
        positions: list[str] = []
        hidden: dict[str, F] = {}
        for index, term in enumerate(terms):
            name = self._output_name(term.path, names)
            if name is None:
                if grouped:  # the database would add it to the GROUP BY
                    raise CannotMergeError(
                        f"Ordering grouped rows by {term.path!r}, which they do not show, "
                        "splits the groups: order by a grouped field or an aggregate."
                    )
                name = f"{_KEY_PREFIX}{index}"
                hidden[name] = F(term.path)
            positions.append(name)
        partials: dict[str, Any] = {}
        for name, (aggregate, _) in aggregates.items():
            source = aggregate.get_source_expressions()[0]
            if isinstance(aggregate, Avg):
                condition = _filter_condition(aggregate)
                partials[f"_merge_sum_{name}"] = Sum(source, filter=condition)
                partials[f"_merge_count_{name}"] = Count(source, filter=condition)
            else:
                partial: Any = copy.copy(aggregate)
                partial.default = None
                partials[f"_merge_part_{name}"] = partial

        def prepare(qs: QuerySet[Any]) -> QuerySet[Any]:
            qs = qs.order_by()
            if hidden:
                qs = qs.values(*names, **hidden)
            if partials:
                qs = qs.annotate(**partials)
            chained: Any = qs._chain()  # type: ignore[union-attr]
            chained._iterable_class = ValuesIterable
            return chained  # type: ignore[no-any-return]

        results = self._map(lambda qs: list(qs), [prepare(qs) for qs in self.querysets])
        combined: dict[tuple[Any, ...], dict[str, Any]] = {}
        parts: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for result in results:
            for row in result:
                key = tuple(row[name] for name in [*keys, *hidden])
                if key not in combined:
                    combined[key] = row
                    parts[key] = []
                parts[key].append(row)
        rows = list(combined.values())
        for key, row in combined.items():
            for name, (aggregate, default) in aggregates.items():
                value = _combine_aggregate(name, aggregate, parts[key])
                row[name] = default if value is None else value
        if terms:
            nulls_largest = self._nulls_largest(self.querysets)
            getters = [_itemgetter(name) for name in positions]
            plan = _Plan(first, getters, _identity)
            with _comparing():
                rows.sort(key=self._merge_key(plan, terms, nulls_largest))
        extras = [*hidden, *partials]
        shape = _shaper(first._iterable_class, _shape_names(first, names), extras)
        return (shape(row) for row in rows)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows())

    def __len__(self) -> int:
        return len(self._rows())

    def __bool__(self) -> bool:
        return bool(self._rows())

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            if index.step not in (None, 1) or (index.start or 0) < 0 or (index.stop or 0) < 0:
                raise ValueError("A merged queryset takes slices [a:b] with a, b >= 0, no step.")
            clone = self._clone()
            start = index.start or 0
            clone._low = self._low + start
            stop = None if index.stop is None else self._low + index.stop
            if self._high is not None:
                stop = self._high if stop is None else min(stop, self._high)
            clone._high = stop if stop is None else max(stop, clone._low)
            return clone
        if index < 0:
            raise ValueError("Negative indexing is not supported.")
        if self._cache is not None:
            return self._cache[index]
        rows = list(self[index : index + 1])
        if not rows:
            raise IndexError("merged queryset index out of range")
        return rows[0]

    def count(self) -> int:
        """The number of rows, summed over the sources (and cut by the slice)."""
        if self._cache is not None:
            return len(self._cache)
        if self._refuse() or self._combines():
            return len(self._rows())
        total = sum(self._map(lambda qs: qs.count(), self.querysets))
        if self._high is not None:
            total = min(total, self._high)
        return max(total - self._low, 0)

    def exists(self) -> bool:
        """True when some source has a row (within the slice)."""
        if self.is_sliced or self._refuse() or self._combines():
            return self.count() > 0
        return any(self._map(lambda qs: qs.exists(), self.querysets))

    def get(self, *args: Any, **kwargs: Any) -> Any:
        """The one matching row over all sources; else DoesNotExist or MultipleObjectsReturned."""
        merged = self.filter(*args, **kwargs) if args or kwargs else self
        if merged.is_sliced or merged._refuse() or merged._combines():
            rows = list(merged)[:MAX_GET_RESULTS]
        else:
            found = merged._map(lambda qs: list(qs.order_by()[:MAX_GET_RESULTS]), merged.querysets)
            rows = [row for result in found for row in result]
        name = self.model._meta.object_name
        model: Any = self.model
        if len(rows) == 1:
            return rows[0]
        if not rows:
            raise model.DoesNotExist(f"{name} matching query does not exist.")
        many = len(rows) if len(rows) < MAX_GET_RESULTS else f"more than {MAX_GET_RESULTS - 1}"
        raise model.MultipleObjectsReturned(
            f"get() returned more than one {name} -- it returned {many}!"
        )

    def first(self) -> Any:
        """The first row of the ordering (by primary key when unordered), or ``None``."""
        ordered = self if self._is_ordered() else self.order_by("pk")
        rows = list(ordered[:1])
        return rows[0] if rows else None

    def last(self) -> Any:
        """The last row of the ordering (by primary key when unordered), or ``None``."""
        if self.is_sliced:
            raise TypeError("Cannot call last() on a merged queryset once it is sliced.")
        ordered = self.reverse() if self._is_ordered() else self.order_by("-pk")
        return ordered.first()

    def _is_ordered(self) -> bool:
        if self._combines():
            return bool(self._combine_terms(self.querysets[0]))
        return bool(self._terms(self.querysets[0])[1])

    def _refuse(self) -> bool:
        """Raise CannotMergeError for a source the merge cannot follow; else False."""
        for qs in self.querysets:
            _refuse_unmergeable(qs)
        return False

    def iterator(self, chunk_size: int | None = None) -> Iterator[Any]:
        """The rows, as iteration yields them (the sources' rows are loaded in memory)."""
        return iter(self._rows())

    def in_bulk(self, id_list: Any = None, *, field_name: str = "pk") -> dict[Any, Any]:
        """``{value: row}`` for the rows whose ``field_name`` is in ``id_list`` (or all)."""
        if self.is_sliced:
            raise TypeError("Cannot use 'limit' or 'offset' with in_bulk().")
        meta = self.model._meta
        if field_name != "pk" and not getattr(meta.get_field(field_name), "unique", False):
            raise ValueError(
                f"in_bulk()'s field_name must be a unique field but {field_name!r} isn't."
            )
        merged = self
        if id_list is not None:
            ids = list(id_list)
            if not ids:
                return {}
            merged = self.filter(**{f"{field_name}__in": ids})
        found: dict[Any, Any] = {}
        for row in merged.order_by():
            key = getattr(row, field_name)
            if key in found:  # unique on each database, not over all of them
                raise CannotMergeError(
                    f"{field_name}={key!r} is on several databases: in_bulk() by primary key."
                )
            found[key] = row
        return found

    def latest(self, *fields: Any) -> Any:
        """The last row by ``fields`` (else ``Meta.get_latest_by``); DoesNotExist if none."""
        return self._edge(fields, latest=True)

    def earliest(self, *fields: Any) -> Any:
        """The first row by ``fields`` (else ``Meta.get_latest_by``); DoesNotExist if none."""
        return self._edge(fields, latest=False)

    def _edge(self, fields: tuple[Any, ...], *, latest: bool) -> Any:
        if self.is_sliced:
            raise TypeError("Cannot change a query once a slice has been taken.")
        if not fields:
            by = self.model._meta.get_latest_by
            fields = (by,) if isinstance(by, str) else tuple(by or ())
        if not fields:
            raise ValueError(
                "earliest() and latest() require either fields as positional arguments "
                "or 'get_latest_by' in the model's Meta."
            )
        ordered = self.order_by(*fields)
        rows = list((ordered.reverse() if latest else ordered)[:1])
        if not rows:
            model: Any = self.model
            raise model.DoesNotExist(
                f"{self.model._meta.object_name} matching query does not exist."
            )
        return rows[0]

    @property
    def ordered(self) -> bool:
        """True when the sources are ordered (so the merge is)."""
        return self._is_ordered()

    def aggregate(self, *args: Aggregate, **kwargs: Aggregate) -> dict[str, Any]:
        """Count, Sum, Min, Max and Avg over all sources, combined from per-source results."""
        if self.is_sliced:
            raise TypeError("Cannot aggregate a merged queryset once it is sliced.")
        if self._refuse() or self._combines():
            raise CannotMergeError(
                "aggregate() over grouped or distinct rows cannot be combined from each "
                "database's part: iterate the merged rows and aggregate them in Python."
            )
        named: dict[str, Aggregate] = dict(kwargs)
        for arg in args:
            try:
                named[arg.default_alias] = arg
            except (AttributeError, TypeError):
                raise TypeError("Complex aggregates require an alias.") from None
        partials: dict[str, Aggregate] = {}
        extremes = [a for a in named.values() if isinstance(a, (Min, Max))]
        if extremes:
            probe = self.querysets[0].annotate(
                **{f"_merge_probe_{i}": a for i, a in enumerate(extremes)}
            )
            names = [f"_merge_probe_{i}" for i in range(len(extremes))]
            _refuse_text_order([probe], names, "Min/Max of")
        for index, (name, aggregate) in enumerate(named.items()):
            if not isinstance(aggregate, (Count, Sum, Min, Max, Avg)):
                raise CannotMergeError(
                    f"A merged queryset aggregates Count, Sum, Min, Max and Avg, not "
                    f"{aggregate!r}: fetch the values and compute it in Python."
                )
            if getattr(aggregate, "distinct", False):
                raise CannotMergeError(
                    f"{name}: distinct aggregates cannot be combined over several databases."
                )
            if isinstance(aggregate, Avg):
                expression = aggregate.get_source_expressions()[0]
                partials[f"_sum{index}"] = Sum(expression, filter=_filter_condition(aggregate))
                partials[f"_count{index}"] = Count(expression, filter=_filter_condition(aggregate))
            else:
                partial: Any = copy.copy(aggregate)
                partial.default = None  # applied once, after combining
                partials[f"_part{index}"] = partial
        results = self._map(lambda qs: qs.aggregate(**partials), self.querysets)
        combined: dict[str, Any] = {}
        for index, (name, aggregate) in enumerate(named.items()):
            if isinstance(aggregate, Avg):
                sums = [r[f"_sum{index}"] for r in results if r[f"_sum{index}"] is not None]
                count = sum(r[f"_count{index}"] for r in results)
                value: Any = sum(sums[1:], sums[0]) / count if count else None
            else:
                values = [r[f"_part{index}"] for r in results if r[f"_part{index}"] is not None]
                if isinstance(aggregate, Count):
                    value = sum(values)
                elif not values:
                    value = None
                elif isinstance(aggregate, Sum):
                    value = sum(values[1:], values[0])
                else:
                    value = min(values) if isinstance(aggregate, Min) else max(values)
            default = getattr(aggregate, "default", None)
            if value is None and default is not None:
                value = getattr(default, "value", default)
            combined[name] = value
        return combined


def _keyed(
    rows: list[Any], key: Callable[[Any], Any], index: int
) -> Iterator[tuple[Any, int, Any]]:
    return ((key(row), index, row) for row in rows)


def _attrgetter(name: str) -> Callable[[Any], Any]:
    return lambda row: getattr(row, name)


def _itemgetter(key: Any) -> Callable[[Any], Any]:
    return lambda row: row[key]


def _shaper(iterable: type, names: list[str], extras: list[str]) -> Callable[[Any], Any]:
    """Turn a values() dict row into the row shape ``iterable`` yields, minus merge keys."""
    if iterable is ValuesIterable:
        if not extras:
            return _identity

        def strip(row: dict[str, Any]) -> dict[str, Any]:
            for name in extras:
                del row[name]
            return row

        return strip
    if iterable is FlatValuesListIterable:
        first = names[0]
        return lambda row: row[first]
    if iterable is NamedValuesListIterable:
        row_class = create_namedtuple_class(*names)
        return lambda row: row_class(*(row[name] for name in names))
    return lambda row: tuple(row[name] for name in names)


@contextlib.contextmanager
def _comparing() -> Iterator[None]:
    """Turn Python's refusal to compare the sources' values into CannotMergeError."""
    try:
        yield
    except CannotMergeError:
        raise
    except TypeError as error:
        raise CannotMergeError(
            f"The merged rows cannot be ordered in Python ({error}): order by a field "
            "whose values are all of one type."
        ) from error


def _unsliced(qs: QuerySet[Any]) -> QuerySet[Any]:
    clone: Any = qs._chain()  # type: ignore[attr-defined]
    clone.query.clear_limits()
    return clone  # type: ignore[no-any-return]


def _contains_subquery(node: Any) -> bool:
    """True when ``node`` (an expression, lookup or WHERE tree) holds a subquery."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (Query, Subquery)):
            return True
        if isinstance(item, WhereNode):
            stack.extend(item.children)
        elif isinstance(item, Lookup):
            stack.extend((item.lhs, item.rhs))
        elif isinstance(item, BaseExpression):
            stack.extend(expr for expr in item.get_source_expressions() if expr is not None)
    return False


def _refuse_unmergeable(qs: QuerySet[Any]) -> None:
    """Raise CannotMergeError for a query whose merged rows would differ from one database's."""
    query = qs.query
    if query.combinator:
        raise CannotMergeError(
            f"{query.combinator}() of querysets runs on each database's rows only: merge "
            "each queryset and combine the results in Python (sets of primary keys)."
        )
    if query.select_for_update:
        raise CannotMergeError(
            "select_for_update() needs a transaction on each database: lock the rows of each "
            "shard with on_shard(alias).select_for_update() inside transaction.atomic(alias)."
        )
    if query.distinct_fields:
        raise CannotMergeError(
            "distinct(*fields) (DISTINCT ON) keeps one row per value on each database: use "
            "values(*fields).distinct(), or keep the first row per value of the merged rows."
        )
    if query.extra_tables:
        raise CannotMergeError(
            "extra(tables=...) joins each database's own tables: query the other table "
            "separately and filter with its values."
        )
    for name, annotation in query.annotations.items():
        if getattr(annotation, "contains_over_clause", False):
            raise CannotMergeError(
                f"The Window expression {name!r} is computed over each database's rows only: "
                "compute it in Python over the merged rows (e.g. enumerate() for RowNumber)."
            )
        if _contains_subquery(annotation):
            raise CannotMergeError(
                f"The annotation {name!r} holds a subquery, which would see only its own "
                "database's rows: evaluate the subquery first (list(...)) and use its values."
            )
    if _contains_subquery(query.where):
        raise CannotMergeError(
            "A filter holds a subquery, which would see only its own database's rows: "
            "evaluate it first (list(...values_list(..., flat=True))) and filter with the list."
        )


def _grouped(qs: QuerySet[Any]) -> bool:
    """True when the rows are GROUP BY groups that rows of several sources may share."""
    query = qs.query
    if not isinstance(query.group_by, tuple):
        return False  # None, or True: grouped by every field of the model, one row each
    if not any(a.contains_aggregate for a in query.annotation_select.values()):
        return False
    pk = qs.model._meta.pk
    return not any(
        isinstance(col, Col) and col.target is pk and col.alias == query.base_table
        for col in query.group_by
    )


_MERGEABLE = (Count, Sum, Min, Max, Avg)


def _filter_condition(aggregate: Aggregate) -> Any:
    """The condition of an aggregate's ``filter=``, to build another aggregate with it.

    Django 6.0 keeps it wrapped in an ``AggregateFilter``, which a new aggregate would
    wrap again (``FILTER (WHERE FILTER (WHERE ...))``).
    """
    condition = aggregate.filter
    if type(condition).__name__ == "AggregateFilter":
        return condition.get_source_expressions()[0]
    return condition


def _aggregates(qs: QuerySet[Any]) -> dict[str, tuple[Aggregate, Any]]:
    """The grouped rows' aggregates by name, each with its default (or refused)."""
    found: dict[str, tuple[Aggregate, Any]] = {}
    for name, annotation in qs.query.annotation_select.items():
        if not annotation.contains_aggregate:
            continue
        default = None
        if isinstance(annotation, Coalesce):  # Aggregate(default=...) resolves to this
            inner, *rest = annotation.get_source_expressions()
            if isinstance(inner, Aggregate) and len(rest) == 1 and isinstance(rest[0], Value):
                annotation, default = inner, rest[0].value
        if not isinstance(annotation, Aggregate):
            raise CannotMergeError(
                f"The annotation {name!r} computes over an aggregate: annotate the aggregate "
                "alone and compute the rest in Python on the merged rows."
            )
        if type(annotation) not in _MERGEABLE:
            raise CannotMergeError(
                f"{type(annotation).__name__} ({name!r}) cannot be combined from each "
                "database's part of a group: group with Count, Sum, Min, Max or Avg, or "
                "fetch the rows and compute it in Python."
            )
        if getattr(annotation, "distinct", False):
            raise CannotMergeError(
                f"{name!r}: a distinct aggregate cannot be combined from each database's part "
                "of a group: fetch values(...).distinct() and count in Python."
            )
        found[name] = (annotation, default)
    return found


def _combine_aggregate(name: str, aggregate: Aggregate, rows: list[dict[str, Any]]) -> Any:
    """One group's aggregate from the partial results of each source holding the group."""
    if isinstance(aggregate, Avg):
        sums = [row[f"_merge_sum_{name}"] for row in rows]
        sums = [value for value in sums if value is not None]
        count = sum(row[f"_merge_count_{name}"] for row in rows)
        if not count:
            return None
        total = sum(sums[1:], sums[0])
        if isinstance(total, (Decimal, datetime.timedelta)):
            return total / count  # Avg of a DecimalField or DurationField keeps its type
        return float(total) / count
    values = [row[f"_merge_part_{name}"] for row in rows]
    values = [value for value in values if value is not None]
    if isinstance(aggregate, Count):
        return sum(values)
    if not values:
        return None
    if isinstance(aggregate, Sum):
        return sum(values[1:], values[0])
    return min(values) if isinstance(aggregate, Min) else max(values)


def _row_names(qs: QuerySet[Any]) -> list[str]:
    """The keys of the dict rows ``values()`` gives for ``qs``, in Django's order."""
    query = qs.query
    return [*query.extra_select, *query.values_select, *query.annotation_select]


def _shape_names(qs: QuerySet[Any], names: list[str]) -> list[str]:
    """The names in the order ``values_list()`` puts them (its fields first)."""
    fields = list(getattr(qs, "_fields", None) or ())
    if not fields or qs._iterable_class is ValuesIterable:
        return names
    return [*fields, *(name for name in qs.query.annotation_select if name not in fields)]


_CODE_POINT_COLLATIONS = frozenset(
    {"c", "posix", "c.utf8", "c.utf-8", "ucs_basic", "pg_c_utf8", "pg_unicode_fast"}
)
_database_collations: dict[tuple[str, str, str, str], str] = {}


def _forget_collations(*, setting: str, **kwargs: Any) -> None:
    if setting == "DATABASES":
        _database_collations.clear()


setting_changed.connect(_forget_collations, dispatch_uid="multidb_routers.merge.collations")


def _database_collation(alias: str) -> str:
    """The default collation of ``alias``'s PostgreSQL database (asked once per process)."""
    connection = connections[alias]
    settings = connection.settings_dict
    key = (alias, str(settings["NAME"]), str(settings["HOST"]), str(settings["PORT"]))
    if key not in _database_collations:
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM pg_database WHERE datname = current_database()")
            columns = [column[0] for column in cursor.description]
            row = dict(zip(columns, cursor.fetchone(), strict=True))
        # PostgreSQL 15+: an ICU (i) or builtin (b, 17+) default collation overrides datcollate.
        provider = row.get("datlocprovider", "c")
        locale = row.get("datlocale") or row.get("daticulocale")
        if provider == "i":
            name = f"ICU {locale}"
        elif provider == "b":
            name = str(locale)
        else:
            name = str(row["datcollate"])
        _database_collations[key] = name
    return _database_collations[key]


def _refuse_text_order(querysets: Sequence[QuerySet[Any]], paths: list[str], what: str) -> None:
    """Refuse comparing text in Python that a PostgreSQL source orders by a language collation.

    Python compares code points, as the ``C`` collation does; ``en_US.UTF-8`` and the like
    order otherwise, so rows merged in Python would follow an order no source used.
    """
    sources = [qs for qs in querysets if vendor_of(str(qs.db)) == "postgresql"]
    if not sources or not paths:
        return
    query = sources[0].query.clone()
    for path in paths:
        try:
            expression: Any = query.resolve_ref(path, allow_joins=True)
        except Exception:  # a path the query itself will reject, with Django's message
            continue
        while isinstance(expression, (Aggregate, Coalesce)):
            expression = expression.get_source_expressions()[0]
        if not isinstance(
            getattr(expression, "_output_field_or_none", None), (CharField, TextField)
        ):
            continue
        if isinstance(expression, Collate):
            collation: str | None = getattr(expression, "collation", None)
        elif isinstance(expression, Col):
            collation = getattr(expression.target, "db_collation", None)
        else:
            collation = None
        collations = (
            [collation] if collation else [_database_collation(str(qs.db)) for qs in sources]
        )
        bad = [name for name in collations if name.lower() not in _CODE_POINT_COLLATIONS]
        if bad:
            raise CannotMergeError(
                f"{what} the text {path!r} compares it in Python (code point order) while "
                f"PostgreSQL orders it by the collation {bad[0]!r}: annotate "
                f'Collate({path!r}, "C") and use that, or give the column '
                'db_collation="C".'
            )
