"""The placement directory: key -> alias overrides honoured by shard_for, cached per process."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.core.management import call_command
from django.db import connections
from django.db import router as django_router
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from multidb_routers import ShardKeyError, ShardLockError, ShardRouter
from multidb_routers.exceptions import MoveError, RouterOptionError
from multidb_routers.models import Placement
from multidb_routers.sharding import placement, use_shard
from multidb_routers.sharding.checks import check_placements
from tests.testapps.shard_app.models import Event, Review

if TYPE_CHECKING:
    from collections.abc import Iterator

SHARDS = ["shard_0", "shard_1", "shard_2", "shard_3"]
NOW = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(databases=["default", "library", *SHARDS, "shard_3_replica"])


def _router(**options: object) -> ShardRouter:
    return ShardRouter(
        shards=[*SHARDS[:3], {"primary": "shard_3", "replicas": ["shard_3_replica"]}],
        apps=["shard_app.Review", "shard_app.Event", "shard_app.Ticket"],
        shard_key={"shard_app.Review": "product_id"},
        directory="shops",
        **options,
    )


@pytest.fixture
def router() -> Iterator[ShardRouter]:
    router = _router()
    placement.clear_cache()
    with override_settings(DATABASE_ROUTERS=[router]):
        yield router
    placement.clear_cache()


def _elsewhere(router: ShardRouter, key: object) -> str:
    return next(alias for alias in router.shard_aliases if alias != router.shard_for(key))


def test_a_placed_key_routes_to_its_alias_and_back_to_the_hash_once_unplaced(
    router: ShardRouter,
) -> None:
    hashed = router.shard_for(42)
    target = _elsewhere(router, 42)
    router.place(42, target)
    assert router.shard_for(42) == router.shard_for("42") == target
    assert router.shard_for(42, Review) == target
    review = Review.objects.create(product_id=42, author="big", created=NOW)  # type: ignore[misc]
    assert review._state.db == target
    assert Review.objects.shard(42).get() == review
    with use_shard(42, lock=True):
        assert list(Review.objects.all()) == [review]
    assert router.placements() == {"42": target}
    review.delete()
    assert router.unplace(42) is True
    assert router.shard_for(42) == hashed
    assert router.unplace(42) is False


def test_placing_again_switches_the_alias_and_grows_the_version(router: ShardRouter) -> None:
    router.place(5, "shard_0")
    router.place(5, "shard_1")
    entry = Placement.objects.get(directory="shops", key="5")
    assert (entry.alias, entry.version) == ("shard_1", 2)
    assert router.shard_for(5) == "shard_1"


def test_place_refuses_while_rows_of_the_key_live_on_its_current_shard(
    router: ShardRouter,
) -> None:
    Review.objects.create(product_id=9, author="a", created=NOW)  # type: ignore[misc]
    target = _elsewhere(router, 9)
    with pytest.raises(MoveError, match=r"shard_app\.Review has rows of the key 9"):
        router.place(9, target)
    assert router.shard_for(9) != target
    router.place(9, target, force=True)
    assert router.shard_for(9) == target
    Review.objects.create(product_id=9, author="b", created=NOW)  # type: ignore[misc]
    with pytest.raises(MoveError, match=f"rows of the key 9 on '{target}'"):
        router.unplace(9)  # back to the hash would hide the row on the placed shard
    assert router.shard_for(9) == target


@pytest.mark.parametrize(
    ("key", "alias", "error", "match"),
    [
        (1, "default", ValueError, "no shard of this router"),
        (1, "nowhere", ValueError, "no shard of this router"),
        (1, "shard_3_replica", ValueError, "replica"),
        (None, "shard_0", ShardKeyError, "None is no shard key"),
        (b"\xff", "shard_0", ShardKeyError, "no UTF-8"),
        ("x" * 300, "shard_0", ShardKeyError, "255"),
    ],
)
def test_place_refuses_hostile_input(
    router: ShardRouter, key: object, alias: str, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        router.place(key, alias)
    assert not Placement.objects.exists()


def test_place_canonicalises_the_key_by_the_model_field(router: ShardRouter) -> None:
    with pytest.raises(ShardKeyError, match="rejects it"):
        router.place("abc", "shard_0", Review)
    target = _elsewhere(router, 77)
    router.place(" 77", target, Review)
    assert router.shard_for(77) == router.shard_for("77") == target
    assert router.placements() == {"77": target}


def test_a_router_without_a_directory_cannot_place() -> None:
    with pytest.raises(RouterOptionError, match="directory='tenants'"):
        ShardRouter(shards=SHARDS, apps=["shard_app"]).place(1, "shard_0")
    with pytest.raises(RouterOptionError, match="directory must be a name"):
        ShardRouter(shards=SHARDS, apps=["shard_app"], directory="")


def test_a_key_with_no_entry_costs_no_query_within_the_ttl(router: ShardRouter) -> None:
    router.shard_for(1)  # the first lookup reads the table
    with CaptureQueriesContext(connections["default"]) as queries:
        for key in range(1000):
            router.shard_for(key)
    assert len(queries) == 0


def test_a_change_by_another_process_is_seen_after_the_ttl(router: ShardRouter) -> None:
    with override_settings(MULTIDB_ROUTERS_PLACEMENT_TTL=0.3):
        hashed = router.shard_for(3)
        target = _elsewhere(router, 3)
        # Written as another process would: no signal reaches this process's copy.
        Placement.objects.bulk_create([Placement(directory="shops", key="3", alias=target)])
        assert router.shard_for(3) == hashed  # the copy is still fresh
        time.sleep(0.35)
        assert router.shard_for(3) == target


def test_an_entry_naming_no_shard_fails_the_database_check_and_its_queries(
    router: ShardRouter,
) -> None:
    Placement.objects.create(directory="shops", key="8", alias="library")
    Placement.objects.create(directory="other", key="8", alias="library")  # another router's
    messages = check_placements(databases=["default"])
    assert [(m.id, "'8'" in m.msg and "'library'" in m.msg) for m in messages] == [
        ("multidb_routers.E026", True)
    ]
    assert check_placements(databases=["shard_0"]) == []
    with pytest.raises(ShardKeyError, match="none of the shards"):
        router.shard_for(8)


def test_two_routers_sharing_a_directory_name_fail_the_check() -> None:
    from multidb_routers.sharding.checks import check_shard_middleware

    with override_settings(
        DATABASE_ROUTERS=[_router(), ShardRouter(shards=["shard_0"], apps=["x"], directory="shops")]
    ):
        assert [m.id for m in check_shard_middleware()] == ["multidb_routers.E027"]


def test_a_directory_table_not_migrated_is_an_empty_directory(router: ShardRouter) -> None:
    with override_settings(MULTIDB_ROUTERS_PLACEMENT_DATABASE="library"):
        assert router.shard_for(11) == ShardRouter(shards=router.shards, apps=["x"]).shard_for(11)


def test_the_directory_table_migrates_only_on_its_database(router: ShardRouter) -> None:
    assert router.allow_migrate("default", "multidb_routers", "placement") is True
    assert router.allow_migrate("shard_0", "multidb_routers", "placement") is False
    with override_settings(MULTIDB_ROUTERS_PLACEMENT_DATABASE="library"):
        assert router.allow_migrate("default", "multidb_routers", "placement") is False
        assert router.allow_migrate("library", "multidb_routers", "placement") is True


def test_routing_and_reshard_dry_run_show_the_directory(router: ShardRouter) -> None:
    target = _elsewhere(router, 42)
    router.place(42, target)
    out = StringIO()
    call_command("routing", "shard_app.Review", stdout=out)
    assert "placement directory 'shops'" in out.getvalue()
    assert f"  42 -> {target}" in out.getvalue()
    out = StringIO()
    call_command("reshard", "shard_app.Review", "--dry-run", stdout=out)
    assert "Placement directory 'shops': 1 keys placed, never moved by hashing." in out.getvalue()
    assert f"  42 -> {target}" in out.getvalue()


def test_reshard_never_moves_a_placed_key_by_hashing(router: ShardRouter) -> None:
    target = _elsewhere(router, 42)
    router.place(42, target)
    Review.objects.create(product_id=42, author="big", created=NOW)  # type: ignore[misc]
    Review.objects.create(product_id=1, author="small", created=NOW)  # type: ignore[misc]
    grown = _router()  # the same directory over the same shards: nothing to move
    with override_settings(DATABASE_ROUTERS=[grown]):
        out = StringIO()
        call_command("reshard", "shard_app.Review", stdout=out)
        assert "0 rows (0.0%) are not on their shard." in out.getvalue()
    assert Review.objects.using(target).filter(product_id=42).exists()


def test_event_rows_follow_a_placed_primary_key(router: ShardRouter) -> None:
    event = Event(name="e")
    target = _elsewhere(router, event.pk)
    router.place(event.pk, target)
    event.save()
    assert event._state.db == target
    assert django_router.db_for_read(Event, instance=event) == target


def test_a_subprocess_sees_a_change_made_by_another_within_the_ttl(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)

    def run(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "tests.sharding.placement_process", str(tmp_path), *args],
            check=True,
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=60,
        ).stdout

    run("migrate")
    ttl = 1.0
    watcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.sharding.placement_process",
            str(tmp_path),
            "watch",
            "acme",
            str(ttl),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert watcher.stdout is not None
        first = watcher.stdout.readline().strip()
        target = next(alias for alias in ["shard_a", "shard_b", "shard_c"] if alias != first)
        placed_at = float(run("place", "acme", target))
        seen, seen_at = watcher.stdout.readline().split()
        assert seen == target
        assert 0 <= float(seen_at) - placed_at <= ttl + 0.5
    finally:
        watcher.kill()
        watcher.wait()


def test_a_placed_only_shard_holds_only_the_keys_placed_there() -> None:
    router = ShardRouter(
        shards=[*SHARDS[:3], {"primary": "shard_3", "placed_only": True}],
        apps=["shard_app.Review"],
        shard_key="product_id",
        directory="shops",
    )
    placement.clear_cache()
    with override_settings(DATABASE_ROUTERS=[router]):
        assert router.shard_aliases == tuple(SHARDS)
        assert router.hashed_aliases == tuple(SHARDS[:3])
        assert {router.shard_for(key) for key in range(500)} == set(SHARDS[:3])
        router.place(1, "shard_3")
        review = Review.objects.create(product_id=1, author="big", created=NOW)  # type: ignore[misc]
        assert review._state.db == "shard_3"
        from multidb_routers.sharding import across_shards

        assert across_shards(Review.objects.all()).get() == review
    placement.clear_cache()


def test_placed_only_must_be_a_bool() -> None:
    with pytest.raises(RouterOptionError, match="placed_only must be True or False"):
        ShardRouter(shards=[{"primary": "shard_0", "placed_only": "yes"}], apps=["x"])


def test_a_block_follows_a_placement_made_during_it(router: ShardRouter) -> None:
    hashed = router.shard_for(5)
    target = _elsewhere(router, 5)
    with use_shard(5):
        assert django_router.db_for_read(Review) == hashed
        router.place(5, target)
        assert django_router.db_for_read(Review) == target


def test_a_locked_block_refuses_rather_than_follow_a_placement_made_during_it(
    router: ShardRouter,
) -> None:
    target = _elsewhere(router, 5)
    with use_shard(5, lock=True):
        list(Review.objects.all())
        router.place(5, target)
        with pytest.raises(ShardLockError):
            list(Review.objects.all())
