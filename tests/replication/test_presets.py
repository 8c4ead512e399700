"""multidb_routers.presets under the settings the projects they come from use."""

from __future__ import annotations

import contextvars
import warnings
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings

from multidb_routers.conf import conf
from multidb_routers.replication.presets import (
    MasterSlave,
    MultipleMasterSlave,
    PinningReplicaRouter,
    ReplicaRouter,
)
from tests.testapps.legacy_app.models import Note

if TYPE_CHECKING:
    from collections.abc import Iterator

RESTAUTH = ["default", "master-a", "master-b", "slave"]


@contextmanager
def project_databases(*aliases: str, **entries: dict[str, Any]) -> Iterator[None]:
    """``DATABASES`` as a project has it: some of the suite's aliases, and ``entries``."""
    databases = {alias: settings.DATABASES[alias] for alias in aliases} | entries
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Overriding setting DATABASES..."
        with override_settings(DATABASES=databases):
            yield


def in_new_context(function: Any, *args: Any) -> Any:
    """Call ``function`` in an empty context: no pin, as another request would."""
    return contextvars.Context().run(function, *args)


@pytest.mark.django_db(databases=["default", "shadow-1"], transaction=True)
def test_master_slave_writes_to_default_and_reads_from_any_alias() -> None:
    with project_databases("default", "shadow-1", unused={}):
        preset = MasterSlave()

        reads = {in_new_context(preset.db_for_read, Note) for _ in range(100)}

        assert reads == {"default", "shadow-1"}
        assert preset.db_for_write(Note) == "default"
        assert preset.db_for_read(Note) == "default"  # pinned by the write
        assert preset.allow_migrate("default", "legacy_app", model_name="note") is True
        assert preset.allow_migrate("shadow-1", "legacy_app", model_name="note") is False


@pytest.mark.django_db(databases=RESTAUTH, transaction=True)
def test_multiple_master_slave_writes_to_the_master_aliases_and_reads_from_all() -> None:
    # RestAuth's documented DATABASES, with the "default" Django requires left empty.
    with project_databases("master-a", "master-b", "slave", default={}):
        preset = MultipleMasterSlave()

        writes = {in_new_context(preset.db_for_write, Note) for _ in range(100)}
        reads = {in_new_context(preset.db_for_read, Note) for _ in range(200)}

        assert writes == {"master-a", "master-b"}
        assert reads == {"master-a", "master-b", "slave"}
        assert preset.read_only_aliases() == {"slave"}


def test_multiple_master_slave_without_a_master_alias_says_so() -> None:
    with (
        project_databases("default", "shadow-1"),
        pytest.raises(ImproperlyConfigured, match=r"starts with 'master'.*default, shadow-1"),
    ):
        MultipleMasterSlave()


def test_presets_read_their_settings_again_when_they_change(settings: Any) -> None:
    settings.REPLICA_DATABASES = ["shadow-1"]
    preset = PinningReplicaRouter()

    settings.REPLICA_DATABASES = ["reviews_replica1", "reviews_replica2"]
    settings.MULTIDB_PINNING_SECONDS = 2

    assert preset.replica_set.replicas == ("reviews_replica1", "reviews_replica2")
    assert preset.replica_set.pin_seconds == settings.MULTIDB_PINNING_SECONDS


@pytest.mark.parametrize("apps_ready", [True, False], ids=["made-later", "made-with-settings"])
def test_a_preset_configured_again_reads_with_its_new_replicas(
    settings: Any, apps_ready: bool
) -> None:
    from django.apps import apps

    from multidb_routers import use_primary

    settings.REPLICA_DATABASES = ["shadow-1"]
    apps.apps_ready = apps_ready
    try:
        preset = PinningReplicaRouter()
    finally:
        apps.apps_ready = True
    settings.REPLICA_DATABASES = []  # reads then go to the primary, without a connection

    assert in_new_context(preset.db_for_read, Note) == "default"
    assert vars(preset)["db_for_read"] is preset._routing_functions["db_for_read"]
    with use_primary():
        settings.REPLICA_DATABASES = ["shadow-1"]
        assert preset.db_for_read(Note) == "default"


def test_replica_routers_follow_django_multidb_router_settings_and_defaults(
    settings: Any,
) -> None:
    for name in ("REPLICA_DATABASES", "SLAVE_DATABASES", "MULTIDB_PINNING_SECONDS"):
        if hasattr(settings, name):
            delattr(settings, name)
    lone = PinningReplicaRouter()

    assert lone.replica_set.replicas == ()
    assert lone.replica_set.pin_seconds == 15
    settings.SLAVE_DATABASES = ["shadow-1"]
    assert ReplicaRouter().aliases() == {"default", "shadow-1"}
    assert ReplicaRouter().allow_migrate("shadow-1", "legacy_app") is False


@pytest.mark.django_db(databases=["default", "shadow-1"], transaction=True)
def test_replica_router_never_pins() -> None:
    client = Client()
    with override_settings(
        DATABASE_ROUTERS=["multidb_routers.presets.ReplicaRouter"],
        REPLICA_DATABASES=["shadow-1"],
        ROOT_URLCONF="tests.testapps.note_views",
    ):
        response = client.post("/notes/", {"text": "Mine"}, follow=True)

    assert response.json()["text"] == "Mine"
    assert set(response.json()["read_from"]) == {"shadow-1"}
    assert not client.cookies


@pytest.mark.django_db(databases=["default", "shadow-1"], transaction=True)
def test_pinning_replica_router_pins_the_writer_with_the_legacy_cookie_settings() -> None:
    writer, other = Client(), Client()
    with override_settings(
        DATABASE_ROUTERS=["multidb_routers.presets.PinningReplicaRouter"],
        REPLICA_DATABASES=["shadow-1"],
        MULTIDB_PINNING_SECONDS=3,
        MULTIDB_PINNING_COOKIE="multidb_pin_writes",
        ROOT_URLCONF="tests.testapps.note_views",
    ):
        response = writer.post("/notes/", {"text": "Mine"}, follow=True)
        page = response.redirect_chain[0][0]
        cookie = writer.cookies["multidb_pin_writes"]

        assert set(response.json()["read_from"]) == {"default"}
        assert cookie["max-age"] == 3
        assert set(other.get(page).json()["read_from"]) == {"shadow-1"}


def test_our_cookie_setting_wins_over_the_legacy_one(settings: Any) -> None:
    settings.MULTIDB_PINNING_COOKIE = "multidb_pin_writes"
    legacy = conf.PIN_COOKIE_NAME
    settings.MULTIDB_ROUTERS_PIN_COOKIE_NAME = "pin"

    assert legacy == "multidb_pin_writes"
    assert conf.PIN_COOKIE_NAME == "pin"
