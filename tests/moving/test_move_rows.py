from __future__ import annotations

import datetime
import re
from decimal import Decimal
from fractions import Fraction
from io import StringIO
from typing import TYPE_CHECKING, Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from multidb_routers.exceptions import MoveError
from multidb_routers.moving.batches import Mover
from multidb_routers.moving.checksum import encode_value, queryset_checksum
from tests.testapps.moving_app.models import Box, Label, Order, Parcel, Receipt

if TYPE_CHECKING:
    from collections.abc import Iterator

SOURCE, TARGET = "legacy", "default"
pytestmark = pytest.mark.django_db(transaction=True, databases=[SOURCE, TARGET])
MODELS = (Label, Parcel, Receipt, Order, Box)
STACKS = Box.stacked_with.through


def create_tables(alias: str, models: tuple[Any, ...] = MODELS) -> None:
    """Create the tables the routers keep off ``alias`` (as a migrate there would)."""
    connection = connections[alias]
    existing = set(connection.introspection.table_names())
    with connection.schema_editor() as editor:
        for model in models:
            if model._meta.db_table not in existing and not model._meta.auto_created:
                editor.create_model(model)


@pytest.fixture(scope="module", autouse=True)
def target_tables(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock():
        create_tables(TARGET)
    return


@pytest.fixture(autouse=True)
def empty_tables() -> Iterator[None]:
    # The flush after each test only empties the tables the routers migrate on an alias.
    yield
    for alias in (SOURCE, TARGET):
        for model in (Parcel.labels.through, Receipt, Parcel, Label, STACKS, Box):
            model._base_manager.using(alias).all()._raw_delete(alias)  # no cascades


class TTY(StringIO):
    def isatty(self) -> bool:
        return True


def run(*args: str, stderr: StringIO | None = None) -> list[str]:
    out = StringIO()
    call_command("move_rows", *args, stdout=out, stderr=stderr or StringIO())
    return out.getvalue().splitlines()


def make_parcels(count: int) -> list[Parcel]:
    for alias in (SOURCE, TARGET):
        Label.objects.using(alias).bulk_create([Label(id=1, name="red"), Label(id=2, name="blue")])
    parcels = Parcel.objects.using(SOURCE).bulk_create(
        Parcel(
            name=f"parcel {n}",
            weight=Decimal(n) / 8,
            sent_at=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
            + datetime.timedelta(hours=n)
            if n % 3
            else None,
            payload=bytes([n % 256, 0, 255]) if n % 2 else None,
            fragile=n % 2 == 0,
            pieces=n if n % 5 else None,
        )
        for n in range(1, count + 1)
    )
    through = Parcel.labels.through
    through.objects.using(SOURCE).bulk_create(
        through(parcel_id=parcel.pk, label_id=label)
        for parcel in parcels
        for label in (1, 2)[: parcel.pk % 3]
    )
    return parcels


def rows(alias: str, model: Any = Parcel) -> list[tuple[Any, ...]]:
    fields = [f.attname for f in model._meta.concrete_fields if not f.primary_key]
    return sorted(
        model.objects.using(alias).values_list(*fields),
        key=lambda row: [(value is None, str(value)) for value in row],
    )


def test_encoding_keeps_kinds_apart_and_normalizes_equal_values() -> None:
    assert encode_value(True) != encode_value(1)
    assert encode_value(None) != encode_value("")
    assert encode_value(Decimal("1.10")) == encode_value(Decimal("1.1"))
    assert encode_value(Decimal("-0.00")) == encode_value(Decimal("0"))
    noon_utc = datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.timezone.utc)
    paris = datetime.timezone(datetime.timedelta(hours=2))
    assert encode_value(noon_utc) == encode_value(noon_utc.astimezone(paris))
    assert encode_value(noon_utc) != encode_value(noon_utc.replace(tzinfo=None))
    assert encode_value(memoryview(b"\x00a")) == encode_value(b"\x00a")
    assert encode_value(["a", "b"]) != encode_value("ab")
    # Values of other types (a custom field's, say): their type's name and str().
    assert encode_value(Fraction(2, 4)) == encode_value(Fraction(1, 2)) != encode_value("1/2")


