"""Freshness strategies without PostgreSQL: LSN parsing, options, E011 and safe fallbacks."""

from __future__ import annotations

import asyncio
import time
from io import StringIO
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import AsyncClient, Client, override_settings

from multidb_routers import PrimaryReplicaRouter
from multidb_routers.exceptions import RouterOptionError
from multidb_routers.replication.freshness import (
    LsnFreshness,
    ReplicaPosition,
    TimeFreshness,
    _committed,
    _position_from_row,
    format_lsn,
    parse_lsn,
    writes_committed,
)
from multidb_routers.replication.middleware import loads_pins
from multidb_routers.replication.replica_set import ReplicaSet
from multidb_routers.replication.state import Pin, pin_context
from tests.testapps.replica_app.models import Review

REVIEWS = ["reviews", "reviews_replica1", "reviews_replica2"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0/0", 0),
        ("0/16B3748", 0x16B3748),
        ("16/B374D848", (0x16 << 32) | 0xB374D848),
        ("FFFFFFFF/FFFFFFFF", 2**64 - 1),
    ],
)
def test_lsn_text_parses_to_an_integer_and_back(text: str, value: int) -> None:
    assert parse_lsn(text) == value
    assert format_lsn(value) == text


def test_lsns_compare_as_numbers_not_as_text() -> None:
    assert "9/0" > "10/0"
    assert parse_lsn("9/0") < parse_lsn("10/0")
    assert parse_lsn("0/FFFFFFFF") < parse_lsn("1/0")
    assert parse_lsn("1/A") < parse_lsn("1/1A")


@pytest.mark.parametrize("text", ["", "16", "/1", "1/", "G/0", "1/2/3", "123456789/0"])
def test_malformed_lsns_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="no PostgreSQL WAL position"):
        parse_lsn(text)


def test_a_pin_position_must_be_reached_by_the_replayed_one() -> None:
    freshness = LsnFreshness()
    freshness._cache["r1"] = (time.monotonic() + 60, ReplicaPosition(parse_lsn("1/10"), 0.0))
    freshness._cache["r2"] = (time.monotonic() + 60, ReplicaPosition(parse_lsn("1/F"), 0.0))
    freshness._cache["r3"] = (time.monotonic() + 60, ReplicaPosition(None, 0.0))

    assert freshness.fresh_replicas(["r1", "r2", "r3"], Pin(1e10, "1/10")) == ["r1"]
    assert freshness.fresh_replicas(["r1", "r2", "r3"], Pin(1e10, "0/FFFFFFFF")) == ["r1", "r2"]
    assert freshness.fresh_replicas(["r1", "r2"], Pin(1e10, None)) == ()
    assert freshness.fresh_replicas(["r1", "r2"], Pin(1e10, "garbage")) == ()


def test_max_lag_seconds_keeps_replicas_within_it_and_drops_unknown_ones() -> None:
    freshness = LsnFreshness(max_lag_seconds=1.0)
    far = time.monotonic() + 60
    freshness._cache.update(
        {
            "near": (far, ReplicaPosition(parse_lsn("1/0"), 0.4)),
            "far": (far, ReplicaPosition(parse_lsn("1/0"), 2.5)),
            "unknown": (far, ReplicaPosition(None, None)),
        }
    )

    assert [alias for alias in ("near", "far", "unknown") if freshness.within_lag(alias)] == [
        "near"
    ]
    assert LsnFreshness().within_lag("unknown")  # no limit: nothing is queried


def _positions(freshness: LsnFreshness, alias: str, *positions: ReplicaPosition) -> list[bool]:
    """within_lag() of ``alias`` after each new position (the cache made to expire)."""
    answers = []
    for position in positions:
        freshness._cache[alias] = (time.monotonic() + 60, position)
        answers.append(freshness.within_lag(alias))
    return answers


def test_max_lag_bytes_leaves_out_a_replica_with_more_wal_to_replay() -> None:
    freshness = LsnFreshness(max_lag_bytes=1000, readmit_after_seconds=0)
    near, far = ReplicaPosition(1, 0.0, 1000), ReplicaPosition(1, 0.0, 1001)

    assert _positions(freshness, "r", near, far, ReplicaPosition(1, 0.0, None), near) == [
        True,
        False,
        False,
        True,
    ]


