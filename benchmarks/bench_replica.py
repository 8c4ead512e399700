"""PrimaryReplicaRouter against django-multidb-router (MDR) 0.11 and against no router.

Every library is timed in the state its own middleware leaves it in, side by side in one
run (interleaved rounds, each row's best):

* in a GET request: the measured operation runs inside a view called through the
  library's real middleware (``PinningRouterMiddleware``'s ``process_request`` runs
  ``unpin_this_thread()`` for a GET; ``PinningMiddleware`` sets the request's routing
  state);
* outside a request: the operation runs in a fresh thread, the state a management command
  or a task worker starts with (MDR's thread-local has no ``pinned`` attribute yet; no
  routing state of ours);
* a GET, and a POST that writes plus the GET that carries its cookie, through each
  middleware (``RequestFactory`` requests, the middleware called directly).

Rows: ``db_for_read(Item)`` on the router; Django's ``router.db_for_read(Item)``; an ORM
read ``Item.objects.filter(pk=1).first()``, also with our router reading ``default`` (the
database reads without a router hit: the ORM goals compare the same database); the two
request workloads. The goals pair measurements of ours and of MDR's (``harness``'s
``paired_median``): timing runs for the decisions, single requests for the request
workloads (``paired_ratio``, thread CPU time), each in several processes whose median is
the goal (a cost moves from one process to the next). Each library's best of separate
rounds differs by several percent between runs, where ours paired with a second instance
of ours gives 1.000. Each goal of issue 13 is printed as a ``GOAL`` line
(``benchmarks/harness.py``). Needs
``pip install -r benchmarks/requirements.txt``. Run: ``python -m benchmarks.bench_replica``.
"""

from __future__ import annotations

import io
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

# First: importing it configures Django.
from benchmarks.replica_site import OTHER_PRIMARY, REPLICAS, Item, create_tables, read  # isort: skip
from benchmarks import replica_urls  # isort: skip
from django.core.handlers.wsgi import WSGIHandler
from django.db import router
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory, override_settings

from benchmarks.harness import (
    cpu_per_call,
    goal,
    in_fresh_thread,
    interleaved,
    ours_forget_known_cookies,
    ours_request_receivers,
    paired_median,
    paired_ratio,
    scaled,
)
from multidb_routers import PrimaryReplicaRouter
from multidb_routers.middleware import PinningMiddleware

if TYPE_CHECKING:
    from collections.abc import Callable

NONE, MDR, OURS = "no router", "django-multidb-router", "multidb_routers"
#: Ours, reading ``default`` (the replica of OTHER_PRIMARY): the ORM goals' peer.
OURS_ON_DEFAULT = "multidb_routers reading default"
ROUNDS = 13
#: Calls per timing run (``cpu_per_call``'s ``number``) of each kind of operation.
NUMBERS = {"decision": 5_000, "orm": 200, "get": 100, "post_get": 40}
#: Single requests of ours and of a peer paired for the request goals, by workload, in
#: each of REQUEST_PROCESSES processes.
PAIRS = {"get": 1_500, "post_get": 800}
REQUEST_PROCESSES = 5
#: Timing runs of ours and of MDR paired for each decision goal, in each of
#: DECISION_PROCESSES processes.
DECISION_PAIRS = 40
DECISION_PROCESSES = 7


@dataclass
class Peer:
    """A library under test: its routers and its middleware (``None``: no middleware)."""

    name: str
    routers: list[Any]
    middleware: Callable[[Callable[[HttpRequest], HttpResponse]], Any] | None

    def activate(self) -> None:
        """Make this library's routers Django's routers."""
        router.routers = self.routers

    def wrap(self, view: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], Any]:
        """``view`` behind this library's middleware, as Django's handler would call it."""
        return view if self.middleware is None else self.middleware(view)


def peers() -> list[Peer]:
    """No router, MDR's ``PinningReplicaRouter``, and ours, each with its middleware."""
    from multidb import PinningReplicaRouter
    from multidb.middleware import PinningRouterMiddleware

    return [
        Peer(NONE, [], None),
        Peer(MDR, [PinningReplicaRouter()], PinningRouterMiddleware),
        Peer(OURS, [PrimaryReplicaRouter(primary="default", replicas=REPLICAS)], PinningMiddleware),
    ]


