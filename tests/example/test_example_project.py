"""The example project, run in subprocesses under its own settings and a temporary var dir.

The suite's own settings (``tests.settings``) are not the example's, so each test
runs ``example_project/manage.py`` with ``--settings`` of one pattern and
``EXAMPLE_VAR_DIR`` pointing at a fresh folder.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    Manage = Callable[..., subprocess.CompletedProcess[str]]

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "example_project"
pytestmark = pytest.mark.example
PATTERNS = ["functional", "replica", "sharded", "tenants", "overlay"]
SHARDS = [f"reviews_{number}" for number in range(4)]


@pytest.fixture
def manage(tmp_path: Path) -> Manage:
    """Run ``manage.py`` of the example with a temporary var dir (``pattern=`` picks settings)."""
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env["EXAMPLE_VAR_DIR"] = str(tmp_path)

    def run(*args: str, pattern: str = "functional") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args, f"--settings=example_project.settings.{pattern}"],
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


def column(database: Path, sql: str) -> list[object]:
    """The first column of a query's rows on an SQLite file."""
    with sqlite3.connect(database) as connection:
        return [row[0] for row in connection.execute(sql)]


def steps(output: str) -> dict[str, str]:
    """The demo's ``title → aliases`` lines, by title (the last one wins)."""
    return {
        title.strip(): aliases
        for title, _, aliases in (line.partition(" → ") for line in output.splitlines())
        if aliases
    }


def aliases_of(step: str) -> set[str]:
    """The aliases a step line names (shards answer in any order)."""
    return {part.split()[0] for part in step.split(" · ")}


@pytest.mark.parametrize("pattern", PATTERNS)
def test_check_is_clean(manage: Manage, pattern: str) -> None:
    result = manage("check", "--fail-level", "WARNING", pattern=pattern)

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize("pattern", PATTERNS)
def test_migrations_match_the_models(manage: Manage, pattern: str) -> None:
    result = manage("makemigrations", "--check", "--dry-run", pattern=pattern)

    assert result.returncode == 0, result.stdout + result.stderr


def test_functional_demo_keeps_products_and_reviews_apart(manage: Manage, tmp_path: Path) -> None:
    result = manage("demo", "--reviews", "300")

    assert result.returncode == 0, result.stderr
    done = steps(result.stdout)
    assert done["migrate_all"] == "default · reviews"
    # Reads too: the old reviews are loaded before their delete, since Review.merged (an
    # OverlayManager) connects a post_delete receiver and Django then never fast-deletes.
    assert done["300 reviews"] == "reviews reads reviews_review and writes reviews_review"
    assert "its stats count 300 reviews of 20 products" in result.stdout
    assert done["add a review"] == "default reads products_product · reviews writes reviews_review"
    assert done["read it back"] == "default reads products_product · reviews reads reviews_review"
    assert "\r" not in result.stdout  # no progress bar when the output is not a terminal
    default, reviews = (
        tmp_path / "functional" / "default.sqlite3",
        tmp_path / "functional" / "reviews.sqlite3",
    )
    assert count_rows(default, "products_product") == 20
    assert count_rows(default, "reviews_review") is None
    assert count_rows(reviews, "reviews_review") == 300 + 1  # seeded, and added by the walk-through
    assert count_rows(reviews, "products_product") is None


def test_demo_runs_again_on_its_own_data(manage: Manage, tmp_path: Path) -> None:
    manage("demo", "--reviews", "50")

    result = manage("demo", "--reviews", "40")

    assert result.returncode == 0, result.stderr
    assert count_rows(tmp_path / "functional" / "reviews.sqlite3", "reviews_review") == 41


def test_replica_demo_reads_replicas_writes_the_primary_and_pins_the_writer(
    manage: Manage, tmp_path: Path
) -> None:
    result = manage("demo", "--reviews", "200", pattern="replica")

    assert result.returncode == 0, result.stderr
    done = steps(result.stdout)
    replicas = {"reviews_replica_1", "reviews_replica_2"}
    assert done["migrate_all"] == "default · reviews"  # never a replica
    assert "its stats count 200 reviews of 20 products" in result.stdout
    assert aliases_of(done["open a product page"]) & replicas
    assert done["add a review"] == "default reads products_product · reviews writes reviews_review"
    # The pin cookie sends the writer's next read to the primary...
    assert done["read it back"] == "default reads products_product · reviews reads reviews_review"
    # ...while another visitor reads a replica that has not been copied yet.
    assert aliases_of(done["another visitor: 404 (stale)"]) & replicas
    assert aliases_of(done["another visitor: 200"]) & replicas
    # The view's recount job, in another thread, restored the view's token: it read the
    # primary and counted the new review; without the token it read a stale replica.
    assert "job (recount the rating, in another thread) read reviews: " in result.stdout
    assert "the new one included" in result.stdout
    stale = re.search(r"without the view's token read (\S+): (\d+) reviews", result.stdout)
    fresh = re.search(r"in another thread\) read reviews: (\d+) reviews", result.stdout)
    assert stale is not None
    assert fresh is not None
    assert stale[1] in replicas
    assert int(stale[2]) == int(fresh[1]) - 1
    folder = tmp_path / "replica"
    for name in ["reviews", *sorted(replicas)]:
        assert count_rows(folder / f"{name}.sqlite3", "reviews_review") == 201
        assert count_rows(folder / f"{name}.sqlite3", "products_product") is None


