from __future__ import annotations

import datetime
from collections import Counter
from decimal import Decimal
from io import StringIO
from typing import TYPE_CHECKING, Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import override_settings

from multidb_routers.moving import batches
from multidb_routers.moving.checksum import Checksum, queryset_checksum
from multidb_routers.sharding import ShardRouter
from tests.testapps.moving_app.models import Invoice, Label, Order

if TYPE_CHECKING:
    from collections.abc import Iterator

SHARDS = [f"shard_{number}" for number in range(5)]
FOUR = ShardRouter(shards=SHARDS[:4], apps=["moving_app.Order"], shard_key="customer_id")
FIVE = ShardRouter(shards=SHARDS, apps=["moving_app.Order"], shard_key="customer_id")
ROWS = 3000
THROUGH = Order.labels.through

# "default" too: Django sets up every test database after it.
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", *SHARDS])


@pytest.fixture(scope="module", autouse=True)
def shard_tables(django_db_setup: None, django_db_blocker: Any) -> None:
    # moving_app is routed to "legacy"; give every shard its tables, as a migrate under a
    # ShardRouter covering moving_app.Order would.
    with django_db_blocker.unblock():
        for alias in SHARDS:
            connection = connections[alias]
            existing = set(connection.introspection.table_names())
            with connection.schema_editor() as editor:
                for model in (Label, Order):
                    if model._meta.db_table not in existing:
                        editor.create_model(model)


@pytest.fixture(autouse=True)
def empty_tables() -> Iterator[None]:
    yield
    for alias in SHARDS:
        for model in (THROUGH, Order, Label):
            model._base_manager.using(alias).all()._raw_delete(alias)  # no cascades


def place_orders(router: ShardRouter, count: int = ROWS) -> None:
    """``count`` orders with labels, each on its shard under ``router``; labels on every shard."""
    for alias in SHARDS:
        Label.objects.using(alias).bulk_create([Label(id=n, name=f"label {n}") for n in (1, 2)])
    orders: dict[str, list[Order]] = {}
    for n in range(1, count + 1):
        order = Order(
            id=n,
            customer_id=n * 7919 % 1009,
            total=Decimal(n) / 4,
            placed_at=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
            + datetime.timedelta(minutes=n),
        )
        orders.setdefault(router.shard_for(order.customer_id), []).append(order)
    for alias, group in orders.items():
        Order.objects.using(alias).bulk_create(group)
        THROUGH.objects.using(alias).bulk_create(
            THROUGH(order_id=order.id, label_id=label)
            for order in group
            for label in (1, 2)[: order.id % 3]
        )


def layout() -> dict[int, str]:
    """Order id -> alias, failing on an order held twice."""
    where: dict[int, str] = {}
    for alias in SHARDS:
        for pk in Order.objects.using(alias).values_list("pk", flat=True):
            assert pk not in where, f"order {pk} on {where[pk]} and {alias}"
            where[pk] = alias
    return where


def checksum(model: Any) -> Checksum:
    total = Checksum()
    for alias in SHARDS:
        total.merge(queryset_checksum(model._base_manager.using(alias)))
    return total


def reshard(*args: str, stderr: StringIO | None = None) -> list[str]:
    out = StringIO()
    call_command("reshard", "moving_app.Order", *args, stdout=out, stderr=stderr or StringIO())
    return out.getvalue().splitlines()


def batch_sizes(moves: Counter[tuple[str, str]], size: int) -> list[int]:
    """The sizes of the batches moved, in order: per (source, target), sorted."""
    return [min(size, n - start) for _, n in sorted(moves.items()) for start in range(0, n, size)]


def expected_moves(old: ShardRouter, new: ShardRouter) -> Counter[tuple[str, str]]:
    moves: Counter[tuple[str, str]] = Counter()
    for n in range(1, ROWS + 1):
        key = n * 7919 % 1009
        if old.shard_for(key) != new.shard_for(key):
            moves[old.shard_for(key), new.shard_for(key)] += 1
    return moves


