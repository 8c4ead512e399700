from __future__ import annotations

import random
from typing import TYPE_CHECKING

import pytest
from django.db import connections, models
from django.db.models import Max, Sum
from django.db.models.signals import pre_save
from django.test.utils import isolate_apps

from multidb_routers.guards import allow_writes
from multidb_routers.models import Tombstone
from multidb_routers.overlay import OverlayManager
from multidb_routers.overlay.manager import OverlayQuerySet
from tests.testapps.overlay_app.models import Product
from tests.testapps.overlay_app.snapshot import PRODUCTS, digest, snapshot_as_base

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

# "default" too: Django sets up every test database after the default one. The
# snapshot fixture swaps its own connection in as "base" for each test.
pytestmark = pytest.mark.django_db(databases=["default", "base", "overlay"])

Row = tuple[str, int, int]


@pytest.fixture
def base_file(tmp_path: Path) -> Iterator[Path]:
    with snapshot_as_base(tmp_path / "production.sqlite3") as path:
        yield path


def merged() -> dict[int, Row]:
    return {p.pk: (p.name, p.price, p.stock) for p in Product.objects.all()}


def base_rows() -> dict[int, Row]:
    return {pk: (name, price, stock) for pk, name, price, stock in PRODUCTS}


def test_the_manager_reads_the_base_when_the_overlay_is_empty(base_file: Path) -> None:
    assert isinstance(Product.objects, OverlayManager)
    assert isinstance(Product.objects.all(), OverlayQuerySet)
    assert merged() == base_rows()


def test_saving_a_base_row_copies_it_up_and_leaves_the_base_alone(base_file: Path) -> None:
    anvil = Product.objects.get(name="anvil")
    anvil.price = 99
    anvil.save()

    assert Product.objects.local().get(pk=anvil.pk).price == 99
    assert Product.objects.base().get(pk=anvil.pk).price == 120
    assert Product.objects.get(pk=anvil.pk).price == 99
    assert Product.objects.count() == len(PRODUCTS)


def test_deleting_a_base_row_hides_it_with_a_tombstone(base_file: Path) -> None:
    Product.objects.get(name="bucket").delete()

    assert "bucket" not in {name for name, _, _ in merged().values()}
    [tombstone] = Tombstone.objects.using("overlay").all()
    assert str(tombstone) == "overlay_app.product #2 (deleted)"
    assert Product.objects.base().filter(name="bucket").exists()


def test_deleting_a_copied_up_row_removes_the_copy_and_hides_the_base_row(
    base_file: Path,
) -> None:
    chisel = Product.objects.get(name="chisel")
    chisel.stock = 0
    chisel.save()
    Product.objects.get(name="chisel").delete()

    assert not Product.objects.filter(name="chisel").exists()
    assert not Product.objects.local().exists()


def test_deleting_an_added_row_leaves_no_tombstone(base_file: Path) -> None:
    Product.objects.create(name="extra", price=1).delete()

    assert not Tombstone.objects.using("overlay").exists()
    assert merged() == base_rows()


def test_saving_a_deleted_row_again_brings_it_back(base_file: Path) -> None:
    drill = Product.objects.get(name="drill")
    pk = drill.pk
    drill.delete()
    drill.pk = pk
    drill.save()

    assert Product.objects.get(pk=pk).name == "drill"
    assert not Tombstone.objects.using("overlay").exists()


def test_new_rows_get_keys_above_every_base_key(base_file: Path) -> None:
    base_max = max(pk for pk, *_ in PRODUCTS)

    first = Product.objects.create(name="extra", price=1)
    second = Product(name="more", price=2)
    second.save()

    assert first.pk == base_max + 1
    assert second.pk == base_max + 2
    assert merged()[second.pk] == ("more", 2, 0)


def test_a_queryset_built_before_a_write_sees_it(base_file: Path) -> None:
    expensive = Product.objects.filter(price__gte=100)
    anvil = Product.objects.get(name="anvil")
    anvil.price = 10
    anvil.save()

    assert list(expensive) == []


