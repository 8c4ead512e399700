"""One benchmark report: this library against its peers, sharding against shard count.

``python -m benchmarks`` (``make bench``) runs this. In order, each in its own process
(Django is configured once per process):

1. every ``benchmarks/bench_*.py`` module, its output kept for the report;
2. the peer comparison: no router, django-multidb-router, django_replicated and
   ``PrimaryReplicaRouter`` on the same four workloads (a routing decision, an ORM read,
   a GET request through each library's middleware, a POST-redirect-GET), each in the
   state a GET request puts the library in; a peer that is missing or fails on this
   Django is reported with the reason;
3. a shard-count sweep reusing ``bench_sharding.configure()``/``fill()`` with 1, 2, 4 and
   8 SQLite file shards holding the same 20,000 reviews: a read routed by
   ``.shard(key)`` against ``.using(alias)``, and fan-out latency.

Then it prints the report, opening with a "Goals" table of every ``GOAL`` line the
``bench_*`` modules printed (``benchmarks.harness.goal``), and writes it with its plot
to ``docs/_static/bench.txt`` and ``docs/_static/bench.png`` (``--out DIR`` elsewhere).
``--quick`` shortens every measurement and skips the ``bench_*`` modules, for trying the
report itself.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.harness import Goal, cpu_per_call, parse_goals, per_call

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE.parent / "docs" / "_static"
SHARD_COUNTS = (1, 2, 4, 8)
TOTAL_REVIEWS = 20_000
REPLICAS = ["replica1", "replica2"]
RESULT_PREFIX = "RESULT "
LIBRARIES = ("no router", "django-multidb-router", "django_replicated", "multidb_routers")
#: What each library is in the report: router, middleware.
SETUPS = {
    "no router": ("(none)", "(none)"),
    "django-multidb-router": (
        "multidb.PinningReplicaRouter",
        "multidb.middleware.PinningRouterMiddleware",
    ),
    "django_replicated": (
        "django_replicated.router.ReplicationRouter",
        "django_replicated.middleware.ReplicationMiddleware",
    ),
    "multidb_routers": (
        "PrimaryReplicaRouter(primary='default', replicas=[...])",
        "multidb_routers.middleware.PinningMiddleware",
    ),
}
WORKLOADS = {
    "decision": "router.db_for_read(Item), Django's router asking the library",
    "orm_read": "Item.objects.get(pk=1), SQLite in memory",
    "get": "GET through the middleware, the view reads one row",
    "post_get": "POST that creates a row and redirects, then the GET it redirects to",
}


# Workers: each runs in a fresh process and prints one RESULT line of JSON.


class _URLConf:
    """ROOT_URLCONF of the peer worker (filled in by it)."""

    urlpatterns: list[Any] = []


def _peers_worker(quick: bool) -> dict[str, Any]:
    """Measure every available library on the four workloads."""
    import django
    from django.conf import settings

    problems: dict[str, str] = {}
    replicated_settings: dict[str, Any] = {}
    try:
        import django_replicated.settings as defaults

        replicated_settings = {
            name: getattr(defaults, name) for name in dir(defaults) if name.startswith("REPL")
        }
    except ImportError as exc:
        problems["django_replicated"] = f"not installed ({exc})"
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench",
        ALLOWED_HOSTS=["*"],
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        INSTALLED_APPS=["multidb_routers"],
        DATABASES={
            alias: {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
            for alias in ["default", *REPLICAS]
        },
        DATABASE_ROUTERS=[],
        MIDDLEWARE=[],
        ROOT_URLCONF=_URLConf,
        # django-multidb-router's and django_replicated's settings.
        REPLICA_DATABASES=REPLICAS,
        **{**replicated_settings, "REPLICATED_DATABASE_SLAVES": REPLICAS},
    )
    django.setup()

    from contextlib import contextmanager

    from django.db import connections, router
    from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
    from django.test import Client
    from django.test.utils import override_settings
    from django.urls import path

    from benchmarks.harness import ours_request_receivers, ours_request_state
    from benchmarks.item import Item
    from multidb_routers import PrimaryReplicaRouter

    def read(request: HttpRequest) -> HttpResponse:
        return HttpResponse(Item.objects.get(pk=1).name)

    def write(request: HttpRequest) -> HttpResponse:
        item = Item.objects.create(name="new")
        return HttpResponseRedirect(f"/item/{item.pk}/")

    def item(request: HttpRequest, pk: int) -> HttpResponse:
        return HttpResponse("found" if Item.objects.filter(pk=pk).exists() else "missing")

    _URLConf.urlpatterns = [
        path("read/", read),
        path("write/", write),
        path("item/<int:pk>/", item),
    ]
    for alias in connections:
        with connections[alias].schema_editor() as editor:
            editor.create_model(Item)
        Item.objects.using(alias).create(name="one")

    routers: dict[str, list[object]] = {"no router": []}
    states: dict[str, Callable[[], Any]] = {}

    @contextmanager
    def no_state() -> Iterator[None]:
        yield

    states["no router"] = no_state
    try:
        from multidb import PinningReplicaRouter
        from multidb.pinning import unpin_this_thread

        @contextmanager
        def multidb_get() -> Iterator[None]:
            unpin_this_thread()  # what its middleware does for a GET without its cookie
            yield

        routers["django-multidb-router"] = [PinningReplicaRouter()]
        states["django-multidb-router"] = multidb_get
    except ImportError as exc:
        problems["django-multidb-router"] = f"not installed ({exc})"
    if "django_replicated" not in problems:
        try:
            from django_replicated.router import ReplicationRouter

            replicated = ReplicationRouter()

            @contextmanager
            def replicated_get() -> Iterator[None]:
                replicated.init("slave")  # what its middleware does for a GET
                try:
                    yield
                finally:
                    replicated.reset()

            routers["django_replicated"] = [replicated]
            states["django_replicated"] = replicated_get
        except Exception as exc:  # an import or configuration error on this Django
            problems["django_replicated"] = f"{type(exc).__name__}: {exc}"
    ours = PrimaryReplicaRouter(primary="default", replicas=REPLICAS)

    routers["multidb_routers"] = [ours]
    states["multidb_routers"] = ours_request_state  # what PinningMiddleware does for a GET
    middleware = {name: [] if name == "no router" else [SETUPS[name][1]] for name in LIBRARIES}

    scale = 0.2 if quick else 1.0
    results: dict[str, dict[str, Any]] = {}
    for name in LIBRARIES:
        if name in problems:
            continue
        router.routers = routers[name]
        # This app's request signal receivers run for its own requests only.
        ours_request_receivers(connected=name == "multidb_routers")
        try:
            with states[name]():
                read_alias = router.db_for_read(Item)
            with override_settings(MIDDLEWARE=middleware[name]):
                client = Client()
                response = client.post("/write/")
                after = client.get(response["Location"]).content.decode()
            results[name] = {"reads_from": read_alias, "redirect_read": after}
        except Exception as exc:  # a peer that does not run on this Django
            problems[name] = f"{type(exc).__name__}: {exc}"

    def timings(name: str) -> dict[str, float]:
        router.routers = routers[name]
        ours_request_receivers(connected=name == "multidb_routers")
        with states[name]():
            decision = cpu_per_call(
                lambda: router.db_for_read(Item), number=int(10_000 * scale), repeat=3
            )
            orm_read = cpu_per_call(lambda: Item.objects.get(pk=1), number=int(500 * scale))
        with override_settings(MIDDLEWARE=middleware[name]):
            client = Client()
            client.get("/read/")
            get = cpu_per_call(lambda: client.get("/read/"), number=int(150 * scale))
            writer = Client()

            def post_get() -> object:
                return writer.get(writer.post("/write/")["Location"])

            post_get_time = cpu_per_call(post_get, number=int(60 * scale))
        return {"decision": decision, "orm_read": orm_read, "get": get, "post_get": post_get_time}

    # Alternate the libraries over rounds and keep each one's best: other processes on
    # the machine slow some runs down, and this compares them under the same conditions.
    for _ in range(2 if quick else 5):
        for name in list(results):
            try:
                measured = timings(name)
            except Exception as exc:
                problems[name] = f"{type(exc).__name__}: {exc}"
                del results[name]
                continue
            best = results[name].setdefault("seconds", {})
            for workload, seconds in measured.items():
                best[workload] = min(best.get(workload, seconds), seconds)
    return {"results": results, "problems": problems}


def _shards_worker(count: int, quick: bool) -> dict[str, Any]:
    """Routed reads and fan-out latency with ``count`` shards (bench_sharding's set-up)."""
    import tempfile

    from benchmarks import bench_sharding

    # bench_sharding reads these module constants when called.
    bench_sharding.SHARDS = [f"shard_{number}" for number in range(count)]
    bench_sharding.ROWS_PER_SHARD = (TOTAL_REVIEWS // 4 if quick else TOTAL_REVIEWS) // count
    with tempfile.TemporaryDirectory() as directory:
        bench_sharding.configure(Path(directory), memory=False)
        started = time.perf_counter()
        bench_sharding.fill()
        fill_seconds = time.perf_counter() - started

        from itertools import cycle

        from multidb_routers.sharding import across_shards
        from tests.testapps.shard_app.models import Review

        rows = [
            (alias, pk, product_id)
            for alias in bench_sharding.SHARDS
            for pk, product_id in Review.objects.on_shard(alias).values_list("pk", "product_id")[
                : 400 // count
            ]
        ]
        routed_rows = cycle(rows)
        direct_rows = cycle(rows)

        def routed() -> object:
            _, pk, product_id = next(routed_rows)
            return Review.objects.shard(product_id).get(pk=pk)

        def direct() -> object:
            alias, pk, _ = next(direct_rows)
            return Review.objects.using(alias).get(pk=pk)

        # The routing alone, without SQL: a queryset on the key's shard vs on an alias.
        route_rows = cycle(rows)
        plain_rows = cycle(rows)

        def route() -> object:
            return Review.objects.shard(next(route_rows)[2]).db

        def plain() -> object:
            return Review.objects.using(next(plain_rows)[0]).db

        def top(concurrent: bool) -> list[Any]:
            latest = across_shards(Review.objects.order_by("-created"), concurrent=concurrent)
            return list(latest[:20])

        assert [r.pk for r in top(True)] == [r.pk for r in top(False)]
        number = 300 if quick else 1_000
        fan_number = 2 if quick else 4
        best: dict[str, float] = {}
        for _ in range(2):
            measured = {
                "route": per_call(route, number=number * 5, repeat=3),
                "plain": per_call(plain, number=number * 5, repeat=3),
                "routed_read": per_call(routed, number=number, repeat=3),
                "direct_read": per_call(direct, number=number, repeat=3),
                "fanout_concurrent": per_call(lambda: top(True), number=fan_number, repeat=3),
                "fanout_sequential": per_call(lambda: top(False), number=fan_number, repeat=3),
                "fanout_count": per_call(
                    lambda: across_shards(Review.objects.all()).count(),
                    number=fan_number,
                    repeat=3,
                ),
            }
            for key, seconds in measured.items():
                best[key] = min(best.get(key, seconds), seconds)
    rows_total = bench_sharding.ROWS_PER_SHARD * count
    return {"shards": count, "rows": rows_total, "fill_seconds": fill_seconds, **best}


# The parent process: run everything, print one report, write it and its plot.


def _run(args: Sequence[str], *, timeout: float = 1800) -> tuple[int, str, str, float]:
    """Run a child Python process; its exit code, stdout, stderr and duration."""
    started = time.perf_counter()
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    try:
        done = subprocess.run(
            [sys.executable, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=HERE.parent,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return 124, "", f"timed out after {timeout:.0f} s", time.perf_counter() - started
    return done.returncode, done.stdout, done.stderr, time.perf_counter() - started


def _worker_result(args: Sequence[str]) -> tuple[dict[str, Any] | None, str]:
    """Run a worker; its RESULT, or ``None`` and why not."""
    code, out, err, _ = _run(["-m", "benchmarks.report", "--worker", *args])
    for line in reversed(out.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :]), ""
    tail = (err.strip().splitlines() or [f"exit code {code}"])[-1]
    return None, tail


def _load() -> str:
    """The 1-minute load average, or "unknown"."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "unknown"


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def _peers_section(data: dict[str, Any] | None, failure: str) -> list[str]:
    lines = ["Same workloads, each library in the state a GET request puts it in", ""]
    if data is None:
        return [*lines, f"  the peer comparison failed: {failure}"]
    results, problems = data["results"], data["problems"]
    for name in LIBRARIES:
        version = _version({"no router": "Django"}.get(name, name))
        router_path, middleware = SETUPS[name]
        if name == "no router":
            lines.append(f"  {name:<22} Django {version}")
        else:
            lines.append(f"  {name:<22} {version}: {router_path} + {middleware}")
    lines.append("")
    present = [name for name in LIBRARIES if name in results]
    width = 21
    header = "  " + " " * 18 + "".join(f"{name:>{width + 2}}" for name in present)
    lines.append(header)
    for workload in WORKLOADS:
        base = results["no router"]["seconds"][workload] if "no router" in results else None
        cells = []
        for name in present:
            seconds = results[name]["seconds"][workload]
            ratio = f" x{seconds / base:.2f}" if base else ""
            cells.append(f"{seconds * 1e6:8.1f}us{ratio}")
        lines.append(f"  {workload:<18}" + "".join(f"{cell:>{width + 2}}" for cell in cells))
    lines.append(
        "  "
        + f"{'reads go to':<18}"
        + "".join(f"{results[name]['reads_from']:>{width + 2}}" for name in present)
    )
    lines.append(
        "  "
        + f"{'GET after POST':<18}"
        + "".join(f"{results[name]['redirect_read']:>{width + 2}}" for name in present)
    )
    lines.append("")
    lines.extend(f"  {key:<10} {text}" for key, text in WORKLOADS.items())
    lines.append(
        "  CPU time per operation (this thread's), fastest of alternating rounds;"
        " xN = ratio to no router."
    )
    lines.append(
        "  'GET after POST' is whether the redirected GET found the new row; the in-memory"
    )
    lines.append("  replicas never receive it, so 'missing' means a stale read.")
    if "multidb_routers" in results and "django-multidb-router" in results:
        ours = results["multidb_routers"]["seconds"]
        peer = results["django-multidb-router"]["seconds"]
        ratios = ", ".join(f"{key} x{ours[key] / peer[key]:.2f}" for key in WORKLOADS)
        lines.append(f"  multidb_routers / django-multidb-router: {ratios}")
    if "multidb_routers" in results and "django_replicated" in results:
        ours = results["multidb_routers"]["seconds"]
        peer = results["django_replicated"]["seconds"]
        ratios = ", ".join(f"{key} x{ours[key] / peer[key]:.2f}" for key in WORKLOADS)
        lines.append(f"  multidb_routers / django_replicated:     {ratios}")
    for name, reason in problems.items():
        lines.append(f"  {name} not measured: {reason}")
    return lines


def _shards_section(sweep: list[dict[str, Any]], failures: list[str]) -> list[str]:
    lines = [
        f"ShardRouter against shard count ({TOTAL_REVIEWS:,} reviews in all, SQLite files)",
        "",
    ]
    if sweep:
        rows = sweep[0]["rows"]
        lines[0] = f"ShardRouter against shard count ({rows:,} reviews in all, SQLite files)"
        lines.append(
            "  shards  routing  .shard(key).get  .using(alias).get"
            "   top-20 concurrent  top-20 sequential    count()"
        )
        first = sweep[0]
        for row in sweep:
            routing = row["route"] - row["plain"]
            lines.append(
                f"  {row['shards']:>6}  {routing * 1e6:5.1f}us"
                f"  {row['routed_read'] * 1e6:13.1f}us"
                f"  {row['direct_read'] * 1e6:15.1f}us"
                f"  {row['fanout_concurrent'] * 1e3:8.2f}ms x{row['fanout_concurrent'] / first['fanout_concurrent']:4.2f}"  # noqa: E501
                f"  {row['fanout_sequential'] * 1e3:8.2f}ms x{row['fanout_sequential'] / first['fanout_sequential']:4.2f}"  # noqa: E501
                f"  {row['fanout_count'] * 1e3:7.2f}ms"
            )
        lines.append("")
        lines += [
            "  routing: the cost of .shard(key) over .using(alias) for a queryset, without SQL",
            "  (hashing the key, asking the router); the two reads fetch the same rows by pk.",
            "  Fan-out ratios are to 1 shard, the same query on one database. top-20:",
            "  across_shards(Review.objects.order_by('-created'))[:20], no index on created.",
        ]
    lines.extend(f"  {failure}" for failure in failures)
    return lines


def _goals_section(goals: list[tuple[str, Goal]]) -> list[str]:
    """The table of every GOAL line the bench_* modules printed."""
    lines = ["Goals (issue 13), each measured side by side in this run", ""]
    if not goals:
        return [*lines, "  no benchmark printed a goal"]
    width = max(len(goal.name) for _, goal in goals)
    for module, goal in goals:
        lines.append(
            f"  {goal.verdict}  {goal.name:<{width}}  {goal.shown:>9}"
            f"  target <= {goal.shown_target:<9}  {module}"
        )
    met = sum(goal.passed for _, goal in goals)
    lines += ["", f"  {met} of {len(goals)} goals met"]
    return lines


def _plot(sweep: list[dict[str, Any]], path: Path) -> str:
    """Write the routed-read and fan-out plot; return a line for the report."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "plot not written: matplotlib is not installed (benchmarks/requirements.txt)"
    if not sweep:
        return "plot not written: no sharding results"
    shards = [row["shards"] for row in sweep]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    left.plot(shards, [row["routed_read"] * 1e6 for row in sweep], "o-", label=".shard(key).get()")
    left.plot(
        shards, [row["direct_read"] * 1e6 for row in sweep], "s--", label=".using(alias).get()"
    )
    left.plot(
        shards,
        [(row["route"] - row["plain"]) * 1e6 for row in sweep],
        "^:",
        label="routing alone (no SQL)",
    )
    left.set_title("Routed read: one row by shard key")
    left.set_ylabel("microseconds per read")
    right.plot(
        shards, [row["fanout_concurrent"] * 1e3 for row in sweep], "o-", label="top 20, concurrent"
    )
    right.plot(
        shards, [row["fanout_sequential"] * 1e3 for row in sweep], "s--", label="top 20, sequential"
    )
    right.plot(shards, [row["fanout_count"] * 1e3 for row in sweep], "^:", label="count()")
    right.set_title(f"across_shards() over {sweep[0]['rows']:,} rows")
    right.set_ylabel("milliseconds per query")
    for axes in (left, right):
        axes.set_xlabel("shards")
        axes.set_xscale("log", base=2)
        axes.set_xticks(shards, [str(count) for count in shards])
        axes.set_ylim(bottom=0)
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=8)
    figure.suptitle(
        f"multidb_routers {_version('multidb-routers')}, Django {_version('Django')}, "
        f"SQLite files, {os.cpu_count()} CPUs",
        fontsize=9,
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return f"plot written to {path}"


def main(argv: Sequence[str]) -> int:
    """Run every benchmark and print the report; non-zero when a part failed."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs, no bench_* modules")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="bench.txt/png directory")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        kind, *rest = args.worker
        result = _peers_worker(args.quick) if kind == "peers" else None
        if kind == "shards":
            result = _shards_worker(int(rest[0]), args.quick)
        print(RESULT_PREFIX + json.dumps(result))
        return 0

    quick = ["--quick"] if args.quick else []
    started = time.perf_counter()
    load_at_start = _load()
    failed = 0
    modules: list[tuple[str, str]] = []
    goals: list[tuple[str, Goal]] = []
    if not args.quick:
        for name in sorted(path.stem for path in HERE.glob("bench_*.py")):
            print(f"running {name} ...", flush=True)
            code, out, err, seconds = _run(["-m", f"benchmarks.{name}"])
            if code:
                failed = 1
                out += f"\nfailed (exit code {code}): " + "\n".join(err.strip().splitlines()[-3:])
            modules.append((f"{name} ({seconds:.0f} s)", out.rstrip()))
            goals += [(name, goal) for goal in parse_goals(out)]
    print("running the peer comparison ...", flush=True)
    peers, peers_failure = _worker_result(["peers", *quick])
    failed |= peers is None
    sweep: list[dict[str, Any]] = []
    sweep_failures: list[str] = []
    for count in SHARD_COUNTS:
        print(f"running the sharding sweep, {count} shard(s) ...", flush=True)
        row, failure = _worker_result(["shards", str(count), *quick])
        if row is None:
            failed = 1
            sweep_failures.append(f"{count} shards failed: {failure}")
        else:
            sweep.append(row)

    args.out.mkdir(parents=True, exist_ok=True)
    plot_line = _plot(sweep, args.out / "bench.png")
    command = "python -m benchmarks" + (" (report --quick)" if args.quick else "")
    report = [
        "multidb_routers benchmark report",
        "=" * 32,
        f"{datetime.date.today().isoformat()}, `{command}`, Python {platform.python_version()},"
        f" Django {_version('Django')}, {platform.system()} {platform.machine()},"
        f" {os.cpu_count()} CPUs, 1-minute load average {load_at_start} at the start,"
        f" {_load()} at the end",
        "",
        *_goals_section(goals),
        "",
        *_peers_section(peers, peers_failure),
        "",
        *_shards_section(sweep, sweep_failures),
        "",
    ]
    for title, out in modules:
        report += [title, "-" * len(title), out, ""]
    report += [plot_line, f"total {time.perf_counter() - started:.0f} s"]
    text = "\n".join(report)
    print("\n" + text)
    (args.out / "bench.txt").write_text(text + "\n")
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
