"""PrimaryReplicaRouter: where reads and writes go, migrations, relations, configuration."""

from __future__ import annotations

import contextvars
import time
from collections import Counter
from typing import TYPE_CHECKING

import pytest
from django.db import connections, router, transaction
from django.test import override_settings

from multidb_routers import PrimaryReplicaRouter, use_primary
from multidb_routers.base import RouteDescription
from multidb_routers.exceptions import RouterOptionError
from multidb_routers.replication.replica_set import ReplicaSet
from multidb_routers.replication.state import Pin
from tests.testapps.functional_app.models import Book
from tests.testapps.replica_app.models import Comment, Review

if TYPE_CHECKING:
    from collections.abc import Sequence

REPLICAS = ("reviews_replica1", "reviews_replica2")
# "default" too: Django creates the other test databases after it.
REVIEWS = ["default", "reviews", *REPLICAS]


def reviews_router(**options: object) -> PrimaryReplicaRouter:
    """The test settings' router, with other options."""
    return PrimaryReplicaRouter(
        **{"primary": "reviews", "replicas": list(REPLICAS), "apps": ["replica_app"], **options}
    )


@pytest.mark.django_db(databases=REVIEWS, transaction=True)
def test_reads_go_to_a_replica_and_writes_to_the_primary() -> None:
    assert router.db_for_read(Review) in REPLICAS
    assert router.db_for_write(Review) == "reviews"


@pytest.mark.django_db(databases=REVIEWS, transaction=True)
def test_reads_inside_use_primary_go_to_the_primary() -> None:
    with use_primary():
        assert router.db_for_read(Review) == "reviews"
    assert router.db_for_read(Review) in REPLICAS


@pytest.mark.django_db(databases=REVIEWS, transaction=True)
def test_a_write_outside_a_request_pins_reads_of_this_context_only() -> None:
    other_context = contextvars.copy_context()

    Review.objects.create(title="Fresh")

    assert router.db_for_read(Review) == "reviews"
    assert Review.objects.get(title="Fresh")._state.db == "reviews"
    assert other_context.run(router.db_for_read, Review) in REPLICAS


@pytest.mark.django_db(databases=REVIEWS, transaction=True)
def test_a_write_pin_ends_after_pin_seconds() -> None:
    with override_settings(DATABASE_ROUTERS=[reviews_router(pin_seconds=0.05)]):
        router.db_for_write(Review)
        assert router.db_for_read(Review) == "reviews"
        time.sleep(0.1)
        assert router.db_for_read(Review) in REPLICAS


@pytest.mark.django_db(databases=REVIEWS, transaction=True)
def test_pin_seconds_default_to_the_setting_read_at_write_time(settings: object) -> None:
    settings.MULTIDB_ROUTERS_PIN_SECONDS = 0.05  # type: ignore[attr-defined]
    router.db_for_write(Review)
    assert router.db_for_read(Review) == "reviews"
    time.sleep(0.1)
    assert router.db_for_read(Review) in REPLICAS


@pytest.mark.django_db(databases=REVIEWS, transaction=True)
def test_reads_inside_a_transaction_on_the_primary_go_to_the_primary() -> None:
    # The atomic blocks of the test case itself do not count.
    assert router.db_for_read(Review) in REPLICAS
    with transaction.atomic(using="default"):
        assert router.db_for_read(Review) in REPLICAS
    with transaction.atomic(using="reviews"):
        assert router.db_for_read(Review) == "reviews"


@pytest.mark.django_db(databases=REVIEWS, transaction=True)
def test_reads_with_autocommit_turned_off_on_the_primary_go_to_the_primary() -> None:
    connections["reviews"].ensure_connection()
    assert router.db_for_read(Review) in REPLICAS
    transaction.set_autocommit(False, using="reviews")
    try:
        assert router.db_for_read(Review) == "reviews"
    finally:
        transaction.rollback(using="reviews")
        transaction.set_autocommit(True, using="reviews")


@pytest.mark.django_db(databases=REVIEWS, transaction=True)
def test_weights_set_the_share_of_reads_of_each_replica() -> None:
    weighted = reviews_router(replicas={"reviews_replica1": 3, "reviews_replica2": 1})
    draws = 4000

    # Each draw in a new context: a context keeps the replica it first chose.
    counts = Counter(contextvars.Context().run(weighted.db_for_read, Review) for _ in range(draws))

    expected = {"reviews_replica1": draws * 3 / 4, "reviews_replica2": draws / 4}
    chi_square = sum((counts[alias] - share) ** 2 / share for alias, share in expected.items())
    # Chi-square with one degree of freedom: above 15.14 has a probability of 1e-4.
    assert chi_square < 15.14, counts


@pytest.mark.django_db(databases=REVIEWS, transaction=True)
def test_outside_a_request_a_context_keeps_reading_from_the_replica_it_chose() -> None:
    router = reviews_router()

    def reads() -> set[str | None]:
        return {router.db_for_read(Review) for _ in range(50)}

    chosen = [contextvars.Context().run(reads) for _ in range(40)]

    assert all(len(aliases) == 1 for aliases in chosen), chosen
    assert set().union(*chosen) == {"reviews_replica1", "reviews_replica2"}


@pytest.mark.django_db(databases=[*REVIEWS, "library"], transaction=True)
def test_routers_side_by_side_each_pin_only_their_own_primary() -> None:
    routers = [
        PrimaryReplicaRouter(
            primary="reviews", replicas=["reviews_replica1"], apps=["replica_app.Review"]
        ),
        PrimaryReplicaRouter(
            primary="library", replicas=["reviews_replica2"], apps=["replica_app.Comment"]
        ),
    ]
    with override_settings(DATABASE_ROUTERS=routers):
        assert router.db_for_write(Review) == "reviews"

        assert router.db_for_read(Review) == "reviews"
        assert router.db_for_read(Comment) == "reviews_replica2"


