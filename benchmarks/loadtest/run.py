"""``python -m benchmarks.loadtest``: the load-and-fault test, its scenarios and its report.

Starts the test suite's PostgreSQL cluster (``tests/postgres/cluster.py``: a primary and
a hot standby that applies commits 300 ms late, on free loopback ports), makes a
database for the example's reviews, then runs each scenario: a server (gunicorn or
uvicorn) serving the example with ``benchmarks/loadtest/settings.py``, writing clients
(``client.py``) and, in the fault scenarios, a thread that stops and restarts the
standby, then crashes and restarts the primary. Afterwards the primary is asked for
every review a client was told is saved. The report (``report.py``) goes to
``docs/_static/loadtest.txt``; the exit status is 1 when something that must hold did
not (a stale read or a lost write with pinning on, a control run seeing no stale read).

``--smoke`` runs two short scenarios against a cluster given by ``--cluster-dir`` (the
pytest session's): the test suite's proof that the harness works.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.loadtest.client import Browser, WritingClient
from benchmarks.loadtest.report import (
    FaultEvent,
    Scenario,
    ScenarioResult,
    format_report,
    verdicts,
)
from benchmarks.loadtest.servers import GUNICORN, HOST, UVICORN, Server

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from tests.postgres.cluster import PgCluster

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "docs" / "_static" / "loadtest.txt"
BUDGET_SECONDS = 170.0  # the whole run, cluster start included: "under 3 minutes"
SETTINGS = "benchmarks.loadtest.settings"


def scenarios(*, clients: int, seconds: float, control_seconds: float) -> list[Scenario]:
    """The full run: a control without pinning, then each server x freshness with faults."""
    runs = [Scenario("control", GUNICORN, "time", False, False, control_seconds, clients)]
    for server in (GUNICORN, UVICORN):
        for freshness in ("time", "lsn"):
            name = f"{server.name}-{freshness}"
            runs.append(Scenario(name, server, freshness, True, True, seconds, clients))
    return runs


def smoke_scenarios(*, clients: int, seconds: float) -> list[Scenario]:
    """The smoke test's: the control, and one pinned run on the other server, no faults."""
    return [
        Scenario("control", GUNICORN, "time", False, False, seconds, clients),
        Scenario("uvicorn-lsn", UVICORN, "lsn", True, False, seconds, clients),
    ]


# -- the database -------------------------------------------------------------------------


class Database:
    """The load test's own database on the cluster's primary, replicated to the standby."""

    def __init__(self, cluster: PgCluster) -> None:
        assert cluster.info is not None
        self.cluster = cluster
        self.info = cluster.info
        self.name = f"loadtest_{uuid.uuid4().hex[:8]}"

    def connect(self, server: str, dbname: str | None = None, timeout: float = 3) -> Any:
        """An autocommit psycopg connection to ``server``."""
        import psycopg

        return psycopg.connect(
            host=self.info.host,
            port=self.info.ports[server],
            user="postgres",
            dbname=dbname or self.name,
            autocommit=True,
            connect_timeout=timeout,
        )

    def create(self) -> None:
        """Create it; commits in it wait for the WAL flush (the cluster's default does not).

        The cluster runs with ``synchronous_commit=off`` for speed; with it, a crash of the
        primary may forget the last acknowledged commits, which would count as lost writes
        that no router could prevent.
        """
        with self.connect("primary", "postgres") as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
            conn.execute(f'ALTER DATABASE "{self.name}" SET synchronous_commit = on')
        self.wait_on_standby(lambda conn: True)

    def wait_on_standby(self, ready: Callable[[Any], bool], timeout: float = 30) -> None:
        """Poll the standby until ``ready(connection)``; raise after ``timeout`` seconds."""
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(psycopg.Error), self.connect("standby") as conn:
                if ready(conn):
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the standby did not catch up within {timeout} s")
            time.sleep(0.1)

    def wait_caught_up(self, timeout: float = 30) -> None:
        """Wait until the standby has replayed everything the primary wrote so far."""
        with self.connect("primary") as conn:
            position = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        self.wait_on_standby(
            lambda conn: bool(
                conn.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [str(position)]
                ).fetchone()[0]
            ),
            timeout,
        )

    def titles(self, authors: Sequence[str]) -> set[str]:
        """The titles of the reviews written by ``authors``, read on the primary."""
        with self.connect("primary") as conn:
            rows = conn.execute(
                "SELECT title FROM reviews_review WHERE author_name = ANY(%s)", [list(authors)]
            ).fetchall()
        return {row[0] for row in rows}

    def server_version(self) -> str:
        """PostgreSQL's version."""
        with self.connect("primary") as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])

    def drop(self) -> None:
        """Drop it (when the cluster is not ours to throw away)."""
        with self.connect("primary", "postgres") as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# -- one scenario -------------------------------------------------------------------------


