"""PinningMiddleware through the test client, with sync views and async views."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core import signing
from django.test import AsyncClient, Client

from multidb_routers.conf import conf
from multidb_routers.replication.middleware import SALT, dumps_pins, loads_pins
from multidb_routers.replication.state import Pin
from tests.testapps.replica_app.models import Review

REPLICAS = {"reviews_replica1", "reviews_replica2"}
pytestmark = pytest.mark.django_db(
    databases=["default", "reviews", *sorted(REPLICAS)], transaction=True
)


class Browser:
    """The sync test client on the sync views, or the async test client on the async views."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.client: Client | AsyncClient = Client() if mode == "sync" else AsyncClient()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        call = getattr(self.client, method)
        url = f"/replica/{self.mode}/{path}"
        if self.mode == "sync":
            return call(url, **kwargs)

        async def call_async() -> Any:
            # Django 4.2's AsyncClient methods are plain functions returning coroutines.
            return await call(url, **kwargs)

        return async_to_sync(call_async)()

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("get", path, **kwargs)

    def post(self, path: str, data: dict[str, str], **kwargs: Any) -> Any:
        return self.request("post", path, data=data, **kwargs)

    def set_cookie(self, value: str) -> None:
        self.client.cookies[conf.PIN_COOKIE_NAME] = value


@pytest.fixture(params=["sync", "async"])
def browser(request: pytest.FixtureRequest) -> Browser:
    return Browser(request.param)


@pytest.fixture
def review() -> Review:
    """A review written before the client's requests (its pin stays in the test's context)."""
    return Review.objects.create(title="Old news")


def read_from(response: Any) -> list[str]:
    assert response.status_code == 200
    return response.json()["read_from"]


def test_a_request_that_did_not_write_reads_from_one_replica_and_gets_no_cookie(
    browser: Browser, review: Review
) -> None:
    response = browser.get(f"reviews/{review.pk}/")

    aliases = read_from(response)
    # Monotonic reads: every read of the request from the same replica.
    assert len(set(aliases)) == 1
    assert aliases[0] in REPLICAS
    assert conf.PIN_COOKIE_NAME not in response.cookies


def test_a_write_sets_a_signed_httponly_samesite_lax_cookie(browser: Browser) -> None:
    response = browser.post("reviews/", {"title": "New"})

    assert response.status_code == 302
    cookie = response.cookies[conf.PIN_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["max-age"] == math.ceil(conf.PIN_SECONDS)
    with pytest.raises(signing.BadSignature):
        signing.loads(cookie.value, salt=SALT, key="another secret")


def test_the_cookie_header_is_what_djangos_set_cookie_writes(browser: Browser) -> None:
    from django.http import HttpResponse

    before = time.time()
    cookie = browser.post("reviews/", {"title": "New"}).cookies[conf.PIN_COOKIE_NAME]
    after = time.time()

    # Django's own set_cookie(max_age=...) of the same value, at either end of the request.
    expected = set()
    for moment in (before, after):
        response = HttpResponse()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(time, "time", lambda moment=moment: moment)
            response.set_cookie(
                conf.PIN_COOKIE_NAME,
                cookie.value,
                max_age=cookie["max-age"],
                httponly=True,
                samesite="Lax",
            )
        expected.add(response.cookies[conf.PIN_COOKIE_NAME].OutputString())
    assert cookie.OutputString() in expected


def test_the_page_a_write_redirects_to_reads_from_the_primary(browser: Browser) -> None:
    # Followed by hand: Django 4.2's AsyncClient cannot follow redirects.
    redirect = browser.post("reviews/", {"title": "Mine"})
    response = browser.get(redirect["Location"].removeprefix(f"/replica/{browser.mode}/"))

    assert response.json()["title"] == "Mine"
    assert set(read_from(response)) == {"reviews"}


def test_a_read_after_a_write_in_the_same_request_goes_to_the_primary(
    browser: Browser, review: Review
) -> None:
    response = browser.post(f"reviews/{review.pk}/rate/", {"stars": "2"})

    assert response.json() == {"stars": 2, "read_from": "reviews"}


def test_a_pin_ends_after_pin_seconds(browser: Browser, settings: Any) -> None:
    settings.MULTIDB_ROUTERS_PIN_SECONDS = 0.2
    written = browser.post("reviews/", {"title": "Soon old"})
    time.sleep(0.3)

    # The client still sends the cookie; the deadline it carries has passed.
    assert browser.client.cookies[conf.PIN_COOKIE_NAME].value
    assert set(read_from(browser.get(written["Location"].split(f"/{browser.mode}/")[1]))) <= (
        REPLICAS
    )


@pytest.mark.parametrize(
    "cookie",
    [
        pytest.param("tampered", id="tampered"),
        pytest.param("other-key", id="signed-with-another-key"),
        pytest.param('{"reviews": 99999999999}', id="unsigned"),
        pytest.param("expired", id="expired-deadline"),
        pytest.param("not-a-dict", id="signed-nonsense"),
        pytest.param("not-a-deadline", id="signed-non-number"),
    ],
)
def test_a_bad_cookie_is_ignored(browser: Browser, review: Review, cookie: str) -> None:
    future = time.time() + 60
    if cookie == "tampered":
        value = browser.post("reviews/", {"title": "x"}).cookies[conf.PIN_COOKIE_NAME].value
        cookie = value[:-3] + ("aaa" if not value.endswith("aaa") else "bbb")
    elif cookie == "other-key":
        cookie = signing.dumps({"reviews": future}, salt=SALT, key="another secret")
    elif cookie == "expired":
        cookie = signing.dumps({"reviews": time.time() - 1}, salt=SALT)
    elif cookie == "not-a-dict":
        cookie = signing.dumps([["reviews", future]], salt=SALT)
    elif cookie == "not-a-deadline":
        cookie = signing.dumps({"reviews": "tomorrow"}, salt=SALT)
    browser.set_cookie(cookie)

    assert set(read_from(browser.get(f"reviews/{review.pk}/"))) <= REPLICAS


def test_a_valid_pin_for_another_primary_leaves_these_reads_on_replicas(
    browser: Browser, review: Review
) -> None:
    browser.set_cookie(signing.dumps({"default": time.time() + 60}, salt=SALT))

    assert set(read_from(browser.get(f"reviews/{review.pk}/"))) <= REPLICAS


def test_no_cookie_when_pin_seconds_is_zero(browser: Browser, settings: Any) -> None:
    settings.MULTIDB_ROUTERS_PIN_SECONDS = 0

    response = browser.post("reviews/", {"title": "Unpinned"})

    assert response.status_code == 302
    assert conf.PIN_COOKIE_NAME not in response.cookies


def test_a_pin_with_a_position_survives_the_cookie() -> None:
    pins = {"reviews": Pin(until=time.time() + 5, position="0/16B3748"), "default": Pin(1e10)}

    assert loads_pins(dumps_pins(pins), now=time.time()) == pins
