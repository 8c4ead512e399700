"""The example site under a real WSGI server (gunicorn) or ASGI server (uvicorn)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchmarks.loadtest.client import Browser

if TYPE_CHECKING:
    from pathlib import Path

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ServerKind:
    """How to run one server, and Django's ``CONN_MAX_AGE`` under it."""

    name: str
    description: str
    conn_max_age: int

    def command(self, port: int) -> list[str]:
        """The command line serving the example on ``port``."""
        if self.name == "gunicorn":
            return [
                *(sys.executable, "-m", "gunicorn", "example_project.wsgi:application"),
                *("--bind", f"{HOST}:{port}", "--workers", "2", "--threads", "8"),
                *("--worker-class", "gthread", "--timeout", "60", "--graceful-timeout", "3"),
                *("--log-level", "warning"),
            ]
        return [
            *(sys.executable, "-m", "uvicorn", "example_project.asgi:application"),
            *("--host", HOST, "--port", str(port), "--workers", "2"),
            *("--log-level", "warning", "--no-access-log", "--timeout-graceful-shutdown", "3"),
        ]


# Persistent connections with health checks under WSGI, as production runs them;
# none under ASGI, where Django's docs advise against them (a connection per request).
GUNICORN = ServerKind("gunicorn", "WSGI: gunicorn, 2 workers x 8 threads (gthread)", 60)
UVICORN = ServerKind("uvicorn", "ASGI: uvicorn, 2 workers", 0)
SERVER_KINDS = {kind.name: kind for kind in (GUNICORN, UVICORN)}


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Server:
    """One running server process group; :meth:`stop` ends it."""

    def __init__(self, kind: ServerKind, env: dict[str, str], log: Path) -> None:
        self.kind = kind
        self.port = free_port()
        self.log = log
        # The server gets SIGTERM if this process dies (killed, not only interrupted).
        setpriv = shutil.which("setpriv")
        prefix = [setpriv, "--pdeathsig=TERM", "--"] if setpriv else []
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                [*prefix, *kind.command(self.port)],
                env={**env, "LOADTEST_CONN_MAX_AGE": str(kind.conn_max_age)},
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends the workers too
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the product list answers 200 (the example reads reviews there)."""
        browser = Browser(HOST, self.port, timeout=5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind.name} exited: {self.log_tail()}")
            if browser.request("GET", "/").status == 200:
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.kind.name} did not answer in {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self, size: int = 3000) -> str:
        """The end of the server's output."""
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-size:]
        return ""

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it if it is still there after 10 s."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        # Workers left behind by a master that died first.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
