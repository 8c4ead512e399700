"""A throwaway PostgreSQL cluster for the test suite (see ``docs/postgresql.rst``).

Three servers under one temporary directory, listening on free ``127.0.0.1`` ports (and on
unix sockets in ``<dir>/run``):

``primary``
    ``wal_level=replica``, the source of the streaming standby.
``standby``
    A hot standby made with ``pg_basebackup -R`` from the primary. It applies commits only
    ``recovery_min_apply_delay`` (300 ms by default) after they happened, so it really lags.
``shards``
    An independent server holding the shard databases, so shard tests share nothing with
    the replication pair.

In front of the primary and the standby, one PgBouncer each (Debian's ``pgbouncer``) in
transaction pooling mode, when it can be found or installed: the ``pgb_primary`` and
``pgb_standby`` aliases reach the same databases through it.

This module uses only the standard library, so that ``scripts/pg-cluster`` can run it with
any Python 3; the pytest side lives in ``tests/postgres/plugin.py``. It finds the machine's
PostgreSQL binaries (``/usr/lib/postgresql/*/bin``), installs Debian's ``postgresql`` with
apt when they are missing and it runs as root (``pgbouncer`` likewise), and runs the
servers and the poolers as the ``postgres`` user when started as root.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

__all__ = [
    "ENV_APPLY_DELAY",
    "ENV_BINDIR",
    "ENV_DIR",
    "ENV_INSTALL",
    "ENV_PGBOUNCER",
    "POOLED",
    "SERVERS",
    "ClusterInfo",
    "PgCluster",
    "PgUnavailableError",
    "databases_from_env",
    "django_databases",
    "ensure_binaries",
    "ensure_pgbouncer",
    "find_bindir",
    "find_pgbouncer",
    "pooled_settings",
    "pooling_snippet",
]

ENV_DIR = "MULTIDB_ROUTERS_PG_DIR"
"""Names the directory of an already running cluster (``scripts/pg-cluster start``)."""
ENV_BINDIR = "MULTIDB_ROUTERS_PG_BINDIR"
"""Overrides where ``initdb``, ``pg_ctl``, ``pg_basebackup`` and ``postgres`` are found."""
ENV_INSTALL = "MULTIDB_ROUTERS_PG_INSTALL"
"""``0`` forbids installing PostgreSQL with apt when it is missing."""
ENV_APPLY_DELAY = "MULTIDB_ROUTERS_PG_APPLY_DELAY_MS"
"""The standby's ``recovery_min_apply_delay`` in milliseconds (default 300)."""
ENV_PGBOUNCER = "MULTIDB_ROUTERS_PGBOUNCER"
"""The ``pgbouncer`` binary to run, or ``0`` to start none."""

SERVERS = ("primary", "standby", "shards")
POOLED = ("primary", "standby")
"""The servers a PgBouncer stands in front of."""
DEFAULT_APPLY_DELAY_MS = 300
SUPERUSER = "postgres"
HOST = "127.0.0.1"
INFO_FILE = "cluster.json"
REQUIRED_BINARIES = ("initdb", "pg_ctl", "pg_basebackup", "postgres", "psql")
INSTALL_LOCK = Path("/tmp/multidb-routers-pg-install.lock")
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
PGBOUNCER_PATHS = (Path("/usr/sbin/pgbouncer"), Path("/usr/bin/pgbouncer"))

# Throwaway data: durability off, small memory, quick checkpoints and WAL shipping.
BASE_CONFIG = {
    "listen_addresses": f"'{HOST}'",
    "max_connections": "40",
    "shared_buffers": "16MB",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "replica",
    "max_wal_senders": "4",
    "wal_writer_delay": "10ms",
    "wal_receiver_status_interval": "1s",
    "hot_standby": "on",
    "hot_standby_feedback": "on",
    "max_standby_streaming_delay": "2s",
    "autovacuum": "off",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] '",
    "timezone": "'UTC'",
}


class PgUnavailableError(RuntimeError):
    """PostgreSQL cannot be found, installed or started; the message says why."""