def test_models_out_of_scope_are_left_to_other_routers() -> None:
    replica_router = reviews_router()

    assert replica_router.db_for_read(Book) is None
    assert replica_router.db_for_write(Book) is None
    assert replica_router.allow_migrate("default", "functional_app", model_name="book") is None
    assert replica_router.claimed_aliases(Book) is None
    assert replica_router.describe_route(Book) is None


def test_scoped_models_migrate_on_the_primary_only_and_nothing_on_replicas() -> None:
    replica_router = reviews_router()

    assert replica_router.allow_migrate("reviews", "replica_app", model_name="review") is True
    assert replica_router.allow_migrate("default", "replica_app", model_name="review") is False
    for alias in REPLICAS:
        assert replica_router.allow_migrate(alias, "replica_app", model_name="review") is False
        assert replica_router.allow_migrate(alias, "functional_app", model_name="book") is False
        assert replica_router.allow_migrate(alias, "functional_app") is False


def test_a_partly_scoped_app_wide_migration_is_left_undecided() -> None:
    replica_router = reviews_router(apps=["replica_app.Review"])

    assert replica_router.allow_migrate("reviews", "replica_app") is None
    assert replica_router.allow_migrate("reviews", "replica_app", model_name="comment") is None


def test_relations_are_allowed_among_the_primary_and_its_replicas() -> None:
    replica_router = reviews_router()
    on_primary, on_replica = Review(title="a"), Review(title="b")
    on_primary._state.db, on_replica._state.db = "reviews", "reviews_replica2"
    unsaved = Comment(text="c")
    elsewhere = Book(title="d")
    elsewhere._state.db = "library"

    assert replica_router.allow_relation(on_replica, on_primary) is True
    assert replica_router.allow_relation(unsaved, on_replica) is True
    assert replica_router.allow_relation(on_primary, elsewhere) is None


def test_introspection_names_the_primary_and_replicas() -> None:
    replica_router = reviews_router()

    assert replica_router.aliases() == {"reviews", *REPLICAS}
    assert replica_router.read_only_aliases() == frozenset(REPLICAS)
    assert list(replica_router.labels()) == [("apps", "replica_app")]
    assert replica_router.claimed_aliases(Review) == frozenset({"reviews"})
    assert replica_router.describe_route(Review) == RouteDescription(
        read="reviews_replica1, reviews_replica2 (primary when pinned)", write="reviews"
    )


@pytest.mark.django_db(databases=["reviews"])
def test_without_replicas_everything_goes_to_the_primary() -> None:
    lone = PrimaryReplicaRouter(primary="reviews", replicas=[])

    assert lone.db_for_read(Book) == "reviews"
    assert lone.describe_route(Book) == RouteDescription(read="reviews", write="reviews")
    assert list(lone.labels()) == []


def test_a_subclass_is_configured_by_class_attributes_and_keywords_win() -> None:
    class ReviewsRouter(PrimaryReplicaRouter):
        primary = "reviews"
        replicas = ["reviews_replica1"]
        apps = ["replica_app"]

    assert ReviewsRouter().aliases() == frozenset({"reviews", "reviews_replica1"})
    assert ReviewsRouter(replicas=["reviews_replica2"]).read_only_aliases() == {"reviews_replica2"}


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"replicas": ["r"]}, RouterOptionError, "needs primary"),
        ({"primary": "p", "replicas": "r"}, RouterOptionError, "list of database aliases"),
        ({"primary": "p", "replicas": ["r", "r"]}, RouterOptionError, "more than once"),
        ({"primary": "p", "replicas": ["p"]}, RouterOptionError, "both the primary and one"),
        ({"primary": "p", "replicas": [""]}, RouterOptionError, "not a database alias"),
        ({"primary": "p", "replicas": {"r": 0}}, RouterOptionError, "positive number"),
        ({"primary": "", "replicas": ["r"]}, RouterOptionError, "primary must be"),
        ({"primary": "p", "replicas": ["r"], "pin_seconds": -1}, RouterOptionError, "pin_seconds"),
        ({"primary": "p", "replicas": ["r"], "recheck_seconds": "5"}, RouterOptionError, "recheck"),
        ({"primary": "p", "replicas": ["r"], "apps": "reviews"}, RouterOptionError, "apps must"),
    ],
)
def test_bad_options_are_refused_with_a_message_naming_them(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        PrimaryReplicaRouter(**options)


class TrustReplica1:
    """A freshness strategy that knows replica1 (only) has caught up with any pin."""

    def make_pin(self, primary: str, *, seconds: float) -> Pin:
        return Pin(until=time.time() + seconds, position="0/16B3748")

    def fresh_replicas(self, replicas: Sequence[str], pin: Pin) -> Sequence[str]:
        return [alias for alias in replicas if alias == "reviews_replica1"]


@pytest.mark.django_db(databases=[*REVIEWS, "library"], transaction=True)
def test_a_freshness_strategy_chooses_which_replicas_serve_pinned_reads() -> None:
    replica_set = ReplicaSet(
        "reviews",
        {"reviews_replica1": 1, "reviews_replica2": 1, "library": 1},
        freshness=TrustReplica1(),
    )
    unpinned = {contextvars.Context().run(replica_set.read_alias) for _ in range(60)}

    assert replica_set.write_alias() == "reviews"

    assert unpinned == {"reviews_replica1", "reviews_replica2", "library"}
    assert {replica_set.read_alias() for _ in range(20)} == {"reviews_replica1"}
    assert repr(replica_set) == (
        "ReplicaSet(primary='reviews', "
        "replicas={'reviews_replica1': 1.0, 'reviews_replica2': 1.0, 'library': 1.0})"
    )
