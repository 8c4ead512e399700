"""The writing clients: each posts a review, then reads its page back and checks it.

Standard library only (``http.client``), one new connection per request so that no
keep-alive race between client and server is ever counted against the routing. Each
client keeps its own cookies (the CSRF token, the pin ``PinningMiddleware`` sets) as a
browser does.
"""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING

from benchmarks.loadtest import ERROR_HEADER, READ_HEADER

if TYPE_CHECKING:
    from collections.abc import Callable

# What a sample's outcome can be.
WRITTEN, REJECTED = "written", "rejected"  # POST: 302 to the review page, or another answer
FRESH, STALE, UNEXPECTED = "fresh", "stale", "unexpected"  # read: found, 404, other answer
SERVER_ERROR, NO_RESPONSE = "5xx", "no response"  # either


@dataclass
class Response:
    """One HTTP answer (``status`` 0: none, ``error`` says why)."""

    status: int
    headers: dict[str, str]
    body: str
    seconds: float
    error: str = ""


@dataclass
class Sample:
    """One timed request of a scenario."""

    kind: str  # "write" (the POST) or "read" (a GET of the review's page)
    started: float  # seconds since the scenario started
    seconds: float
    status: int
    outcome: str
    served_by: str = ""  # X-Loadtest-Read: the aliases that ran the review SELECT
    error: str = ""  # X-Loadtest-Error on a 5xx, or why there was no response

    @property
    def ended(self) -> float:
        """When the answer arrived, in seconds since the scenario started."""
        return self.started + self.seconds


class Browser:
    """Requests to one server with one client's cookies."""

    def __init__(self, host: str, port: int, *, timeout: float = 20.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Response:
        """Send one request (a form is urlencoded), keep the cookies it sets."""
        headers = {"Connection": "close", "Host": f"{self.host}:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            text = answer.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as exc:
            seconds = time.perf_counter() - started
            return Response(0, {}, "", seconds, error=f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()
        seconds = time.perf_counter() - started
        for line in answer.headers.get_all("Set-Cookie") or []:
            self._keep(line)
        return Response(answer.status, dict(answer.headers.items()), text, seconds)

    def _keep(self, line: str) -> None:
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(line)
        for name, morsel in cookie.items():
            if morsel["max-age"] == "0" or not morsel.value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = morsel.value


@dataclass
class WritingClient:
    """A visitor who writes a review of ``slug``, then reads its page ``reads`` times.

    Each loop: POST the review form (a new title, unique in the whole load test); on the
    302 to the review's page, GET that page at once, then again after each ``think``
    seconds, ``reads`` GETs in all. A 404 is a **stale read**: the review this client
    was just told is saved is not there. Then ``pause`` seconds before the next loop.
    """

    browser: Browser
    slug: str
    tag: str  # unique per scenario and client: titles are f"{tag}-{loop}"
    clock: Callable[[], float]  # seconds since the scenario started
    reads: int = 2
    think: float = 0.4
    pause: float = 0.2
    backoff: float = 0.2  # after a failed POST, before the next loop
    stop: threading.Event = field(default_factory=threading.Event)  # set: end the run now
    samples: list[Sample] = field(default_factory=list)
    written: list[str] = field(default_factory=list)  # titles the server said it saved
    loops: int = 0

    def get_csrf_token(self, deadline: float) -> bool:
        """GET the review form until it sets the CSRF cookie (untimed, before the run)."""
        while self.clock() < deadline and not self.stop.is_set():
            answer = self.browser.request("GET", f"/products/{self.slug}/review/")
            if answer.status == 200 and "csrftoken" in self.browser.cookies:
                return True
            time.sleep(0.2)
        return False

    def run(self, loops: int, deadline: float) -> None:
        """Up to ``loops`` loops, none started after ``deadline`` (scenario seconds)."""
        for loop in range(loops):
            if self.clock() >= deadline or self.stop.is_set():
                return
            self.loops += 1
            location = self._write(f"{self.tag}-{loop}")
            if location is None:
                time.sleep(self.backoff)
                continue
            title = location[1]
            for number in range(self.reads):
                if number:
                    time.sleep(self.think)
                self._read(location[0], title)
            time.sleep(self.pause)

    def _write(self, title: str) -> tuple[str, str] | None:
        started = self.clock()
        form = {
            "rating": "4",
            "title": title,
            "body": "Written by the load test.",
            "author_name": self.tag,
            "csrfmiddlewaretoken": self.browser.cookies.get("csrftoken", ""),
        }
        answer = self.browser.request("POST", f"/products/{self.slug}/review/", form)
        location = answer.headers.get("Location", "")
        if answer.status == 302 and "/reviews/" in location:
            outcome = WRITTEN
            self.written.append(title)
        else:
            outcome = classify_failure(answer, REJECTED)
        self.samples.append(
            Sample("write", started, answer.seconds, answer.status, outcome, error=why(answer))
        )
        return (urllib.parse.urlsplit(location).path, title) if outcome == WRITTEN else None

    def _read(self, path: str, title: str) -> None:
        started = self.clock()
        answer = self.browser.request("GET", path)
        if answer.status == 200 and title in answer.body:
            outcome = FRESH
        elif answer.status == 404:
            outcome = STALE
        else:
            outcome = classify_failure(answer, UNEXPECTED)
        served_by = answer.headers.get(READ_HEADER, "")
        self.samples.append(
            Sample("read", started, answer.seconds, answer.status, outcome, served_by, why(answer))
        )


def classify_failure(answer: Response, otherwise: str) -> str:
    """``5xx``, ``no response``, or ``otherwise`` (a 4xx, a 200 without the review)."""
    if answer.status == 0:
        return NO_RESPONSE
    if answer.status >= 500:
        return SERVER_ERROR
    return otherwise


def why(answer: Response) -> str:
    """The error the server reported, why there was no answer, or the unexpected status."""
    if answer.status == 0:
        return answer.error
    if answer.status >= 500:
        return answer.headers.get(ERROR_HEADER, f"HTTP {answer.status} (no error header)")
    if answer.status not in {200, 302, 404}:
        return f"HTTP {answer.status}"
    return ""
