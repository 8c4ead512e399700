from __future__ import annotations

from io import StringIO
from typing import TYPE_CHECKING

import pytest
from django.core.management import CommandError, call_command

from multidb_routers.models import Tombstone
from tests.testapps.overlay_app.models import Note, Product
from tests.testapps.overlay_app.snapshot import PRODUCTS, snapshot_as_base

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.django_db(databases=["default", "base", "overlay"])


@pytest.fixture
def base_file(tmp_path: Path) -> Iterator[Path]:
    with snapshot_as_base(tmp_path / "production.sqlite3") as path:
        yield path


@pytest.fixture
def edited(base_file: Path) -> dict[str, int]:
    """One change of each kind, a copied-up row saved unchanged, and a replaced row."""
    anvil = Product.objects.get(name="anvil")
    anvil.price += 1
    anvil.save()
    Product.objects.get(name="bucket").save()
    chisel = Product.objects.get(name="chisel")
    chisel_pk = chisel.pk
    chisel.delete()
    added = Product.objects.create(name="easel", price=60)
    Note.objects.create(text="cheaper anvils?")
    return {"changed": anvil.pk, "deleted": chisel_pk, "added": added.pk}


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_overlay_diff_lists_added_changed_and_deleted_keys(edited: dict[str, int]) -> None:
    assert run("overlay_diff") == (
        "overlay_app.Product: 1 added, 1 changed, 1 deleted\n"
        f"  + {edited['added']}\n"
        f"  ~ {edited['changed']}\n"
        f"  - {edited['deleted']}\n"
    )


def test_overlay_diff_lists_only_the_kinds_of_changes_made(base_file: Path) -> None:
    added = Product.objects.create(name="easel", price=60)

    assert run("overlay_diff", "overlay_app.Product") == (
        f"overlay_app.Product: 1 added, 0 changed, 0 deleted\n  + {added.pk}\n"
    )


def test_overlay_diff_without_changes(base_file: Path) -> None:
    assert run("overlay_diff", "overlay_app.product") == "No changes in the overlay.\n"


@pytest.mark.parametrize(
    "args", [("overlay_diff", "overlay_app.Supplier"), ("overlay_reset", "overlay_app.Supplier")]
)
def test_commands_refuse_models_outside_the_overlay(args: tuple[str, ...]) -> None:
    with pytest.raises(CommandError, match=r"overlay_app\.supplier"):
        call_command(*args)


def test_overlay_reset_discards_every_change_without_asking_when_told(
    edited: dict[str, int],
) -> None:
    assert run("overlay_reset", "--no-input") == (
        "Reset overlay_app.Note on overlay: 1 row, 0 tombstones deleted.\n"
        "Reset overlay_app.Product on overlay: 3 rows, 1 tombstone deleted.\n"
    )
    assert sorted(Product.objects.values_list("pk", flat=True)) == [pk for pk, *_ in PRODUCTS]
    assert not Note.objects.exists()
    assert not Tombstone.objects.using("overlay").exists()


def test_overlay_reset_of_one_model_leaves_the_others(edited: dict[str, int]) -> None:
    run("overlay_reset", "overlay_app.Product", "--no-input")

    assert Note.objects.count() == 1
    assert run("overlay_diff") == "No changes in the overlay.\n"


def test_overlay_reset_asks_first(edited: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    questions: list[str] = []
    answers = iter(["no", "yes"])

    def answer(question: str) -> str:
        questions.append(question)
        return next(answers)

    monkeypatch.setattr("builtins.input", answer)

    assert run("overlay_reset", "overlay_app.Note") == "Reset cancelled.\n"
    assert Note.objects.count() == 1
    assert run("overlay_reset", "overlay_app.Note").startswith("Reset overlay_app.Note")
    assert questions[0] == (
        "This deletes the overlay's rows and tombstones of overlay_app.Note. "
        "Type 'yes' to continue, or 'no' to cancel: "
    )
    assert not Note.objects.exists()