factory = RequestFactory()


def in_get_request(peer: Peer, operation: Callable[[], object], number: int) -> float:
    """Seconds per ``operation()`` timed inside a view, behind ``peer``'s middleware, on a GET."""
    timings: list[float] = []

    def view(request: HttpRequest) -> HttpResponse:
        operation()
        timings.append(cpu_per_call(operation, number=number))
        return HttpResponse("timed")

    peer.activate()
    peer.wrap(view)(factory.get("/timed/"))
    return timings[0]


def outside_request(peer: Peer, operation: Callable[[], object], number: int) -> float:
    """Seconds per ``operation()`` in a fresh thread, with ``peer``'s routers."""

    def run() -> float:
        operation()  # opens this thread's connections
        return cpu_per_call(operation, number=number)

    peer.activate()
    return in_fresh_thread(run)


def page_for(peer: Peer) -> Callable[[HttpRequest], Any]:
    """``replica_urls.page`` behind ``peer``'s middleware: a POST creates an item, a GET
    reads one."""
    return peer.wrap(replica_urls.page)


def get_once(peer: Peer) -> Callable[[], object]:
    """One GET through ``peer``'s middleware (the page reads one row)."""
    handler = page_for(peer)
    request = factory.get("/page/")
    return lambda: handler(request)


def post_get(peer: Peer, between: Callable[[], None] | None = None) -> Callable[[], object]:
    """A POST that writes, then the GET carrying the cookies the POST's response set.

    ``between`` runs after the POST (to forget what the process knows of its cookie).
    """
    handler = page_for(peer)
    post = factory.post("/page/")
    get = factory.get("/page/")

    def both() -> object:
        response = handler(post)
        get.COOKIES = {name: morsel.value for name, morsel in response.cookies.items()}
        if between is not None:
            between()
        return handler(get)

    return both


def handler_for(peer: Peer) -> WSGIHandler:
    """Django's WSGI handler with ``peer``'s middleware (``MIDDLEWARE`` read when it is made)."""
    middleware = peer.middleware
    names = [] if middleware is None else [f"{middleware.__module__}.{middleware.__qualname__}"]
    with override_settings(MIDDLEWARE=names):
        return WSGIHandler()


def through_handler(peer: Peer, kind: str) -> Callable[[], float]:
    """Seconds (thread CPU time) of one GET (``kind`` ``"get"``), or one POST + GET with
    its cookies, through Django's WSGI handler with ``peer``'s middleware.

    As a WSGI server serves it: the request signals are sent (the response is closed),
    ours with this app's receivers connected, other peers without them. The routers and
    receivers are set before the clock starts.
    """
    handler = handler_for(peer)
    get, post = factory.get("/page/").environ, factory.post("/page/").environ
    receivers = peer.name == OURS

    def respond(environ: dict[str, Any]) -> Any:
        fresh = {**environ, "wsgi.input": io.BytesIO(), "CONTENT_LENGTH": "0"}
        response = handler(fresh, lambda status, headers: None)
        b"".join(response)
        response.close()
        return response

    def timed() -> float:
        peer.activate()
        ours_request_receivers(connected=receivers)
        started = time.thread_time()
        if kind == "get":
            respond(get)
        else:
            cookies = respond(post).cookies
            header = "; ".join(f"{name}={morsel.value}" for name, morsel in cookies.items())
            respond({**get, "HTTP_COOKIE": header})
        return time.thread_time() - started

    return timed


def cpu_timing(peer: Peer, run: Callable[[], object], number: int) -> Callable[[], float]:
    """CPU seconds per ``run()`` with ``peer``'s routers (``cpu_per_call`` after one call)."""

    def timing() -> float:
        peer.activate()
        run()
        return cpu_per_call(run, number=number)

    return timing