@override_settings(DATABASE_ROUTERS=[FIVE])
def test_dry_run_prints_the_plan_and_moves_nothing() -> None:
    place_orders(FOUR)
    before = layout()
    moves = expected_moves(FOUR, FIVE)
    moving = sum(moves.values())
    counts = Counter(before.values())

    lines = reshard("--dry-run")

    assert lines == [
        f"Resharding moving_app.Order over {', '.join(SHARDS)} (jump); "
        f"scanning {', '.join(SHARDS)}.",
        f"{ROWS} rows ({', '.join(f'{alias} {counts[alias]}' for alias in SHARDS)}).",
        f"{moving} rows ({100 * moving / ROWS:.1f}%) are not on their shard.",
        *(f"  {source} -> {target}: {n} rows" for (source, target), n in sorted(moves.items())),
        "Dry run: nothing moved.",
    ]
    assert {target for _, target in moves} == {"shard_4"}
    assert abs(moving / ROWS - 1 / 5) < 0.05
    assert layout() == before


@override_settings(DATABASE_ROUTERS=[FIVE])
def test_growing_to_five_shards_puts_every_order_and_its_labels_on_its_shard() -> None:
    place_orders(FOUR)
    orders, links = checksum(Order), checksum(THROUGH)
    label_pairs = sorted(
        pair
        for alias in SHARDS
        for pair in THROUGH.objects.using(alias).values_list("order_id", "label_id")
    )

    lines = reshard("--batch-size", "200")

    moves = expected_moves(FOUR, FIVE)
    moved = sum(moves.values())
    assert lines[-3:] == [
        f"Moved {moved} rows in {len(batch_sizes(moves, 200))} batches "
        f"({moved} copied, 0 already there).",
        f"Verified moving_app.Order: {ROWS} rows, each on its shard; "
        f"checksum {orders.hexdigest} before and after.",
        f"Verified moving_app.Order_labels: {links.count} rows; "
        f"checksum {links.hexdigest} before and after.",
    ]
    assert layout() == {n: FIVE.shard_for(n * 7919 % 1009) for n in range(1, ROWS + 1)}
    for alias in SHARDS:
        on_alias = set(Order.objects.using(alias).values_list("pk", flat=True))
        assert set(THROUGH.objects.using(alias).values_list("order_id", flat=True)) <= on_alias
    assert (
        sorted(
            pair
            for alias in SHARDS
            for pair in THROUGH.objects.using(alias).values_list("order_id", "label_id")
        )
        == label_pairs
    )
    assert (checksum(Order), checksum(THROUGH)) == (orders, links)


@override_settings(DATABASE_ROUTERS=[FIVE])
def test_a_second_run_moves_nothing() -> None:
    place_orders(FOUR)
    reshard()

    lines = reshard()

    assert lines[2:4] == [
        "0 rows (0.0%) are not on their shard.",
        "Moved 0 rows in 0 batches (0 copied, 0 already there).",
    ]


@override_settings(DATABASE_ROUTERS=[FOUR])
def test_shrinking_to_four_shards_empties_the_old_shard_given_in_from_shards() -> None:
    place_orders(FIVE)
    orders = checksum(Order)
    on_shard_4 = Order.objects.using("shard_4").count()
    note = StringIO()

    reshard("--dry-run", stderr=note)
    lines = reshard("--from-shards", "shard_4")

    assert note.getvalue() == (
        f"Note: shard_4 also holds {on_shard_4} rows of moving_app.Order and is not scanned; "
        "if it was a shard, pass --from-shards shard_4.\n"
    )
    assert lines[0].endswith(f"scanning {', '.join(SHARDS)}.")
    assert f"Moved {on_shard_4} rows" in lines[-3]
    assert Order.objects.using("shard_4").count() == 0
    assert layout() == {n: FOUR.shard_for(n * 7919 % 1009) for n in range(1, ROWS + 1)}
    assert checksum(Order) == orders


def on_both() -> set[int]:
    """Ids of the orders found on two aliases."""
    seen: Counter[int] = Counter()
    for alias in SHARDS:
        seen.update(Order.objects.using(alias).values_list("pk", flat=True))
    return {pk for pk, times in seen.items() if times > 1}


