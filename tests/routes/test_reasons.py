"""Routing reasons: each rule of each router names itself, and nothing listens by default."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connections, router, transaction
from django.db.utils import ConnectionRouter
from django.test import Client

from multidb_routers import use_primary
from multidb_routers.cross_database import checked
from multidb_routers.routes import Route, listen, listening
from multidb_routers.routes.hook import add_listener, remove_listener
from multidb_routers.routes.recording import Recorder
from multidb_routers.testing import record_routes
from tests.testapps.functional_app.models import Book
from tests.testapps.legacy_app.models import Customer, Note
from tests.testapps.overlay_app.models import Note as OverlayNote
from tests.testapps.overlay_app.models import Product
from tests.testapps.replica_app.models import Review
from tests.testapps.shard_app.models import Review as ShardReview

REPLICAS = ("reviews_replica1", "reviews_replica2")
DATABASES = ["default", "reviews", *REPLICAS]


def routes_of(action: str, model: type, **hints: object) -> list[Route]:
    seen: list[Route] = []
    with listen(seen.append):
        getattr(router, f"db_for_{action}")(model, **hints)
    return seen


def test_nobody_listens_by_default_and_django_routes_with_its_own_methods() -> None:
    assert not listening()
    assert "db_for_read" not in vars(router)
    # Only the cross-database write check wraps Django's own db_for_write.
    write = vars(router)["db_for_write"]
    assert write.around is checked
    assert write.__doc__ == ConnectionRouter.db_for_write.__doc__


def test_listening_keeps_the_cross_database_check_and_gives_it_back_after() -> None:
    before = vars(router)["db_for_write"]
    with listen(lambda route: None):
        during = vars(router)["db_for_write"]
        assert during is not before
        assert during.around is checked
    assert vars(router)["db_for_write"] is before


def test_the_routers_are_instrumented_only_while_someone_listens() -> None:
    def first(route: Route) -> None: ...

    def second(route: Route) -> None: ...

    add_listener(first)
    add_listener(second)
    assert "db_for_read" in vars(router)
    remove_listener(first)
    assert "db_for_read" in vars(router)
    remove_listener(second)
    assert "db_for_read" not in vars(router)
    assert not listening()


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_a_read_names_the_replica_chosen_and_its_weight() -> None:
    [route] = routes_of("read", Review)
    assert route.action == "read"
    assert route.alias in REPLICAS
    assert route.code == "replica"
    assert route.reason == f"replica {route.alias} chosen by weight 1 of 2"
    assert route.router == "DATABASE_ROUTERS[1] (PrimaryReplicaRouter)"
    assert route.label == "replica_app.Review"
    assert str(route) == f"read replica_app.Review -> {route.alias}: {route.reason}"


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_the_next_read_keeps_the_replica_for_monotonic_reads() -> None:
    [first] = routes_of("read", Review)
    [second] = routes_of("read", Review)
    assert second.alias == first.alias
    assert (second.code, second.reason) == (
        "kept",
        f"replica {first.alias} kept for this context (monotonic reads)",
    )


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_use_primary_is_the_reason() -> None:
    with use_primary():
        [route] = routes_of("read", Review)
    assert (route.alias, route.code, route.reason) == (
        "reviews",
        "use_primary",
        "inside use_primary()",
    )


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_a_write_pins_the_context_and_the_next_read_says_how_long() -> None:
    [write] = routes_of("write", Review)
    assert (write.alias, write.code) == ("reviews", "write")
    assert write.reason == "writes go to the primary (pins this client's next reads to it)"
    [read] = routes_of("read", Review)
    assert (read.alias, read.code) == ("reviews", "pinned")
    assert read.reason.startswith("pinned by a write in this context (")
    assert read.reason.endswith(" s left)")
    seconds = float(read.reason.split("(")[1].split(" s")[0])
    assert 0 < seconds <= 5.0


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_an_open_transaction_on_the_primary_is_the_reason() -> None:
    with transaction.atomic(using="reviews"):
        [route] = routes_of("read", Review)
    assert (route.alias, route.code, route.reason) == (
        "reviews",
        "transaction",
        "a transaction is open on reviews",
    )


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_a_replica_left_out_as_down_is_named_as_skipped() -> None:
    replica_set = router.routers[1].replica_set
    replica_set._mark_down("reviews_replica1", OSError("refused"))
    try:
        [route] = routes_of("read", Review)
        assert route.alias == "reviews_replica2"
        assert route.reason == (
            "replica reviews_replica2 chosen by weight 1 of 2; skipped reviews_replica1 (down)"
        )
        replica_set._mark_down("reviews_replica2", OSError("refused"))
        from multidb_routers.replication.state import fresh_state

        with fresh_state():
            [route] = routes_of("read", Review)
        assert (route.alias, route.code) == ("reviews", "no_live_replica")
        assert route.reason == (
            "no live replica; skipped reviews_replica1 (down), reviews_replica2 (down): "
            "the primary reviews"
        )
    finally:
        replica_set._down.clear()


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_in_a_request_the_write_then_the_cookie_pin_are_the_reasons() -> None:
    client = Client()
    with record_routes() as routes:
        response = client.post("/replica/sync/reviews/", {"title": "Fine"})
        page = response["Location"]
        client.post(f"{page}rate/", {"stars": "2"})
    [read] = routes.reads(Review)
    assert (read.alias, read.code, read.reason) == (
        "reviews",
        "written",
        "this request wrote to reviews",
    )
    with record_routes() as routes:
        client.get(page)
    reads = routes.reads(Review)
    assert len(reads) == 10
    assert {query.code for query in reads} == {"pinned"}
    assert reads[0].reason.startswith("pinned by the request's pin cookie (")
    assert reads[0].sql.startswith("SELECT")


@pytest.mark.django_db(databases=["default", *(f"shard_{n}" for n in range(4))], transaction=True)
def test_a_shard_read_names_its_key_or_use_shard() -> None:
    from multidb_routers.sharding import use_shard

    shard_router = router.routers[3]
    review = ShardReview(product_id=7, author="ann")
    [route] = routes_of("write", ShardReview, instance=review)
    expected = shard_router.shard_for(7)
    assert (route.alias, route.code) == (expected, "shard_key")
    assert route.reason == f"shard key product_id=7 -> {expected}"
    with use_shard(7):
        [route] = routes_of("read", ShardReview)
    assert (route.alias, route.code, route.reason) == (expected, "use_shard", "use_shard(7)")
    [route] = routes_of("read", ShardReview, shard="shard_2")
    assert (route.alias, route.code, route.reason) == (
        "shard_2",
        "shard_hint",
        "the shard='shard_2' hint",
    )


def test_overlay_functional_and_default_decisions_are_named() -> None:
    [route] = routes_of("read", OverlayNote)
    assert (route.alias, route.code) == ("overlay", "overlay_replaced")
    assert route.reason == "a replaced model: it lives wholly in overlay"
    [route] = routes_of("read", Product)
    assert (route.alias, route.code) == ("base", "overlay_merged")
    [route] = routes_of("write", Product)
    assert (route.alias, route.code) == ("overlay", "overlay_write")
    [route] = routes_of("read", Book)
    assert (route.alias, route.code) == ("library", "functional")
    assert route.reason == "functional_app.Book is routed to 'library' (its app or model entry)"
    [route] = routes_of("read", Customer)
    assert route.reason == "routes['legacy_app.Customer'] = 'legacy'"
    [route] = routes_of("read", Note)
    assert (route.alias, route.code, route.router) == ("default", "default", "")
    note = Note()
    note._state.db = "legacy"
    [route] = routes_of("write", Note, instance=note)
    assert (route.alias, route.code) == ("legacy", "instance")


def test_a_router_error_still_reaches_the_caller_while_listening() -> None:
    from multidb_routers import ShardKeyError

    with listen(lambda route: None), pytest.raises(ShardKeyError):
        router.db_for_read(ShardReview)


def test_instrumented_routing_decides_as_django_does() -> None:
    cases = [(OverlayNote, {}), (Product, {}), (Book, {}), (Customer, {}), (Note, {})]
    plain = [router.db_for_read(model, **hints) for model, hints in cases]
    plain += [router.db_for_write(model, **hints) for model, hints in cases if model is not Product]
    with listen(lambda route: None):
        seen = [router.db_for_read(model, **hints) for model, hints in cases]
        seen += [
            router.db_for_write(model, **hints) for model, hints in cases if model is not Product
        ]
    assert seen == plain


def test_a_recorder_sees_the_routes_of_its_own_context_only() -> None:
    recorder = Recorder()
    recorder.start()
    try:
        thread = threading.Thread(target=router.db_for_read, args=(Book,))
        thread.start()
        thread.join()
        router.db_for_read(Customer)
    finally:
        recorder.stop()
    assert [route.label for route in recorder.routes] == ["legacy_app.Customer"]
    assert not listening()
    assert all(recorder._execute not in c.execute_wrappers for c in connections.all())


@pytest.mark.django_db(databases=["default", "shard_3", "shard_3_replica"], transaction=True)
def test_a_shard_with_a_replica_names_the_shard_then_the_replica_rule(settings: Any) -> None:
    from multidb_routers import ShardRouter
    from multidb_routers.sharding import use_shard

    settings.DATABASE_ROUTERS = [
        ShardRouter(
            shards=[{"primary": "shard_3", "replicas": ["shard_3_replica"]}],
            apps=["shard_app.Review"],
            shard_key={"shard_app.Review": "product_id"},
        )
    ]
    with use_shard(7):
        [route] = routes_of("read", ShardReview)
        assert (route.alias, route.code) == ("shard_3_replica", "use_shard")
        assert route.reason == ("use_shard(7); replica shard_3_replica chosen by weight 1 of 1")
        with use_primary():
            [route] = routes_of("read", ShardReview)
        assert route.reason == "use_shard(7); inside use_primary()"


def test_methods_someone_else_put_on_djangos_router_come_back_after_listening() -> None:
    def fast(model: type, **hints: object) -> str:
        return "default"

    vars(router)["db_for_read"] = fast
    try:
        with listen(lambda route: None):
            assert vars(router)["db_for_read"] is not fast
        assert vars(router)["db_for_read"] is fast
    finally:
        del vars(router)["db_for_read"]


def test_the_overlay_names_base_tombstone_and_instance_reads() -> None:
    from multidb_routers.models import Tombstone
    from tests.testapps.overlay_app.models import Supplier

    [route] = routes_of("read", Supplier)
    assert (route.alias, route.code, route.reason) == (
        "base",
        "overlay_base",
        "read from the read-only base base",
    )
    [route] = routes_of("read", Tombstone)
    assert (route.alias, route.code) == ("overlay", "overlay_tombstone")
    product = Product()
    product._state.db = "overlay"
    [route] = routes_of("read", Product, instance=product)
    assert (route.alias, route.code) == ("overlay", "overlay_instance")


def test_a_router_of_another_library_is_named_with_what_it_returned(settings: Any) -> None:
    class LegacyRouter:
        def db_for_read(self, model: type, **hints: object) -> str | None:
            return "legacy" if model is Note else None

    settings.DATABASE_ROUTERS = [LegacyRouter(), *settings.DATABASE_ROUTERS]
    [route] = routes_of("read", Note)
    assert (route.alias, route.code, route.router) == (
        "legacy",
        "router",
        "DATABASE_ROUTERS[0] (LegacyRouter)",
    )
    assert route.reason == "LegacyRouter.db_for_read() returned 'legacy'"
    [route] = routes_of("write", Note)  # it has no db_for_write: the next routers, then Django
    assert (route.alias, route.code) == ("default", "default")


@pytest.mark.django_db(databases=["default", "master-a", "master-b", "slave"], transaction=True)
def test_several_primaries_name_the_primary_of_a_write_and_the_instance_it_lives_on(
    settings: Any,
) -> None:
    from multidb_routers import PrimaryReplicaRouter

    settings.DATABASE_ROUTERS = [
        PrimaryReplicaRouter(
            primary=["master-a", "master-b"],
            replicas=["slave"],
            apps=["replica_app"],
            read_from_primaries=True,
        )
    ]
    [route] = routes_of("write", Review)
    assert route.alias in ("master-a", "master-b")
    assert route.reason == (
        f"primary {route.alias} of master-a, master-b (pins this client's next reads to it)"
    )
    review = Review(title="placed")
    review._state.db = "master-b"
    [route] = routes_of("write", Review, instance=review)
    assert route.reason == "the primary the instance lives on (pins this client's next reads to it)"
    from multidb_routers.replication.state import fresh_state

    with fresh_state():
        [route] = routes_of("read", Review)
    kind = "replica" if route.alias == "slave" else "primary"
    assert route.reason.startswith(f"{kind} {route.alias} chosen by weight 1 of 3")


def _token_routes(settings: Any, **options: Any) -> Any:
    from multidb_routers import PrimaryReplicaRouter

    settings.DATABASE_ROUTERS = [
        PrimaryReplicaRouter(
            primary="reviews", replicas=list(REPLICAS), apps=["replica_app"], **options
        )
    ]


def _token_after_a_write() -> str:
    from multidb_routers.consistency import capture

    router.db_for_write(Review)
    token = capture()
    assert token is not None
    return token


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_a_read_pinned_by_a_restored_token_names_the_token_its_mode_and_window(
    settings: Any,
) -> None:
    from multidb_routers.consistency import restore
    from multidb_routers.replication.state import fresh_state

    _token_routes(settings, pin_seconds=5)
    token = _token_after_a_write()
    with fresh_state():
        [free] = routes_of("read", Review)
        assert free.code == "replica"
        with restore(token, mode="sticky"):
            [read] = routes_of("read", Review)
        assert (read.alias, read.code) == ("reviews", "token")
        prefix = "pinned by a consistency token (mode sticky, window "
        assert read.reason.startswith(prefix)
        assert read.reason.endswith(" s left)")
        assert 0 < float(read.reason[len(prefix) :].split(" s")[0]) <= 5.0
        with restore(token, mode="primary"):
            [read] = routes_of("read", Review)
        assert (read.alias, read.code, read.reason) == (
            "reviews",
            "token",
            "pinned by a consistency token (mode primary)",
        )


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_a_primary_mode_token_is_named_after_its_window_too(settings: Any) -> None:
    import time

    from multidb_routers.consistency import restore
    from multidb_routers.replication.state import fresh_state

    _token_routes(settings, pin_seconds=0.2)
    token = _token_after_a_write()
    time.sleep(0.25)
    with fresh_state(), restore(token, mode="primary"):
        [read] = routes_of("read", Review)
    assert (read.code, read.reason) == ("token", "pinned by a consistency token (mode primary)")


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_a_token_read_names_its_wal_position_then_the_replica_that_caught_up(
    settings: Any,
) -> None:
    from multidb_routers.consistency import restore
    from multidb_routers.replication.state import fresh_state
    from tests.replication.test_consistency_token import ScriptedLsn

    lsn = ScriptedLsn()
    _token_routes(settings, freshness=lsn, pin_seconds=5)
    lsn.primary = 0x2000
    token = _token_after_a_write()
    with fresh_state():
        with restore(token, mode="sticky"):
            [read] = routes_of("read", Review)
        assert (read.alias, read.code, read.reason) == (
            "reviews",
            "token",
            "pinned by a consistency token (mode sticky, WAL position 0/2000); "
            "no replica has caught up",
        )
        lsn.replayed["reviews_replica2"] = 0x2000
        with restore(token, mode="delayed"):
            [read] = routes_of("read", Review)
        assert (read.alias, read.code, read.reason) == (
            "reviews_replica2",
            "caught_up",
            "pinned by a consistency token (mode delayed, WAL position 0/2000); "
            "replica reviews_replica2 has caught up; skipped reviews_replica1 (not caught up)",
        )


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_a_write_inside_a_restore_block_is_the_reason_after_it_not_the_token(
    settings: Any,
) -> None:
    from multidb_routers.consistency import restore
    from multidb_routers.replication.state import begin_request, end_request, fresh_state

    _token_routes(settings, pin_seconds=5)
    token = _token_after_a_write()
    with fresh_state():
        with restore(token):
            router.db_for_write(Review)
            [read] = routes_of("read", Review)
        assert read.reason.startswith("pinned by a write in this context (")
        [read] = routes_of("read", Review)
        assert read.reason.startswith("pinned by a write in this context (")
    with fresh_state():
        _, started = begin_request({})
        try:
            with restore(token):
                [read] = routes_of("read", Review)
            assert read.reason.startswith("pinned by a consistency token (mode sticky, window")
            [read] = routes_of("read", Review)
            assert read.code == "replica"
        finally:
            end_request(started)


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_nested_restores_name_the_inner_mode_then_the_outer_one_again(settings: Any) -> None:
    from multidb_routers.consistency import restore
    from multidb_routers.replication.state import fresh_state

    _token_routes(settings, pin_seconds=5)
    token = _token_after_a_write()
    with fresh_state(), restore(token, mode="sticky"):
        with restore(token, mode="primary"):
            [inner] = routes_of("read", Review)
        [outer] = routes_of("read", Review)
    assert inner.reason == "pinned by a consistency token (mode primary)"
    assert outer.reason.startswith("pinned by a consistency token (mode sticky, window ")
