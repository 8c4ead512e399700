"""PinningRouterMiddleware and its cookie helpers, through whole requests (sync and async)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from multidb_routers.compat.multidb.middleware import (
    PinningRouterMiddleware,
    pinning_cookie,
    pinning_cookie_samesite,
    pinning_seconds,
)
from multidb_routers.compat.multidb.pinning import db_write, this_thread_is_pinned

if TYPE_CHECKING:
    from django.http import HttpRequest

factory = RequestFactory()


def pinned_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("pinned" if this_thread_is_pinned() else "free")


def test_a_get_without_the_cookie_reads_unpinned_and_gets_no_cookie() -> None:
    response = PinningRouterMiddleware(pinned_view)(factory.get("/"))
    assert response.content == b"free"
    assert "multidb_pin_writes" not in response.cookies


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_a_method_that_may_write_runs_pinned_and_sets_the_cookie(method: str) -> None:
    response = PinningRouterMiddleware(pinned_view)(getattr(factory, method)("/"))
    assert response.content == b"pinned"
    cookie = response.cookies["multidb_pin_writes"]
    assert cookie.value == "y"
    assert cookie["max-age"] == 15
    assert cookie["samesite"] == "Lax"
    assert cookie["httponly"] == ""
    assert cookie["secure"] == ""


def test_a_get_with_the_cookie_runs_pinned_and_does_not_renew_it() -> None:
    request = factory.get("/")
    request.COOKIES["multidb_pin_writes"] = "anything"
    response = PinningRouterMiddleware(pinned_view)(request)
    assert response.content == b"pinned"
    assert "multidb_pin_writes" not in response.cookies


def test_a_get_after_a_pinned_request_on_the_same_thread_is_unpinned_again() -> None:
    middleware = PinningRouterMiddleware(pinned_view)
    assert middleware(factory.post("/")).content == b"pinned"
    assert middleware(factory.get("/")).content == b"free"


def test_a_db_write_view_sets_the_cookie_on_a_get() -> None:
    response = PinningRouterMiddleware(db_write(pinned_view))(factory.get("/"))
    assert response.content == b"pinned"
    assert "multidb_pin_writes" in response.cookies


@override_settings(
    MULTIDB_PINNING_COOKIE="pin",
    MULTIDB_PINNING_SECONDS="30",
    MULTIDB_PINNING_COOKIE_SECURE=True,
    MULTIDB_PINNING_COOKIE_HTTPONLY=True,
    MULTIDB_PINNING_COOKIE_SAMESITE="Strict",
)
def test_the_cookie_settings_are_read_at_each_response() -> None:
    cookie = PinningRouterMiddleware(pinned_view)(factory.post("/")).cookies["pin"]
    assert cookie["max-age"] == 30
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"


@override_settings(MULTIDB_PINNING_COOKIE_SAMESITE=None)
def test_samesite_none_leaves_the_attribute_out() -> None:
    assert pinning_cookie_samesite() is None
    cookie = PinningRouterMiddleware(pinned_view)(factory.post("/")).cookies["multidb_pin_writes"]
    assert cookie["samesite"] == ""


@pytest.mark.parametrize("value", ["abc", -1, True, None, 1e400, "1.5"])
def test_a_bad_pinning_seconds_setting_names_the_setting(value: object) -> None:
    with (
        override_settings(MULTIDB_PINNING_SECONDS=value),
        pytest.raises(ImproperlyConfigured, match="MULTIDB_PINNING_SECONDS"),
    ):
        pinning_seconds()


@pytest.mark.parametrize("value", ["lax ", "bogus", 1])
def test_a_bad_samesite_setting_names_the_setting(value: object) -> None:
    with (
        override_settings(MULTIDB_PINNING_COOKIE_SAMESITE=value),
        pytest.raises(ImproperlyConfigured, match="MULTIDB_PINNING_COOKIE_SAMESITE"),
    ):
        pinning_cookie_samesite()


@pytest.mark.parametrize("value", ["", None, 3])
def test_a_bad_cookie_name_names_the_setting(value: object) -> None:
    with (
        override_settings(MULTIDB_PINNING_COOKIE=value),
        pytest.raises(ImproperlyConfigured, match="MULTIDB_PINNING_COOKIE"),
    ):
        pinning_cookie()


def test_concurrent_async_requests_keep_their_own_pin() -> None:
    # A POST and a GET served by one event loop at the same time: the POST's pin, set
    # in process_request, must not reach the GET (a thread-local would be shared).
    post_pinned = asyncio.Event()
    get_done = asyncio.Event()

    async def view(request: HttpRequest) -> HttpResponse:
        if request.method == "POST":
            post_pinned.set()
            await get_done.wait()
        else:
            await post_pinned.wait()
        state = "pinned" if this_thread_is_pinned() else "free"
        if request.method == "GET":
            get_done.set()
        return HttpResponse(state)

    middleware = PinningRouterMiddleware(view)

    async def both() -> list[HttpResponse]:
        return list(
            await asyncio.gather(middleware(factory.post("/")), middleware(factory.get("/")))
        )

    post, get = asyncio.run(both())
    assert post.content == b"pinned"
    assert "multidb_pin_writes" in post.cookies
    assert get.content == b"free"
    assert "multidb_pin_writes" not in get.cookies