def get_timing(peer: Peer) -> Callable[[], float]:
    """Seconds per GET through ``peer``'s middleware (the page reads one row)."""
    return cpu_timing(peer, get_once(peer), NUMBERS["get"])


def post_get_timing(peer: Peer, between: Callable[[], None] | None = None) -> Callable[[], float]:
    """Seconds per POST + GET pair through ``peer``'s middleware."""
    return cpu_timing(peer, post_get(peer, between), NUMBERS["post_get"])


def one_request(peer: Peer, kind: str) -> Callable[[], object]:
    """One GET (``kind`` ``"get"``) or one POST + GET through ``peer``'s middleware."""
    run = get_once(peer) if kind == "get" else post_get(peer)

    def call() -> object:
        peer.activate()
        return run()

    return call


def mdr_thread_state(peer: Peer) -> tuple[object, object]:
    """MDR's thread-local ``pinned`` inside a GET behind its middleware, and in a fresh thread.

    ``unset`` (no attribute) makes each of its lookups raise and catch AttributeError:
    the slow path a request never sees, since its middleware unpins the thread.
    """
    from multidb.pinning import _locals

    seen: list[object] = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(vars(_locals).get("pinned", "unset"))
        return HttpResponse("probe")

    peer.activate()
    peer.wrap(view)(factory.get("/probe/"))
    return seen[0], in_fresh_thread(lambda: vars(_locals).get("pinned", "unset"))


def python_calls(peer: Peer, *, in_request: bool) -> list[str]:
    """The Python functions one ORM read calls with ``peer``'s routers, but the library's own.

    Inside a GET behind ``peer``'s middleware, or outside a request. Two peers with equal
    lists do the same work on a read, but for the routers' decision.
    """
    calls: list[str] = []

    def profile(frame: Any, event: str, arg: object) -> None:
        if event == "call" and "multidb_routers" not in frame.f_code.co_filename:
            calls.append(f"{frame.f_code.co_filename}:{frame.f_code.co_name}")

    def traced() -> None:
        read()  # connections opened, caches filled: the read as it is timed
        sys.setprofile(profile)
        try:
            read()
        finally:
            sys.setprofile(None)

    peer.activate()
    if in_request:
        peer.wrap(lambda request: (traced(), HttpResponse("traced"))[1])(factory.get("/traced/"))
    else:
        in_fresh_thread(traced)
    return calls


def check_states(all_peers: list[Peer]) -> list[str]:
    """Where each library's GETs read; a wrong answer means a state is not the intended one."""
    lines = []
    problems = []
    for peer in all_peers:
        peer.activate()
        handler = page_for(peer)
        handler(factory.get("/page/"))
        plain = replica_urls.last_read[0]
        post_get(peer)()
        after_post = replica_urls.last_read[0]
        lines.append(
            f"  {peer.name:<22} a GET reads {plain}; the GET after a POST reads {after_post}"
        )
        expect_plain = "default" if peer.routers == [] else "a replica"
        if (plain in REPLICAS) != (expect_plain == "a replica") or after_post != "default":
            problems.append(f"{peer.name}: expected a GET on {expect_plain}, after a POST default")
    mdr = next(peer for peer in all_peers if peer.name == MDR)
    in_get, fresh = mdr_thread_state(mdr)
    lines.append(
        f"  {MDR}'s thread-local: pinned={in_get} inside a GET (its middleware's "
        f"unpin_this_thread()), {fresh} in a fresh thread"
    )
    if (in_get, fresh) != (False, "unset"):
        problems.append(f"{MDR}: expected pinned=False in a GET and unset in a fresh thread")
    for peer in all_peers:
        if peer.name not in (MDR, OURS):
            continue
        reads = []
        for kind in ("get", "post_get"):
            through_handler(peer, kind)()
            reads.append(replica_urls.last_read[0])
        lines.append(
            f"  {peer.name:<22} through Django's handler: a GET reads {reads[0]}; "
            f"the GET after a POST reads {reads[1]}"
        )
        if reads[0] not in REPLICAS or reads[1] != "default":
            problems.append(
                f"{peer.name}: through the handler, a GET on a replica, after a POST default"
            )
    ours_request_receivers(connected=True)
    if problems:
        sys.exit("benchmark set-up is wrong: " + "; ".join(problems))
    return lines


