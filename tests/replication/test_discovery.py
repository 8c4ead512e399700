"""The replica sets of DATABASE_ROUTERS: every router's, its shards' too, each once, by primary."""

from __future__ import annotations

from typing import Any

from django.db import router as django_router

from multidb_routers import FunctionalRouter, PrimaryReplicaRouter, ShardRouter
from multidb_routers.replication.discovery import replica_sets, replica_sets_by_primary
from multidb_routers.replication.middleware import pin_limits


def test_the_replica_sets_of_replica_and_shard_routers_are_found_in_the_routers_order(
    settings: Any,
) -> None:
    replicated = PrimaryReplicaRouter(
        primary="reviews", replicas=["reviews_replica1"], apps=["replica_app"], pin_seconds=3
    )
    sharded = ShardRouter(
        shards=["shard_0", {"primary": "shard_3", "replicas": ["shard_3_replica"]}],
        apps=["shard_app.Review"],
        shard_key={"shard_app.Review": "product_id"},
    )
    settings.DATABASE_ROUTERS = [FunctionalRouter(routes={"auth": "users"}), replicated, sharded]
    [shard_3] = [shard for shard in sharded.shard_config if shard.alias == "shard_3"]
    assert replica_sets() == (replicated.replica_set, shard_3.replica_set)
    assert dict(replica_sets_by_primary()) == {
        "reviews": (replicated.replica_set,),
        "shard_3": (shard_3.replica_set,),
    }
    assert dict(pin_limits())["reviews"] == 3


def test_a_router_listed_twice_gives_its_replica_set_once_and_the_longest_pin_wins(
    settings: Any,
) -> None:
    short = PrimaryReplicaRouter(
        primary="master-a", replicas=["slave"], apps=["replica_app"], pin_seconds=1
    )
    long = PrimaryReplicaRouter(
        primary="master-a", replicas=["slave"], apps=["functional_app"], pin_seconds=7
    )
    settings.DATABASE_ROUTERS = [short, long, short]
    assert replica_sets() == (short.replica_set, long.replica_set)
    assert replica_sets_by_primary()["master-a"] == (short.replica_set, long.replica_set)
    assert dict(pin_limits()) == {"master-a": 7}


def test_other_routers_are_found_after_the_setting_changes(settings: Any) -> None:
    first = PrimaryReplicaRouter(primary="reviews", replicas=["reviews_replica1"])
    settings.DATABASE_ROUTERS = [first]
    assert replica_sets() == (first.replica_set,)
    second = PrimaryReplicaRouter(primary="master-a", replicas=["slave"])
    settings.DATABASE_ROUTERS = [second]
    assert django_router.routers == [second]
    assert replica_sets() == (second.replica_set,)
    settings.DATABASE_ROUTERS = []
    assert replica_sets() == ()
    assert dict(replica_sets_by_primary()) == {}
