"""``migrate_all`` with the layouts the docs recommend."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_migrate_all_skips_a_default_entry_without_engine(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.commands.settings_empty_default",
        "MULTIDB_TEST_VAR_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, "-m", "django", "migrate_all", "--no-input"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "Skipping default: no ENGINE (a placeholder entry)." in lines
    assert "Skipping slave: read-only for MultipleMasterSlave." in lines
    assert [line for line in lines if line.startswith("Migrating")] == ["Migrating master-a:"]
    with sqlite3.connect(tmp_path / "master-a.sqlite3") as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"auth_user", "multidb_routers_tombstone"} <= tables
    assert not (tmp_path / "slave.sqlite3").exists()
