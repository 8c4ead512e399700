"""The merged view's update(), delete(), bulk_create() and using(): supported or explained."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.db import models

from multidb_routers import ReadOnlyDatabaseError
from multidb_routers.models import Tombstone
from tests.testapps.overlay_app.models import Product
from tests.testapps.overlay_app.snapshot import PRODUCTS, digest, snapshot_as_base

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.django_db(databases=["default", "base", "overlay"])


@pytest.fixture
def base_file(tmp_path: Path) -> Iterator[Path]:
    with snapshot_as_base(tmp_path / "production.sqlite3") as path:
        yield path


def test_using_base_reads_the_snapshot_only_and_using_overlay_the_overlay_only(
    base_file: Path,
) -> None:
    anvil = Product.objects.get(name="anvil")
    anvil.price = 99
    anvil.save()
    Product.objects.create(name="easel", price=60)

    cheap = Product.objects.filter(price__lt=100)
    base = cheap.using("base")
    local = cheap.using("overlay")

    assert type(base) is models.QuerySet
    assert base.db == "base"
    assert sorted(base.values_list("name", "price")) == [
        ("bucket", 15),
        ("chisel", 30),
        ("drill", 90),
    ]
    assert sorted(local.values_list("name", "price")) == [("anvil", 99), ("easel", 60)]
    with pytest.raises(ReadOnlyDatabaseError):
        base.update(price=1)


def test_using_another_alias_names_the_two_that_make_sense(base_file: Path) -> None:
    with pytest.raises(ValueError, match=r"using\('base'\).*using\('overlay'\)"):
        Product.objects.all().using("default")


def test_delete_on_the_merged_view_deletes_each_row_through_the_overlay(base_file: Path) -> None:
    before = digest(base_file)
    Product.objects.create(name="easel", price=60)

    deleted, per_model = Product.objects.filter(price__gt=50).delete()

    assert (deleted, per_model) == (3, {"overlay_app.Product": 3})
    assert sorted(Product.objects.values_list("name", flat=True)) == ["bucket", "chisel"]
    assert Tombstone.objects.using("overlay").count() == 2  # anvil and drill
    assert Product.objects.base().count() == len(PRODUCTS)
    assert digest(base_file) == before


def test_bulk_create_creates_in_the_overlay_with_keys_no_base_row_has(base_file: Path) -> None:
    Product.objects.get(name="bucket").delete()  # a tombstone for key 2

    created = Product.objects.bulk_create(
        [
            Product(name="easel", price=60),
            Product(name="file", price=5),
            Product(pk=2, name="pail", price=9),
        ]
    )

    assert [product.pk for product in created] == [8, 9, 2]
    assert sorted(Product.objects.values_list("pk", "name")) == [
        (1, "anvil"), (2, "pail"), (4, "chisel"), (7, "drill"), (8, "easel"), (9, "file")
    ]  # fmt: skip
    assert Product.objects.local().count() == 3


def test_update_on_the_merged_view_names_the_alternatives(base_file: Path) -> None:
    with pytest.raises(TypeError, match=r"save\(\) each instance.*local\(\)"):
        Product.objects.filter(price__lt=50).update(price=1)


def test_other_queryset_methods_name_the_plain_querysets(base_file: Path) -> None:
    with pytest.raises(AttributeError, match=r"no get_or_create\(\).*using\('base'\)"):
        Product.objects.all().get_or_create(name="anvil")  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="not_a_method"):
        Product.objects.all().not_a_method  # type: ignore[attr-defined]  # noqa: B018
