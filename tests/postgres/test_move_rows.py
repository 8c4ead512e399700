"""move_rows from SQLite into the real PostgreSQL test cluster."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from io import StringIO
from typing import TYPE_CHECKING, Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from multidb_routers.moving.checksum import queryset_checksum
from tests.testapps.moving_app.models import Label, Order, Parcel, Reading, Receipt

if TYPE_CHECKING:
    from collections.abc import Iterator

SOURCE, TARGET = "legacy", "pg_primary"
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, databases=["default", SOURCE, TARGET]),
]
THROUGH = Parcel.labels.through


@pytest.fixture(autouse=True)
def tables(django_db_blocker: Any) -> Iterator[None]:
    # moving_app is routed to "legacy": create its tables on PostgreSQL by hand.
    connection = connections[TARGET]
    existing = set(connection.introspection.table_names())
    with connection.schema_editor() as editor:
        for model in (Label, Parcel, Receipt, Order, Reading):
            if model._meta.db_table not in existing:
                editor.create_model(model)
    yield
    for alias in (SOURCE, TARGET):
        for model in (THROUGH, Receipt, Parcel, Label, Reading):
            model._base_manager.using(alias).all()._raw_delete(alias)


def test_sqlite_rows_move_to_postgresql_with_equal_checksums_and_a_reset_sequence() -> None:
    for alias in (SOURCE, TARGET):
        Label.objects.using(alias).bulk_create([Label(id=1, name="red"), Label(id=2, name="é")])
    start = datetime.datetime(2024, 3, 31, 1, 30, tzinfo=datetime.timezone.utc)
    parcels = Parcel.objects.using(SOURCE).bulk_create(
        Parcel(
            name=f"parcel {n} ✓",
            weight=Decimal(n) / 3 if n % 4 else Decimal("-0.000"),
            sent_at=start + datetime.timedelta(seconds=n, microseconds=n) if n % 3 else None,
            payload=bytes(range(n % 7)) if n % 2 else None,
            fragile=n % 2 == 0,
            pieces=n if n % 5 else None,
        )
        for n in range(1, 301)
    )
    THROUGH.objects.using(SOURCE).bulk_create(
        THROUGH(parcel_id=p.pk, label_id=label) for p in parcels for label in (1, 2)[: p.pk % 3]
    )
    sqlite_sum = queryset_checksum(Parcel.objects.using(SOURCE))
    out = StringIO()

    call_command(
        "move_rows",
        "moving_app.Parcel",
        "--from",
        SOURCE,
        "--to",
        TARGET,
        "--delete-source",
        "--batch-size",
        "64",
        stdout=out,
    )

    assert queryset_checksum(Parcel.objects.using(TARGET)) == sqlite_sum
    assert (
        f"Verified moving_app.Parcel: 300 rows on {TARGET}, checksum {sqlite_sum.hexdigest} "
        in out.getvalue()
    )
    assert Parcel.objects.using(SOURCE).count() == 0
    assert THROUGH.objects.using(TARGET).count() == 300
    new = Parcel.objects.using(TARGET).create(name="after the move", weight=Decimal(1))
    assert new.pk == max(p.pk for p in parcels) + 1


def test_floats_dates_times_durations_uuids_and_json_have_equal_checksums_on_postgresql() -> None:
    Reading.objects.using(SOURCE).bulk_create(
        Reading(
            value=n / 7 if n % 4 else -0.0,
            day=datetime.date(2024, 2, 28) + datetime.timedelta(days=n),
            at=datetime.time(n % 24, n % 60, n % 60, n * 997 % 1_000_000),
            lasted=datetime.timedelta(days=n % 3, seconds=n * 61, microseconds=n),
            sensor=uuid.UUID(int=n * 2**100 + n),
            extra={"n": n, "tags": ["a", "é"], "ratio": n / 8, "none": None} if n % 2 else None,
        )
        for n in range(1, 41)
    )
    sqlite_sum = queryset_checksum(Reading.objects.using(SOURCE))
    out = StringIO()

    call_command("move_rows", "moving_app.Reading", "--from", SOURCE, "--to", TARGET, stdout=out)

    assert out.getvalue().splitlines()[-1] == (
        f"Verified moving_app.Reading: 40 rows on {TARGET}, checksum {sqlite_sum.hexdigest} "
        f"as on {SOURCE} before."
    )


def test_a_bad_regex_filter_on_postgresql_is_a_command_error_and_the_connection_stays_usable() -> (
    None
):
    Parcel.objects.using(TARGET).create(name="parcel", weight=Decimal(1))

    with pytest.raises(CommandError, match=r"--filter 'name__regex=\(' .*regular expression"):
        call_command(
            "move_rows",
            "moving_app.Parcel",
            "--from",
            TARGET,
            "--to",
            SOURCE,
            "--filter",
            "name__regex=(",
            stdout=StringIO(),
        )

    assert Parcel.objects.using(TARGET).count() == 1
    assert not Parcel.objects.using(SOURCE).exists()