def fault_plan(cluster: PgCluster, seconds: float) -> list[tuple[float, str, Callable[[], None]]]:
    """When to do what: the standby down from 20% to 45% of the run, the primary at 60%.

    The standby gets a fast shutdown (its sessions are ended, as in a maintenance); the
    primary an immediate one (a crash: no checkpoint, crash recovery on restart), and is
    started again one second later.
    """
    return [
        (0.20 * seconds, "standby stopped", lambda: cluster.stop_server("standby", mode="fast")),
        (0.45 * seconds, "standby started", lambda: cluster.start_server("standby")),
        (
            0.60 * seconds,
            "primary crashed",
            lambda: cluster.stop_server("primary", mode="immediate"),
        ),
        (0.60 * seconds + 1.0, "primary restarted", lambda: cluster.start_server("primary")),
    ]


def inject(
    plan: list[tuple[float, str, Callable[[], None]]],
    clock: Callable[[], float],
    events: list[FaultEvent],
) -> None:
    """Run each fault of ``plan`` at its time, recording when it started and ended."""
    for at, label, action in plan:
        time.sleep(max(0.0, at - clock()))
        started = clock()
        error = ""
        try:
            action()
        except Exception as exc:  # reported, and the servers are restored after the run
            error = f"{type(exc).__name__}: {exc}"
        events.append(FaultEvent(label, started, clock(), error))


def run_scenario(
    scenario: Scenario,
    *,
    cluster: PgCluster,
    database: Database,
    env: dict[str, str],
    slugs: list[str],
    loops: int,
    workdir: Path,
) -> ScenarioResult:
    """Serve, load, inject faults, then check the primary for every acknowledged write."""
    server = Server(
        scenario.server,
        {
            **env,
            "LOADTEST_FRESHNESS": scenario.freshness,
            "LOADTEST_PINNING": "1" if scenario.pinning else "0",
        },
        workdir / f"{scenario.name}.log",
    )
    try:
        server.wait_ready()
        started = time.monotonic()

        def clock() -> float:
            return time.monotonic() - started

        stop = threading.Event()
        clients = [
            WritingClient(
                Browser(HOST, server.port),
                slug=slugs[number % len(slugs)],
                tag=f"{scenario.name}-c{number}",
                clock=clock,
                stop=stop,
            )
            for number in range(scenario.clients)
        ]
        # Each client's CSRF cookie, before the clock starts (a first GET of the form).
        ready = run_threads(
            [lambda c=c: c.get_csrf_token(deadline=30.0) for c in clients], stop=stop
        )
        if not all(ready):
            raise RuntimeError(f"no CSRF cookie from {scenario.server.name}: {server.log_tail()}")
        started = time.monotonic()
        events: list[FaultEvent] = []
        plan = fault_plan(cluster, scenario.seconds) if scenario.faults else []
        # The faults run in this thread: a server the cluster starts gets SIGQUIT when
        # the thread that started it ends (setpriv --pdeathsig is per thread on Linux).
        run_threads(
            [lambda c=c: c.run(loops, deadline=scenario.seconds) for c in clients],
            meanwhile=lambda: inject(plan, clock, events),
            stop=stop,
        )
        seconds = clock()
    finally:
        server.stop()
    notes = restore(cluster, database)
    assert cluster.info is not None
    names = {str(port): name for name, port in cluster.info.ports.items()}
    samples = [sample for client in clients for sample in client.samples]
    for sample in samples:  # "port 5432" -> "port 5432 (primary)"
        sample.error = re.sub(
            r"\bport (\d+)\b",
            lambda match: f"{match[0]} ({names.get(match[1], '?')})",
            sample.error,
        )
    written = [title for client in clients for title in client.written]
    saved = database.titles([client.tag for client in clients])
    return ScenarioResult(
        scenario=scenario,
        samples=samples,
        loops=sum(client.loops for client in clients),
        written=written,
        lost=sorted(set(written) - saved),
        unacknowledged_saved=len(saved - set(written)),
        events=events,
        seconds=seconds,
        notes=notes,
    )


