"""The example project, run in subprocesses under its own settings and a temporary var dir.

The suite's own settings (``tests.settings``) are not the example's, so each test
runs ``example_project/manage.py`` with ``EXAMPLE_VAR_DIR`` pointing at a fresh folder.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

EXAMPLE_DIR = Path(__file__).resolve().parent.parent / "example_project"


@pytest.fixture
def manage(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``manage.py`` of the example with its default settings and a temporary var dir."""
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env["EXAMPLE_VAR_DIR"] = str(tmp_path)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=EXAMPLE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


def count_rows(database: Path, table: str) -> int | None:
    """Rows of ``table`` in an SQLite file, or ``None`` when the table is not there."""
    with sqlite3.connect(database) as connection:
        exists = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        if exists is None:
            return None
        return int(connection.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0])


def test_check_is_clean(manage: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    result = manage("check", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_demo_seeds_each_alias_and_reports_where_each_step_went(
    manage: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    result = manage("demo", "--reviews", "300")

    assert result.returncode == 0, result.stderr
    steps = {
        title.strip(): aliases
        for title, _, aliases in (line.partition(" → ") for line in result.stdout.splitlines())
        if aliases
    }
    assert steps["migrate_all"] == "default · reviews"
    assert steps["300 reviews"] == "reviews writes reviews_review"
    assert steps["add a review"] == "default reads products_product · reviews writes reviews_review"
    assert steps["read it back"] == "reviews reads reviews_review · default reads products_product"
    assert "\r" not in result.stdout  # no progress bar when the output is not a terminal
    default, reviews = (
        tmp_path / "functional" / "default.sqlite3",
        tmp_path / "functional" / "reviews.sqlite3",
    )
    assert count_rows(default, "products_product") == 20
    assert count_rows(default, "reviews_review") is None
    assert count_rows(reviews, "reviews_review") == 300 + 1  # seeded, and added by the walk-through
    assert count_rows(reviews, "products_product") is None


def test_demo_runs_again_on_its_own_data(
    manage: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    manage("demo", "--reviews", "50")

    result = manage("demo", "--reviews", "40")

    assert result.returncode == 0, result.stderr
    assert count_rows(tmp_path / "functional" / "reviews.sqlite3", "reviews_review") == 41


def test_example_site_tests_pass(manage: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    result = manage("test", "--noinput")

    assert result.returncode == 0, result.stderr
    assert "OK" in result.stderr
