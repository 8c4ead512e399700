"""move_shard_key on SQLite shards: offline, the key's writes refused during the copy."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import TYPE_CHECKING, Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connections, transaction
from django.test import override_settings

from multidb_routers import ShardMovingError, ShardRouter
from multidb_routers.exceptions import MoveError
from multidb_routers.models import ShardMove
from multidb_routers.moving import tenant
from multidb_routers.moving.checksum import queryset_checksum
from multidb_routers.sharding import move_shard_key, placement
from tests.testapps.shard_app.models import Review

if TYPE_CHECKING:
    from collections.abc import Iterator

SHARDS = ["shard_0", "shard_1", "shard_2"]
NOW = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
pytestmark = pytest.mark.django_db(databases=["default", *SHARDS])


@pytest.fixture
def router(settings: Any) -> Iterator[ShardRouter]:
    router = ShardRouter(
        shards=SHARDS, apps=["shard_app.Review"], shard_key="product_id", directory="shops"
    )
    settings.MULTIDB_ROUTERS_PLACEMENT_TTL = 0.05
    placement.clear_cache()
    with override_settings(DATABASE_ROUTERS=[router]):
        yield router
    placement.clear_cache()


def _reviews(router: ShardRouter, key: int, count: int) -> None:
    Review.objects.bulk_create(
        [Review(product_id=key, author=f"a{n}", rating=n % 5, created=NOW) for n in range(count)]
    )


def _elsewhere(router: ShardRouter, key: object) -> str:
    return next(alias for alias in router.shard_aliases if alias != router.shard_for(key))


def test_the_rows_of_a_key_move_and_the_directory_follows(router: ShardRouter) -> None:
    _reviews(router, 7, 120)
    _reviews(router, 8, 5)
    source, target = router.shard_for(7), _elsewhere(router, 7)
    before = queryset_checksum(Review.objects.using(source).filter(product_id=7))
    others = {alias: Review.objects.using(alias).exclude(product_id=7).count() for alias in SHARDS}
    out = StringIO()

    call_command("move_shard_key", "shard_app.Review", "--key", " 7", "--to", target, stdout=out)

    assert router.shard_for(7) == target
    assert queryset_checksum(Review.objects.using(target).filter(product_id=7)) == before
    assert not Review.objects.using(source).filter(product_id=7).exists()
    assert {
        alias: Review.objects.using(alias).exclude(product_id=7).count() for alias in SHARDS
    } == others
    assert Review.objects.shard(7).count() == 120
    move = ShardMove.objects.get()
    assert (move.phase, move.method, move.source, move.target) == (
        "done",
        "offline",
        source,
        target,
    )
    assert "offline" in out.getvalue()
    # The triggers went with the rows: the source accepts the key's rows again.
    Review.objects.using(source).create(product_id=7, author="x", created=NOW)


def test_the_keys_writes_are_refused_with_a_retryable_error_during_an_offline_copy(
    router: ShardRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    _reviews(router, 7, 10)
    _reviews(router, 8, 3)
    source, target = router.shard_for(7), _elsewhere(router, 7)
    seen: list[str] = []
    original = tenant.TenantMove.switch

    def during_copy(self: tenant.TenantMove, move: ShardMove, **kwargs: Any) -> None:
        # Each in its own atomic block: the test runs inside a transaction.
        with pytest.raises(ShardMovingError, match="moving"), transaction.atomic(using=source):
            Review.objects.create(product_id=7, author="late", created=NOW)
        with (
            pytest.raises(ShardMovingError),
            transaction.atomic(using=source),
            connections[source].cursor() as cursor,
        ):
            cursor.execute(f"UPDATE {Review._meta.db_table} SET rating = 1 WHERE product_id = 7")
        with pytest.raises(ShardMovingError), transaction.atomic(using=source):
            Review.objects.using(source).filter(product_id=7).delete()
        # Another key of the same shard is not refused.
        Review.objects.using(source).filter(product_id=8).update(rating=4)
        seen.append("refused")
        original(self, move, **kwargs)

    monkeypatch.setattr(tenant.TenantMove, "switch", during_copy)
    move_shard_key(Review, 7, to=target)

    assert seen == ["refused"]
    assert Review.objects.shard(7).count() == 10
    Review.objects.create(product_id=7, author="after", created=NOW)
    assert Review.objects.using(target).filter(product_id=7).count() == 11


def test_an_interrupted_offline_move_resumes_or_rolls_back(
    router: ShardRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    _reviews(router, 7, 30)
    source, target = router.shard_for(7), _elsewhere(router, 7)

    def crash(self: tenant.TenantMove, move: ShardMove, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(tenant.TenantMove, "switch", crash)
    with pytest.raises(KeyboardInterrupt):
        move_shard_key(Review, 7, to=target, batch_size=7)
    monkeypatch.undo()
    # Not switched: the source is authoritative and the key's writes are refused.
    assert router.shard_for(7) == source
    assert Review.objects.shard(7).count() == 30
    with pytest.raises(ShardMovingError), transaction.atomic(using=source):
        Review.objects.create(product_id=7, author="late", created=NOW)
    with pytest.raises(MoveError, match="being moved to"):
        move_shard_key(Review, 7, to=_elsewhere_than(router, source, target))

    move_shard_key(Review, 7, to=target, rollback=True)
    assert ShardMove.objects.get().phase == "rolled_back"
    assert not Review.objects.using(target).filter(product_id=7).exists()
    Review.objects.create(product_id=7, author="after the rollback", created=NOW)

    move_shard_key(Review, 7, to=target)
    assert Review.objects.using(target).filter(product_id=7).count() == 31
    assert not Review.objects.using(source).filter(product_id=7).exists()


def _elsewhere_than(router: ShardRouter, *aliases: str) -> str:
    return next(alias for alias in router.shard_aliases if alias not in aliases)


def test_a_move_refuses_a_target_already_holding_rows_of_the_key(router: ShardRouter) -> None:
    _reviews(router, 7, 3)
    target = _elsewhere(router, 7)
    Review.objects.using(target).create(product_id=7, author="stray", created=NOW)

    with pytest.raises(CommandError, match="already holds 1 row"):
        call_command("move_shard_key", "shard_app.Review", "--key", "7", "--to", target)
    assert not ShardMove.objects.exists()
    assert Review.objects.using(router.shard_for(7)).count() == 3


def test_a_move_refuses_bad_input(router: ShardRouter) -> None:
    _reviews(router, 7, 1)
    with pytest.raises(CommandError, match="already live on"):
        call_command(
            "move_shard_key", "shard_app.Review", "--key", "7", "--to", router.shard_for(7)
        )
    with pytest.raises(CommandError, match="not an alias"):
        call_command("move_shard_key", "shard_app.Review", "--key", "7", "--to", "nowhere")
    with pytest.raises(CommandError, match="no shard of this router"):
        call_command("move_shard_key", "shard_app.Review", "--key", "7", "--to", "default")
    with pytest.raises(CommandError, match="no valid shard key"):
        call_command("move_shard_key", "shard_app.Review", "--key", "seven", "--to", "shard_0")
    with pytest.raises(CommandError, match="No ShardRouter"):
        call_command("move_shard_key", "auth.User", "--key", "7", "--to", "shard_0")
    out = StringIO()
    call_command(
        "move_shard_key",
        "shard_app.Review",
        "--key",
        "7",
        "--to",
        "shard_0",
        "--rollback",
        stdout=out,
    )
    assert "nothing to roll back" in out.getvalue()


def test_a_move_whose_phase_changed_under_it_is_not_switched(
    router: ShardRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    _reviews(router, 7, 4)
    source, target = router.shard_for(7), _elsewhere(router, 7)
    wipe = tenant.TenantMove.wipe_target

    def meanwhile(self: tenant.TenantMove, move: ShardMove) -> None:
        wipe(self, move)
        ShardMove.objects.filter(pk=move.pk).update(phase=ShardMove.ROLLED_BACK)

    monkeypatch.setattr(tenant.TenantMove, "wipe_target", meanwhile)
    with pytest.raises(MoveError, match="changed phase"):
        move_shard_key(Review, 7, to=target)
    assert router.shard_for(7) == source
    assert Review.objects.shard(7).count() == 4


def test_a_hostile_text_key_is_quoted_into_the_sqlite_triggers() -> None:
    from multidb_routers.moving.capture import _literal

    assert _literal("shard_0", "o'$$x") == "'o''$$x'"
    assert _literal("shard_0", 42) == "42"
    assert _literal("shard_0", b"\x01") == "X'01'"
    with pytest.raises(MoveError):
        _literal("shard_0", None)


def test_an_offline_move_interrupted_after_the_switch_is_finished_by_a_rerun(
    router: ShardRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    _reviews(router, 7, 12)
    source, target = router.shard_for(7), _elsewhere(router, 7)

    def crash(self: tenant.TenantMove, move: ShardMove) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(tenant.TenantMove, "clean_up", crash)
    with pytest.raises(KeyboardInterrupt):
        move_shard_key(Review, 7, to=target)
    monkeypatch.undo()
    # Switched: the target is authoritative; the source copy is still refused writes.
    assert router.shard_for(7) == target
    assert Review.objects.shard(7).count() == 12
    with pytest.raises(ShardMovingError), transaction.atomic(using=source):
        Review.objects.using(source).filter(product_id=7).update(rating=0)
    with pytest.raises(MoveError, match="switched already"):
        move_shard_key(Review, 7, to=target, rollback=True)

    move_shard_key(Review, 7, to=target)
    assert ShardMove.objects.get().phase == "done"
    assert not Review.objects.using(source).filter(product_id=7).exists()


def test_a_move_needs_the_state_table_on_the_directory_database(
    router: ShardRouter, settings: Any
) -> None:
    _reviews(router, 7, 1)
    settings.MULTIDB_ROUTERS_PLACEMENT_DATABASE = "shard_2"  # not migrated there
    with pytest.raises(CommandError, match="migrate multidb_routers --database shard_2"):
        call_command(
            "move_shard_key", "shard_app.Review", "--key", "7", "--to", _elsewhere(router, 7)
        )


def test_reshard_leaves_a_moving_key_alone(
    router: ShardRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    _reviews(router, 7, 3)
    target = _elsewhere(router, 7)

    def crash(self: tenant.TenantMove, move: ShardMove, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(tenant.TenantMove, "switch", crash)
    with pytest.raises(KeyboardInterrupt):
        move_shard_key(Review, 7, to=target)
    with pytest.raises(CommandError, match="moving the key"):
        call_command("reshard", "shard_app.Review", stdout=StringIO())
    call_command("reshard", "shard_app.Review", "--dry-run", stdout=StringIO())