@dataclass
class ClusterInfo:
    """Where a cluster lives and how to reach it; saved as ``<base_dir>/cluster.json``."""

    base_dir: str
    bindir: str
    ports: dict[str, int]
    apply_delay_ms: int = DEFAULT_APPLY_DELAY_MS
    os_user: str | None = None
    host: str = HOST
    pids: dict[str, int] = field(default_factory=dict)
    #: PgBouncer: its binary (``None`` when there is none: ``pooler_error`` says why), the
    #: port and pid of the one in front of each of :data:`POOLED`, and extra ``[databases]``
    #: entries per server (name -> connection string, e.g. ``"... pool_size=1"``).
    pgbouncer: str | None = None
    pooler_error: str | None = None
    pooler_ports: dict[str, int] = field(default_factory=dict)
    pooler_pids: dict[str, int] = field(default_factory=dict)
    pooler_databases: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def socket_dir(self) -> Path:
        """Directory of the servers' unix sockets."""
        return Path(self.base_dir) / "run"

    def datadir(self, server: str) -> Path:
        """Data directory of ``server`` (one of :data:`SERVERS`)."""
        return Path(self.base_dir) / server

    def logfile(self, server: str) -> Path:
        """Log file of ``server``."""
        return Path(self.base_dir) / f"{server}.log"

    def pooler_file(self, server: str, suffix: str) -> Path:
        """``pgbouncer-<server>.<suffix>``: the ``ini`` or ``log`` of the pooler of ``server``."""
        return Path(self.base_dir) / f"pgbouncer-{server}.{suffix}"

    def save(self) -> None:
        """Write ``cluster.json`` into the cluster's directory."""
        path = Path(self.base_dir) / INFO_FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, base_dir: str | os.PathLike[str]) -> ClusterInfo:
        """Read the ``cluster.json`` of the cluster in ``base_dir``."""
        path = Path(base_dir) / INFO_FILE
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise PgUnavailableError(f"no PostgreSQL test cluster in {base_dir}: {exc}") from exc
        return cls(**data)


def django_databases(info: ClusterInfo) -> dict[str, dict[str, Any]]:
    """The ``DATABASES`` entries of the cluster: ``pg_primary``, ``pg_standby``, shards.

    ``pg_standby`` is a ``TEST: {"MIRROR": "pg_primary"}`` alias: Django creates no test
    database for it and, for PostgreSQL, only copies the primary's test database *name* into
    it (``BaseDatabaseCreation.set_as_test_mirror``); host and port stay the standby's. So it
    reads the primary's test database through real streaming replication, with the lag.
    Flushes after transactional tests skip it too (they would fail on a read-only server).
    """

    def entry(server: str, **extra: Any) -> dict[str, Any]:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": info.host,
            "PORT": str(info.ports[server]),
            "USER": SUPERUSER,
            "NAME": "postgres",
            **extra,
        }

    # No DEPENDENCIES: without it Django orders them after "default", which a run of only
    # postgres tests never creates ("Circular dependency in TEST[DEPENDENCIES]").
    databases = {
        "pg_primary": entry("primary", TEST={"NAME": "test_multidb_routers", "DEPENDENCIES": []}),
        "pg_standby": entry("standby", TEST={"MIRROR": "pg_primary"}),
        "pg_shard_0": entry("shards", TEST={"NAME": "test_shard_0", "DEPENDENCIES": []}),
        "pg_shard_1": entry("shards", TEST={"NAME": "test_shard_1", "DEPENDENCIES": []}),
    }
    for server in POOLED:
        if server in info.pooler_ports:
            databases[f"pgb_{server}"] = {
                **entry(server, TEST={"MIRROR": "pg_primary"}),
                **pooled_settings(info.pooler_ports[server]),
            }
    return databases


#: The docs' settings of an alias behind a pooler (``docs/postgresql.rst`` includes the file).
POOLING_SNIPPET = Path(__file__).resolve().parents[2] / "docs" / "snippets" / "pooling_settings.py"


def pooling_snippet(name: str) -> dict[str, Any]:
    """``BEHIND_PGBOUNCER`` or ``WITH_DJANGO_POOL`` of the docs' snippet, a fresh copy."""
    import copy
    import runpy

    settings: dict[str, Any] = runpy.run_path(str(POOLING_SNIPPET))[name]
    return copy.deepcopy(settings)


