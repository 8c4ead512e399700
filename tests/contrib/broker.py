"""A real Redis broker for the job-queue tests: Debian's ``redis-server`` on a free port.

``scripts/install-redis`` (run by ``make test``) installs it. Without it, or without the
``celery`` package, the tests that need the broker are skipped with the reason, or fail
when the ``CI`` environment variable is set (like the PostgreSQL cluster's tests).

Also what the Celery and RQ tests share: their worker process (on the session's
PostgreSQL databases and this Redis) and the test process routed like that worker.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest
from django.db import connections

from tests.postgres.plugin import in_ci
from tests.postgres.reviews import PRIMARY, STANDBY

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[2]
#: The worker's settings read the broker's URL from this variable.
BROKER_ENV = "MULTIDB_ROUTERS_TEST_BROKER"


def unavailable(reason: str) -> None:
    """Skip the test for ``reason``, or fail it under CI."""
    if in_ci():
        pytest.fail(f"The job-queue tests are required when CI is set: {reason}", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The URL of a Redis server started for this session, stopped after it."""
    server = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if shutil.which("/usr/bin/redis-server") else None
    )
    if server is None:
        unavailable("redis-server is not installed (scripts/install-redis)")
    assert server is not None
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="multidb-routers-redis-") as directory:
        process = subprocess.Popen(
            [
                server,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                directory,
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 10
            while not _ping(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    error = process.stderr.read().decode() if process.stderr else ""
                    unavailable(f"redis-server did not start on port {port}: {error[-500:]}")
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(10)


@contextmanager
def worker_process(
    args: list[str], settings_module: str, redis_url: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A worker process (``python -m`` ``args``) on the test session's databases and Redis.

    The worker reads the PostgreSQL aliases of this session (their test databases) through
    its own connections, with ``settings_module``; it is stopped when the block ends.
    """
    databases = {
        alias: {
            key: connections[alias].settings_dict[key]
            for key in ("ENGINE", "HOST", "PORT", "USER", "NAME")
        }
        for alias in (PRIMARY, STANDBY)
    }
    process = subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": settings_module,
            "MULTIDB_ROUTERS_TEST_WORKER_DATABASES": json.dumps(databases),
            BROKER_ENV: redis_url,
            "PYTHONPATH": str(ROOT),
            **(env or {}),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def worker_failed(process: subprocess.Popen[bytes], message: str) -> NoReturn:
    """Fail the test with ``message`` and the end of the worker's output."""
    process.kill()
    output = process.stdout.read().decode() if process.stdout else ""
    pytest.fail(f"{message}\n{output[-3000:]}")


@pytest.fixture
def lsn_routing(settings: Any) -> None:
    """The test process routes replica_app like the workers: LSN freshness on the cluster."""
    from multidb_routers import PrimaryReplicaRouter

    settings.DATABASE_ROUTERS = [
        PrimaryReplicaRouter(
            primary=PRIMARY,
            replicas=[STANDBY],
            apps=["replica_app"],
            freshness="lsn",
            lsn_cache_seconds=0,
            exclusive=True,
        )
    ]
    settings.MIDDLEWARE = ["multidb_routers.middleware.PinningMiddleware"]
