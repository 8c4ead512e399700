"""pytest plugin of the PostgreSQL test cluster (``docs/postgresql.rst``).

The cluster starts only when tests marked ``postgres`` remain after collection and
deselection, so the rest of the suite never waits for it. Its aliases (``pg_primary``,
``pg_standby``, ``pg_shard_0``, ``pg_shard_1``) then join ``settings.DATABASES`` before
pytest-django creates any test database. When ``MULTIDB_ROUTERS_PG_DIR`` names a cluster
started by ``scripts/pg-cluster``, ``tests/settings.py`` already defines them and the
plugin only checks that its servers run. With PgBouncer, ``pgb_primary`` and
``pgb_standby`` reach the same servers through it.

The ``pg_path`` fixture runs a test three ways: ``pg_primary`` and ``pg_standby`` reached
directly, through PgBouncer in transaction pooling mode, and through Django's own pool
(``OPTIONS: {"pool": True}``, Django 5.1+).

Without PostgreSQL the ``postgres`` tests are skipped with the reason, or fail when the
``CI`` environment variable is set.
"""

from __future__ import annotations

import contextlib
import copy
import os
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from tests.postgres.cluster import (
    ENV_DIR,
    POOLED,
    SERVERS,
    ClusterInfo,
    PgCluster,
    PgUnavailableError,
    django_databases,
    pooled_settings,
    pooling_snippet,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


@dataclass
class ClusterState:
    """What the session knows about its cluster."""

    cluster: PgCluster | None = None
    owned: bool = False
    reason: str | None = None
    seconds: float = 0.0


STATE = pytest.StashKey[ClusterState]()


def in_ci() -> bool:
    """Whether the ``CI`` environment variable asks for PostgreSQL tests to be mandatory."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def _register_databases(databases: dict[str, dict[str, Any]]) -> None:
    """Add the cluster's aliases to ``DATABASES`` before any test database exists.

    ``connections.settings`` is ``settings.DATABASES`` itself once read, and
    ``configure_settings`` only fills defaults, so re-running it is harmless.
    """
    from django.conf import settings
    from django.db import connections

    missing = {
        alias: entry for alias, entry in databases.items() if alias not in settings.DATABASES
    }
    if missing:
        settings.DATABASES.update(missing)
        connections.configure_settings(settings.DATABASES)


def _provide_cluster(state: ClusterState) -> None:
    started = time.monotonic()
    base_dir = os.environ.get(ENV_DIR)
    if base_dir:
        cluster = PgCluster.attach(base_dir)
        stopped = [server for server, up in cluster.status().items() if not up]
        if stopped:
            raise PgUnavailableError(
                f"{ENV_DIR}={base_dir}: server(s) {', '.join(stopped)} not running "
                "(scripts/pg-cluster status)"
            )
    else:
        cluster = PgCluster()
        cluster.start()
        state.owned = True
    state.cluster = cluster
    assert cluster.info is not None
    _register_databases(django_databases(cluster.info))
    state.seconds = time.monotonic() - started


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start (or find) the cluster when ``postgres`` tests are about to run."""
    config = session.config
    if config.option.collectonly:
        return
    if not any(item.get_closest_marker("postgres") for item in session.items):
        return
    state = ClusterState()
    config.stash[STATE] = state
    try:
        _provide_cluster(state)
    except (PgUnavailableError, OSError) as exc:
        state.reason = str(exc)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip ``postgres`` tests without a cluster, or fail them when ``CI`` is set."""
    if item.get_closest_marker("postgres") is None:
        return
    state = item.config.stash.get(STATE, None)
    reason = state.reason if state is not None else "the test cluster was not started"
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"PostgreSQL is required when CI is set: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL unavailable: {reason}")


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say in the header when the PostgreSQL tests are mandatory."""
    return ["postgres tests: required (CI is set)"] if in_ci() else []


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Report where the cluster ran and how long it took to start."""
    state = config.stash.get(STATE, None)
    if state is None or state.cluster is None or state.cluster.info is None:
        return
    info = state.cluster.info
    ports = ", ".join(f"{server} {info.ports[server]}" for server in SERVERS)
    how = f"started in {state.seconds:.2f}s" if state.owned else "reused"
    terminalreporter.write_line(f"PostgreSQL test cluster ({how}): {ports}")
    if info.pooler_ports and state.owned:
        poolers = ", ".join(f"{server} {port}" for server, port in info.pooler_ports.items())
        terminalreporter.write_line(f"PgBouncer (transaction pooling) in front of: {poolers}")
    else:
        terminalreporter.write_line(f"PgBouncer: none ({info.pooler_error})")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the cluster this session started (test databases are dropped by then)."""
    state = config.stash.get(STATE, None)
    if state is not None and state.owned and state.cluster is not None:
        state.cluster.stop()


@pytest.fixture(scope="session")
def pg_cluster(pytestconfig: pytest.Config) -> PgCluster:
    """The running cluster, to stop and start servers (``stop_server``/``start_server``)."""
    state = pytestconfig.stash.get(STATE, None)
    if state is None or state.cluster is None:
        pytest.fail("pg_cluster is only available to tests marked postgres", pytrace=False)
    return state.cluster


@pytest.fixture(scope="session")
def pg_info(pg_cluster: PgCluster) -> ClusterInfo:
    """Ports, directories and apply delay of the running cluster."""
    assert pg_cluster.info is not None
    return pg_cluster.info


def _connect(alias: str) -> Any:
    """A new autocommit psycopg connection to ``alias``'s (test) database, outside Django."""
    import psycopg
    from django.db import connections

    params = connections[alias].settings_dict
    return psycopg.connect(
        host=params["HOST"],
        port=params["PORT"],
        user=params["USER"],
        dbname=params["NAME"],
        autocommit=True,
    )


def wait_for_standby(
    primary: str = "pg_primary", standby: str = "pg_standby", timeout: float = 10.0
) -> float:
    """Wait until ``standby`` has applied every commit made on ``primary`` so far.

    Commits a marker row on the primary, outside the test's Django connections, and polls
    the standby for it; returns the seconds waited. Useful at the start of a test that
    must not see what earlier tests (or their flushes) left in the standby's lag window.
    """
    token = uuid.uuid4().hex
    with _connect(primary) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS pg_sync_marker (token text PRIMARY KEY)")
        conn.execute("INSERT INTO pg_sync_marker VALUES (%s)", [token])
    started = time.monotonic()
    while not _standby_has(standby, token):
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{standby} did not catch up with {primary} in {timeout}s")
        time.sleep(0.01)
    return time.monotonic() - started


def _standby_has(standby: str, token: str) -> bool:
    import psycopg

    try:
        # A new connection each time: the test database itself may not be there yet.
        with _connect(standby) as conn:
            row = conn.execute("SELECT to_regclass('pg_sync_marker') IS NOT NULL").fetchone()
            if not (row and row[0]):
                return False
            found = conn.execute("SELECT 1 FROM pg_sync_marker WHERE token = %s", [token])
            return found.fetchone() is not None
    except psycopg.OperationalError:
        return False


@pytest.fixture
def pg_wait_for_standby() -> Callable[..., float]:
    """:func:`wait_for_standby`, as a fixture."""
    return wait_for_standby


def unavailable(reason: str) -> None:
    """Skip the test for ``reason``, or fail it when ``CI`` makes every path mandatory."""
    if in_ci():
        pytest.fail(f"required when CI is set: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_pooled_test_database(django_db_setup: None, pg_cluster: PgCluster) -> Iterator[str]:
    """The test database's name; at the end, the PgBouncers let go of it.

    Set up after pytest-django's ``django_db_setup`` (it depends on it), so torn down
    before it drops the test databases: PgBouncer keeps server connections open, and
    ``DROP DATABASE`` refuses a database in use.
    """
    from django.db import connections

    name = str(connections["pg_primary"].settings_dict["NAME"])
    yield name
    pg_cluster.release_pooled(name)


def wait_for_poolers(timeout: float = 10.0) -> None:
    """Wait until each PgBouncer reaches its server again.

    After a test stopped and restarted a server, PgBouncer refuses logins for
    ``server_login_retry`` ("server login has been failing"), which would fail the next
    test at random (pytest-randomly orders them).
    """
    import psycopg
    from django.db import connections

    for server in POOLED:
        entry = connections[f"pgb_{server}"].settings_dict
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(
                    host=entry["HOST"],
                    port=entry["PORT"],
                    dbname=entry["NAME"],
                    user=entry["USER"],
                    password=entry.get("PASSWORD") or None,
                    autocommit=True,
                    connect_timeout=3,
                ) as connection:
                    connection.execute("SELECT 1")
                break
            except psycopg.Error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


@pytest.fixture
def pg_pooler(pg_cluster: PgCluster, pg_pooled_test_database: str) -> Iterator[PgCluster]:
    """The cluster, with its PgBouncers running (again) after the test whatever happened."""
    info = pg_cluster.info
    assert info is not None
    if not info.pooler_ports:
        unavailable(f"PgBouncer unavailable: {info.pooler_error}")
    wait_for_poolers()
    yield pg_cluster
    for server in POOLED:
        if not pg_cluster.pooler_running(server):
            pg_cluster.start_pooler(server)


def django_pool_unavailable() -> str | None:
    """Why Django's own connection pool cannot be used here, or ``None``."""
    import django

    if django.VERSION < (5, 1):
        return f"Django's pool (OPTIONS pool) needs Django >= 5.1, not {django.get_version()}"
    try:
        import psycopg_pool  # noqa: F401
    except ImportError:
        return "Django's pool needs psycopg_pool: pip install 'psycopg[pool]'"
    return None


def django_pool_settings(entry: dict[str, Any]) -> dict[str, Any]:
    """What changes in ``entry`` to use Django's pool: the docs' ``WITH_DJANGO_POOL``."""
    changes = pooling_snippet("WITH_DJANGO_POOL")
    changes["OPTIONS"] = {**entry["OPTIONS"], **changes["OPTIONS"]}
    return changes


#: How ``pg_path`` reaches the primary and the standby.
PATHS = ("direct", "pgbouncer", "django_pool")


@contextlib.contextmanager
def reached_through(path: str, info: ClusterInfo, aliases: tuple[str, ...]) -> Iterator[None]:
    """Point ``aliases`` (``pg_primary``, ``pg_standby``) at PgBouncer or Django's pool.

    Changes their ``DATABASES`` entries in place (every thread's wrapper shares them) and
    closes this thread's connections before and after, so that the next query connects
    the new way; the pools of ``django_pool`` are closed at the end.
    """
    from django.db import connections

    if path == "direct":
        yield
        return
    saved = {alias: copy.deepcopy(connections[alias].settings_dict) for alias in aliases}
    servers = {"pg_primary": "primary", "pg_standby": "standby"}
    for alias in aliases:
        connections[alias].close()
        entry = connections[alias].settings_dict
        if path == "pgbouncer":
            changes = pooled_settings(info.pooler_ports[servers[alias]])
            entry.update({**changes, "OPTIONS": {**entry["OPTIONS"], **changes["OPTIONS"]}})
        else:
            entry.update(django_pool_settings(entry))
    try:
        yield
    finally:
        for alias in aliases:
            connection = connections[alias]
            connection.close()
            if path == "django_pool":
                connection.close_pool()
            connection.settings_dict.clear()
            connection.settings_dict.update(saved[alias])


@pytest.fixture(params=PATHS)
def pg_path(
    request: pytest.FixtureRequest, pg_cluster: PgCluster, pg_pooled_test_database: str
) -> Iterator[str]:
    """Run the test with ``pg_primary``/``pg_standby`` reached directly, via PgBouncer, via
    Django's pool (``pgbouncer`` and ``django_pool`` skip, or fail under CI, when missing).
    """
    path: str = request.param
    info = pg_cluster.info
    assert info is not None
    if path == "pgbouncer" and not info.pooler_ports:
        unavailable(f"PgBouncer unavailable: {info.pooler_error}")
    if path == "django_pool":
        reason = django_pool_unavailable()
        if reason is not None:
            if "Django >=" in reason:
                pytest.skip(reason)  # an older Django is no failure, even under CI
            unavailable(reason)
    from django.db import connections

    for alias, server in (("pg_primary", "primary"), ("pg_standby", "standby")):
        # An earlier test must not have left an alias pointing elsewhere.
        port = connections[alias].settings_dict["PORT"]
        assert port == str(info.ports[server]), f"{alias} left at port {port} by a test"
    if path == "pgbouncer":
        wait_for_poolers()
    with reached_through(path, info, ("pg_primary", "pg_standby")):
        yield path


@pytest.fixture
def pg_persistent_connections(pg_path: str) -> str:
    """For tests of ``CONN_MAX_AGE``: skipped with Django's pool, which forbids it."""
    if pg_path == "django_pool":
        pytest.skip("Django's pool replaces persistent connections (CONN_MAX_AGE must be 0)")
    return pg_path


@pytest.fixture
def pg_make_unreachable(pg_path: str) -> Iterator[Callable[[str, str], None]]:
    """``make(alias, port)`` points ``alias`` at ``port`` for the test (closing its pool).

    Undone before ``pg_path`` restores the entries: ``monkeypatch``, set up before
    ``pg_path``, would undo after it and bring back the pooler's port for later tests.
    """
    from django.db import connections

    changed: dict[str, Any] = {}

    def make(alias: str, port: str) -> None:
        connection = connections[alias]
        connection.close()
        if getattr(connection, "pool", None) is not None:
            connection.close_pool()
        changed.setdefault(alias, connection.settings_dict["PORT"])
        connection.settings_dict["PORT"] = port

    yield make
    for alias, port in changed.items():
        connections[alias].close()
        connections[alias].settings_dict["PORT"] = port
