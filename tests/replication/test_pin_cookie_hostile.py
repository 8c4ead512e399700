"""Pin cookies signed with the project's key but holding anything: never a 500, never a long pin."""

from __future__ import annotations

import base64
import json
import math
import time
import zlib
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest
from django.core import signing
from django.test import Client

from multidb_routers.conf import conf
from multidb_routers.replication.middleware import SALT, loads_pins
from tests.testapps.replica_app.models import Review

if TYPE_CHECKING:
    from collections.abc import Callable

REPLICAS = {"reviews_replica1", "reviews_replica2"}
pytestmark = pytest.mark.django_db(
    databases=["default", "reviews", *sorted(REPLICAS)], transaction=True
)
PIN_SECONDS = 2.0


def _signed_raw(body: bytes, *, compressed: bool) -> str:
    """A value signed like ``signing.dumps`` would, around any bytes (bad zlib, bad JSON)."""
    encoded = base64.urlsafe_b64encode(body).strip(b"=").decode()
    if compressed:
        encoded = "." + encoded
    return signing.TimestampSigner(salt=SALT).sign(encoded)


def _hostile_values() -> list[tuple[str, str]]:
    now = time.time()
    payloads: list[tuple[str, Any]] = [
        ("400-digit until", {"reviews": int("9" * 400)}),
        ("huge negative until", {"reviews": -int("9" * 400)}),
        ("infinite until", {"reviews": math.inf}),
        ("minus infinite until", {"reviews": -math.inf}),
        ("nan until", {"reviews": math.nan}),
        ("an hour from now", {"reviews": now + 3600}),
        ("a year from now", {"reviews": now + 365 * 86400}),
        ("1e308", {"reviews": 1e308}),
        ("until with a bad position", {"reviews": [now + 3600, "not an lsn"]}),
        ("until with a huge position", {"reviews": [now + 3600, "F" * 3000]}),
        ("position not a string", {"reviews": [now + 3600, 5]}),
        ("infinite until and a position", {"reviews": [math.inf, "0/16B3748"]}),
        ("list of three", {"reviews": [now + 60, "0/1", "x"]}),
        ("nested junk", {"reviews": {"until": now + 60, "deep": [[[{"a": [1, [2]]}]]]}}),
        ("boolean until", {"reviews": True}),
        ("string until", {"reviews": str(now + 60)}),
        ("null until", {"reviews": None}),
        ("unknown alias", {"no_such_alias": now + 3600}),
        ("empty alias", {"": now + 3600}),
        ("every alias", dict.fromkeys(("default", "reviews", "users"), now + 3600)),
        ("a list", [["reviews", now + 60]]),
        ("a string", "reviews"),
        ("a number", 12),
        ("null", None),
        ("deep nesting", json.loads("[" * 500 + "]" * 500)),
    ]
    values = [(name, signing.dumps(payload, salt=SALT)) for name, payload in payloads]
    values += [
        (f"{name}, compressed", signing.dumps(payload, salt=SALT, compress=True))
        for name, payload in payloads
    ]
    # Bodies no json.dumps makes: the signature is right, the content is not.
    values += [
        ("bad zlib body", _signed_raw(b"this is not zlib", compressed=True)),
        ("truncated zlib body", _signed_raw(zlib.compress(b'{"reviews": 1}')[:5], compressed=True)),
        ("zlib of bad json", _signed_raw(zlib.compress(b'{"reviews": '), compressed=True)),
        ("bad json", _signed_raw(b'{"reviews": [', compressed=False)),
        ("not utf-8", _signed_raw(b"\xff\xfe\xfd", compressed=False)),
        ("json with Infinity", _signed_raw(b'{"reviews": Infinity}', compressed=False)),
        (
            "json with a 400-digit float",
            _signed_raw(b'{"reviews": 1' + b"0" * 400 + b".5}", compressed=False),
        ),
        ("duplicate keys", _signed_raw(b'{"reviews": 1, "reviews": 1e300}', compressed=False)),
        ("very deep json", _signed_raw(b"[" * 100000 + b"]" * 100000, compressed=False)),
    ]
    return values


HOSTILE = _hostile_values()


@pytest.fixture
def review() -> Review:
    return Review.objects.create(title="Old news")


@pytest.mark.parametrize(("name", "value"), HOSTILE, ids=[name for name, _ in HOSTILE])
def test_any_signed_cookie_gives_a_200_and_pins_no_longer_than_pin_seconds(
    settings: Any, review: Review, name: str, value: str
) -> None:
    settings.MULTIDB_ROUTERS_PIN_SECONDS = PIN_SECONDS
    client = Client()
    client.cookies[conf.PIN_COOKIE_NAME] = value
    started = time.time()

    read = client.get(f"/replica/sync/reviews/{review.pk}/")
    written = client.post(f"/replica/sync/reviews/{review.pk}/rate/", {"stars": "3"})

    assert read.status_code == 200
    assert written.status_code == 200
    cookie = written.cookies[conf.PIN_COOKIE_NAME]
    assert int(cookie["max-age"]) <= math.ceil(PIN_SECONDS)
    pins = loads_pins(cookie.value, now=started)
    assert set(pins) == {"reviews"}  # no alias the cookie made up is carried on
    assert all(pin.until <= time.time() + PIN_SECONDS for pin in pins.values())
    # What the middleware takes from the hostile value itself: no pin beyond pin_seconds.
    incoming = loads_pins(value, now=started, limits={"reviews": PIN_SECONDS})
    assert set(incoming) <= {"reviews"}
    assert all(pin.until <= time.time() + PIN_SECONDS for pin in incoming.values())


