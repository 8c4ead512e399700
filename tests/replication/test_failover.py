"""Replica failover: an unreachable replica is left out, reads go on, transitions are logged."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections import Counter
from typing import TYPE_CHECKING

import pytest
from django.db import connections
from django.test import override_settings

from multidb_routers import PrimaryReplicaRouter
from multidb_routers.replication.replica_set import ReplicaSet
from tests.testapps.replica_app.models import Review

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

# transaction=True: a failed connect() would reset the atomic block TestCase opens on it.
DATABASES = ["default", "reviews", "reviews_replica1", "reviews_replica2"]


@pytest.fixture
def replica2_down(tmp_path: Path) -> Iterator[None]:
    """reviews_replica2 cannot connect: its database file is in a missing directory."""
    connection = connections["reviews_replica2"]
    # close() keeps in-memory SQLite databases open: put the open one aside instead.
    opened, connection.connection = connection.connection, None
    name = connection.settings_dict["NAME"]
    connection.settings_dict["NAME"] = str(tmp_path / "missing" / "replica.sqlite3")
    yield
    if connection.connection is not None:
        connection.connection.close()
    connection.connection = opened
    connection.settings_dict["NAME"] = name


def bring_replica2_back(name: str) -> None:
    connections["reviews_replica2"].settings_dict["NAME"] = name


@pytest.mark.django_db(databases=DATABASES, transaction=True)
@pytest.mark.usefixtures("replica2_down")
def test_orm_reads_succeed_when_the_only_replica_is_down() -> None:
    Review.objects.create(title="Kept")
    lone = PrimaryReplicaRouter(primary="reviews", replicas=["reviews_replica2"], pin_seconds=0)

    with override_settings(DATABASE_ROUTERS=[lone]):
        queryset = Review.objects.all()
        titles = [review.title for review in queryset]

    assert titles == ["Kept"]
    assert queryset.db == "reviews"


@pytest.mark.django_db(databases=DATABASES, transaction=True)
@pytest.mark.usefixtures("replica2_down")
def test_reads_go_to_the_live_replica_while_another_is_down() -> None:
    replica_set = ReplicaSet("reviews", ["reviews_replica1", "reviews_replica2"])

    # Each read in a new context: a context keeps the replica it first chose.
    reads = {contextvars.Context().run(replica_set.read_alias) for _ in range(50)}

    assert reads == {"reviews_replica1"}
    assert replica_set.down_replicas() == {"reviews_replica2"}


@pytest.mark.django_db(databases=DATABASES, transaction=True)
@pytest.mark.usefixtures("replica2_down")
def test_reads_are_spread_by_weight_over_the_aliases_still_live() -> None:
    replica_set = ReplicaSet(
        "reviews", {"reviews_replica1": 3, "reviews_replica2": 1}, read_from_primaries=True
    )
    draws = 4000

    # Each draw in a new context: a context keeps the replica it first chose.
    counts = Counter(contextvars.Context().run(replica_set.read_alias) for _ in range(draws))

    expected = {"reviews_replica1": draws * 3 / 4, "reviews": draws / 4}
    assert set(counts) == set(expected)
    chi_square = sum((counts[alias] - share) ** 2 / share for alias, share in expected.items())
    # Chi-square with one degree of freedom: above 15.14 has a probability of 1e-4.
    assert chi_square < 15.14, counts


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_a_down_replica_is_logged_once_rechecked_later_and_logged_back(
    replica2_down: None, caplog: pytest.LogCaptureFixture
) -> None:
    replica_set = ReplicaSet("reviews", ["reviews_replica2"], recheck_seconds=0.02)
    caplog.set_level(logging.DEBUG, logger="multidb_routers")

    assert [replica_set.read_alias() for _ in range(5)] == ["reviews"] * 5
    time.sleep(0.05)  # past the recheck, still down
    assert replica_set.read_alias() == "reviews"
    bring_replica2_back(connections["reviews_replica1"].settings_dict["NAME"])
    time.sleep(0.05)
    assert replica_set.read_alias() == "reviews_replica2"

    transitions = [
        record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING
    ]
    assert len(transitions) == 2
    assert "Replica 'reviews_replica2' of 'reviews' is unreachable" in transitions[0]
    assert "the primary 'reviews' (no live replica)" in transitions[0]
    assert transitions[1] == "Replica 'reviews_replica2' of 'reviews' is reachable again."
    assert replica_set.down_replicas() == frozenset()


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_the_recheck_delay_is_jittered_around_recheck_seconds(
    replica2_down: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="multidb_routers")
    for _ in range(20):
        ReplicaSet("reviews", ["reviews_replica2"], recheck_seconds=10).read_alias()

    delays = [record.args[3] for record in caplog.records]  # type: ignore[index]
    assert len(delays) == 20
    assert all(5 <= delay <= 15 for delay in delays)
    assert len(set(delays)) > 1


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_async_code_gets_a_replica_without_a_probe_its_query_connects_in_a_thread() -> None:
    connection = connections["reviews_replica2"]
    opened, connection.connection = connection.connection, None
    replica_set = ReplicaSet("reviews", ["reviews_replica2"])

    async def route() -> str:
        return replica_set.read_alias()

    try:
        assert asyncio.run(route()) == "reviews_replica2"
        assert connection.connection is None
    finally:
        connection.connection = opened


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_an_sqlite_replica_gets_no_retry_wrapper() -> None:
    # Its connection is in the process and never lost: nothing to retry, nothing to pay.
    replica = connections["reviews_replica1"]
    del replica.execute_wrappers[:]

    assert contextvars.Context().run(ReplicaSet("reviews", ["reviews_replica1"]).read_alias) == (
        "reviews_replica1"
    )
    assert replica.execute_wrappers == []
