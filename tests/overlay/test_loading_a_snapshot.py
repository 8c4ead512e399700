"""docs/overlay.rst's snapshot loading and its ``using("base")`` snippet, executed."""

from __future__ import annotations

import copy
import json
import runpy
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.db import connections

from multidb_routers import ReadOnlyDatabaseError
from tests.testapps.overlay_app.models import Product, Supplier
from tests.testapps.overlay_app.snapshot import digest

if TYPE_CHECKING:
    from collections.abc import Iterator

DOCS = Path(__file__).resolve().parents[2] / "docs"
pytestmark = pytest.mark.django_db(databases=["default", "base", "overlay"])


@pytest.fixture
def empty_base(tmp_path: Path) -> Iterator[Path]:
    """A new, empty SQLite file connected as ``base``."""
    path = tmp_path / "snapshot.sqlite3"
    original = connections["base"]
    settings_dict = copy.deepcopy(original.settings_dict)
    settings_dict["NAME"] = str(path)
    connection = type(original)(settings_dict, alias="base")
    connections["base"] = connection
    try:
        yield path
    finally:
        connection.close()
        connections["base"] = original


def test_the_documented_procedure_loads_every_object_and_leaves_the_base_read_only(
    empty_base: Path, tmp_path: Path
) -> None:
    fixture = tmp_path / "snapshot.json"
    rows = [
        {"model": "overlay_app.product", "pk": 3, "fields": {"name": "anvil", "price": 120}},
        {"model": "overlay_app.product", "pk": 5, "fields": {"name": "bucket", "price": 15}},
        {"model": "overlay_app.supplier", "pk": 1, "fields": {"name": "Acme"}},
    ]
    fixture.write_text(json.dumps(rows))
    load_snapshot = runpy.run_path(str(DOCS / "snippets" / "overlay_load_snapshot.py"))[
        "load_snapshot"
    ]

    load_snapshot(str(fixture))

    assert sorted(Product.objects.base().values_list("pk", "name")) == [(3, "anvil"), (5, "bucket")]
    assert list(Supplier.objects.values_list("name", flat=True)) == ["Acme"]
    tables = connections["base"].introspection.table_names()
    assert "multidb_routers_tombstone" not in tables  # the overlay's, never the base's
    assert "overlay_app_note" not in tables  # replaced: lives wholly in the overlay
    before = digest(empty_base)
    with pytest.raises(ReadOnlyDatabaseError):
        Supplier._base_manager.using("base").create(name="Initech")
    connections["base"].close()
    assert digest(empty_base) == before


def test_without_allow_writes_migrate_cannot_touch_the_base(empty_base: Path) -> None:
    from django.core.management import call_command
    from django.db.migrations.exceptions import MigrationSchemaMissing

    with pytest.raises(MigrationSchemaMissing, match="read-only database 'base'"):
        call_command("migrate", database="base", verbosity=0)

    assert connections["base"].introspection.table_names() == []


def test_the_guard_section_s_using_base_snippet_raises_read_only(empty_base: Path) -> None:
    # docs/overlay.rst: "Routing alone would not stop Model.objects.using("base").update(...)"
    with pytest.raises(ReadOnlyDatabaseError, match="read-only database 'base'"):
        Product.objects.using("base").update(price=1)