def run_threads(
    work: Sequence[Callable[[], object]],
    meanwhile: Callable[[], object] | None = None,
    stop: threading.Event | None = None,
) -> list[object]:
    """Run each callable in its own thread (and ``meanwhile`` in this one); their results.

    If this thread is interrupted (Ctrl-C), ``stop`` is set so that the threads end early.
    """
    results: list[object] = [None] * len(work)
    errors: list[BaseException] = []

    def call(index: int) -> None:
        try:
            results[index] = work[index]()
        except BaseException as exc:  # re-raised below, in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(index,)) for index in range(len(work))]
    for thread in threads:
        thread.start()
    try:
        if meanwhile is not None:
            meanwhile()
        for thread in threads:
            thread.join()
    except BaseException:
        if stop is not None:
            stop.set()
        for thread in threads:
            thread.join()
        raise
    if errors:
        raise errors[0]
    return results


def restore(cluster: PgCluster, database: Database) -> list[str]:
    """Both servers running and the standby caught up, for the next scenario."""
    notes = []
    for server in ("primary", "standby"):
        if not cluster.is_running(server):
            notes.append(f"{server} was down after the run; started again")
            cluster.start_server(server)
    database.wait_caught_up()
    return notes


# -- the whole run ------------------------------------------------------------------------


def missing_servers(runs: Sequence[Scenario]) -> list[str]:
    """The server packages a run needs that this Python cannot import."""
    return sorted({s.server.name for s in runs if find_spec(s.server.name) is None})


