"""Request-scoped routing state: reset at every request's start and end, any MIDDLEWARE."""

from __future__ import annotations

import asyncio
import contextvars
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.sessions.models import Session
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from django.db import connections
from django.http import HttpResponse
from django.test import AsyncClient, Client, RequestFactory

from multidb_routers import PrimaryReplicaRouter
from multidb_routers.conf import conf
from multidb_routers.replication.middleware import dumps_pins, request_started_receiver
from multidb_routers.replication.state import Pin, context_pins, fresh_state, request_state
from tests.settings import DATABASE_ROUTERS
from tests.testapps.replica_app.models import Review

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

REPLICAS = {"reviews_replica1", "reviews_replica2"}
SESSION_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"
PINNING_MIDDLEWARE = "multidb_routers.middleware.PinningMiddleware"
pytestmark = pytest.mark.django_db(
    databases=["default", "users", "library", "reviews", *sorted(REPLICAS)], transaction=True
)


@pytest.fixture
def review() -> Review:
    return Review.objects.create(title="Old news")


def _in_one_thread(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` one after the other in one worker thread, as a sync server thread does."""
    with ThreadPoolExecutor(max_workers=1) as executor:
        return [executor.submit(call).result() for call in calls]


@pytest.mark.parametrize("middleware", [[], [PINNING_MIDDLEWARE]], ids=["without", "with"])
def test_a_write_in_one_request_does_not_pin_the_next_clients_reads_on_that_thread(
    settings: Any, review: Review, middleware: list[str]
) -> None:
    settings.MIDDLEWARE = middleware
    writer, reader = Client(), Client()

    rated, page, after = _in_one_thread(
        [
            lambda: writer.post(f"/replica/sync/reviews/{review.pk}/rate/", {"stars": "4"}),
            lambda: reader.get(f"/replica/sync/reviews/{review.pk}/"),
            lambda: (request_state(), dict(context_pins())),
        ]
    )

    # The writer's own read after its write, in the same request, is on the primary.
    assert rated.json() == {"stars": 4, "read_from": "reviews"}
    # The next client served by that thread is not pinned by it.
    assert set(page.json()["read_from"]) <= REPLICAS
    assert after == (None, {})  # nothing of the requests is left on the thread


def _serve(handler: WSGIHandler, environ: dict[str, Any]) -> bytes:
    response = handler(environ, lambda status, headers: None)
    try:
        return b"".join(response)
    finally:
        response.close()  # what every WSGI server does; it sends request_finished


def test_a_wsgi_worker_thread_serving_many_requests_pins_only_the_writer(
    settings: Any, review: Review
) -> None:
    settings.MIDDLEWARE = []
    handler = WSGIHandler()
    factory = RequestFactory()
    rate = factory.post(f"/replica/sync/reviews/{review.pk}/rate/", {"stars": "4"}).environ
    page = factory.get(f"/replica/sync/reviews/{review.pk}/").environ

    bodies = _in_one_thread(
        [lambda: _serve(handler, rate), *[lambda: _serve(handler, dict(page))] * 5]
    )

    assert json.loads(bodies[0]) == {"stars": 4, "read_from": "reviews"}
    for body in bodies[1:]:
        assert set(json.loads(body)["read_from"]) <= REPLICAS


def _session_routers() -> list[object]:
    # Sessions in a replicated app whose replica never catches up: "library" is an
    # independent database with an empty session table, so any session read that
    # reaches it finds nothing and Django hands out a new session.
    return [
        PrimaryReplicaRouter(primary="reviews", replicas=["library"], apps=["sessions"]),
        *DATABASE_ROUTERS,
    ]


@pytest.fixture
def replicated_sessions(settings: Any) -> Iterator[None]:
    for alias in ("reviews", "library"):
        with connections[alias].schema_editor() as editor:
            editor.create_model(Session)
    settings.DATABASE_ROUTERS = _session_routers()
    try:
        yield
    finally:
        for alias in ("reviews", "library"):
            with connections[alias].schema_editor() as editor:
                editor.delete_model(Session)


class SyncOnlyMiddleware:
    """A middleware that is not async capable: under ASGI, Django runs the ones above it
    that it calls in sync mode, in a thread."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        return self.get_response(request)


SYNC_ONLY_MIDDLEWARE = f"{__name__}.SyncOnlyMiddleware"
ORDERS = {
    "pinning-after-sessions": [SESSION_MIDDLEWARE, PINNING_MIDDLEWARE],
    "pinning-before-sessions": [PINNING_MIDDLEWARE, SESSION_MIDDLEWARE],
    "pinning-after-sessions-in-sync-mode": [
        SESSION_MIDDLEWARE,
        PINNING_MIDDLEWARE,
        SYNC_ONLY_MIDDLEWARE,
    ],
}


@pytest.mark.usefixtures("replicated_sessions")
@pytest.mark.parametrize("order", ORDERS.values(), ids=ORDERS.keys())
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_session_saved_on_the_way_out_survives_in_either_middleware_order(
    settings: Any, order: list[str], mode: str
) -> None:
    settings.MIDDLEWARE = order
    client: Client | AsyncClient = Client() if mode == "sync" else AsyncClient()

    def get() -> Any:
        if mode == "sync":
            return client.get("/replica/sync/session/")

        async def call() -> Any:
            return await client.get("/replica/async/session/")

        return async_to_sync(call)()

    counts, keys = [], []
    for _ in range(4):
        response = get()
        assert response.status_code == 200
        counts.append(response.json()["count"])
        keys.append(client.cookies[settings.SESSION_COOKIE_NAME].value)
        # Every response that saved the session pins the client to the sessions' primary.
        assert conf.PIN_COOKIE_NAME in response.cookies

    assert counts == [1, 2, 3, 4]
    assert len(set(keys)) == 1
    assert Session.objects.using("library").count() == 0  # the "replica" never caught up
    assert request_state() is None  # the test's own context holds no request's state


class ReadingMiddleware:
    """Reads a review before the middleware below it run; tells where in a header."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        reviews = Review.objects.filter(pk=0)
        alias = reviews.db
        list(reviews)
        response = self.get_response(request)
        response["X-Read-From"] = alias
        return response


def test_a_middleware_listed_before_pinning_reads_with_the_cookies_pins(
    settings: Any, review: Review
) -> None:
    settings.MIDDLEWARE = [f"{__name__}.ReadingMiddleware", PINNING_MIDDLEWARE]
    client = Client()

    with fresh_state():  # not the test's own pin, from writing the review
        rated = client.post(f"/replica/sync/reviews/{review.pk}/rate/", {"stars": "2"})
        page = client.get(f"/replica/sync/reviews/{review.pk}/")

    assert conf.PIN_COOKIE_NAME in rated.cookies
    assert page["X-Read-From"] == "reviews"
    assert set(page.json()["read_from"]) == {"reviews"}


@pytest.mark.parametrize("server", ["wsgi", "asgi"])
def test_request_started_reads_the_pin_cookie_from_the_environ_or_the_scope(
    settings: Any, server: str
) -> None:
    settings.MIDDLEWARE = []
    until = time.time() + 2
    value = dumps_pins({"reviews": Pin(until=until), "no_such_alias": Pin(until=until)})
    header = f"other=1; {conf.PIN_COOKIE_NAME}={value}"

    def started() -> Any:
        if server == "wsgi":
            request_started_receiver(WSGIHandler, environ={"HTTP_COOKIE": header})
        else:
            scope = {"headers": [(b"host", b"x"), (b"cookie", header.encode())]}
            request_started_receiver(object, scope=scope)
        return request_state()

    state = contextvars.Context().run(started)

    assert state is not None
    assert state.pins == {"reviews": Pin(until=until)}  # aliases no router holds are dropped


async def _asgi(handler: ASGIHandler, method: str, path: str, body: bytes = b"") -> Any:
    """One request through Django's ASGI handler in a task of its own, as a server runs it."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop()
        await asyncio.sleep(3600)  # no disconnect while the response is made
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.create_task(handler(scope, receive, send))
    return json.loads(
        b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    )


@pytest.mark.parametrize("middleware", [[], [PINNING_MIDDLEWARE]], ids=["without", "with"])
def test_under_an_asgi_server_a_write_does_not_pin_the_next_clients_reads(
    settings: Any, review: Review, middleware: list[str]
) -> None:
    settings.MIDDLEWARE = middleware
    handler = ASGIHandler()

    async def requests() -> tuple[Any, Any]:
        rated = await _asgi(
            handler, "POST", f"/replica/async/reviews/{review.pk}/rate/", b"stars=5"
        )
        page = await _asgi(handler, "GET", f"/replica/async/reviews/{review.pk}/")
        return rated, page

    with fresh_state():  # not the test's own pin, from writing the review
        rated, page = async_to_sync(requests)()

    assert rated == {"stars": 5, "read_from": "reviews"}
    assert set(page["read_from"]) <= REPLICAS


def test_with_the_async_client_a_write_does_not_pin_the_next_clients_reads(
    settings: Any, review: Review
) -> None:
    # The async test client runs every request in the test's own context; under
    # Django >= 5 request_started cannot reach it, so only PinningMiddleware (which
    # starts the state there, and request_finished ends it) keeps pins per request.
    settings.MIDDLEWARE = [PINNING_MIDDLEWARE]
    writer, reader = AsyncClient(), AsyncClient()

    async def requests() -> tuple[Any, Any]:
        rated = await writer.post(f"/replica/async/reviews/{review.pk}/rate/", {"stars": "5"})
        page = await reader.get(f"/replica/async/reviews/{review.pk}/")
        return rated, page

    with fresh_state():  # not the test's own pin, from writing the review
        rated, page = async_to_sync(requests)()
        after = (request_state(), dict(context_pins()))

    assert rated.json() == {"stars": 5, "read_from": "reviews"}
    assert set(page.json()["read_from"]) <= REPLICAS
    assert after == (None, {})


def test_called_without_django_handler_the_middleware_leaves_nothing_behind() -> None:
    """Called directly (no request_started), the middleware's request state ends with it:
    a context pin or a use_primary() flag the view set and never reset is gone too."""
    from multidb_routers.middleware import PinningMiddleware
    from multidb_routers.replication.state import pin_context, primary_forced, set_forced

    seen: list[object] = []

    def view(request: Any) -> HttpResponse:
        seen.append(request_state())
        pin_context("default", Pin(until=time.time() + 60))
        set_forced(True)
        return HttpResponse("left things behind")

    def call() -> tuple[object, ...]:
        PinningMiddleware(view)(RequestFactory().get("/"))
        return request_state(), dict(context_pins()), primary_forced()

    state, pins, forced = contextvars.copy_context().run(call)
    assert seen[0] is not None
    assert (state, pins, forced) == (None, {}, False)


@pytest.mark.parametrize("carried", ["nothing", "a pin cookie", "use_primary()"])
def test_called_without_django_handler_the_requests_reads_follow_its_pins(
    review: Review, carried: str
) -> None:
    from multidb_routers import use_primary
    from multidb_routers.middleware import PinningMiddleware

    read_from: list[str | None] = []

    def view(request: Any) -> HttpResponse:
        read_from.append(Review.objects.get(pk=review.pk)._state.db)
        return HttpResponse("read")

    request = RequestFactory().get("/")
    if carried == "a pin cookie":
        pin = Pin(until=time.time() + 60)
        request.COOKIES[conf.PIN_COOKIE_NAME] = dumps_pins({"reviews": pin})

    def call() -> None:
        with fresh_state():  # the review's creation pinned this context
            if carried == "use_primary()":
                with use_primary():
                    PinningMiddleware(view)(request)
            else:
                PinningMiddleware(view)(request)

    contextvars.copy_context().run(call)
    if carried == "nothing":
        assert read_from[0] in REPLICAS
    else:
        assert read_from == ["reviews"]


def test_called_without_django_handler_the_middleware_makes_the_state_requeststate_makes() -> None:
    from dataclasses import fields

    from multidb_routers.middleware import PinningMiddleware
    from multidb_routers.replication.state import RequestState

    seen: list[RequestState | None] = []

    def view(request: Any) -> HttpResponse:
        seen.append(request_state())
        return HttpResponse("seen")

    request = RequestFactory().get("/")
    pins = {"reviews": Pin(until=time.time() + 60)}
    request.COOKIES[conf.PIN_COOKIE_NAME] = dumps_pins(pins)
    middleware = PinningMiddleware(view)
    contextvars.copy_context().run(lambda: [middleware(request) for _ in range(2)])

    first, second = seen
    assert first is not None
    assert second is not None
    made = RequestState(first.pins, claimed=True)  # the cookie's pins, as loaded
    assert set(first.pins) == {"reviews"}
    for field in fields(RequestState):
        assert getattr(first, field.name) == getattr(made, field.name), field.name
    # A request's own objects, never shared with the next request's.
    assert first.written is not second.written
    assert first.replicas is not second.replicas
    assert first.servable is not second.servable


def test_a_request_started_by_djangos_signal_has_the_state_requeststate_makes() -> None:
    from dataclasses import fields

    from multidb_routers.replication.state import RequestState, begin_request, start_request

    def begun() -> list[RequestState]:
        states = [start_request({}), begin_request({})[0]]
        request_started_receiver(WSGIHandler, environ={})
        state = request_state()
        assert state is not None
        return [*states, state]

    made = RequestState({})
    states = contextvars.copy_context().run(begun)
    for state in states:
        for field in fields(RequestState):
            assert getattr(state, field.name) == getattr(made, field.name), field.name
    assert len({id(state.servable) for state in states}) == len(states)