def table(
    title: str,
    rows: dict[str, dict[str, float]],
    ratios: dict[str, dict[str, float]],
    unit: str = "us",
) -> None:
    """Print rows of per-library seconds, and ``ratios`` (label -> peer -> ours/peer)."""
    print(title)
    print(f"  {'':<34}{NONE:>12}{MDR:>23}{OURS:>17}{'ours/MDR':>10}{'ours/none':>11}")
    for label, cells in rows.items():
        shown = "".join(
            f"{cells[name] * 1e6:{width}.2f}{unit}" if name in cells else " " * (width + 2)
            for name, width in ((NONE, 10), (MDR, 21), (OURS, 15))
        )
        over = ratios.get(label, {})
        mdr = f"{over[MDR]:9.2f}x" if MDR in over else " " * 10
        none = f"{over[NONE]:10.2f}x" if NONE in over else ""
        print(f"  {label:<34}{shown}{mdr}{none}")
    print()


def timing_kinds() -> dict[str, Callable[[Peer], Callable[[], float] | None]]:
    """Each kind of timed operation: a peer -> its timing (``None``: not for that peer)."""

    def direct(peer: Peer) -> Callable[[], object]:
        chosen = peer.routers[0]
        return lambda: chosen.db_for_read(Item)

    def through_django() -> object:
        return router.db_for_read(Item)

    decision, orm = NUMBERS["decision"], NUMBERS["orm"]

    def direct_in(peer: Peer) -> Callable[[], float] | None:
        operation = direct(peer) if peer.routers else None
        return operation and (lambda: in_get_request(peer, operation, decision))

    def direct_out(peer: Peer) -> Callable[[], float] | None:
        operation = direct(peer) if peer.routers else None
        return operation and (lambda: outside_request(peer, operation, decision))

    return {
        "direct in": direct_in,
        "direct out": direct_out,
        "django in": lambda p: lambda: in_get_request(p, through_django, decision),
        "django out": lambda p: lambda: outside_request(p, through_django, decision),
        "orm in": lambda p: lambda: in_get_request(p, read, orm),
        "orm out": lambda p: lambda: outside_request(p, read, orm),
        "get": get_timing,
        "post_get": post_get_timing,
        "post_get elsewhere": lambda p: (
            post_get_timing(p, ours_forget_known_cookies) if p.name == OURS else None
        ),
    }


#: The decision goals: their names and the timing kind each one compares.
DECISIONS = {
    "db_for_read direct, in a GET request": "direct in",
    "db_for_read direct, outside a request": "direct out",
    "router.db_for_read, in a GET request": "django in",
    "router.db_for_read, outside a request": "django out",
}


def decision_ratios(all_peers: list[Peer]) -> dict[str, float]:
    """Each decision goal's ratio: timing runs of ours and of MDR's, paired.

    A decision takes well under a microsecond: each measurement is a timing run of
    ``NUMBERS["decision"]`` calls, and the ratio is ``harness.paired_median``'s.
    """
    mdr, ours = (next(peer for peer in all_peers if peer.name == name) for name in (MDR, OURS))
    kinds = timing_kinds()
    ratios = {}
    for name, kind in DECISIONS.items():
        mine, theirs = kinds[kind](ours), kinds[kind](mdr)
        assert mine is not None
        assert theirs is not None
        ratios[name] = paired_median(mine, theirs, pairs=DECISION_PAIRS)
    return ratios