def versions() -> str:
    """Versions of Python, Django and the servers."""
    found = [f"Python {platform.python_version()}"]
    for package in ("Django", "gunicorn", "uvicorn", "psycopg"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found.append(f"{package} {metadata.version(package)}")
    return ", ".join(found)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run the scenarios, write the report; 1 if something must-hold failed."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loadtest", description=__doc__)
    parser.add_argument("--clients", type=int, default=None, help="writing clients (16)")
    parser.add_argument("--loops", type=int, default=100, help="loops per client at most")
    parser.add_argument("--seconds", type=float, default=None, help="per fault scenario (24)")
    parser.add_argument("--control-seconds", type=float, default=8.0)
    parser.add_argument("--only", nargs="*", default=[], help="scenario names to run")
    parser.add_argument("--smoke", action="store_true", help="two short scenarios, no faults")
    parser.add_argument("--cluster-dir", help="use this running cluster (no faults then)")
    parser.add_argument("--report", type=Path, default=None, help=f"default: {REPORT}")
    parser.add_argument("--json", type=Path, default=None, help="the figures, as JSON")
    args = parser.parse_args(argv)

    def given(value: float | None, default: float) -> float:
        return default if value is None else value

    if args.smoke:
        runs = smoke_scenarios(
            clients=int(given(args.clients, 4)), seconds=given(args.seconds, 3.0)
        )
    else:
        runs = scenarios(
            clients=int(given(args.clients, 16)),
            seconds=given(args.seconds, 24.0),
            control_seconds=args.control_seconds,
        )
    unknown = sorted(set(args.only) - {run.name for run in runs})
    if unknown:
        parser.error(f"no scenario {', '.join(unknown)}; choose among {[r.name for r in runs]}")
    if args.only:
        runs = [run for run in runs if run.name in args.only]
    if runs[0].clients < 1 or any(run.seconds <= 0 for run in runs) or args.loops < 1:
        parser.error("--clients, --loops, --seconds and --control-seconds must be positive")
    if args.cluster_dir and any(run.faults for run in runs):
        parser.error("--cluster-dir runs no faults on a cluster it does not own: add --smoke")
    missing = missing_servers(runs)
    if missing:
        print(
            f"{', '.join(missing)} not installed: "
            f"pip install -r benchmarks/loadtest/requirements.txt",
            file=sys.stderr,
        )
        return 2
    report_path = args.report or (None if args.smoke else REPORT)

    from tests.postgres.cluster import PgCluster, PgUnavailableError

    begun = time.monotonic()
    load_before = os.getloadavg()
    owned = args.cluster_dir is None
    try:
        cluster = PgCluster() if owned else PgCluster.attach(args.cluster_dir)
        if owned:
            cluster.start()
    except (PgUnavailableError, OSError) as exc:
        print(f"PostgreSQL unavailable: {exc}", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="multidb-routers-loadtest-"))
    results: list[ScenarioResult] = []
    skipped: list[str] = []
    database: Database | None = None
    try:
        database = Database(cluster)
        database.create()
        assert cluster.info is not None
        pythonpath = [str(ROOT), str(ROOT / "example_project"), os.environ.get("PYTHONPATH", "")]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(path for path in pythonpath if path),
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "LOADTEST_PG_HOST": cluster.info.host,
            "LOADTEST_PRIMARY_PORT": str(cluster.info.ports["primary"]),
            "LOADTEST_STANDBY_PORT": str(cluster.info.ports["standby"]),
            "LOADTEST_DB": database.name,
            "LOADTEST_VAR_DIR": str(workdir),
            "EXAMPLE_VAR_DIR": str(workdir),
        }
        slugs = prepare(env)
        database.wait_caught_up()
        for scenario in runs:
            left = BUDGET_SECONDS - (time.monotonic() - begun)
            if not args.smoke and left < scenario.seconds + 12:
                skipped.append(f"{scenario.name} ({left:.0f} s left of the {BUDGET_SECONDS:.0f})")
                continue
            print(
                f"loadtest: {time.monotonic() - begun:.0f} s: {scenario.name}: {scenario.title}",
                file=sys.stderr,
                flush=True,
            )
            try:
                results.append(
                    run_scenario(
                        scenario,
                        cluster=cluster,
                        database=database,
                        env=env,
                        slugs=slugs,
                        loops=args.loops,
                        workdir=workdir,
                    )
                )
            except Exception as exc:  # the report still shows the scenarios done
                skipped.append(f"{scenario.name} and after it (failed: {exc})"[:2000])
                break
        context = {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "software": f"{versions()}, PostgreSQL {database.server_version()}",
            "machine": (
                f"{os.cpu_count()} CPUs, load average {load_before[0]:.1f} before, "
                f"{os.getloadavg()[0]:.1f} after (shared with other work)"
            ),
            "cluster": (
                f"primary + hot standby on 127.0.0.1, recovery_min_apply_delay = "
                f"{cluster.info.apply_delay_ms} ms"
            ),
            "site": (
                "example_project, primary/replica pattern (benchmarks/loadtest/settings.py): "
                "reviews on the primary, read from the standby unless pinned; pin_seconds 5"
            ),
            "clients": (
                f"{runs[0].clients} writing clients, at most {args.loops} loops each: POST a "
                "review, GET its page at once and 0.4 s later (404 = stale read), pause 0.2 s"
            ),
            "total time": f"{time.monotonic() - begun:.0f} s (cluster start included)",
        }
    finally:
        if database is not None and not owned:
            with contextlib.suppress(Exception):
                database.drop()
        if owned:
            cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    text = format_report(results, context, skipped)
    print(text)
    if report_path is not None:
        report_path.write_text(text)
        print(f"report written to {report_path}", file=sys.stderr)
    if args.json is not None:
        figures = {"scenarios": [result.figures() for result in results], "skipped": skipped}
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if all(held for _, held in verdicts(results)) and not skipped else 1


def prepare(env: dict[str, str]) -> list[str]:
    """Migrate and seed with ``benchmarks.loadtest.prepare``; the products' slugs."""
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.loadtest.prepare"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"preparing the databases failed: {done.stderr[-3000:]}")
    return done.stdout.split()
