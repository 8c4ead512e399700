"""A real Redis broker for the job-queue tests: Debian's ``redis-server`` on a free port.

``scripts/install-redis`` (run by ``make test``) installs it. Without it, or without the
``celery`` package, the tests that need the broker are skipped with the reason, or fail
when the ``CI`` environment variable is set (like the PostgreSQL cluster's tests).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from typing import TYPE_CHECKING

import pytest

from tests.postgres.plugin import in_ci

if TYPE_CHECKING:
    from collections.abc import Iterator


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