def pooled_settings(port: int) -> dict[str, Any]:
    """What changes in a ``DATABASES`` entry that goes through a PgBouncer on ``port``.

    The docs' ``BEHIND_PGBOUNCER``: transaction pooling hands each transaction to any
    server connection, so no server-side cursor outside a transaction and no prepared
    statement.
    """
    return {**pooling_snippet("BEHIND_PGBOUNCER"), "PORT": str(port)}


def databases_from_env(environ: Mapping[str, str] = os.environ) -> dict[str, dict[str, Any]]:
    """The cluster's ``DATABASES`` entries when ``MULTIDB_ROUTERS_PG_DIR`` names one, else ``{}``.

    Used by ``tests/settings.py``. Whether the servers run is checked later, by the pytest
    plugin, which skips or fails the ``postgres`` tests with a clear message.
    """
    base_dir = environ.get(ENV_DIR)
    if not base_dir:
        return {}
    try:
        info = ClusterInfo.load(base_dir)
    except PgUnavailableError:
        return {}  # the plugin reports it on the postgres tests, settings still load
    return django_databases(info)


# -- binaries ---------------------------------------------------------------------------------


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)


def _has_binaries(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in REQUIRED_BINARIES)


def find_bindir() -> Path | None:
    """The directory holding PostgreSQL's server binaries, newest version first, or ``None``.

    ``MULTIDB_ROUTERS_PG_BINDIR`` wins; then Debian's ``/usr/lib/postgresql/<version>/bin``;
    then ``pg_config --bindir`` and the ``PATH``.
    """
    forced = os.environ.get(ENV_BINDIR)
    if forced:
        return Path(forced) if _has_binaries(Path(forced)) else None
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            output = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
            candidates.append(Path(output))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    return next((path for path in candidates if _has_binaries(path)), None)


def _install_allowed() -> bool:
    return os.environ.get(ENV_INSTALL, "1").lower() not in {"0", "false", "no"}


def _check_installable(missing: str, package: str) -> None:
    """Raise :class:`PgUnavailableError` (``missing``, and why) unless apt can install here."""
    apt_get = shutil.which("apt-get")
    if not _install_allowed() or apt_get is None or os.geteuid() != 0:
        why = (
            f"{ENV_INSTALL}=0"
            if not _install_allowed()
            else "no apt-get"
            if apt_get is None
            else "not root"
        )
        raise PgUnavailableError(
            f"{missing} and not installable here ({why}); install them with "
            f"`apt-get install {package}`"
        )


def _apt_install(package: str, find: Callable[[], Path | None]) -> Path | None:
    """``apt-get install package`` under the install lock; ``find()`` if another did it first.

    Returns what ``find()`` returned after waiting for the lock when another process had
    installed it meanwhile, else ``None`` once the install succeeded.
    """
    apt_get = shutil.which("apt-get")
    assert apt_get is not None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with INSTALL_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = find()
        if found is not None:
            return found
        with _no_service_start():
            for command in (
                [apt_get, "update"],
                [apt_get, "install", "-y", "-o", "DPkg::Lock::Timeout=300", package],
            ):
                done = subprocess.run(command, env=env, capture_output=True, text=True)
                if done.returncode != 0:
                    raise PgUnavailableError(
                        f"`{' '.join(command)}` failed ({done.returncode}): "
                        f"{(done.stderr or done.stdout).strip()[-2000:]}"
                    )
    return None


@contextlib.contextmanager
def _no_service_start() -> Iterator[None]:
    """Stop the package's postinst from starting Debian's own ``main`` cluster."""
    if POLICY_RC_D.exists():
        yield
        return
    POLICY_RC_D.write_text("#!/bin/sh\nexit 101\n")
    POLICY_RC_D.chmod(0o755)
    try:
        yield
    finally:
        POLICY_RC_D.unlink(missing_ok=True)


