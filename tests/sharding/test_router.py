"""ShardRouter: routing by key, refusing to guess, migrations, relations, introspection."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import router as django_router

from multidb_routers import ShardKeyError, ShardRouter, use_primary
from multidb_routers.exceptions import RouterOptionError
from multidb_routers.sharding import require_shard_router
from tests.testapps.shard_app.models import Event, OracleReview, Review

SHARDS = ("shard_0", "shard_1", "shard_2", "shard_3")
NOW = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)


@pytest.fixture
def router() -> ShardRouter:
    return require_shard_router(Review)


def _review(product_id: int | None = 7) -> Review:
    return Review(product_id=product_id, author="ann", created=NOW)  # type: ignore[misc]


def test_the_session_router_lists_its_shards(router: ShardRouter) -> None:
    assert router.shard_aliases == SHARDS


def test_writes_go_to_the_shard_of_the_instance_key(router: ShardRouter) -> None:
    for product_id in range(20):
        expected = router.shard_for(product_id)
        assert django_router.db_for_write(Review, instance=_review(product_id)) == expected
        assert django_router.db_for_read(Review, instance=_review(product_id)) == expected


def test_reviews_of_one_product_share_a_shard_whatever_their_ids(router: ShardRouter) -> None:
    aliases = {router.shard_of(_review(3)) for _ in range(50)}
    assert aliases == {router.shard_for(3)}


def test_events_are_sharded_by_their_generated_primary_key(router: ShardRouter) -> None:
    events = [Event(name="e") for _ in range(200)]
    assert {router.shard_of(event) for event in events} == set(SHARDS)
    assert all(router.shard_of(event) == router.shard_for(event.pk) for event in events)


@pytest.mark.parametrize("method", ["db_for_read", "db_for_write"])
def test_no_instance_and_no_shard_raises_naming_the_model_and_the_fixes(method: str) -> None:
    with pytest.raises(ShardKeyError) as excinfo:
        getattr(django_router, method)(Review)
    message = str(excinfo.value)
    assert "shard_app.Review" in message
    for fix in ("Review.objects.shard(key)", "across_shards(", "router.shard_for(key, Review)"):
        assert fix in message


def test_use_shard_chooses_the_shard_of_hintless_queries(router: ShardRouter) -> None:
    with router.use_shard("shard_2"):
        assert django_router.db_for_write(Review) == "shard_2"
        assert django_router.db_for_read(Review, instance=_review(1)) == router.shard_for(1)
    with pytest.raises(ShardKeyError):
        django_router.db_for_read(Review)
    with pytest.raises(ValueError, match="default"), router.use_shard("default"):
        pass


def test_a_plain_query_of_a_sharded_model_is_refused() -> None:
    with pytest.raises(ShardKeyError):
        list(Review.objects.filter(product_id=1))


def test_an_instance_without_its_key_is_refused() -> None:
    with pytest.raises(ShardKeyError, match="product_id"):
        django_router.db_for_write(Review, instance=_review(None))


def test_an_instance_loaded_from_a_shard_stays_there(router: ShardRouter) -> None:
    review = _review(1)
    other = next(alias for alias in SHARDS if alias != router.shard_for(1))
    review._state.db = other
    assert django_router.db_for_write(Review, instance=review) == other


def test_a_related_instance_from_elsewhere_gives_no_shard() -> None:
    oracle = OracleReview(product_id=1, author="x", created=NOW)
    oracle._state.db = "default"
    with pytest.raises(ShardKeyError):
        django_router.db_for_read(Review, instance=oracle)


def test_models_out_of_scope_are_left_to_other_routers(router: ShardRouter) -> None:
    assert router.db_for_read(OracleReview) is None
    assert router.db_for_write(OracleReview) is None
    assert router.allow_relation(OracleReview(), OracleReview()) is None


def test_sharded_models_migrate_on_every_shard_and_nowhere_else(router: ShardRouter) -> None:
    for alias in SHARDS:
        assert router.allow_migrate(alias, "shard_app", model_name="review") is True
    for alias in ("default", "shard_4"):
        assert router.allow_migrate(alias, "shard_app", model_name="review") is False


def test_other_models_never_migrate_on_shards(router: ShardRouter) -> None:
    assert router.allow_migrate("shard_0", "shard_app", model_name="oraclereview") is False
    assert router.allow_migrate("shard_0", "auth", model_name="user") is False
    assert router.allow_migrate("default", "shard_app", model_name="oraclereview") is None


def test_an_operation_naming_no_model_of_a_partly_sharded_app_is_left_to_others(
    router: ShardRouter,
) -> None:
    # A RunPython of shard_app may touch Review (sharded) or OracleReview (not).
    assert router.allow_migrate("shard_0", "shard_app") is None


def test_relations_are_allowed_on_one_shard_only(router: ShardRouter) -> None:
    first, second, third = _review(1), _review(2), _review(3)
    first._state.db, second._state.db, third._state.db = "shard_1", "shard_1", "shard_2"
    assert router.allow_relation(first, second) is True
    assert router.allow_relation(first, third) is False


def test_introspection_describes_the_shards(router: ShardRouter) -> None:
    assert router.aliases() == frozenset(SHARDS)
    assert router.claimed_aliases(Review) == frozenset(SHARDS)
    assert router.claimed_aliases(OracleReview) is None
    assert ("shard_key", "shard_app.Review") in list(router.labels())
    description = router.describe_route(Review)
    assert description is not None
    assert "product_id" in description.read
    assert "shard_3" in description.write
    assert router.describe_route(OracleReview) is None
    assert list(ShardRouter(shards=SHARDS, apps=["shard_app"]).labels()) == [("apps", "shard_app")]


def test_a_subclass_configures_the_router_with_class_attributes() -> None:
    class ProductShards(ShardRouter):
        shards = ["a", "b"]
        apps = ["shard_app"]
        strategy = "modulo"

    assert ProductShards().shard_aliases == ("a", "b")
    assert ProductShards(strategy="rendezvous").strategy_name == "rendezvous"


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"shards": "shard_0"}, RouterOptionError),
        ({"shards": [{"replicas": ["x"]}]}, RouterOptionError),
        ({"shards": [{"primary": "a", "replica": ["x"]}]}, RouterOptionError),
        ({"shards": ["a"], "strategy": "ring"}, RouterOptionError),
        ({"shards": ["a"], "strategy": 3}, RouterOptionError),
        ({"shards": ["a"], "shard_key": 3}, RouterOptionError),
    ],
)
def test_bad_options_are_refused(options: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        ShardRouter(apps=["shard_app"], **options)


def test_a_router_without_shards_refuses_to_route() -> None:
    with pytest.raises(RouterOptionError, match="no shards"):
        ShardRouter(shards=[], apps=["shard_app"]).shard_for(1)


def test_a_shard_key_callable_takes_the_instance() -> None:
    router = ShardRouter(shards=SHARDS, apps=["shard_app"], shard_key=lambda obj: obj.author)
    assert router.shard_of(_review()) == router.shard_for("ann")


@pytest.mark.django_db(databases=["default", "reviews", "reviews_replica1"], transaction=True)
def test_a_shard_with_replicas_reads_from_them_and_writes_to_its_primary() -> None:
    router = ShardRouter(
        shards=["shard_0", {"primary": "reviews", "replicas": ["reviews_replica1"]}],
        apps=["shard_app"],
    )
    assert router.db_for_read(Review, shard="reviews") == "reviews_replica1"
    assert router.read_only_aliases() == frozenset({"reviews_replica1"})
    assert (
        repr(router.shard("reviews_replica1")) == "Shard('reviews', replicas=['reviews_replica1'])"
    )
    with use_primary():
        assert router.db_for_read(Review, shard="reviews") == "reviews"
    assert router.db_for_write(Review, shard="reviews") == "reviews"
    # The write pinned this context's reads of the shard to its primary.
    assert router.db_for_read(Review, shard="reviews") == "reviews"
    assert router.db_for_read(Review, shard="shard_0") == "shard_0"
