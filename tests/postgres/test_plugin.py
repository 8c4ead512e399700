"""Without PostgreSQL, ``postgres`` tests skip with a reason, and fail when ``CI`` is set.

These run a small pytest session in a subprocess, with the binaries hidden, so they need
no PostgreSQL and are not marked ``postgres`` themselves.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.postgres.cluster import ENV_BINDIR, ENV_DIR, ENV_INSTALL, ClusterInfo, django_databases

ROOT = Path(__file__).resolve().parents[2]
TARGET = "tests/postgres/test_cluster.py::test_the_standby_refuses_writes"


def _run_without_postgres(**environ: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"CI", ENV_DIR, "PYTEST_ADDOPTS"}
    }
    env.update({ENV_BINDIR: "/nonexistent", ENV_INSTALL: "0", **environ})
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", TARGET],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_postgres_tests_skip_with_the_reason_without_postgresql() -> None:
    done = _run_without_postgres()

    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
    assert f"PostgreSQL unavailable: {ENV_BINDIR}=/nonexistent lacks one of initdb" in done.stdout


def test_postgres_tests_fail_without_postgresql_when_ci_is_set() -> None:
    done = _run_without_postgres(CI="true")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 error" in done.stdout
    assert "PostgreSQL is required when CI is set" in done.stdout
    assert "postgres tests: required (CI is set)" in done.stdout


def test_a_stale_cluster_directory_is_reported_not_a_settings_error(tmp_path: Path) -> None:
    done = _run_without_postgres(**{ENV_DIR: str(tmp_path)})

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"no PostgreSQL test cluster in {tmp_path}" in done.stdout


def test_the_standby_alias_mirrors_the_primary_on_its_own_server() -> None:
    info = ClusterInfo(base_dir="/x", bindir="/y", ports={"primary": 1, "standby": 2, "shards": 3})
    databases = django_databases(info)

    assert set(databases) == {"pg_primary", "pg_standby", "pg_shard_0", "pg_shard_1"}
    assert databases["pg_standby"]["TEST"] == {"MIRROR": "pg_primary"}
    assert (databases["pg_primary"]["PORT"], databases["pg_standby"]["PORT"]) == ("1", "2")
    assert {databases[alias]["PORT"] for alias in ("pg_shard_0", "pg_shard_1")} == {"3"}
