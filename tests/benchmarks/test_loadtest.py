"""The load test (``benchmarks/loadtest``): its figures, and a short run that sees stale reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from benchmarks.loadtest.client import Browser, Sample
from benchmarks.loadtest.report import (
    FaultEvent,
    Scenario,
    ScenarioResult,
    format_report,
    verdicts,
)
from benchmarks.loadtest.servers import GUNICORN
from tests.postgres.plugin import in_ci

if TYPE_CHECKING:
    from tests.postgres.cluster import ClusterInfo

ROOT = Path(__file__).resolve().parents[2]


def result(
    samples: list[Sample],
    *,
    pinning: bool = True,
    events: list[FaultEvent] | None = None,
    lost: list[str] | None = None,
) -> ScenarioResult:
    """A finished scenario with these samples, as run.py builds it."""
    return ScenarioResult(
        Scenario("s", GUNICORN, "lsn", pinning, True, 10.0, 2),
        samples,
        loops=3,
        written=["a", "b"],
        lost=lost or [],
        unacknowledged_saved=0,
        events=events or [],
        seconds=10.0,
    )


def test_figures_count_stale_reads_failures_and_the_standby_share() -> None:
    samples = [
        Sample("write", 0.0, 0.02, 302, "written"),
        Sample("read", 0.1, 0.01, 200, "fresh", "reviews_standby"),
        Sample("read", 0.2, 0.01, 404, "stale", "reviews_standby"),
        Sample("read", 0.3, 0.03, 200, "fresh", "reviews"),
        Sample("read", 0.4, 0.05, 500, "5xx", "", "OperationalError: gone"),
        Sample("write", 0.5, 0.0, 0, "no response", "", "ConnectionRefusedError: x"),
    ]
    figures = result(samples).figures()
    assert figures["stale_reads"] == 1
    assert (figures["failed_reads"], figures["failed_writes"]) == (1, 1)
    assert (figures["server_errors"], figures["no_response"]) == (1, 1)
    # Of the three answered reads, two ran their review query on the standby.
    assert figures["standby_share"] == pytest.approx(2 / 3)
    assert figures["unattributed_reads"] == 0
    assert figures["read_ms"]["p50"] == pytest.approx(20.0)


def test_a_request_counts_in_the_phase_its_answer_arrived_in() -> None:
    events = [
        FaultEvent("standby stopped", 2.0, 2.1),
        FaultEvent("standby started", 4.0, 4.5),
        FaultEvent("primary crashed", 6.0, 6.1),
        FaultEvent("primary restarted", 7.0, 7.4),
    ]
    samples = [
        Sample("read", 1.0, 0.1, 200, "fresh", "reviews_standby"),
        Sample("read", 1.9, 0.2, 500, "5xx", "", "OperationalError: standby"),  # ends at 2.1
        Sample("read", 4.2, 0.1, 200, "fresh", "reviews"),  # standby not ready until 4.5
        Sample("write", 5.9, 0.3, 500, "5xx", "", "OperationalError: primary"),
        Sample("write", 7.2, 0.3, 302, "written"),
    ]
    phases = result(samples, events=events).figures()["phases"]
    assert phases["before faults"]["requests"] == 1
    assert phases["standby down"] == {
        "requests": 2,
        "reads": 2,
        "failed_writes": 0,
        "failed_reads": 1,
        "stale": 0,
        "on_standby": 0,
    }
    assert phases["before faults"]["on_standby"] == 1
    assert phases["primary down"]["failed_writes"] == 1
    assert phases["primary back"]["requests"] == 1


def test_a_control_run_without_stale_reads_fails_the_report() -> None:
    blind = result([Sample("read", 0.1, 0.01, 200, "fresh", "reviews_standby")], pinning=False)
    stale = result([Sample("read", 0.1, 0.01, 200, "stale", "reviews")], pinning=True)
    lost = result([], lost=["b"])
    held = [ok for _, ok in verdicts([blind, stale, lost])]
    assert held == [False, False, True, True, False]
    text = format_report([blind], {"date": "today"}, ["late (0 s left)"])
    assert "FAIL  s: the control run (no pinning) sees stale reads (0 of 1 reads)" in text
    assert "NOT RUN: late (0 s left)" in text


def test_the_browser_keeps_and_forgets_cookies_as_the_server_says() -> None:
    browser = Browser("127.0.0.1", 1)
    browser._keep("csrftoken=abc; Path=/; SameSite=Lax")
    browser._keep('multidb_pin="x:1"; HttpOnly; Max-Age=5; Path=/')
    assert browser.cookies == {"csrftoken": "abc", "multidb_pin": "x:1"}
    browser._keep('multidb_pin=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/')
    assert browser.cookies == {"csrftoken": "abc"}


@pytest.mark.once
@pytest.mark.postgres
def test_a_short_load_test_sees_stale_reads_without_pinning_and_none_with_it(
    pg_info: ClusterInfo, tmp_path: Path
) -> None:
    missing = [name for name in ("gunicorn", "uvicorn") if find_spec(name) is None]
    if missing:
        reason = f"{', '.join(missing)} not installed (the test extra installs them)"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    figures_file = tmp_path / "figures.json"
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [
            *(sys.executable, "-m", "benchmarks.loadtest", "--smoke"),
            *("--cluster-dir", pg_info.base_dir, "--json", str(figures_file)),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    control, pinned = json.loads(figures_file.read_text())["scenarios"]
    assert control["name"] == "control"
    assert control["stale_reads"] > 0  # the harness sees stale reads...
    assert control["standby_share"] == 1.0  # ...served by the standby
    assert pinned["name"] == "uvicorn-lsn"
    assert pinned["reads"] > 0
    assert pinned["stale_reads"] == 0
    assert pinned["lost_writes"] == 0
    for figures in (control, pinned):
        assert figures["failed_reads"] == figures["failed_writes"] == 0, figures["errors"]
        assert figures["unattributed_reads"] == 0
    assert "What must hold" in done.stdout
