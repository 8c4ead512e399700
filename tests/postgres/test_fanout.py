"""across_shards() over four PostgreSQL shard databases: exact answers, reused connections.

Four databases made for the module on the cluster's shard server (plus one holding the
same rows unsharded, the oracle) are added to ``DATABASES`` for each test and dropped
after it: a fan-out worker that kept a connection would make the ``DROP DATABASE`` fail.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import TYPE_CHECKING, Any

import django
import pytest
from django.conf import settings as django_settings
from django.db import connections
from django.db.backends.signals import connection_created
from django.db.models import Max, Min
from django.db.models.functions import Collate

from multidb_routers import ShardRouter
from multidb_routers.concurrency import close_workers, concurrent_for
from multidb_routers.exceptions import CannotMergeError, MergedQueryError
from multidb_routers.sharding import across_shards
from tests.sharding.fanout_property import check
from tests.sharding.oracle import fill
from tests.testapps.shard_app.models import OracleReview, Review

if TYPE_CHECKING:
    from collections.abc import Iterator

SHARDS = [f"pg_fanout_{number}" for number in range(4)]
ORACLE = "pg_fanout_oracle"
pytestmark = pytest.mark.postgres


def _names(suffix: str = "") -> dict[str, str]:
    return {alias: f"test_{alias}{suffix}" for alias in [*SHARDS, ORACLE]}


def _connections_to(names: list[str]) -> int:
    with connections["pg_shard_0"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = ANY(%s)", [names])
        return int(cursor.fetchone()[0])


@pytest.fixture
def pg_shards(
    request: pytest.FixtureRequest, django_db_setup: None, django_db_blocker: Any, settings: Any
) -> Iterator[None]:
    """Review sharded by product over four fresh PostgreSQL databases, OracleReview on a fifth.

    ``@pytest.mark.parametrize("pg_shards", [clause], indirect=True)`` adds ``clause`` to
    each ``CREATE DATABASE`` (a locale, for instance).
    """
    clause = getattr(request, "param", "")
    # Another locale, other names: the library caches each database's collation by name.
    names = _names(f"_{abs(hash(clause))}" if clause else "")
    with django_db_blocker.unblock():
        template = copy.deepcopy(connections["pg_shard_0"].settings_dict)
        with connections["pg_shard_0"].cursor() as cursor:
            for name in names.values():
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
                cursor.execute(f'CREATE DATABASE "{name}" {clause}')
        for alias, name in names.items():
            django_settings.DATABASES[alias] = {**template, "NAME": name, "TEST": {"NAME": name}}
        connections.configure_settings(django_settings.DATABASES)
        try:
            for alias in names:
                with connections[alias].schema_editor() as editor:
                    editor.create_model(OracleReview if alias == ORACLE else Review)
            settings.DATABASE_ROUTERS = [
                ShardRouter(
                    shards=SHARDS,
                    apps=["shard_app.Review"],
                    shard_key={"shard_app.Review": "product_id"},
                )
            ]
            yield
        finally:
            close_workers()
            for alias in names:
                connections[alias].close()
                if hasattr(connections._connections, alias):
                    delattr(connections._connections, alias)
                del django_settings.DATABASES[alias]
            with connections["pg_shard_0"].cursor() as cursor:
                for name in names.values():
                    cursor.execute(f'DROP DATABASE "{name}"')  # fails if a connection leaked


@pytest.mark.usefixtures("pg_shards")
def test_across_shards_answers_as_one_database_or_refuses_on_postgresql() -> None:
    assert concurrent_for(SHARDS, None) is True  # "auto" on network databases
    fill(400, seed=11, oracle_db=ORACLE, authors=["ann", "bob", "cy", "dee", "eve"])
    tally = check(seed=2024, seconds=1.0, oracle_db=ORACLE, at_least=100)
    assert tally["merged"] > 4 * tally["refused"] > 0


@pytest.mark.usefixtures("pg_shards")
def test_postgresql_only_aggregates_are_refused() -> None:
    from django.contrib.postgres.aggregates import ArrayAgg

    if django.VERSION >= (6, 0):  # StringAgg moved to django.db.models, delimiter an expression
        from django.db.models import StringAgg, Value

        string_agg = StringAgg("author", delimiter=Value(","))
    else:
        from django.contrib.postgres.aggregates import StringAgg

        string_agg = StringAgg("author", delimiter=",")
    fill(40, oracle_db=ORACLE)
    merged = across_shards(Review.objects.all())
    for aggregate in (ArrayAgg("author"), string_agg):
        with pytest.raises(CannotMergeError, match="Count, Sum, Min, Max and Avg"):
            merged.aggregate(x=aggregate)
        grouped = Review.objects.values("rating").annotate(x=aggregate)
        with pytest.raises(CannotMergeError, match="cannot be combined"):
            list(across_shards(grouped))
    with pytest.raises(CannotMergeError, match="DISTINCT ON"):
        list(across_shards(Review.objects.order_by("author").distinct("author")))


@pytest.mark.usefixtures("pg_shards")
def test_text_ordered_by_a_language_collation_is_refused() -> None:
    fill(60, oracle_db=ORACLE, authors=["ann", "Bob", "cy", "éa", "Zed", "zoe"])
    oracle = OracleReview.objects.using(ORACLE)
    with connections[ORACLE].cursor() as cursor:
        cursor.execute("SELECT datcollate FROM pg_database WHERE datname = current_database()")
        default = cursor.fetchone()[0]
        cursor.execute("SELECT collname FROM pg_collation WHERE collprovider IN ('i', 'c')")
        available = {row[0] for row in cursor.fetchall()}
    by_code_point = Collate("author", "C")
    got = across_shards(Review.objects.annotate(k=by_code_point).order_by("k", "pk"))
    assert [r.pk for r in got] == [
        r.pk for r in oracle.annotate(k=by_code_point).order_by("k", "pk")
    ]
    plain = across_shards(Review.objects.order_by("author", "pk"))
    grouped = across_shards(Review.objects.values("rating").annotate(first=Min("author")))
    if default.lower() in {"c", "posix", "c.utf8", "c.utf-8"}:
        assert [r.pk for r in plain] == [r.pk for r in oracle.order_by("author", "pk")]
        assert sorted(grouped, key=str) == sorted(
            oracle.values("rating").annotate(first=Min("author")), key=str
        )
    else:
        with pytest.raises(CannotMergeError, match="collation"):
            list(plain)
        with pytest.raises(CannotMergeError, match="collation"):
            list(grouped)
    language = next(
        (name for name in ("und-x-icu", "en_US", "en_US.utf8") if name in available), None
    )
    if language is None:
        pytest.skip(f"no language collation on this server (default {default!r})")
    by_language = Review.objects.annotate(k=Collate("author", language)).order_by("k")
    with pytest.raises(CannotMergeError, match=language):
        list(across_shards(by_language))
    with pytest.raises(CannotMergeError, match="collation"):
        across_shards(Review.objects.all()).aggregate(x=Max(Collate("author", language)))


@pytest.mark.parametrize(
    "pg_shards", ["TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'und'"], indirect=True
)
@pytest.mark.usefixtures("pg_shards")
def test_text_on_databases_whose_default_collation_is_icu_is_refused() -> None:
    fill(60, oracle_db=ORACLE, authors=["ann", "Bob", "cy", "éa", "Zed"])
    oracle = OracleReview.objects.using(ORACLE)
    # ICU puts "Bob" between "ann" and "cy"; code points put it first.
    assert list(oracle.order_by("author").values_list("author", flat=True).distinct()) == [
        "ann",
        "Bob",
        "cy",
        "éa",
        "Zed",
    ]
    for query in (
        Review.objects.order_by("author"),
        Review.objects.values("author").distinct().order_by("author"),
        Review.objects.values("rating").annotate(first=Min("author")),
    ):
        with pytest.raises(CannotMergeError, match="ICU und"):
            list(across_shards(query))
    with pytest.raises(CannotMergeError, match="ICU und"):
        across_shards(Review.objects.all()).aggregate(last=Max("author"))
    by_code_point = Collate("author", "C")
    got = across_shards(Review.objects.annotate(k=by_code_point).order_by("k", "pk"))
    want = oracle.annotate(k=by_code_point).order_by("k", "pk")
    assert [r.pk for r in got] == [r.pk for r in want]
    assert across_shards(Review.objects.order_by("-rating", "pk")).count() == 60


@pytest.mark.usefixtures("pg_shards")
def test_workers_reuse_one_connection_per_shard_and_close_it() -> None:
    fill(80, oracle_db=ORACLE)
    opened: list[str] = []

    def record(sender: Any, connection: Any, **kwargs: Any) -> None:
        opened.append(threading.current_thread().name)

    def top() -> list[int]:
        return [r.pk for r in across_shards(Review.objects.order_by("-created"))[:20]]

    expected = [r.pk for r in OracleReview.objects.using(ORACLE).order_by("-created", "pk")[:20]]
    for alias in SHARDS:
        connections[alias].close()  # the filling thread's: only the workers' stay open
    connection_created.connect(record)
    try:
        for _ in range(5):
            assert top() == expected
    finally:
        connection_created.disconnect(record)
    workers = [name for name in opened if name.startswith("merged-query")]
    assert sorted(workers) == sorted(f"merged-query {alias}" for alias in SHARDS)
    assert _connections_to([_names()[alias] for alias in SHARDS]) == len(SHARDS)
    close_workers()
    # A server process leaves pg_stat_activity a moment after its client hung up.
    deadline = time.monotonic() + 5
    while _connections_to([_names()[alias] for alias in SHARDS]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _connections_to([_names()[alias] for alias in SHARDS]) == 0


@pytest.mark.usefixtures("pg_shards")
def test_a_worker_whose_connection_was_killed_reconnects_on_the_next_call() -> None:
    fill(40, oracle_db=ORACLE)
    query = Review.objects.order_by("-created")
    assert len(across_shards(query)[:100]) == 40
    with connections["pg_shard_0"].cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            [_names()["pg_fanout_2"]],
        )
    with pytest.raises(MergedQueryError, match="pg_fanout_2"):
        list(across_shards(query)[:100])
    assert len(across_shards(query)[:100]) == 40  # the broken connection was replaced
