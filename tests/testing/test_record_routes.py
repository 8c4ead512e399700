"""record_routes(): the routed queries of a block, from pytest, TestCase and TransactionTestCase."""

from __future__ import annotations

import configparser
import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.db import connections, transaction
from django.test import Client, TestCase, TransactionTestCase

from multidb_routers import use_primary
from multidb_routers.routes import listening
from multidb_routers.testing import record_routes
from tests.testapps.legacy_app.models import Customer
from tests.testapps.replica_app.models import Review

if TYPE_CHECKING:
    from multidb_routers.testing import RecordedRoutes

REPLICAS = ("reviews_replica1", "reviews_replica2")
DATABASES = ["default", "users", "legacy", "reviews", *REPLICAS]


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_a_view_that_reads_from_replicas_passes_both_assertions() -> None:
    review = Review.objects.create(title="Read me")
    with use_primary(), record_routes() as routes:
        pass
    with record_routes() as routes:
        Client().get(f"/replica/sync/reviews/{review.pk}/")
    routes.assert_reads_from_replica(Review)
    routes.assert_reads_from_replica("REPLICA_APP.review")
    routes.assert_no_primary_reads()
    [alias] = set(routes.aliases(Review))
    assert routes.aliases(Review) == {alias: 10}
    assert all(query.sql.startswith("SELECT") for query in routes.reads(Review))
    assert routes.queries[0].label == "replica_app.Review"
    assert routes.routes[0].model is Review


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_a_pinned_view_fails_the_replica_assertions_with_the_queries_listed() -> None:
    client = Client()
    response = client.post("/replica/sync/reviews/", {"title": "Pinned"})
    with record_routes() as routes:
        client.get(response["Location"])
    with pytest.raises(AssertionError) as replica:
        routes.assert_reads_from_replica(Review)
    message = str(replica.value)
    assert message.startswith("10 of 10 reads of replica_app.Review did not go to ")
    assert "read replica_app.Review on reviews: pinned by the request's pin cookie (" in message
    with pytest.raises(AssertionError, match=r"^10 read\(s\) went to a primary:\n  read "):
        routes.assert_no_primary_reads()
    routes.assert_reads_from("reviews", Review)
    assert routes.writes(Review) == []


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_an_assertion_about_reads_fails_when_nothing_was_read() -> None:
    with record_routes() as routes:
        Customer.objects.create(name="Ann")
    [write] = routes.writes(Customer)
    assert (write.alias, write.code) == ("legacy", "functional")
    assert write.sql.startswith("INSERT")
    with pytest.raises(AssertionError, match=r"^No read of replica_app.Review was routed"):
        routes.assert_reads_from_replica(Review)
    routes.assert_no_primary_reads()  # no read at all: none from a primary


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_transaction_control_is_recorded_but_not_routed() -> None:
    with (
        record_routes() as routes,
        transaction.atomic(using="legacy"),
        transaction.atomic(using="legacy"),  # a savepoint
    ):
        Customer.objects.create(name="Bo")
    savepoints = [q for q in routes.queries if q.sql.upper().startswith("SAVEPOINT")]
    assert savepoints
    assert {(q.route, q.code, q.label) for q in savepoints} == {(None, "unrouted", None)}
    assert savepoints[0].reason == "not routed (the connection was used directly)"


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_recording_stops_with_the_block_even_when_it_raises() -> None:
    before = {c.alias: list(c.execute_wrappers) for c in connections.all()}

    def fail_while_recording() -> None:
        with record_routes():
            assert listening()
            assert all(
                len(c.execute_wrappers) == len(before[c.alias]) + 1 for c in connections.all()
            )
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        fail_while_recording()
    assert not listening()
    assert {c.alias: list(c.execute_wrappers) for c in connections.all()} == before


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_the_pytest_fixture_records_the_whole_test(record_routes: RecordedRoutes) -> None:
    Review.objects.create(title="Fixture")
    assert list(Review.objects.all())
    [write] = record_routes.writes(Review)
    assert write.alias == "reviews"
    record_routes.assert_reads_from("reviews", Review)  # the write pinned the test's reads
    assert record_routes.reads(Review)[0].code == "pinned"


def test_the_pytest_plugin_is_registered_by_an_entry_point() -> None:
    config = configparser.ConfigParser()
    config.read(Path(__file__).parents[2] / "setup.cfg")
    entry = config["options.entry_points"]["pytest11"].strip()
    name, module = (part.strip() for part in entry.split("="))
    assert name == "multidb_routers"
    plugin = importlib.import_module(module)
    assert {"record_routes", "lagging_replicas"} <= set(vars(plugin))


class ReadsInATestCase(TestCase):
    """Inside TestCase's transaction, every read of a replicated model goes to the primary.

    The replicas are left out of ``databases``: on in-memory SQLite a mirror cannot take
    part in a TestCase that writes (tests/replication/test_testcase_routing.py says why).
    """

    databases = {"default", "users", "reviews"}

    def test_reads_go_to_the_primary_and_record_routes_says_why(self) -> None:
        with record_routes() as routes:
            list(Review.objects.all())
        [read] = routes.reads(Review)
        assert (read.alias, read.code) == ("reviews", "transaction")
        with pytest.raises(AssertionError):
            routes.assert_no_primary_reads(Review)
        review = Review.objects.create(title="In a transaction")
        with record_routes() as routes:
            self.client.get(f"/replica/sync/reviews/{review.pk}/")
        reads = routes.reads(Review)
        assert {(q.alias, q.code) for q in reads} == {("reviews", "transaction")}


class ReadsInATransactionTestCase(TransactionTestCase):
    """Without the transaction, the same reads go to a replica."""

    databases = set(DATABASES)

    def test_reads_come_from_a_replica(self) -> None:
        review = Review.objects.create(title="Committed")
        with record_routes() as routes:
            self.client.get(f"/replica/sync/reviews/{review.pk}/")
        routes.assert_reads_from_replica(Review)


def test_loading_the_pytest_plugin_imports_neither_django_nor_the_routers() -> None:
    code = (
        "import sys, multidb_routers.testing.pytest_plugin; "
        "print(sorted(m for m in sys.modules if m.startswith(('django', 'multidb_routers.r'))))"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
        env=env,
        check=True,
    )
    assert done.stdout.strip() == "[]"