def test_sharded_demo_keeps_each_products_reviews_on_one_shard(
    manage: Manage, tmp_path: Path
) -> None:
    result = manage("demo", "--reviews", "400", pattern="sharded")

    assert result.returncode == 0, result.stderr
    done = steps(result.stdout)
    assert aliases_of(done["400 reviews"]) == set(SHARDS)
    assert "its stats count 400 reviews of 20 products" in result.stdout  # summed over shards
    assert aliases_of(done["latest reviews"]) == {*SHARDS, "default"}  # a fan-out
    page = aliases_of(done["open a product page"]) - {"default"}
    assert len(page) == 1  # one shard
    assert aliases_of(done["add a review"]) == page | {"default"}
    assert aliases_of(done["read it back"]) == page | {"default"}
    folder = tmp_path / "sharded"
    products_by_shard = [
        set(column(folder / f"{shard}.sqlite3", "SELECT DISTINCT product_id FROM reviews_review"))
        for shard in SHARDS
    ]
    assert sum(count_rows(folder / f"{s}.sqlite3", "reviews_review") or 0 for s in SHARDS) == 401
    assert sum(map(len, products_by_shard)) == len(set().union(*products_by_shard)) == 20
    ids = [
        pk
        for shard in SHARDS
        for pk in column(folder / f"{shard}.sqlite3", "SELECT id FROM reviews_review")
    ]
    assert len(set(ids)) == len(ids)  # new_id: no collision between shards
    assert count_rows(folder / "default.sqlite3", "reviews_review") is None


def test_overlay_demo_changes_only_the_overlay(manage: Manage, tmp_path: Path) -> None:
    result = manage("demo", "--reviews", "300", pattern="overlay")

    assert result.returncode == 0, result.stderr
    done = steps(result.stdout)
    assert done["migrate_all"] == "default · overlay"  # never the snapshot
    assert "its stats count 300 reviews of 20 products" in result.stdout
    assert "writes" not in done["add a review"].split(" · snapshot")[-1]
    assert "refused: ReadOnlyDatabaseError" in result.stdout
    assert "products.Product: 0 added, 1 changed, 0 deleted" in result.stdout
    assert "reviews.Review: 1 added, 0 changed, 1 deleted" in result.stdout
    assert "snapshot sha256 unchanged" in result.stdout
    folder = tmp_path / "overlay"
    snapshot, overlay = folder / "snapshot.sqlite3", folder / "overlay.sqlite3"
    assert (count_rows(snapshot, "products_product"), count_rows(snapshot, "reviews_review")) == (
        20,
        300,
    )
    assert count_rows(overlay, "products_product") == 1  # the changed price, copied up
    assert count_rows(overlay, "reviews_review") == 1  # the review added through the site
    assert count_rows(overlay, "multidb_routers_tombstone") == 1  # the deleted review
    assert count_rows(folder / "default.sqlite3", "products_product") is None


def test_tenants_demo_locks_each_shop_to_its_shard_and_places_the_big_shop(
    manage: Manage, tmp_path: Path
) -> None:
    for _ in range(2):  # and again, on its own data
        result = manage("demo", "--reviews", "200", pattern="tenants")
        assert result.returncode == 0, result.stderr
    done = steps(result.stdout)
    assert "inside that lock, every shop's reviews → refused: ShardLockError" in result.stdout
    assert done["big shop: add a review"].endswith("reviews_big writes reviews_review")
    assert done["big shop: its page"].endswith("reviews_big reads reviews_review")
    folder = tmp_path / "tenants"
    big = column(
        folder / "default.sqlite3", "SELECT id FROM products_product WHERE slug = 'big-shop'"
    )
    assert column(
        folder / "default.sqlite3", "SELECT key, alias FROM multidb_routers_placement"
    ) == [str(big[0])]
    assert (
        column(folder / "reviews_big.sqlite3", "SELECT DISTINCT product_id FROM reviews_review")
        == big
    )


@pytest.mark.parametrize("pattern", PATTERNS)
def test_seed_for_serve_fills_an_empty_site_once(manage: Manage, pattern: str) -> None:
    first = manage("seed", "--if-empty", "--reviews", "30", pattern=pattern)
    second = manage("seed", "--if-empty", pattern=pattern)

    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"{pattern}: seeded 20 products and 30 reviews."
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == f"{pattern}: data already there, migrated only."


def test_example_site_tests_pass(manage: Manage) -> None:
    result = manage("test", "--noinput")

    assert result.returncode == 0, result.stderr
    assert "OK" in result.stderr


def test_example_routing_tests_pass_under_the_replica_settings(manage: Manage) -> None:
    # reviews/test_routing.py, the worked example of docs/testing.rst (skipped elsewhere).
    result = manage("test", "reviews.test_routing", "--noinput", pattern="replica")

    assert result.returncode == 0, result.stderr
    assert "Ran 4 tests" in result.stderr
    assert "\nOK\n" in result.stderr
    assert "skipped" not in result.stderr


@pytest.mark.parametrize(
    ("toolbar", "debug", "shown"), [("", "1", False), ("1", "0", False), ("1", "1", True)]
)
def test_the_debug_toolbar_is_on_only_for_make_serve_with_debug(
    tmp_path: Path, toolbar: str, debug: str, shown: bool
) -> None:
    # make serve sets EXAMPLE_TOOLBAR=1; tests, make demo and DEBUG=False leave it off.
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env.update(EXAMPLE_VAR_DIR=str(tmp_path), EXAMPLE_TOOLBAR=toolbar, EXAMPLE_DEBUG=debug)
    code = "from django.conf import settings; print('debug_toolbar' in settings.INSTALLED_APPS)"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=EXAMPLE_DIR,
        env={**env, "DJANGO_SETTINGS_MODULE": "example_project.settings.replica"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(shown)
    assert "EXAMPLE_TOOLBAR=1" in (EXAMPLE_DIR.parent / "Makefile").read_text()