def ensure_binaries() -> Path:
    """Find PostgreSQL's binaries, installing Debian's ``postgresql`` first if needed.

    Installing needs root and ``apt-get``; concurrent callers (tox runs environments in
    parallel) wait on a file lock and the second one finds the first one's install.
    Raises :class:`PgUnavailableError` saying why when there is no PostgreSQL to use.
    """
    bindir = find_bindir()
    if bindir is not None:
        return bindir
    if os.environ.get(ENV_BINDIR):
        raise PgUnavailableError(
            f"{ENV_BINDIR}={os.environ[ENV_BINDIR]} lacks one of {', '.join(REQUIRED_BINARIES)}"
        )
    _check_installable(
        "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin, PATH)", "postgresql"
    )
    installed = _apt_install("postgresql", find_bindir)
    if installed is not None:  # another process installed it while we waited
        return installed
    bindir = find_bindir()
    if bindir is None:
        raise PgUnavailableError("`apt-get install postgresql` did not provide initdb/pg_ctl")
    return bindir


def find_pgbouncer() -> Path | None:
    """The ``pgbouncer`` binary (``$MULTIDB_ROUTERS_PGBOUNCER``, Debian's, the ``PATH``)."""
    forced = os.environ.get(ENV_PGBOUNCER)
    if forced and forced != "0":
        return Path(forced) if os.access(forced, os.X_OK) else None
    on_path = shutil.which("pgbouncer")
    candidates = [*PGBOUNCER_PATHS, *([Path(on_path)] if on_path else [])]
    return next((path for path in candidates if os.access(path, os.X_OK)), None)


def ensure_pgbouncer() -> Path:
    """Find PgBouncer, installing Debian's ``pgbouncer`` first if needed (as for PostgreSQL).

    Raises :class:`PgUnavailableError` saying why when there is none to use, also when
    ``MULTIDB_ROUTERS_PGBOUNCER=0`` turns it off.
    """
    if os.environ.get(ENV_PGBOUNCER) == "0":
        raise PgUnavailableError(f"{ENV_PGBOUNCER}=0: no PgBouncer started")
    binary = find_pgbouncer()
    if binary is not None:
        return binary
    if os.environ.get(ENV_PGBOUNCER):
        raise PgUnavailableError(f"{ENV_PGBOUNCER}={os.environ[ENV_PGBOUNCER]} is not executable")
    _check_installable("PgBouncer not found (/usr/sbin/pgbouncer, PATH)", "pgbouncer")
    installed = _apt_install("pgbouncer", find_pgbouncer)
    if installed is not None:
        return installed
    binary = find_pgbouncer()
    if binary is None:
        raise PgUnavailableError("`apt-get install pgbouncer` did not provide pgbouncer")
    return binary