FAR = [
    pytest.param(lambda now: {"reviews": now + 3600}, id="an-hour-from-now"),
    pytest.param(lambda now: {"reviews": math.inf}, id="infinite"),
    pytest.param(
        lambda now: {"reviews": [int("9" * 400), "FFFFFFFF/FFFFFFFF"]}, id="huge-with-position"
    ),
]


@pytest.mark.parametrize("payload", FAR)
def test_an_incoming_pin_far_in_the_future_stops_pinning_after_pin_seconds(
    settings: Any, review: Review, payload: Callable[[float], object]
) -> None:
    settings.MULTIDB_ROUTERS_PIN_SECONDS = 0.2
    client = Client()
    client.cookies[conf.PIN_COOKIE_NAME] = signing.dumps(payload(time.time()), salt=SALT)

    first = client.get(f"/replica/sync/reviews/{review.pk}/")
    assert set(first.json()["read_from"]) == {"reviews"}
    # The client keeps sending the same cookie: it was signed more than pin_seconds ago
    # (its signature holds whole seconds, hence the extra second), so it pins no more,
    # and no response lengthened it.
    time.sleep(1.0 + 0.3)
    assert conf.PIN_COOKIE_NAME not in first.cookies
    later = client.get(f"/replica/sync/reviews/{review.pk}/")
    assert set(later.json()["read_from"]) <= REPLICAS


@pytest.mark.parametrize("ahead", [5.0, 3600.0, 365 * 86400.0])
def test_a_cookie_signed_in_the_future_pins_nothing(ahead: float) -> None:
    # Signed by a clock that runs ahead (another server's, or a holder of the key): its
    # deadline "pin_seconds after signing" would keep the same cookie pinning for as long
    # as the clock is ahead, each request pinning again up to pin_seconds from now.
    now = time.time()
    with mock.patch("time.time", return_value=now + ahead):
        value = signing.dumps({"reviews": now + ahead + PIN_SECONDS}, salt=SALT)

    # Ignored until its signing time is less than a second ahead (whole seconds).
    for later in (0.0, PIN_SECONDS + 0.5, ahead - 2.5):
        assert loads_pins(value, now=now + later, limits={"reviews": PIN_SECONDS}) == {}


def test_a_cookie_signed_within_the_last_second_still_pins() -> None:
    # The signature holds whole seconds, and clocks of two servers differ a little.
    now = time.time()
    with mock.patch("time.time", return_value=now + 0.9):
        value = signing.dumps({"reviews": now + PIN_SECONDS}, salt=SALT)

    assert set(loads_pins(value, now=now, limits={"reviews": PIN_SECONDS})) == {"reviews"}


def test_a_remembered_cookie_is_capped_by_now_and_the_limits_at_each_use() -> None:
    from multidb_routers.replication.middleware import dumps_pins
    from multidb_routers.replication.state import Pin

    now = time.time()
    value = dumps_pins({"reviews": Pin(until=now + 3.0)})

    assert loads_pins(value, now=now, limits={"reviews": 5.0}) == {"reviews": Pin(now + 3.0)}
    assert loads_pins(value, now=now, limits={"reviews": 1.0}) == {"reviews": Pin(now + 1.0)}
    assert loads_pins(value, now=now, limits={"library": 5.0}) == {}
    assert loads_pins(value, now=now + 3.0, limits={"reviews": 5.0}) == {}


def test_a_remembered_cookie_is_refused_once_the_secret_key_changes(settings: Any) -> None:
    from multidb_routers.replication.middleware import dumps_pins
    from multidb_routers.replication.state import Pin

    now = time.time()
    value = dumps_pins({"reviews": Pin(until=now + 3.0)})
    assert loads_pins(value, now=now) == {"reviews": Pin(now + 3.0)}

    settings.SECRET_KEY = "another key, after a leak"

    assert loads_pins(value, now=now) == {}


@pytest.mark.parametrize(
    "pins",
    [
        {"reviews": 1796000000.25},
        {"reviews": 1796000000.0, "library": 1796000001.5},
        {"reviews": (1796000000.125, "16/B374D848")},
        {"ünï": 1796000000.5},
    ],
)
def test_a_cookie_signed_here_is_known_as_verifying_it_would_find_it(pins: dict[str, Any]) -> None:
    from multidb_routers.replication import middleware
    from multidb_routers.replication.state import Pin

    value = middleware.dumps_pins(
        {
            primary: Pin(*until) if isinstance(until, tuple) else Pin(until)
            for primary, until in pins.items()
        }
    )

    assert middleware._known[value] == middleware._verify(value)
    assert middleware._known[value][0]  # not an empty (refused) value


def test_the_remembered_cookies_are_bounded() -> None:
    from multidb_routers.replication import middleware

    for number in range(middleware._KNOWN_MAX * 3):
        loads_pins(f"forged{number}:x:y", now=time.time())
        assert len(middleware._known) <= middleware._KNOWN_MAX