def test_copy_keeps_keys_and_content_and_brings_the_labels() -> None:
    parcels = make_parcels(40)
    source_links = sorted(
        Parcel.labels.through.objects.using(SOURCE).values_list("parcel_id", "label_id")
    )

    lines = run("moving_app.Parcel", "--from", SOURCE, "--to", TARGET, "--batch-size", "7")

    checksum = queryset_checksum(Parcel.objects.using(SOURCE)).hexdigest
    links = Parcel.labels.through.objects.using(SOURCE)
    assert lines == [
        f"Copying 40 rows of moving_app.Parcel from {SOURCE} to {TARGET}.",
        "Copied 40 rows.",
        f"Verified moving_app.Parcel: 40 rows on {TARGET}, checksum {checksum} "
        f"as on {SOURCE} before.",
        f"Verified moving_app.Parcel_labels: {links.count()} rows on {TARGET}, "
        f"checksum {queryset_checksum(links.order_by()).hexdigest} as on {SOURCE} before.",
    ]
    assert sorted(Parcel.objects.using(TARGET).values_list("pk", flat=True)) == [
        p.pk for p in parcels
    ]
    assert rows(TARGET) == rows(SOURCE)
    assert (
        sorted(Parcel.labels.through.objects.using(TARGET).values_list("parcel_id", "label_id"))
        == source_links
    )
    assert Parcel.objects.using(SOURCE).count() == 40


def test_rows_referring_to_rows_missing_on_the_target_are_refused_with_nothing_copied() -> None:
    make_parcels(6)
    Label.objects.using(TARGET).filter(pk=2).delete()

    with pytest.raises(CommandError) as excinfo:
        run("moving_app.Parcel", "--from", SOURCE, "--to", TARGET)

    message = str(excinfo.value)
    assert message.startswith(f"Copying rows of moving_app.Parcel to {TARGET} failed")
    assert "refer to must be on the target first" in message
    assert Parcel.objects.using(TARGET).count() == 0


def test_a_second_run_copies_nothing_again() -> None:
    make_parcels(10)
    run("moving_app.Parcel", "--from", SOURCE, "--to", TARGET)

    lines = run("moving_app.Parcel", "--from", SOURCE, "--to", TARGET)

    assert lines[1:3] == [
        f"10 of them are already on {TARGET} with the same content.",
        "Copied 0 rows.",
    ]
    assert Parcel.objects.using(TARGET).count() == 10
    assert rows(TARGET, Parcel.labels.through) == rows(SOURCE, Parcel.labels.through)


def test_delete_source_moves_only_the_filtered_rows_with_their_labels() -> None:
    make_parcels(30)
    fragile = set(Parcel.objects.using(SOURCE).filter(fragile=True).values_list("pk", flat=True))

    lines = run(
        "moving_app.Parcel",
        "--from",
        SOURCE,
        "--to",
        TARGET,
        "--filter",
        "fragile=1",
        "--delete-source",
        "--batch-size",
        "4",
    )

    assert lines[0] == f"Moving 15 rows of moving_app.Parcel from {SOURCE} to {TARGET}."
    assert lines[1] == f"Copied 15 rows, deleted 15 from {SOURCE}."
    assert set(Parcel.objects.using(TARGET).values_list("pk", flat=True)) == fragile
    assert not Parcel.objects.using(SOURCE).filter(pk__in=fragile).exists()
    assert Parcel.objects.using(SOURCE).count() == 15
    assert not Parcel.labels.through.objects.using(SOURCE).filter(parcel_id__in=fragile).exists()
    assert Parcel.labels.through.objects.using(TARGET).exists()