# -- processes --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _server_user() -> str | None:
    """The OS user to run the servers as: ``postgres`` (else ``nobody``) under root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise PgUnavailableError("running as root and there is no `postgres` user to run servers")


def _pid_status(datadir: Path) -> tuple[int, str] | None:
    """``(pid, status)`` from ``postmaster.pid`` (status ``ready``/``standby`` once usable)."""
    try:
        lines = (datadir / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None
    if not lines or not lines[0].strip().isdigit():
        return None
    status = lines[7].strip() if len(lines) > 7 else ""
    return int(lines[0]), status


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own dead child not reaped yet) is not a server.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


class PgCluster:
    """Create, start and stop the test cluster (primary, lagging standby, shard server).

    With ``detach=False`` (the pytest fixtures) the servers are children of this process
    that die with it (``setpriv --pdeathsig``) and :meth:`stop` runs at exit; with
    ``detach=True`` (``scripts/pg-cluster``) they outlive it until ``pg-cluster stop``.
    """

    def __init__(
        self,
        base_dir: str | os.PathLike[str] | None = None,
        *,
        apply_delay_ms: int | None = None,
        detach: bool = False,
    ) -> None:
        if apply_delay_ms is None:
            apply_delay_ms = int(os.environ.get(ENV_APPLY_DELAY, DEFAULT_APPLY_DELAY_MS))
        self.requested_dir = Path(base_dir) if base_dir is not None else None
        self.apply_delay_ms = apply_delay_ms
        self.detach = detach
        self.info: ClusterInfo | None = None
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._owns_dir = False

    @classmethod
    def attach(cls, base_dir: str | os.PathLike[str]) -> PgCluster:
        """A handle on the already created cluster in ``base_dir`` (to check or stop it)."""
        info = ClusterInfo.load(base_dir)
        cluster = cls(base_dir, apply_delay_ms=info.apply_delay_ms, detach=True)
        cluster.info = info
        return cluster

    # -- running commands as the server user --

    def _env(self) -> dict[str, str]:
        assert self.info is not None
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env.update(HOME=self.info.base_dir, LC_ALL="C", LANG="C")
        return env

    def _command(self, argv: list[str], *, pdeathsig: bool = False) -> list[str]:
        assert self.info is not None
        prefix: list[str] = []
        if self.info.os_user is not None or pdeathsig:
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                if self.info.os_user is not None:
                    raise PgUnavailableError("`setpriv` (util-linux) is needed to drop root")
            else:
                prefix = [setpriv]
                if self.info.os_user is not None:
                    user = self.info.os_user
                    prefix += [f"--reuid={user}", f"--regid={user}", "--clear-groups"]
                if pdeathsig:
                    prefix.append("--pdeathsig=QUIT")  # immediate shutdown if we die
                prefix.append("--")
        return [*prefix, *argv]

    def _run(self, binary: str, *args: str) -> subprocess.CompletedProcess[str]:
        assert self.info is not None
        argv = self._command([str(Path(self.info.bindir) / binary), *args])
        done = subprocess.run(
            argv, cwd=self.info.base_dir, env=self._env(), capture_output=True, text=True
        )
        if done.returncode != 0:
            raise PgUnavailableError(
                f"`{binary} {' '.join(args)}` failed ({done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-2000:]}"
            )
        return done

    def psql(self, server: str, sql: str, *, dbname: str = "postgres") -> str:
        """Run ``sql`` on ``server`` with ``psql`` and return its unaligned output."""
        assert self.info is not None
        port = str(self.info.ports[server])
        args = ("-X", "-A", "-t", "-h", self.info.host, "-p", port, "-U", SUPERUSER)
        return self._run("psql", *args, "-d", dbname, "-c", sql).stdout.strip()

    # -- lifecycle --

    def start(self) -> ClusterInfo:
        """Create and start the three servers; return how to reach them.

        Takes one to three seconds: two parallel ``initdb --no-sync``, the primary and the
        shard server started together, ``pg_basebackup -R`` of the primary, the standby.
        """
        bindir = ensure_binaries()
        user = _server_user()
        if self.requested_dir is None:
            base = Path(tempfile.mkdtemp(prefix="multidb-routers-pg-"))
            self._owns_dir = True
        else:
            base = self.requested_dir.resolve()
            if base.exists() and any(base.iterdir()):
                raise PgUnavailableError(f"{base} is not empty; pick another --dir")
            base.mkdir(parents=True, exist_ok=True)
        self.info = ClusterInfo(
            base_dir=str(base),
            bindir=str(bindir),
            ports={},
            apply_delay_ms=self.apply_delay_ms,
            os_user=user,
        )
        if not self.detach:
            import atexit

            atexit.register(self.stop)
        try:
            self._create(base, user)
        except BaseException:
            self.stop()
            raise
        return self.info

    def _create(self, base: Path, user: str | None) -> None:
        assert self.info is not None
        self.info.socket_dir.mkdir()
        if user is not None:
            record = pwd.getpwnam(user)
            for path in (base, self.info.socket_dir):
                os.chown(path, record.pw_uid, record.pw_gid)
            base.chmod(0o700)
        self._initdb("primary", "shards")
        config = {**BASE_CONFIG, "unix_socket_directories": f"'{self.info.socket_dir}'"}
        for server in ("primary", "shards"):
            self._append_config(server, config)
        self._launch("primary", "shards")
        port = str(self.info.ports["primary"])
        self._run(
            "pg_basebackup",
            *("-D", str(self.info.datadir("standby")), "-R", "-X", "stream", "-c", "fast"),
            *("--no-sync", "-h", self.info.host, "-p", port, "-U", SUPERUSER),
        )
        self._append_config("standby", {"recovery_min_apply_delay": f"'{self.apply_delay_ms}ms'"})
        self._launch("standby")
        self._start_poolers()
        self.info.save()

    def _initdb(self, *servers: str) -> None:
        assert self.info is not None
        args = ("-A", "trust", "-U", SUPERUSER, "-E", "UTF8", "--locale=C", "--no-sync")
        running = {
            server: subprocess.Popen(
                self._command(
                    [
                        str(Path(self.info.bindir) / "initdb"),
                        *("-D", str(self.info.datadir(server)), *args),
                    ]
                ),
                cwd=self.info.base_dir,
                env=self._env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for server in servers
        }
        for server, process in running.items():
            output, _ = process.communicate()
            if process.returncode != 0:
                raise PgUnavailableError(
                    f"initdb of the {server} failed: {output.decode(errors='replace')[-2000:]}"
                )

    def _append_config(self, server: str, settings: Mapping[str, str]) -> None:
        assert self.info is not None
        lines = "".join(f"{name} = {value}\n" for name, value in settings.items())
        with (self.info.datadir(server) / "postgresql.conf").open("a") as conf:
            conf.write("\n# multidb_routers test cluster\n" + lines)

    def _launch(self, *servers: str, attempts: int = 3) -> None:
        """Start ``servers`` together on free ports and wait until they accept connections."""
        assert self.info is not None
        pending = list(servers)
        for attempt in range(attempts):
            for server in pending:
                self.info.ports[server] = _free_port()
                self._spawn_server(server)
            failed = []
            for server in pending:
                try:
                    self._wait_ready(server)
                except PgUnavailableError:
                    log = self.info.logfile(server).read_text(errors="replace")
                    if "could not bind" in log and attempt + 1 < attempts:
                        failed.append(server)  # the port was taken meanwhile: another one
                    else:
                        raise
            pending = failed
            if not pending:
                return

    def _spawn(self, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        """Start ``argv`` in the cluster's directory, its output appended to ``log``.

        It dies with this process (``pdeathsig``) unless the cluster is detached, when it
        gets its own session instead.
        """
        assert self.info is not None
        with log.open("ab") as output:
            return subprocess.Popen(
                self._command(argv, pdeathsig=not self.detach),
                cwd=self.info.base_dir,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=self.detach,
            )

    def _spawn_server(self, server: str) -> None:
        assert self.info is not None
        argv = [
            str(Path(self.info.bindir) / "postgres"),
            *("-D", str(self.info.datadir(server)), "-p", str(self.info.ports[server])),
        ]
        process = self._spawn(argv, self.info.logfile(server))
        self._processes[server] = process
        self.info.pids[server] = process.pid

    def _wait_ready(self, server: str, timeout: float = 30.0) -> None:
        assert self.info is not None
        process = self._processes[server]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                log = self.info.logfile(server).read_text(errors="replace")
                raise PgUnavailableError(
                    f"the {server} server exited ({process.returncode}): {log[-2000:]}"
                )
            state = _pid_status(self.info.datadir(server))
            if state is not None and state[1] in {"ready", "standby"}:
                return
            time.sleep(0.02)
        raise PgUnavailableError(f"the {server} server did not start within {timeout:.0f}s")

    # -- PgBouncer in front of the primary and the standby --

    def _start_poolers(self) -> None:
        """Start a PgBouncer in front of each of :data:`POOLED`, if there is one to run.

        Without PgBouncer the cluster still starts; ``info.pooler_error`` says why there is
        none, and the tests that need it skip (or fail under ``CI``) with that reason.
        """
        assert self.info is not None
        try:
            self.info.pgbouncer = str(ensure_pgbouncer())
        except PgUnavailableError as exc:
            self.info.pooler_error = str(exc)
            return
        (Path(self.info.base_dir) / "pgbouncer-users.txt").write_text(f'"{SUPERUSER}" ""\n')
        try:
            self._launch_poolers()
        except PgUnavailableError as exc:
            for server in POOLED:
                self.stop_pooler(server)
            self.info.pooler_ports.clear()
            self.info.pooler_pids.clear()
            self.info.pooler_error = str(exc)

    def _launch_poolers(self) -> None:
        assert self.info is not None
        for attempt in range(3):
            pending = [server for server in POOLED if server not in self.info.pooler_ports]
            for server in pending:
                self.info.pooler_ports[server] = _free_port()
                self._write_pooler_config(server)
                self._spawn_pooler(server)
            for server in pending:
                try:
                    self._wait_pooler(server)
                except PgUnavailableError:
                    log = self.info.pooler_file(server, "log").read_text(errors="replace")
                    if "Address already in use" not in log or attempt == 2:
                        raise
                    del self.info.pooler_ports[server]  # taken meanwhile: another port

    def _write_pooler_config(self, server: str) -> None:
        assert self.info is not None
        base = Path(self.info.base_dir)
        extra = self.info.pooler_databases.get(server, {})
        databases = "".join(f"{name} = {params}\n" for name, params in extra.items())
        self.info.pooler_file(server, "ini").write_text(
            f"""[databases]
{databases}* = host={self.info.host} port={self.info.ports[server]}