@override_settings(DATABASE_ROUTERS=[FIVE])
def test_a_crash_between_copy_and_delete_is_finished_by_a_re_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    place_orders(FOUR)
    orders, links = checksum(Order), checksum(THROUGH)
    moves = expected_moves(FOUR, FIVE)
    moving = sum(moves.values())
    first, second, third, *_ = batch_sizes(moves, 100)
    delete_where = batches.delete_where
    deleted: list[Any] = []

    def crash_on_third_batch(model: Any, *args: Any) -> int:
        if model is Order and len(deleted) == 2:
            raise KeyboardInterrupt("power cut")
        if model is Order:
            deleted.append(model)
        return delete_where(model, *args)

    monkeypatch.setattr(batches, "delete_where", crash_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        reshard("--batch-size", "100")
    monkeypatch.undo()
    assert len(on_both()) == third
    with pytest.raises(CommandError) as failure:
        reshard("--verify-only")

    lines = reshard("--batch-size", "100")

    assert str(failure.value) == (
        f"Verification failed: {moving - first - second} rows of moving_app.Order are not on their "
        "shard (run manage.py reshard moving_app.Order)."
    )
    assert (
        f"{third} of them are already on their shard with the same content (an interrupted run): "
        "only their source copies will be deleted."
    ) in lines
    left = moving - first - second
    assert lines[-3].startswith(f"Moved {left} rows in ")
    assert lines[-3].endswith(f"({left - third} copied, {third} already there).")
    assert on_both() == set()
    assert (checksum(Order), checksum(THROUGH)) == (orders, links)
    assert layout() == {n: FIVE.shard_for(n * 7919 % 1009) for n in range(1, ROWS + 1)}


@override_settings(DATABASE_ROUTERS=[FIVE])
def test_a_different_copy_on_the_target_stops_before_moving_anything() -> None:
    place_orders(FOUR)
    before = layout()
    pk = next(
        pk for pk, alias in sorted(before.items()) if FIVE.shard_for(pk * 7919 % 1009) != alias
    )
    order = Order.objects.using(before[pk]).get(pk=pk)
    order.total += 1
    Order.objects.using("shard_4").bulk_create([order])

    with pytest.raises(
        CommandError,
        match=rf"1 row\(s\) of moving_app.Order already on shard_4 hold other content "
        rf"than the rows to move \(pk {pk}\)",
    ):
        reshard()

    assert list(Order.objects.using("shard_4").values_list("pk", "total")) == [(pk, order.total)]
    assert before == {
        n: alias
        for alias in SHARDS[:4]
        for n in Order.objects.using(alias).values_list("pk", flat=True)
    }


@override_settings(DATABASE_ROUTERS=[FIVE])
def test_verify_only_passes_when_every_order_is_on_its_shard() -> None:
    place_orders(FIVE, 30)
    orders, links = checksum(Order), checksum(THROUGH)

    lines = reshard("--verify-only")

    assert lines[2:] == [
        "0 rows (0.0%) are not on their shard.",
        f"Verified moving_app.Order: 30 rows, each on its shard; checksum {orders.hexdigest}.",
        f"Verified moving_app.Order_labels: {links.count} rows; checksum {links.hexdigest}.",
    ]


BY_REGION = ShardRouter(
    shards=SHARDS, apps=["moving_app.Order"], shard_key=lambda order: order.customer_id // 100
)


@override_settings(DATABASE_ROUTERS=[BY_REGION])
def test_a_callable_shard_key_is_given_each_row_as_an_instance() -> None:
    place_orders(FOUR, 40)

    reshard()

    assert layout() == {n: BY_REGION.shard_for(n * 7919 % 1009 // 100) for n in range(1, 41)}


@override_settings(
    DATABASE_ROUTERS=[
        ShardRouter(
            shards=SHARDS,
            apps=["moving_app.Order"],
            shard_key=lambda order: None if order.id == 7 else order.customer_id,
        )
    ]
)
def test_a_row_without_a_shard_key_stops_the_scan() -> None:
    place_orders(FOUR, 10)

    with pytest.raises(CommandError) as failure:
        reshard()

    assert str(failure.value) == (
        f"The row 7 of moving_app.Order on {FOUR.shard_for(7 * 7919 % 1009)} has no usable shard "
        "key: None is no shard key: a row needs its key before it is routed."
    )
    assert layout() == {n: FOUR.shard_for(n * 7919 % 1009) for n in range(1, 11)}


@override_settings(DATABASE_ROUTERS=[FIVE])
def test_an_order_with_an_invoice_on_its_old_shard_is_not_moved() -> None:
    place_orders(FOUR, 30)
    before = layout()
    pk = min(pk for pk, alias in before.items() if FIVE.shard_for(pk * 7919 % 1009) != alias)
    source = before[pk]
    with connections[source].schema_editor() as editor:
        editor.create_model(Invoice)
    try:
        Invoice.objects.using(source).create(order_id=pk)
        with pytest.raises(
            CommandError,
            match=rf"^1 row\(s\) of moving_app.Invoice on {source} reference rows of "
            r"moving_app.Order being moved; deleting the source rows would delete or orphan them",
        ):
            reshard()
        assert before[pk] == layout()[pk]
    finally:
        with connections[source].schema_editor() as editor:
            editor.delete_model(Invoice)


@override_settings(DATABASE_ROUTERS=[FIVE])
def test_a_copy_that_differs_after_writing_fails_the_verification() -> None:
    place_orders(FOUR, 30)
    table = Order._meta.db_table
    with connections["shard_4"].cursor() as cursor:
        cursor.execute(
            f"CREATE TRIGGER mangle AFTER INSERT ON {table} BEGIN "
            f"UPDATE {table} SET total = total + 1 WHERE id = NEW.id; END"
        )
    try:
        with pytest.raises(
            CommandError,
            match=r"^Verification failed: moving_app.Order: 30 rows, checksum \w+ before, "
            r"30 rows, checksum \w+ after\.$",
        ):
            reshard()
    finally:
        with connections["shard_4"].cursor() as cursor:
            cursor.execute("DROP TRIGGER mangle")


@override_settings(DATABASE_ROUTERS=[FIVE])
@pytest.mark.django_db(transaction=True, databases=["default", *SHARDS, "users"])
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["moving_app.Order", "--batch-size", "0"],
            "Error: argument --batch-size: must be at least 1, not 0",
        ),
        (
            ["moving_app.Label"],
            "No ShardRouter in DATABASE_ROUTERS shards moving_app.Label: add it (or its app) "
            "to the apps of a ShardRouter.",
        ),
        (
            ["moving_app.Order", "--from-shards", "shard_9, users,nowhere"],
            "--from-shards names 'shard_9', 'nowhere', not in settings.DATABASES.",
        ),
        (
            ["moving_app.Order", "--from-shards", "users"],
            "The table of moving_app.Order does not exist on users; "
            "run manage.py migrate --database users first.",
        ),
    ],
)
def test_bad_arguments_are_refused(args: list[str], message: str) -> None:
    with pytest.raises(CommandError) as failure:
        call_command("reshard", *args, stdout=StringIO(), stderr=StringIO())

    assert str(failure.value) == message


BY_TOTAL = ShardRouter(shards=SHARDS, apps=["moving_app.Order"], shard_key="total")
BY_TIME = ShardRouter(shards=SHARDS, apps=["moving_app.Order"], shard_key="placed_at")


@pytest.mark.parametrize("router", [BY_TOTAL, BY_TIME], ids=["decimal key", "datetime key"])
def test_rows_written_with_any_spelling_of_their_key_are_found_on_their_shard(
    router: ShardRouter,
) -> None:
    paris = datetime.timezone(datetime.timedelta(hours=2))
    for n in range(1, 41):
        order = Order(
            id=n,
            customer_id=n,
            total=f" {n}.50" if n % 2 else Decimal(f"{n}.000"),  # read back as 1.50, 2.00
            placed_at=datetime.datetime(2024, 1, 1, 10, n, tzinfo=paris),  # read back in UTC
        )
        Order.objects.using(router.shard_of(order)).bulk_create([order])
    before = layout()
    assert len(set(before.values())) > 1

    with override_settings(DATABASE_ROUTERS=[router]):
        lines = reshard()

    assert "0 rows (0.0%) are not on their shard." in lines
    assert layout() == before