def test_a_different_row_on_the_target_stops_the_move_before_writing() -> None:
    parcels = make_parcels(12)
    clash = Parcel.objects.using(SOURCE).get(pk=parcels[8].pk)
    clash.name = "another parcel"
    Parcel.objects.using(TARGET).bulk_create([clash])

    with pytest.raises(
        CommandError,
        match=rf"1 row\(s\) of moving_app.Parcel already on {TARGET} hold other content "
        rf"than the rows to move \(pk {clash.pk}\)",
    ):
        run(
            "moving_app.Parcel",
            "--from",
            SOURCE,
            "--to",
            TARGET,
            "--delete-source",
            "--batch-size",
            "5",
        )

    assert list(Parcel.objects.using(TARGET).values_list("name", flat=True)) == ["another parcel"]
    assert Parcel.objects.using(SOURCE).count() == 12


def test_rows_referenced_on_the_source_are_not_deleted() -> None:
    parcels = make_parcels(3)
    Receipt.objects.using(SOURCE).create(parcel_id=parcels[1].pk)

    with pytest.raises(
        CommandError,
        match=r"1 row\(s\) of moving_app.Receipt on legacy reference rows of moving_app.Parcel",
    ):
        run("moving_app.Parcel", "--from", SOURCE, "--to", TARGET, "--delete-source")

    assert Parcel.objects.using(SOURCE).count() == 3
    assert Receipt.objects.using(SOURCE).count() == 1


def test_a_proxy_model_moves_the_rows_of_its_concrete_model_with_their_labels() -> None:
    make_parcels(6)
    links = rows(SOURCE, Parcel.labels.through)

    lines = run("moving_app.ExpressParcel", "--from", SOURCE, "--to", TARGET, "--delete-source")

    assert lines[:2] == [
        f"Moving 6 rows of moving_app.ExpressParcel from {SOURCE} to {TARGET}.",
        f"Copied 6 rows, deleted 6 from {SOURCE}.",
    ]
    assert [line.partition(":")[0] for line in lines[2:]] == [
        "Verified moving_app.Parcel",
        "Verified moving_app.Parcel_labels",
    ]
    assert rows(TARGET, Parcel.labels.through) == links
    assert not Parcel.labels.through.objects.using(SOURCE).exists()


def test_a_batch_meeting_a_different_copy_written_since_the_check_is_not_touched() -> None:
    parcels = make_parcels(3)
    clash = Parcel.objects.using(SOURCE).get(pk=parcels[2].pk)
    clash.name = "another parcel"
    Parcel.objects.using(TARGET).bulk_create([clash])

    with pytest.raises(MoveError, match=rf"pk {clash.pk}\); nothing of them was overwritten"):
        Mover(Parcel).move([p.pk for p in parcels], SOURCE, TARGET, delete_source=True)

    assert list(Parcel.objects.using(TARGET).values_list("name", flat=True)) == ["another parcel"]
    assert Parcel.objects.using(SOURCE).count() == 3


def test_labels_still_linked_to_parcels_on_the_source_are_not_deleted() -> None:
    make_parcels(4)
    links = Parcel.labels.through.objects.using(SOURCE).count()

    with pytest.raises(
        CommandError,
        match=rf"^{links} row\(s\) of moving_app.Parcel_labels on legacy reference rows of "
        r"moving_app.Label being moved",
    ):
        run("moving_app.Label", "--from", SOURCE, "--to", TARGET, "--delete-source")

    assert Label.objects.using(SOURCE).count() == 2


def test_a_box_moves_with_the_boxes_inside_it_but_not_without_them() -> None:
    outer = Box.objects.using(SOURCE).create(name="outer")
    Box.objects.using(SOURCE).create(name="inner", inside=outer)

    with pytest.raises(
        CommandError,
        match=r"^1 row\(s\) of moving_app.Box on legacy reference rows of moving_app.Box",
    ):
        run(
            "moving_app.Box",
            "--from",
            SOURCE,
            "--to",
            TARGET,
            "--filter",
            "name=outer",
            "--delete-source",
        )
    lines = run("moving_app.Box", "--from", SOURCE, "--to", TARGET, "--delete-source")

    assert lines[1] == f"Copied 2 rows, deleted 2 from {SOURCE}."
    assert rows(TARGET, Box) == [("inner", outer.pk), ("outer", None)]
    assert not Box.objects.using(SOURCE).exists()


