"""capture() and restore(): the consistency token, its modes and hostile tokens (SQLite).

The WAL positions of ``freshness="lsn"`` are played by a strategy whose primary and
replica positions the test sets; the real standby is in tests/contrib/test_celery.py.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
from django.core import signing
from django.db import router
from django.http import HttpRequest, JsonResponse
from django.test import Client
from django.urls import path

from multidb_routers import PrimaryReplicaRouter, ReplicaLagError
from multidb_routers.consistency import SALT, TOKEN_MAX_AGE, capture, read_token, restore
from multidb_routers.replication.freshness import format_lsn, parse_lsn
from multidb_routers.replication.state import Pin, fresh_state, request_state
from tests.testapps.replica_app.models import Review

if TYPE_CHECKING:
    from collections.abc import Sequence

REPLICAS = ("reviews_replica1", "reviews_replica2")
DATABASES = ["default", "reviews", *REPLICAS]
pytestmark = [
    pytest.mark.django_db(databases=DATABASES, transaction=True),
    pytest.mark.urls(__name__),
]
#: The view each test runs at /view/.
VIEWS: dict[str, Any] = {}


def _view(request: HttpRequest) -> JsonResponse:
    return VIEWS["view"](request)  # type: ignore[no-any-return]


urlpatterns = [path("view/", _view)]


class ScriptedLsn:
    """A freshness strategy whose WAL positions the test moves (a stand-in for a clock)."""

    def __init__(self) -> None:
        self.primary = 0x1000
        self.replayed: dict[str, int] = dict.fromkeys(REPLICAS, 0x1000)

    def make_pin(self, primary: str, *, seconds: float) -> Pin:
        position = format_lsn(self.primary) if _committed() else None
        return Pin(until=time.time() + seconds, position=position)

    def fresh_replicas(self, replicas: Sequence[str], pin: Pin) -> Sequence[str]:
        if pin.position is None:
            return ()
        target = parse_lsn(pin.position)
        return [alias for alias in replicas if self.replayed[alias] >= target]


def _committed() -> bool:
    from multidb_routers.replication.freshness import _committed as flag

    return flag.get()


def read() -> str | None:
    return router.db_for_read(Review)


def write() -> None:
    router.db_for_write(Review)


def _route(settings: Any, **options: Any) -> PrimaryReplicaRouter:
    replica_router = PrimaryReplicaRouter(
        primary="reviews", replicas=list(REPLICAS), apps=["replica_app"], **options
    )
    settings.DATABASE_ROUTERS = [replica_router]
    return replica_router


def _token_after_a_write() -> str:
    write()
    token = capture()
    assert token is not None
    return token


# -- capture() -------------------------------------------------------------------------------


def test_capture_gives_none_when_nothing_is_pinned() -> None:
    assert capture() is None
    assert read() in REPLICAS


def test_a_captured_token_is_a_short_json_safe_string_naming_the_written_primary() -> None:
    token = _token_after_a_write()
    assert isinstance(token, str)
    assert token.isascii()
    assert len(token) < 120
    assert json.loads(json.dumps({"token": token}))["token"] == token
    verified = read_token(token)
    assert verified is not None
    assert set(verified.pins) == {"reviews"}


def test_restoring_a_token_in_a_fresh_context_reads_the_primary_the_writer_wrote() -> None:
    token = _token_after_a_write()
    with fresh_state():
        assert read() in REPLICAS
        with restore(token):
            assert read() == "reviews"
        assert read() in REPLICAS


def test_a_token_with_no_pin_and_none_restore_nothing() -> None:
    with restore(None):
        assert read() in REPLICAS
    empty = signing.dumps({"v": 1, "p": {}}, salt=SALT)
    with restore(empty, mode="delayed"):
        assert read() in REPLICAS


def test_capture_inside_a_request_that_wrote_names_its_primary(settings: Any) -> None:
    seen: dict[str, Any] = {}

    def view(request: HttpRequest) -> JsonResponse:
        Review.objects.create(title="captured")
        seen["token"] = capture()
        return JsonResponse({})

    VIEWS["view"] = view
    Client().post("/view/")
    verified = read_token(seen["token"])
    assert verified is not None
    assert set(verified.pins) == {"reviews"}


def test_capture_inside_a_restore_block_passes_the_token_on() -> None:
    token = _token_after_a_write()
    with fresh_state():
        with restore(token, mode="primary"):
            again = capture()
        assert capture() is None
    assert again is not None
    with fresh_state(), restore(again):
        assert read() == "reviews"


# -- Hostile tokens --------------------------------------------------------------------------


def test_every_single_character_change_of_a_token_restores_nothing() -> None:
    token = _token_after_a_write()
    alphabet = "AZaz09-_:x."
    with fresh_state():
        for index in range(len(token)):
            for replacement in alphabet:
                if token[index] == replacement:
                    continue
                tampered = token[:index] + replacement + token[index + 1 :]
                with restore(tampered, mode="delayed"):
                    assert read() in REPLICAS, tampered


@pytest.mark.parametrize(
    "token",
    ["", ":", "::", "x" * 10_000, "a:b:c", "\x00", "é:é:é", "null", "[]"],
)
def test_malformed_tokens_restore_nothing(token: str) -> None:
    with restore(token, mode="delayed"):
        assert read() in REPLICAS


@pytest.mark.parametrize("token", [1, 1.5, b"token", ["token"], {"p": {}}, object()])
def test_a_token_of_another_type_restores_nothing(token: Any) -> None:
    with restore(token, mode="delayed"):
        assert read() in REPLICAS


def test_a_token_signed_with_another_secret_key_restores_nothing(settings: Any) -> None:
    settings.SECRET_KEY = "another-project-" * 4
    foreign = _token_after_a_write()
    settings.SECRET_KEY = "this-project-" * 4
    with fresh_state():
        with restore(foreign, mode="primary"):
            assert read() in REPLICAS
        with restore(_token_after_a_write(), mode="primary"):
            assert read() == "reviews"


def test_a_token_signed_with_a_fallback_key_still_restores(settings: Any) -> None:
    settings.SECRET_KEY = "old-key-" * 8
    token = _token_after_a_write()
    settings.SECRET_KEY_FALLBACKS = ["old-key-" * 8]
    settings.SECRET_KEY = "new-key-" * 8
    with fresh_state(), restore(token):
        assert read() == "reviews"


def test_a_cookie_value_is_no_token() -> None:
    from multidb_routers.replication.middleware import dumps_pins

    cookie = dumps_pins({"reviews": Pin(until=time.time() + 60)})
    with restore(cookie, mode="primary"):
        assert read() in REPLICAS


def test_a_token_older_than_its_max_age_restores_nothing(monkeypatch: Any) -> None:
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - TOKEN_MAX_AGE - 5)
    old = _token_after_a_write()
    monkeypatch.setattr(time, "time", real)
    with fresh_state(), restore(old, mode="primary"):
        assert read() in REPLICAS


def test_a_token_signed_by_a_host_whose_clock_is_ahead_still_restores(monkeypatch: Any) -> None:
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 600)
    token = _token_after_a_write()
    monkeypatch.setattr(time, "time", real)
    with fresh_state(), restore(token, mode="primary"):
        assert read() == "reviews"


def test_restore_in_one_thread_leaves_another_threads_reads_alone() -> None:
    token = _token_after_a_write()
    inside = threading.Event()
    checked = threading.Event()
    seen: dict[str, object] = {}

    def job() -> None:
        with restore(token, mode="primary"):
            inside.set()
            checked.wait(5)
            seen["job"] = read()

    def other() -> None:
        inside.wait(5)
        seen["other"] = read()
        checked.set()

    with fresh_state():
        threads = [threading.Thread(target=job), threading.Thread(target=other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert seen["job"] == "reviews"
    assert seen["other"] in REPLICAS


def test_a_time_window_token_stops_pinning_when_its_window_ends(settings: Any) -> None:
    _route(settings, pin_seconds=0.3)
    token = _token_after_a_write()
    with fresh_state():
        with restore(token):
            assert read() == "reviews"
        time.sleep(0.35)
        with restore(token):
            assert read() in REPLICAS


def test_a_token_cannot_pin_longer_than_its_routers_pin_seconds(settings: Any) -> None:
    _route(settings, pin_seconds=2)
    forged_window = signing.dumps({"v": 1, "p": {"reviews": time.time() + 10_000}}, salt=SALT)
    verified = read_token(forged_window)
    assert verified is not None
    assert verified.pins["reviews"].until <= time.time() + 3.5


def test_a_token_naming_a_primary_no_router_knows_is_ignored(settings: Any) -> None:
    token = _token_after_a_write()
    _route(settings)  # same primary: still known
    assert read_token(token) is not None
    assert read_token(token).pins
    settings.DATABASE_ROUTERS = []
    verified = read_token(token)
    assert verified is not None
    assert not verified.pins


@pytest.mark.parametrize(
    "raw",
    [
        [1e300, "0/0"],
        [math.nan, "1/1"],
        ["soon", "1/1"],
        [True, "1/1"],
        [time.time() + 30, "not-a-position"],
        [time.time() + 30, 12],
        {"until": 1},
        None,
    ],
)
def test_hostile_pins_in_a_validly_signed_token_raise_nothing_but_replica_lag(raw: Any) -> None:
    token = signing.dumps({"v": 1, "p": {"reviews": raw, "": 1, "7": [1, 2, 3]}}, salt=SALT)
    for mode in ("primary", "sticky"):
        with restore(token, mode=mode):  # type: ignore[arg-type]
            assert read() in ("reviews", *REPLICAS)
    lagging: list[str] = []
    try:
        with restore(token, mode="delayed"):
            assert read() in ("reviews", *REPLICAS)
    except ReplicaLagError as exc:
        lagging.append(exc.primary)
    assert lagging in ([], ["reviews"])


# -- Modes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode",
    ["Sticky", "STICKY", " sticky", "sticky ", "", "lsn", "always", None, 1, True, b"sticky"],
)
def test_every_other_spelling_of_a_mode_is_refused_naming_the_valid_ones(mode: Any) -> None:
    with pytest.raises(ValueError, match="'primary', 'sticky', 'delayed'"):
        restore("token", mode=mode)


def test_an_unhashable_mode_is_refused_too() -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        restore("token", mode=["sticky"])  # type: ignore[arg-type]


def test_primary_mode_reads_the_primary_even_after_the_window(settings: Any) -> None:
    _route(settings, pin_seconds=0.2)
    token = _token_after_a_write()
    time.sleep(0.25)
    with fresh_state():
        with restore(token, mode="primary"):
            assert read() == "reviews"
        with restore(token, mode="sticky"):
            assert read() in REPLICAS


def test_sticky_mode_reads_a_replica_that_replayed_the_position_else_the_primary(
    settings: Any,
) -> None:
    lsn = ScriptedLsn()
    _route(settings, freshness=lsn, pin_seconds=0.3)
    lsn.primary = 0x2000
    token = _token_after_a_write()
    assert read_token(token).pins["reviews"].position == "0/2000"  # type: ignore[union-attr]
    with fresh_state():
        with restore(token):
            assert read() == "reviews"
        time.sleep(0.35)  # the window ended, the replicas still lag: the primary
        with restore(token):
            assert read() == "reviews"
        lsn.replayed["reviews_replica2"] = 0x2000
        with restore(token):
            assert read() == "reviews_replica2"


def test_delayed_mode_raises_while_no_replica_caught_up_then_reads_one(settings: Any) -> None:
    lsn = ScriptedLsn()
    _route(settings, freshness=lsn)
    lsn.primary = 0x3000
    token = _token_after_a_write()
    with fresh_state():
        with pytest.raises(ReplicaLagError) as raised, restore(token, mode="delayed"):
            pytest.fail("the block must not run")
        error = raised.value
        assert (error.primary, error.position) == ("reviews", "0/3000")
        assert 0 < error.retry_after <= 5.5
        assert "'reviews'" in str(error)
        assert "0/3000" in str(error)
        lsn.replayed["reviews_replica1"] = 0x3000
        with restore(token, mode="delayed"):
            assert read() == "reviews_replica1"


def test_delayed_mode_falls_back_to_the_primary_after_the_window(settings: Any) -> None:
    lsn = ScriptedLsn()
    _route(settings, freshness=lsn, pin_seconds=0.2)
    lsn.primary = 0x4000
    token = _token_after_a_write()
    time.sleep(0.25)
    with fresh_state(), restore(token, mode="delayed"):
        assert read() == "reviews"


def test_delayed_mode_with_a_time_window_raises_until_the_window_ends(settings: Any) -> None:
    _route(settings, pin_seconds=0.3)
    token = _token_after_a_write()
    with fresh_state():
        with pytest.raises(ReplicaLagError, match="time window"):
            restore(token, mode="delayed").__enter__()
        time.sleep(0.35)
        with restore(token, mode="delayed"):
            assert read() in REPLICAS


def test_delayed_mode_never_raises_for_a_primary_without_replicas(settings: Any) -> None:
    token = _token_after_a_write()
    settings.DATABASE_ROUTERS = [
        PrimaryReplicaRouter(primary="reviews", replicas=[], apps=["replica_app"])
    ]
    with fresh_state(), restore(token, mode="delayed"):
        assert read() == "reviews"


def test_a_decorated_function_checks_delayed_mode_on_every_call(settings: Any) -> None:
    lsn = ScriptedLsn()
    _route(settings, freshness=lsn)
    lsn.primary = 0x5000
    token = _token_after_a_write()

    @restore(token, mode="delayed")
    def job() -> str | None:
        return read()

    with fresh_state():
        with pytest.raises(ReplicaLagError):
            job()
        lsn.replayed["reviews_replica1"] = lsn.replayed["reviews_replica2"] = 0x5000
        assert job() in REPLICAS


# -- Nesting ---------------------------------------------------------------------------------


def test_nested_restores_keep_the_strongest_pin_and_unwind_in_order(settings: Any) -> None:
    lsn = ScriptedLsn()
    _route(settings, freshness=lsn)
    lsn.primary = 0x2000
    older = _token_after_a_write()
    lsn.primary = 0x6000
    newer = _token_after_a_write()
    lsn.replayed["reviews_replica1"] = 0x2000
    with fresh_state():
        with restore(older):
            assert read() == "reviews_replica1"
            with restore(newer):
                assert read() == "reviews"  # no replica has 0/6000
                with restore(older):
                    assert read() == "reviews"  # the older one does not weaken it
            assert read() == "reviews_replica1"
        with restore(older, mode="primary"), restore(older):
            assert read() == "reviews"  # the sticky inner block keeps primary's pin


def test_a_write_inside_a_restore_block_still_pins_the_context_after_it() -> None:
    token = _token_after_a_write()
    with fresh_state():
        with restore(token):
            pass
        assert read() in REPLICAS
        with restore(token):
            write()
        assert read() == "reviews"


def test_restore_inside_a_request_adds_to_its_pins_and_ends_with_the_block(
    settings: Any,
) -> None:
    token = _token_after_a_write()
    seen: list[object] = []

    def view(request: HttpRequest) -> JsonResponse:
        before = request_state()
        seen.append(read())
        with restore(token):
            seen.append(read())
            assert request_state() is not before
            write()  # a write in the block reaches the request's cookie
        seen.append(read())  # the write pins the rest of the request
        return JsonResponse({})

    VIEWS["view"] = view
    with fresh_state():
        response = Client().get("/view/")
    assert seen[0] in REPLICAS
    assert seen[1:] == ["reviews", "reviews"]
    assert "multidb_pin" in response.cookies


def test_restore_in_a_request_already_pinned_by_its_cookie_keeps_the_cookie_pin(
    settings: Any,
) -> None:
    lsn = ScriptedLsn()
    _route(settings, freshness=lsn)
    settings.MIDDLEWARE = ["multidb_routers.middleware.PinningMiddleware"]
    lsn.primary = 0x2000
    token = _token_after_a_write()  # position 0/2000, replayed by replica1 below
    lsn.replayed["reviews_replica1"] = 0x2000
    seen: list[object] = []

    def view(request: HttpRequest) -> JsonResponse:
        if request.method == "POST":
            Review.objects.create(title="cookie")
        else:
            with restore(token):
                seen.append(read())
        return JsonResponse({})

    VIEWS["view"] = view
    with fresh_state():
        client = Client()
        lsn.primary = 0x9000
        client.post("/view/")  # the cookie pins 0/9000, which no replica replayed
        client.get("/view/")
    assert seen == ["reviews"]


# -- Async -----------------------------------------------------------------------------------


def test_restore_decorates_coroutines_and_concurrent_tasks_stay_apart() -> None:
    token = _token_after_a_write()

    @restore(token, mode="primary")
    async def pinned() -> str | None:
        await asyncio.sleep(0.01)
        return read()

    async def unpinned() -> str | None:
        await asyncio.sleep(0.005)
        return read()

    async def in_a_with_block() -> tuple[str | None, str | None]:
        with restore(token):
            await asyncio.sleep(0.01)
            inside = read()
        return inside, read()

    async def main() -> list[Any]:
        return await asyncio.gather(pinned(), unpinned(), pinned(), unpinned(), in_a_with_block())

    with fresh_state():
        results = asyncio.run(main())
    assert results[0] == results[2] == "reviews"
    assert results[1] in REPLICAS
    assert results[3] in REPLICAS
    assert results[4][0] == "reviews"
    assert results[4][1] in REPLICAS


def test_a_context_pin_whose_position_is_no_wal_position_merges_to_the_primary(
    settings: Any,
) -> None:
    lsn = ScriptedLsn()
    _route(settings, freshness=lsn)
    lsn.primary = 0x2000
    token = _token_after_a_write()
    lsn.replayed["reviews_replica1"] = 0x2000
    with fresh_state():
        from multidb_routers.replication.state import pin_context

        pin_context("reviews", Pin(until=time.time() + 5, position="v42"))  # its own format
        with restore(token):
            assert read() == "reviews"