def request_ratios(all_peers: list[Peer]) -> dict[str, float]:
    """Each request workload's ratio to MDR's, and to a second instance of ours (``same``).

    Single requests paired (``harness.paired_ratio``, their CPU time in this thread). Ours
    against a second instance of ours shows what the method measures for equal code.
    """
    mdr, ours = (next(peer for peer in all_peers if peer.name == name) for name in (MDR, OURS))
    twin = Peer(
        OURS, [PrimaryReplicaRouter(primary="default", replicas=REPLICAS)], PinningMiddleware
    )
    ratios = {}
    for kind in PAIRS:
        mine = one_request(ours, kind)
        for name, peer in ((kind, mdr), (f"{kind} same", twin)):
            ratios[name] = paired_ratio(
                mine, one_request(peer, kind), pairs=PAIRS[kind], clock=time.thread_time
            )
        ratios[f"{kind} handler"] = paired_median(
            through_handler(ours, kind), through_handler(mdr, kind), pairs=PAIRS[kind]
        )
    ours_request_receivers(connected=True)
    return ratios


def in_a_process(mode: str) -> dict[str, float]:
    """:func:`decision_ratios` (``--decisions``) or :func:`request_ratios` (``--requests``).

    Measured in a new process: a cost moves by several tenths of a percent (a request)
    to several percent (a decision) from one process to the next (where its objects land
    in memory, the per-process seed of string hashes), more than within one: the goals
    take the median over several processes, as pyperf does.
    """
    output = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_replica", mode],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    ratios: dict[str, float] = json.loads(output.splitlines()[-1])
    return ratios