def test_a_box_stacked_with_a_box_left_behind_is_not_moved_but_moves_with_it() -> None:
    left, moved = Box.objects.using(SOURCE).bulk_create([Box(name="left"), Box(name="moved")])
    moved.stacked_with.add(left)  # symmetrical: (moved, left) and (left, moved)

    with pytest.raises(
        CommandError,
        match=r"^1 row\(s\) of moving_app.Box_stacked_with on legacy reference rows of "
        r"moving_app.Box being moved",
    ):
        run(
            "moving_app.Box",
            "--from",
            SOURCE,
            "--to",
            TARGET,
            "--filter",
            "name=moved",
            "--delete-source",
        )
    assert not Box.objects.using(TARGET).exists()
    lines = run("moving_app.Box", "--from", SOURCE, "--to", TARGET, "--delete-source")

    assert lines[1] == f"Copied 2 rows, deleted 2 from {SOURCE}."
    assert set(STACKS.objects.using(TARGET).values_list("from_box", "to_box")) == {
        (left.pk, moved.pk),
        (moved.pk, left.pk),
    }
    assert not STACKS.objects.using(SOURCE).exists()


def test_a_copy_that_differs_after_writing_fails_the_verification() -> None:
    make_parcels(5)
    table = Parcel._meta.db_table
    with connections[TARGET].cursor() as cursor:
        cursor.execute(
            f"CREATE TRIGGER mangle AFTER INSERT ON {table} BEGIN "
            f"UPDATE {table} SET name = name || '!' WHERE id = NEW.id; END"
        )
    try:
        with pytest.raises(
            CommandError,
            match=r"^Verification failed: moving_app.Parcel: 5 rows, checksum \w+ on legacy, "
            r"5 rows, checksum \w+ on default\.$",
        ):
            run("moving_app.Parcel", "--from", SOURCE, "--to", TARGET)
    finally:
        with connections[TARGET].cursor() as cursor:
            cursor.execute("DROP TRIGGER mangle")


def test_source_rows_that_survive_their_delete_fail_the_verification() -> None:
    make_parcels(4)
    table = Parcel._meta.db_table
    with connections[SOURCE].cursor() as cursor:
        cursor.execute(
            f"CREATE TRIGGER keep BEFORE DELETE ON {table} BEGIN SELECT RAISE(IGNORE); END"
        )
    try:
        with pytest.raises(
            CommandError,
            match=r"^Verification failed: 4 rows of moving_app.Parcel still on legacy\.$",
        ):
            run("moving_app.Parcel", "--from", SOURCE, "--to", TARGET, "--delete-source")
    finally:
        with connections[SOURCE].cursor() as cursor:
            cursor.execute("DROP TRIGGER keep")