def test_filter_order_slice_count_exists_get_and_aggregate_see_the_merged_rows(
    base_file: Path,
) -> None:
    anvil = Product.objects.get(name="anvil")
    anvil.price = 5
    anvil.save()
    Product.objects.get(name="drill").delete()
    Product.objects.create(name="easel", price=60)

    by_price = Product.objects.order_by("-price")
    cheap = Product.objects.filter(price__lt=40)

    assert [p.name for p in by_price] == ["easel", "chisel", "bucket", "anvil"]
    assert [p.name for p in by_price[1:3]] == ["chisel", "bucket"]
    assert sorted(cheap.values_list("name", flat=True)) == ["anvil", "bucket", "chisel"]
    assert cheap.count() == 3
    assert Product.objects.exclude(price__lt=40).get().name == "easel"
    assert not Product.objects.filter(name="drill").exists()
    assert Product.objects.aggregate(total=Sum("price"), top=Max("price")) == {
        "total": 5 + 15 + 30 + 60,
        "top": 60,
    }
    with pytest.raises(Product.DoesNotExist):
        Product.objects.get(name="drill")


@pytest.mark.parametrize("seed", range(4))
def test_random_changes_through_the_overlay_match_the_same_changes_on_a_copy(
    base_file: Path, seed: int
) -> None:
    before = digest(base_file)
    rng = random.Random(seed)
    copy = base_rows()

    for step in range(25):
        action = rng.choice(["create", "update", "delete"] if copy else ["create"])
        if action == "create":
            row = (f"new{step}", rng.randint(1, 200), rng.randint(0, 9))
            product = Product.objects.create(name=row[0], price=row[1], stock=row[2])
            assert product.pk not in copy
            copy[product.pk] = row
        elif action == "update":
            pk = rng.choice(sorted(copy))
            product = Product.objects.get(pk=pk)
            product.price = rng.randint(1, 200)
            product.stock += 1
            product.save()
            copy[pk] = (product.name, product.price, product.stock)
        else:
            pk = rng.choice(sorted(copy))
            Product.objects.get(pk=pk).delete()
            del copy[pk]

        assert merged() == copy

    ordered = sorted(copy.items(), key=lambda item: (item[1][1], item[0]))
    assert [p.pk for p in Product.objects.order_by("price", "pk")[:5]] == [
        pk for pk, _ in ordered[:5]
    ]
    assert Product.objects.filter(price__gt=100).count() == sum(
        1 for _, price, _ in copy.values() if price > 100
    )
    assert Product.objects.base().count() == len(PRODUCTS)
    assert digest(base_file) == before


@pytest.mark.django_db(databases=["default", "base", "overlay"], transaction=True)
def test_a_model_inheriting_the_manager_from_an_abstract_base_is_merged_too(
    base_file: Path,
) -> None:
    with isolate_apps("tests.testapps.overlay_app"):

        class Catalogued(models.Model):
            name = models.CharField(max_length=100)
            objects = OverlayManager()  # type: ignore[var-annotated]

            class Meta:
                abstract = True
                app_label = "overlay_app"

        class Gadget(Catalogued):  # noqa: DJ008
            class Meta:
                app_label = "overlay_app"

        class Plain(models.Model):  # noqa: DJ008
            class Meta:
                app_label = "overlay_app"

    assert not pre_save.has_listeners(Plain)  # only models with the merged manager are hooked

    with allow_writes("base"):
        with connections["base"].schema_editor() as editor:
            editor.create_model(Gadget)
        Gadget._base_manager.using("base").create(pk=5, name="lathe")
    with connections["overlay"].schema_editor() as editor:
        editor.create_model(Gadget)
    try:
        Gadget.objects.get(pk=5).delete()
        added = Gadget.objects.create(name="router")

        assert added.pk == 6  # above every base key
        assert list(Gadget.objects.values_list("name", flat=True)) == ["router"]
    finally:
        with connections["overlay"].schema_editor() as editor:
            editor.delete_model(Gadget)