[pgbouncer]
listen_addr = {self.info.host}
listen_port = {self.info.pooler_ports[server]}
unix_socket_dir =
pidfile = {self.info.pooler_file(server, "pid")}
pool_mode = transaction
; Trust, as the servers behind: any role the servers know (auth_query), no password.
auth_type = trust
auth_file = {base / "pgbouncer-users.txt"}
auth_user = {SUPERUSER}
auth_query = SELECT usename, passwd FROM pg_shadow WHERE usename = $1
admin_users = {SUPERUSER}
default_pool_size = 6
max_client_conn = 200
; Fail fast in tests: a client waits at most 2 s for a server connection.
query_wait_timeout = 2
server_connect_timeout = 3
server_login_retry = 1
ignore_startup_parameters = extra_float_digits
"""
        )

    def _spawn_pooler(self, server: str) -> None:
        assert self.info is not None
        assert self.info.pgbouncer is not None
        argv = [self.info.pgbouncer, str(self.info.pooler_file(server, "ini"))]
        process = self._spawn(argv, self.info.pooler_file(server, "log"))
        self._processes[f"pgbouncer-{server}"] = process
        self.info.pooler_pids[server] = process.pid

    def _wait_pooler(self, server: str, timeout: float = 15.0) -> None:
        assert self.info is not None
        process = self._processes[f"pgbouncer-{server}"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                log = self.info.pooler_file(server, "log").read_text(errors="replace")
                raise PgUnavailableError(
                    f"the PgBouncer of the {server} exited ({process.returncode}): {log[-2000:]}"
                )
            with contextlib.suppress(OSError):
                address = (self.info.host, self.info.pooler_ports[server])
                with socket.create_connection(address, timeout=1):
                    return
            time.sleep(0.02)
        raise PgUnavailableError(f"the PgBouncer of the {server} did not start in {timeout:.0f}s")

    def pooler_running(self, server: str) -> bool:
        """Whether the PgBouncer in front of ``server`` runs."""
        assert self.info is not None
        pid = self.info.pooler_pids.get(server)
        return pid is not None and _alive(pid)

    def stop_pooler(self, server: str, *, kill: bool = False, timeout: float = 10.0) -> None:
        """Stop the PgBouncer in front of ``server`` (``kill``: ``SIGKILL``, as a crash)."""
        assert self.info is not None
        pid = self.info.pooler_pids.get(server)
        process = self._processes.pop(f"pgbouncer-{server}", None)
        if pid is not None and _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(pid) and time.monotonic() < deadline:
                if process is not None:
                    process.poll()
                time.sleep(0.01)
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)

    def start_pooler(self, server: str) -> None:
        """Start again, on the same port, a PgBouncer stopped with :meth:`stop_pooler`."""
        assert self.info is not None
        if self.pooler_running(server):
            return
        self._spawn_pooler(server)
        self._wait_pooler(server)
        self.info.save()

    def add_pooler_database(self, server: str, name: str, params: str) -> None:
        """Add ``name = params`` to the ``[databases]`` of ``server``'s PgBouncer and reload it.

        ``params`` is PgBouncer's connection string; host and port default to the server's.
        E.g. ``add_pooler_database("primary", "one", "dbname=test_x pool_size=1")``.
        """
        assert self.info is not None
        if "host=" not in params:
            params = f"host={self.info.host} port={self.info.ports[server]} {params}"
        self.info.pooler_databases.setdefault(server, {})[name] = params
        self._write_pooler_config(server)
        self.info.save()
        self.pooler_admin(server, "RELOAD")

    def add_pooler_user(self, role: str) -> None:
        """List ``role`` in the PgBouncers' ``auth_file`` (else found with ``auth_query``).

        PgBouncer 1.18 aborts (``put_in_order: found existing elem``) when a client whose
        role it found with ``auth_query`` uses a database entry that forces ``user=``.
        """
        assert self.info is not None
        with (Path(self.info.base_dir) / "pgbouncer-users.txt").open("a") as users:
            users.write(f'"{role}" ""\n')
        for server in self.info.pooler_ports:
            self.pooler_admin(server, "RELOAD")

    def release_pooled(self, database: str) -> None:
        """Make the PgBouncers close their server connections to ``database`` now.

        They keep them open otherwise, and ``DROP DATABASE`` refuses a database in use.
        """
        assert self.info is not None
        for server in self.info.pooler_ports:
            if self.pooler_running(server):
                self.pooler_admin(server, f'KILL "{database}"')
                self.pooler_admin(server, f'RESUME "{database}"')

    def pooler_admin(self, server: str, command: str) -> str:
        """Run ``command`` (``SHOW POOLS``, ``RELOAD``...) on PgBouncer's admin console."""
        assert self.info is not None
        port = str(self.info.pooler_ports[server])
        args = ("-X", "-A", "-t", "-h", self.info.host, "-p", port, "-U", SUPERUSER)
        return self._run("psql", *args, "-d", "pgbouncer", "-c", command).stdout.strip()

    def is_running(self, server: str) -> bool:
        """Whether ``server``'s postmaster is alive."""
        assert self.info is not None
        state = _pid_status(self.info.datadir(server))
        return state is not None and _alive(state[0])

    def status(self) -> dict[str, bool]:
        """``{server: running}`` for every server of the cluster."""
        return {server: self.is_running(server) for server in SERVERS}

    def stop_server(self, server: str, *, mode: str = "fast", timeout: float = 15.0) -> None:
        """Stop one server (``fast``: clients disconnected, or ``immediate``: no checkpoint)."""
        assert self.info is not None
        state = _pid_status(self.info.datadir(server))
        process = self._processes.pop(server, None)
        if state is not None and _alive(state[0]):
            sig = signal.SIGQUIT if mode == "immediate" else signal.SIGINT
            with contextlib.suppress(ProcessLookupError):
                os.kill(state[0], sig)
            deadline = time.monotonic() + timeout
            while _alive(state[0]) and time.monotonic() < deadline:
                if process is not None:
                    process.poll()  # reap our child so it does not linger as a zombie
                time.sleep(0.02)
            if _alive(state[0]):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(state[0], signal.SIGKILL)
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)

    def start_server(self, server: str) -> None:
        """Start again a server stopped with :meth:`stop_server`, on the same port."""
        assert self.info is not None
        if self.is_running(server):
            return
        self._spawn_server(server)
        self._wait_ready(server)
        self.info.save()

    def stop(self, *, remove: bool = True) -> None:
        """Stop every server (immediate shutdown) and delete the directory if ours.

        Idempotent; registered with ``atexit`` for the in-process clusters.
        """
        if self.info is None:
            return
        for server in POOLED:
            if f"pgbouncer-{server}" in self._processes or self.pooler_running(server):
                self.stop_pooler(server)
        for server in reversed(SERVERS):
            if server in self._processes or self.is_running(server):
                self.stop_server(server, mode="immediate")
        if remove and (self._owns_dir or self.detach):
            shutil.rmtree(self.info.base_dir, ignore_errors=True)
        self.info = None