def main() -> None:
    """Measure every row, print the tables and the goals (``--decisions``, ``--requests``:
    only those ratios, as JSON)."""
    create_tables()
    all_peers = peers()
    for mode, measure in (("--decisions", decision_ratios), ("--requests", request_ratios)):
        if mode in sys.argv:
            check_states(all_peers)
            print(json.dumps(measure(all_peers)))
            return
    print("Where reads go (SQLite in memory; every alias holds the same rows):")
    for line in check_states(all_peers):
        print(line)
    print()

    kinds = timing_kinds()
    # The ORM goals compare the same read of the same database: the in-memory databases
    # differ by a few percent from one another, which would hide the routing's cost.
    on_default = Peer(
        OURS_ON_DEFAULT,
        [PrimaryReplicaRouter(primary=OTHER_PRIMARY, replicas=["default"])],
        PinningMiddleware,
    )
    on_default.activate()
    item = read()
    if item is None or item._state.db != "default":
        sys.exit(
            f"benchmark set-up is wrong: {OURS_ON_DEFAULT} read from {item and item._state.db}"
        )
    none = next(peer for peer in all_peers if peer.name == NONE)
    for in_request in (True, False):
        if python_calls(none, in_request=in_request) != python_calls(
            on_default, in_request=in_request
        ):
            sys.exit("benchmark set-up is wrong: a routed read runs other functions than ours")
    # The libraries compared on a row run one after the other, under the same conditions.
    timings = [
        (f"{kind}|{peer.name}", timing)
        for kind, make in kinds.items()
        for peer in (*all_peers, on_default)
        if peer is not on_default or kind.startswith(("orm", "django"))
        if (timing := make(peer)) is not None
    ]
    best = interleaved(timings, rounds=ROUNDS)

    # Row label -> (timings' kind, the name of ours on that row).
    kind_of = {
        "db_for_read(Item), GET request": ("direct in", OURS),
        "db_for_read(Item), no request": ("direct out", OURS),
        "router.db_for_read, GET request": ("django in", OURS),
        "router.db_for_read, no request": ("django out", OURS),
        "filter(pk=1).first(), GET request": ("orm in", OURS),
        "filter(pk=1).first(), no request": ("orm out", OURS),
        "  ours reading default, GET request": ("orm in", OURS_ON_DEFAULT),
        "  ours reading default, no request": ("orm out", OURS_ON_DEFAULT),
        "GET through the middleware": ("get", OURS),
        "POST + GET with its cookie": ("post_get", OURS),
        "  the GET in another process": ("post_get elsewhere", OURS),
    }

    def cells(kind: str, ours: str) -> dict[str, float]:
        names = (NONE, MDR) if ours == OURS else (NONE,)
        found = {name: best[key] for name in names if (key := f"{kind}|{name}") in best}
        return {**found, OURS: best[f"{kind}|{ours}"]}

    rows = {label: cells(kind, ours) for label, (kind, ours) in kind_of.items()}
    # Ours over each peer: the ratio of the fastest runs (other processes only ever add
    # time to a run, so a library's fastest is the least disturbed).
    ratios = {
        label: {name: row[OURS] / row[name] for name in row if name != OURS}
        for label, row in rows.items()
    }
    table(
        f"CPU microseconds per operation, fastest of 5 runs x {ROUNDS} interleaved rounds",
        rows,
        ratios,
    )
    print(
        "  GET request: timed inside a view behind each library's middleware; no request:\n"
        "  timed in a fresh thread. The ORM read is Item.objects.filter(pk=1).first().\n"
        "  A cookie this process signed is known verified; a GET reaching another worker\n"
        "  process checks its signature (the last row, ours only).\n"
        "  The in-memory databases differ by a few percent from one another: 'ours\n"
        "  reading default' routes reads to default, the database no router reads, and is\n"
        "  the ORM goals' peer.\n"
    )

    def ratio(label: str, over: str) -> float:
        return ratios[label][over]

    # The decision goals: see decision_ratios().
    per_process = [in_a_process("--decisions") for _ in range(scaled(DECISION_PROCESSES))]
    for name in DECISIONS:
        values = [ratios_of[name] for ratios_of in per_process]
        print(
            f"  {name}, paired with MDR's in {len(per_process)} processes: "
            + ", ".join(f"x{value:.3f}" for value in values)
        )
    print()
    for name in DECISIONS:
        goal(f"{name}, vs MDR", statistics.median(r[name] for r in per_process), 1.00, "x")

    # The routed read and the plain one call the same Python functions but for the
    # decision (python_calls(), checked above): the routed read costs the plain one plus
    # the decision's added cost, which is timed to a few nanoseconds, where two runs of
    # the same 340 us read differ by a few percent.
    def added(where: str) -> float:
        return best[f"django {where}|{OURS_ON_DEFAULT}"] - best[f"django {where}|{NONE}"]

    def with_decision(where: str) -> float:
        plain = best[f"orm {where}|{NONE}"]
        return (plain + added(where)) / plain

    print(
        "  ORM read vs no router, both reading default: measured directly "
        f"{ratio('  ours reading default, GET request', NONE):.3f}x in a GET request and "
        f"{ratio('  ours reading default, no request', NONE):.3f}x outside one. The two\n"
        "  reads call the same Python functions but the routers' (checked before timing),\n"
        f"  so the goals add ours' decision cost over no router's ({added('in') * 1e9:.0f} ns "
        f"and {added('out') * 1e9:.0f} ns) to no router's read.\n"
    )
    goal("ORM read, in a GET request, vs no router", with_decision("in"), 1.01, "x")
    goal("ORM read, outside a request, vs no router", with_decision("out"), 1.01, "x")

    # The request goals: see request_ratios().
    in_processes = [in_a_process("--requests") for _ in range(scaled(REQUEST_PROCESSES))]
    paired: dict[str, float] = {}
    for kind, label in (("get", "a GET"), ("post_get", "a POST + GET")):
        paired[kind] = statistics.median(r[kind] for r in in_processes)
        print(
            f"  {label} paired with MDR's, median of {PAIRS[kind]} ratios of CPU time, in "
            f"{len(in_processes)} processes: "
            + ", ".join(f"x{r[kind]:.3f}" for r in in_processes)
            + "; ours paired with ours: "
            + ", ".join(f"x{r[f'{kind} same']:.3f}" for r in in_processes)
        )
    for kind, label in (("get", "a GET"), ("post_get", "a POST + GET")):
        values = [r[f"{kind} handler"] for r in in_processes]
        print(
            f"  {label} through Django's WSGI handler (the request signals and this app's "
            f"receivers), paired the same way: x{statistics.median(values):.3f} ("
            + ", ".join(f"x{value:.3f}" for value in values)
            + ")"
        )
    print()
    goal("GET through the middleware, vs MDR", paired["get"], 1.00, "x")
    goal("POST + GET through the middleware, vs MDR", paired["post_get"], 1.05, "x")


if __name__ == "__main__":
    main()
