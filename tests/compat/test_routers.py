"""The compat routers, get_replica() and the replica settings, as django-multidb-router 0.11."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

import multidb_routers.compat.multidb as multidb
from multidb_routers import PrimaryReplicaRouter
from multidb_routers.compat.multidb import (
    DEFAULT_DB_ALIAS,
    MasterSlaveRouter,
    PinningMasterSlaveRouter,
    PinningReplicaRouter,
    ReplicaRouter,
    configured_replicas,
    get_replica,
    get_slave,
)
from multidb_routers.compat.multidb.pinning import pin_this_thread, unpin_this_thread
from multidb_routers.exceptions import RouterOptionError

# Aliases of tests/settings.py that already mirror a primary in tests.
REPLICAS = ["shadow-1", "slave"]


@override_settings(REPLICA_DATABASES=REPLICAS)
def test_get_replica_goes_round_robin_over_replica_databases() -> None:
    seen = [get_replica() for _ in range(6)]
    assert set(seen) == set(REPLICAS)
    assert seen[0::2] == [seen[0]] * 3
    assert seen[1::2] == [seen[1]] * 3


def test_get_replica_reads_the_setting_again_when_override_settings_changes_it() -> None:
    with override_settings(REPLICA_DATABASES=["shadow-1"]):
        assert get_replica() == "shadow-1"
    with override_settings(REPLICA_DATABASES=["slave"]):
        assert get_replica() == "slave"
        assert ReplicaRouter().db_for_read(None) == "slave"


def test_without_replicas_reads_go_to_default_with_a_user_warning(settings: Any) -> None:
    settings.REPLICA_DATABASES = []
    with pytest.warns(UserWarning, match="REPLICA_DATABASES"):
        assert get_replica() == DEFAULT_DB_ALIAS
    assert PinningReplicaRouter().db_for_read(None) == DEFAULT_DB_ALIAS


def test_slave_databases_is_read_with_a_deprecation_warning(settings: Any) -> None:
    del settings.REPLICA_DATABASES  # absent from tests/settings.py; made sure
    settings.SLAVE_DATABASES = ["shadow-1"]
    with pytest.warns(DeprecationWarning, match="SLAVE_DATABASES"):
        assert get_replica() == "shadow-1"
    assert ReplicaRouter().replica_set.replicas == ("shadow-1",)


@pytest.mark.parametrize("value", ["shadow-1", None, 3])
def test_a_replica_setting_that_is_not_a_list_names_the_fix(settings: Any, value: object) -> None:
    settings.REPLICA_DATABASES = value
    with pytest.raises(ImproperlyConfigured, match=r"REPLICA_DATABASES must be a list"):
        get_replica()


def test_a_replica_alias_missing_from_databases_names_the_setting(settings: Any) -> None:
    settings.REPLICA_DATABASES = ["shadow-9"]
    with pytest.raises(ImproperlyConfigured, match="REPLICA_DATABASES names 'shadow-9'"):
        get_replica()
    # A router is still built (settings may change one at a time); check E001 names it.
    assert ReplicaRouter().aliases() == frozenset({"default", "shadow-9"})


def test_replicas_become_test_mirrors_of_default_unless_a_mirror_is_set(settings: Any) -> None:
    databases = {
        "default": {},
        "new": {"TEST": {"MIRROR": None}},
        "bare": {},
        "other": {"TEST": {"MIRROR": "elsewhere"}},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Django warns about overriding DATABASES
        settings.DATABASES = databases
    settings.REPLICA_DATABASES = ["new", "bare", "other", "missing"]
    assert configured_replicas(warn=False) == ["new", "bare", "other", "missing"]
    assert databases["new"]["TEST"]["MIRROR"] == "default"
    assert databases["bare"]["TEST"]["MIRROR"] == "default"
    assert databases["other"]["TEST"]["MIRROR"] == "elsewhere"


@override_settings(REPLICA_DATABASES=["shadow-1"])
def test_the_plain_router_ignores_pins_and_the_pinning_router_honours_them() -> None:
    pin_this_thread()
    try:
        assert ReplicaRouter().db_for_read(None) == "shadow-1"
        assert PinningReplicaRouter().db_for_read(None) == DEFAULT_DB_ALIAS
    finally:
        unpin_this_thread()
    assert PinningReplicaRouter().db_for_read(None) == "shadow-1"


@override_settings(REPLICA_DATABASES=["shadow-1"])
def test_writes_go_to_default_and_pin_nothing() -> None:
    router = PinningReplicaRouter()
    model = apps.get_model("replica_app", "Review")
    assert router.db_for_write(model) == DEFAULT_DB_ALIAS
    assert router.db_for_read(model) == "shadow-1"


@override_settings(REPLICA_DATABASES=["shadow-1"])
def test_migrations_run_on_default_only_and_relations_are_always_allowed() -> None:
    router = ReplicaRouter()
    assert router.allow_migrate("default", "auth")
    assert not router.allow_migrate("shadow-1", "auth")
    assert not router.allow_migrate("users", "auth", model_name="user")
    assert router.allow_syncdb("default", None)
    assert not router.allow_syncdb("shadow-1", None)
    model = apps.get_model("replica_app", "Review")
    assert router.allow_relation(model(), model()) is True


@override_settings(REPLICA_DATABASES=["shadow-1"])
def test_the_routers_are_primary_replica_routers_the_checks_understand() -> None:
    router = PinningReplicaRouter()
    assert isinstance(router, PrimaryReplicaRouter)
    assert router.read_only_aliases() == frozenset({"shadow-1"})
    route = router.describe_route(apps.get_model("replica_app", "Review"))
    assert route is not None
    assert route.read == "shadow-1 (round robin), default when pinned"
    assert route.write == "default"
    # No W010: this router's pins come from the compat middleware, not PinningMiddleware.
    assert router.check_config(name="r", databases=["default", "shadow-1"]) == []


@override_settings(REPLICA_DATABASES=["shadow-1"])
def test_the_routers_take_no_arguments() -> None:
    with pytest.raises(RouterOptionError, match="got unexpected keyword argument 'apps'"):
        ReplicaRouter(apps=["replica_app"])


@pytest.mark.parametrize(
    ("deprecated", "replacement"),
    [(MasterSlaveRouter, ReplicaRouter), (PinningMasterSlaveRouter, PinningReplicaRouter)],
)
@override_settings(REPLICA_DATABASES=["shadow-1"])
def test_the_old_router_names_warn_once_and_behave_as_the_new(
    deprecated: type[ReplicaRouter], replacement: type[ReplicaRouter]
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        router = deprecated()
    assert isinstance(router, replacement)
    assert [w.category for w in caught] == [DeprecationWarning]
    assert deprecated.__name__ in str(caught[0].message)
    assert caught[0].filename == __file__


@override_settings(REPLICA_DATABASES=["shadow-1"])
def test_get_slave_warns_and_asks_get_replica(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(multidb, "get_replica", lambda: "patched")
    with pytest.warns(DeprecationWarning, match="get_replica"):
        assert get_slave() == "patched"
