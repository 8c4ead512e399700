"""System checks of ShardRouter (E020-E022, W020)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from multidb_routers import ShardRouter

SHARDS = ["shard_0", "shard_1"]


def _check_ids(router: ShardRouter) -> list[str]:
    return [message.id or "" for message in router.check_config(name="R", databases=SHARDS)]


@pytest.mark.django_db(databases="__all__")  # Django 6.1 checks models on every alias
def test_a_shard_key_naming_no_field_fails_manage_py_check() -> None:
    router = ShardRouter(
        shards=SHARDS, apps=["shard_app.Review"], shard_key={"shard_app.Review": "product"}
    )
    with override_settings(DATABASE_ROUTERS=[router]), pytest.raises(SystemCheckError) as excinfo:
        call_command("check", stdout=StringIO(), stderr=StringIO())
    message = str(excinfo.value)
    assert "multidb_routers.E020" in message
    assert "shards shard_app.Review by 'product', which is no field" in message
    assert "product_id" in message


def test_no_shards_is_an_error() -> None:
    assert _check_ids(ShardRouter(shards=[], apps=["shard_app.Review"])) == ["multidb_routers.E021"]


def test_an_alias_listed_twice_is_an_error() -> None:
    router = ShardRouter(
        shards=["shard_0", {"primary": "shard_1", "replicas": ["shard_0"]}],
        apps=["shard_app.Event"],
    )
    assert _check_ids(router) == ["multidb_routers.E022"]


def test_a_sharded_model_without_a_sharded_manager_is_warned_about() -> None:
    router = ShardRouter(shards=SHARDS, apps=["shard_app.OracleReview", "shard_app.Review"])
    assert _check_ids(router) == ["multidb_routers.W020"]


def test_a_correct_configuration_passes() -> None:
    router = ShardRouter(
        shards=SHARDS, apps=["shard_app.Review"], shard_key={"shard_app.Review": "product_id"}
    )
    assert _check_ids(router) == []