def test_progress_is_drawn_on_a_terminal_only() -> None:
    make_parcels(6)
    tty, quiet_tty, pipe = TTY(), TTY(), StringIO()

    run("moving_app.Parcel", "--from", SOURCE, "--to", TARGET, "--batch-size", "4", stderr=tty)
    run("moving_app.Parcel", "--from", SOURCE, "--to", TARGET, "--verbosity", "0", stderr=quiet_tty)
    run("moving_app.Parcel", "--from", SOURCE, "--to", TARGET, stderr=pipe)

    assert tty.getvalue().startswith("\rmoving_app.Parcel: ")
    assert "\rmoving_app.Parcel: 6/6 rows (100%), " in tty.getvalue()
    # The last redraw may be padded with spaces to blank out a longer line drawn before it.
    assert re.search(r" rows/s *\n\Z", tty.getvalue())
    assert quiet_tty.getvalue() == pipe.getvalue() == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["moving_app.Nope", "--from", SOURCE, "--to", TARGET],
            "No installed model with label 'moving_app.Nope'",
        ),
        (["moving_app.Parcel", "--from", SOURCE, "--to", "nowhere"], "'nowhere' is not an alias"),
        (["moving_app.Parcel", "--from", SOURCE, "--to", SOURCE], "name the same alias"),
        (["legacy_app.Customer", "--from", SOURCE, "--to", TARGET], f"do not exist on {TARGET}"),
        (
            ["moving_app.Parcel", "--from", SOURCE, "--to", TARGET, "--filter", "colour=red"],
            "Cannot resolve keyword 'colour'",
        ),
        (
            ["moving_app.Parcel", "--from", SOURCE, "--to", TARGET, "--filter", "name"],
            "not of the form field=value",
        ),
        (
            ["moving_app.Parcel", "--from", SOURCE, "--to", TARGET, "--batch-size", "0"],
            "--batch-size: must be at least 1, not 0",
        ),
        (
            ["moving_app.Crate", "--from", SOURCE, "--to", TARGET],
            r"moving_app.Crate inherits the table of moving_app.Box \(multi-table inheritance\)",
        ),
    ],
)
def test_bad_arguments_are_refused(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run(*args)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("name__regex=(", r"--filter 'name__regex=\(' .*regular expression.*missing \)"),
        ("name__iregex=[a-", r"--filter 'name__iregex=\[a-' .*regular expression"),
        ("name__nolookup=x", r"--filter 'name__nolookup=x' .*Unsupported lookup 'nolookup'"),
        ("colour=red", r"--filter 'colour=red' .*Cannot resolve keyword 'colour'"),
        ("pieces=abc", r"--filter 'pieces=abc' .*expected a number but got 'abc'"),
        ("pieces__gte=1.5x", r"--filter 'pieces__gte=1\.5x' .*expected a number"),
        ("sent_at=yesterday", r"--filter 'sent_at=yesterday' .*invalid format"),
        ("weight=heavy", r"--filter 'weight=heavy' .*decimal number"),
        ("pieces__in=1,x", r"--filter 'pieces__in=1,x' .*expected a number but got 'x'"),
        ("pieces__isnull=maybe", r"--filter 'pieces__isnull=maybe'.*true or false"),
        ("pieces__range=1", r"--filter 'pieces__range=1'.*two values"),
        ("labels__name__regex=(", r"--filter 'labels__name__regex=\(' .*regular expression"),
    ],
)
def test_a_filter_that_cannot_run_is_refused_naming_it_before_anything_moves(
    item: str, message: str
) -> None:
    make_parcels(6)
    with pytest.raises(CommandError, match=message):
        run("moving_app.Parcel", "--from", SOURCE, "--to", TARGET, "--filter", item)
    assert not Parcel.objects.using(TARGET).exists()
    assert Parcel.objects.using(SOURCE).count() == 6


def test_list_range_and_isnull_filters_take_their_values_as_written() -> None:
    make_parcels(12)

    lines = run(
        "moving_app.Parcel",
        "--from",
        SOURCE,
        "--to",
        TARGET,
        "--filter",
        "pieces__in=1, 2,12",
        "--filter",
        "sent_at__isnull=False",
        "--filter",
        "weight__range=0,1.25",
    )

    assert lines[0] == f"Copying 2 rows of moving_app.Parcel from {SOURCE} to {TARGET}."
    assert sorted(Parcel.objects.using(TARGET).values_list("pieces", flat=True)) == [1, 2]


def test_a_filter_across_many_to_many_copies_each_row_once() -> None:
    parcels = make_parcels(6)
    both = {p.pk for p in parcels if p.pk % 3 == 2}  # the parcels with both labels

    lines = run("moving_app.Parcel", "--from", SOURCE, "--to", TARGET, "--filter", "labels__in=1,2")

    with_labels = {p.pk for p in parcels if p.pk % 3}
    assert both
    assert both < with_labels
    assert (
        lines[0]
        == f"Copying {len(with_labels)} rows of moving_app.Parcel from {SOURCE} to {TARGET}."
    )
    assert set(Parcel.objects.using(TARGET).values_list("pk", flat=True)) == with_labels


def test_a_lookup_given_twice_is_refused() -> None:
    with pytest.raises(CommandError, match="repeats the lookup 'pieces'"):
        run(
            "moving_app.Parcel",
            "--from",
            SOURCE,
            "--to",
            TARGET,
            "--filter",
            "pieces=1",
            "--filter",
            "pieces=2",
        )