def test_a_left_out_replica_comes_back_only_after_staying_within_the_limits(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    freshness = LsnFreshness(max_lag_seconds=1.0, max_lag_bytes=10_000, readmit_after_seconds=3)
    within, late, big = (
        ReplicaPosition(1, 0.5, 10),
        ReplicaPosition(1, 1.5, 10),
        ReplicaPosition(1, 0.5, 20_000),
    )

    def at(seconds: float, position: ReplicaPosition) -> bool:
        clock[0] = 100.0 + seconds
        return _positions(freshness, "r", position)[0]

    assert at(0, within)  # never left out: in at once
    assert not at(1, late)  # dropped at once
    assert not at(2, within)  # within since 2 s...
    assert not at(4, within)
    assert not at(4.5, big)  # ...but over in bytes: starts again
    assert not at(5, within)
    assert not at(7.9, within)
    assert at(8, within)  # 3 s within: back
    assert at(8.5, within)
    assert not at(9, ReplicaPosition(1, None, 0))  # unknown lag: out
    # Asked again without a new position: the answer is not judged again.
    assert not freshness.within_lag("r")
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0] == (
        "Replica 'r' is 1.500 s behind (max_lag_seconds=1); it serves no read until it "
        "stays within the limit for 3.0 s."
    )
    assert messages[1] == "Replica 'r' is within its lag limits again."
    assert "Replica 'r' is of unknown lag" in messages[2]
    assert len(messages) == 3


