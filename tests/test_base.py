from __future__ import annotations

import pytest

from multidb_routers import FunctionalRouter, OverlayRouter, PrimaryReplicaRouter, ShardRouter
from multidb_routers.base import BaseRouter
from multidb_routers.exceptions import RouterOptionError
from tests.testapps.legacy_app.models import Note


class LegacyRouter(FunctionalRouter):
    routes = {"legacy_app": "legacy"}


def test_class_attributes_configure_a_subclass() -> None:
    assert LegacyRouter().routes == {"legacy_app": "legacy"}


def test_keyword_arguments_win_over_class_attributes() -> None:
    router = LegacyRouter(routes={"legacy_app": "other"})

    assert router.routes == {"legacy_app": "other"}
    assert LegacyRouter.routes == {"legacy_app": "legacy"}


def test_unknown_keyword_arguments_are_named() -> None:
    with pytest.raises(RouterOptionError, match=r"unexpected keyword arguments 'primary', 'rotes'"):
        FunctionalRouter(routes={}, rotes={}, primary="x")  # type: ignore[call-arg]


def test_missing_required_option_says_how_to_set_it() -> None:
    with pytest.raises(RouterOptionError, match=r"needs routes: pass routes=\.\.\."):
        FunctionalRouter()


def test_repr_shows_the_options() -> None:
    assert repr(FunctionalRouter(routes={"a": "b"})) == "FunctionalRouter(routes={'a': 'b'})"


class NothingRouter(BaseRouter):
    """A router with no options that overrides nothing."""


def test_a_bare_router_describes_nothing_and_serves_no_model() -> None:
    router = NothingRouter()

    assert router.aliases() == frozenset()
    assert router.read_only_aliases() == frozenset()
    assert list(router.labels()) == []
    assert router.claimed_aliases(Note) is None
    assert router.describe_route(Note) is None
    assert router.check_config(name="DATABASE_ROUTERS[0] (NothingRouter)", databases=[]) == []


def test_a_bare_router_takes_no_keyword_arguments() -> None:
    with pytest.raises(RouterOptionError, match="it accepts: none"):
        NothingRouter(apps=["x"])


def test_every_router_keeps_its_options_as_given_and_parses_into_other_attributes() -> None:
    shards = [{"primary": "a", "replicas": ["a_replica"]}, "b"]
    routes = {"functional_app": "library"}
    replicas = ["reviews_replica1"]
    replace = ["overlay_app.Note"]
    shard_router = ShardRouter(shards=shards, apps=["shard_app"])
    routers = [
        (shard_router, "shards", shards),
        (FunctionalRouter(routes=routes), "routes", routes),
        (PrimaryReplicaRouter(primary="reviews", replicas=replicas), "replicas", replicas),
        (OverlayRouter(base="base", overlay="overlay", replace=replace), "replace", replace),
    ]
    for router, option, given in routers:
        assert getattr(router, option) is given, (type(router).__name__, option)
    assert shard_router.shard_aliases == ("a", "b")