def test_a_standby_behind_that_replayed_no_commit_since_it_started_has_an_unknown_lag() -> None:
    # pg_last_xact_replay_timestamp() is NULL until the standby replays a commit.
    row = (True, "0/10", "0/20", None)

    assert _position_from_row(row) == ReplicaPosition(replayed=0x10, lag=None, lag_bytes=0x10)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"freshness": "wal"}, RouterOptionError, "freshness must be one of 'time', 'lsn'"),
        ({"freshness": 3}, RouterOptionError, "freshness must be 'time', 'lsn' or an object"),
        (
            {"max_lag_seconds": 1},
            RouterOptionError,
            "max_lag_seconds only apply to freshness='lsn'",
        ),
        ({"freshness": "lsn", "max_lag_seconds": -1}, RouterOptionError, "max_lag_seconds must be"),
        (
            {"freshness": "lsn", "lsn_cache_seconds": "1"},
            RouterOptionError,
            "cache_seconds must be",
        ),
        (
            {"max_lag_bytes": 1024},
            RouterOptionError,
            "max_lag_bytes only apply to freshness='lsn'",
        ),
        (
            {"freshness": "time", "readmit_after_seconds": 1},
            RouterOptionError,
            "readmit_after_seconds only apply to freshness='lsn'",
        ),
        (
            {"freshness": "lsn", "readmit_after_seconds": 1},
            RouterOptionError,
            "readmit_after_seconds only applies with a lag limit: set max_lag_seconds or",
        ),
        (
            {"freshness": "lsn", "max_lag_seconds": 1, "readmit_after_seconds": -1},
            RouterOptionError,
            r"readmit_after_seconds must be a number of seconds \(>= 0\), such as 0.5, not -1",
        ),
        (
            {"freshness": "lsn", "max_lag_seconds": float("nan")},
            RouterOptionError,
            "max_lag_seconds must be a number of seconds",
        ),
        (
            {"freshness": "lsn", "max_lag_seconds": "2s"},
            RouterOptionError,
            "max_lag_seconds must be a number of seconds",
        ),
        *(
            (
                {"freshness": "lsn", "max_lag_bytes": value},
                RouterOptionError,
                r"max_lag_bytes must be a whole number of bytes \(>= 0\), such as 16 \* 1024",
            )
            for value in ("16MB", "16777216", -1, 1.5, True, float("inf"), [1])
        ),
        (
            {"freshness": "lsn", "max_lag_byte": 1},
            RouterOptionError,
            "unexpected keyword argument 'max_lag_byte'; it accepts: .*max_lag_bytes",
        ),
    ],
)
def test_bad_freshness_options_are_refused(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        PrimaryReplicaRouter(primary="reviews", replicas=["reviews_replica1"], **options)


def test_freshness_is_a_name_or_a_strategy() -> None:
    lsn = PrimaryReplicaRouter(
        primary="reviews",
        replicas=["reviews_replica1"],
        freshness="lsn",
        lsn_cache_seconds=0.5,
        max_lag_seconds=2,
    ).replica_set.freshness
    own = LsnFreshness(cache_seconds=1)

    assert isinstance(ReplicaSet("reviews", ["r"]).freshness, TimeFreshness)
    assert isinstance(ReplicaSet("reviews", ["r"], freshness="time").freshness, TimeFreshness)
    assert repr(lsn) == (
        "LsnFreshness(cache_seconds=0.5, max_lag_seconds=2.0, readmit_after_seconds=5.0)"
    )
    assert repr(LsnFreshness()) == "LsnFreshness(cache_seconds=0.2, max_lag_seconds=None)"
    assert ReplicaSet("reviews", ["r"], freshness=own).freshness is own


@override_settings(
    DATABASE_ROUTERS=[
        PrimaryReplicaRouter(
            primary="reviews", replicas=["reviews_replica1"], apps=["replica_app"], freshness="lsn"
        )
    ]
)
def test_lsn_freshness_on_a_database_that_is_not_postgresql_fails_the_check() -> None:
    with pytest.raises(SystemCheckError) as raised:
        call_command("check", "--tag", "multidb_routers", stdout=StringIO(), stderr=StringIO())

    message = str(raised.value)
    assert message.count("multidb_routers.E011") == 2
    assert (
        "DATABASE_ROUTERS[0] (PrimaryReplicaRouter) uses freshness='lsn', which reads "
        "PostgreSQL WAL positions, but 'reviews' is a sqlite database"
    ) in message
    assert "Use freshness='time' (the default) with this database" in message


@pytest.mark.django_db(databases=REVIEWS, transaction=True)
def test_on_sqlite_lsn_freshness_falls_back_to_the_primary_while_pinned() -> None:
    replica_set = ReplicaSet("reviews", ["reviews_replica1"], freshness="lsn")
    with writes_committed():
        pin = replica_set.make_pin()
    lagging = ReplicaSet(
        "reviews",
        ["reviews_replica1"],
        freshness=LsnFreshness(max_lag_seconds=10),
    )

    assert pin.position is None
    assert pin.until > time.time()
    assert replica_set.read_alias() == "reviews_replica1"
    pin_context("reviews", Pin(time.time() + 5, "0/0"))  # even a position it cannot check
    assert replica_set.read_alias() == "reviews"
    # A replica whose lag cannot be known serves no read under max_lag_seconds.
    assert lagging.read_alias() == "reviews"
    assert lagging.down_replicas() == frozenset()


@pytest.mark.django_db(databases=[*REVIEWS, "default"], transaction=True)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_middleware_builds_lsn_pins_after_the_view_outside_the_event_loop(
    settings: object, mode: str
) -> None:
    made: list[tuple[bool, bool]] = []

    class Spy(LsnFreshness):
        def make_pin(self, primary: str, *, seconds: float) -> Pin:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                in_loop = False
            else:
                in_loop = True
            made.append((_committed.get(), in_loop))
            return Pin(time.time() + seconds, "0/1")

    settings.DATABASE_ROUTERS = [  # type: ignore[attr-defined]
        PrimaryReplicaRouter(
            primary="reviews", replicas=["reviews_replica1"], apps=["replica_app"], freshness=Spy()
        )
    ]
    url = f"/replica/{mode}/reviews/"
    if mode == "sync":
        response = Client().post(url, {"title": "spied"})
    else:

        async def post() -> Any:  # Django 4.2's AsyncClient.post is no coroutine function
            return await AsyncClient().post(url, {"title": "spied"})

        response = async_to_sync(post)()
    Review.objects.using("reviews").all().delete()

    assert response.status_code == 302
    assert made == [(True, False)]
    pins = loads_pins(response.cookies["multidb_pin"].value, now=time.time())
    assert pins["reviews"].position == "0/1"
