"""The load test's figures per scenario, and the text report ``docs/_static/loadtest.txt``."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from benchmarks.loadtest.client import FRESH, NO_RESPONSE, SERVER_ERROR, STALE, WRITTEN

if TYPE_CHECKING:
    from collections.abc import Sequence

    from benchmarks.loadtest.client import Sample
    from benchmarks.loadtest.servers import ServerKind

STANDBY_ALIAS = "reviews_standby"  # benchmarks/loadtest/settings.py
# The phases of a fault scenario, each starting when its event did (or was done); a
# request counts in the phase in which its answer arrived (a request in flight when a
# server went down fails then).
PHASES = (
    ("before faults", None, False),
    ("standby down", "standby stopped", False),
    ("standby back", "standby started", True),
    ("primary down", "primary crashed", False),
    ("primary back", "primary restarted", True),
)


@dataclass(frozen=True)
class Scenario:
    """One run: a server, a freshness mode, pinning on or off, faults or none."""

    name: str
    server: ServerKind
    freshness: str  # "time" or "lsn"
    pinning: bool
    faults: bool
    seconds: float
    clients: int

    @property
    def title(self) -> str:
        """A one-line description."""
        pins = f"freshness={self.freshness}" if self.pinning else "pinning OFF (control)"
        faults = "standby stopped and restarted, primary crashed and restarted"
        return f"{self.server.description}; {pins}; {faults if self.faults else 'no faults'}"


@dataclass(frozen=True)
class FaultEvent:
    """A fault injected (or repaired) during a scenario, in scenario seconds."""

    label: str
    started: float
    ended: float
    error: str = ""


@dataclass
class ScenarioResult:
    """What a scenario's clients saw, and what the primary held afterwards."""

    scenario: Scenario
    samples: list[Sample]
    loops: int
    written: list[str]
    lost: list[str]  # acknowledged (302) but not on the primary afterwards
    unacknowledged_saved: int  # on the primary although the client got no 302
    events: list[FaultEvent]
    seconds: float
    notes: list[str] = field(default_factory=list)

    def phase(self, at: float) -> str:
        """The phase of the scenario at ``at`` seconds (see :data:`PHASES`)."""
        current = PHASES[0][0]
        for name, label, when_done in PHASES[1:]:
            event = next((e for e in self.events if e.label == label), None)
            if event is not None and at >= (event.ended if when_done else event.started):
                current = name
        return current

    def figures(self) -> dict[str, Any]:
        """Every figure of the report, as plain data (also the ``--json`` output)."""
        writes = [s for s in self.samples if s.kind == "write"]
        reads = [s for s in self.samples if s.kind == "read"]
        answered_reads = [s for s in reads if s.outcome in {FRESH, STALE}]
        on_standby = [s for s in answered_reads if last_alias(s.served_by) == STANDBY_ALIAS]
        standby_ids = {id(s) for s in on_standby}
        failed = [s for s in self.samples if s.outcome in {SERVER_ERROR, NO_RESPONSE}]
        phases: dict[str, dict[str, int]] = {}
        for sample in self.samples:
            entry = phases.setdefault(
                self.phase(sample.ended),
                dict.fromkeys(
                    ("requests", "reads", "failed_writes", "failed_reads", "stale", "on_standby"),
                    0,
                ),
            )
            entry["requests"] += 1
            entry["reads"] += sample.kind == "read"
            entry["on_standby"] += id(sample) in standby_ids
            if sample.outcome in {SERVER_ERROR, NO_RESPONSE}:
                entry["failed_writes" if sample.kind == "write" else "failed_reads"] += 1
            entry["stale"] += sample.outcome == STALE
        return {
            "name": self.scenario.name,
            "title": self.scenario.title,
            "clients": self.scenario.clients,
            "seconds": round(self.seconds, 1),
            "loops": self.loops,
            "requests": len(self.samples),
            "writes": len(writes),
            "written": sum(s.outcome == WRITTEN for s in writes),
            "reads": len(reads),
            "stale_reads": sum(s.outcome == STALE for s in reads),
            "server_errors": sum(s.outcome == SERVER_ERROR for s in self.samples),
            "no_response": sum(s.outcome == NO_RESPONSE for s in self.samples),
            "other_answers": sum(
                s.outcome not in {WRITTEN, FRESH, STALE, SERVER_ERROR, NO_RESPONSE}
                for s in self.samples
            ),
            "failed_writes": sum(s.outcome in {SERVER_ERROR, NO_RESPONSE} for s in writes),
            "failed_reads": sum(s.outcome in {SERVER_ERROR, NO_RESPONSE} for s in reads),
            "lost_writes": len(self.lost),
            "unacknowledged_saved": self.unacknowledged_saved,
            "standby_share": len(on_standby) / len(answered_reads) if answered_reads else None,
            # Answered reads whose response named no alias: the served-by header is broken.
            "unattributed_reads": sum(not s.served_by for s in answered_reads),
            "read_ms": percentiles([s.seconds for s in reads if s.status]),
            "write_ms": percentiles([s.seconds for s in writes if s.status]),
            "errors": dict(
                Counter(
                    f"[{self.phase(s.ended)}, {s.kind}] {s.error}" for s in failed
                ).most_common()
            ),
            "other": dict(
                Counter(
                    s.error or s.outcome
                    for s in self.samples
                    if s.outcome not in {WRITTEN, FRESH, STALE, SERVER_ERROR, NO_RESPONSE}
                ).most_common()
            ),
            "phases": phases,
            "events": [
                {"label": e.label, "at": round(e.started, 2), "done": round(e.ended, 2)}
                | ({"error": e.error} if e.error else {})
                for e in self.events
            ],
            "notes": self.notes,
        }


def last_alias(served_by: str) -> str:
    """The alias that served the last review read of a response (``X-Loadtest-Read``)."""
    return served_by.rsplit(",", 1)[-1] if served_by else ""


def percentiles(seconds: Sequence[float]) -> dict[str, float | None]:
    """p50 and p95 of ``seconds``, in milliseconds (``None`` with fewer than 2 values)."""
    if len(seconds) < 2:
        return {"p50": None, "p95": None}
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return {"p50": round(cuts[49] * 1000, 1), "p95": round(cuts[94] * 1000, 1)}


def verdicts(results: Sequence[ScenarioResult]) -> list[tuple[str, bool]]:
    """What must hold: (sentence, held). A control that sees no stale read is blind."""
    lines = []
    for result in results:
        figures = result.figures()
        name = result.scenario.name
        if not result.scenario.pinning:
            lines.append(
                (
                    f"{name}: the control run (no pinning) sees stale reads "
                    f"({figures['stale_reads']} of {figures['reads']} reads), so the test can "
                    "see them",
                    figures["stale_reads"] > 0,
                )
            )
            continue
        lines.append(
            (f"{name}: 0 stale reads ({figures['stale_reads']})", figures["stale_reads"] == 0)
        )
        lines.append(
            (
                f"{name}: 0 acknowledged writes lost ({figures['lost_writes']} of "
                f"{figures['written']})",
                figures["lost_writes"] == 0,
            )
        )
    return lines


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def format_report(
    results: Sequence[ScenarioResult], context: dict[str, str], skipped: Sequence[str]
) -> str:
    """The whole text report: context, summary table, each scenario, what must hold."""
    lines = ["Load test (make loadtest, python -m benchmarks.loadtest)", ""]
    width = max(len(key) for key in context)
    lines += [f"{key:<{width}}  {value}" for key, value in context.items()]
    lines += ["", "Summary (latencies in ms; failed = 5xx or no response)", ""]
    header = (
        f"{'scenario':<16}{'requests':>9}{'stale':>7}{'failed':>8}{'5xx':>6}{'lost':>6}"
        f"{'standby':>9}{'read p50/p95':>14}{'write p50/p95':>15}"
    )
    lines += [header, "-" * len(header)]
    for result in results:
        f = result.figures()
        lines.append(
            f"{f['name']:<16}{f['requests']:>9}{f['stale_reads']:>7}"
            f"{f['failed_reads'] + f['failed_writes']:>8}{f['server_errors']:>6}"
            f"{f['lost_writes']:>6}{_share(f['standby_share']):>9}"
            f"{_ms(f['read_ms']['p50']) + ' / ' + _ms(f['read_ms']['p95']):>14}"
            f"{_ms(f['write_ms']['p50']) + ' / ' + _ms(f['write_ms']['p95']):>15}"
        )
    lines.append("")
    lines.append("standby = share of the answered reads whose review query the standby served.")
    faulted = [result.figures() for result in results if result.events]
    if faulted:
        lines += ["", "Failed GETs / GETs, by phase (counted where the answer arrived)", ""]
        names = [name for name, _, _ in PHASES]
        header = f"{'scenario':<16}" + "".join(f"{name:>15}" for name in names)
        lines += [header, "-" * len(header)]
        for f in faulted:
            cells = []
            for name in names:
                entry = f["phases"].get(name, {"failed_reads": 0, "reads": 0})
                cells.append(f"{entry['failed_reads']} / {entry['reads']}")
            lines.append(f"{f['name']:<16}" + "".join(f"{cell:>15}" for cell in cells))
    for name in skipped:
        lines.append(f"NOT RUN: {name}")
    for result in results:
        lines += ["", *_details(result)]
    lines += ["", "What must hold", ""]
    lines += [f"  {'PASS' if held else 'FAIL'}  {sentence}" for sentence, held in verdicts(results)]
    return "\n".join(lines) + "\n"


def _details(result: ScenarioResult) -> list[str]:
    f = result.figures()
    lines = [
        f"== {f['name']}: {f['title']}",
        f"   {f['clients']} clients, {f['loops']} loops in {f['seconds']} s; "
        f"{f['writes']} POSTs ({f['written']} saved), {f['reads']} GETs",
        f"   stale reads {f['stale_reads']}, failed writes {f['failed_writes']}, failed reads "
        f"{f['failed_reads']} ({f['server_errors']} 5xx, {f['no_response']} without response), "
        f"other answers {f['other_answers']}",
        f"   lost writes {f['lost_writes']}; saved although the client got an error: "
        f"{f['unacknowledged_saved']}",
        f"   reads served by the standby {_share(f['standby_share'])}; "
        f"read p50 {_ms(f['read_ms']['p50'])} ms, p95 {_ms(f['read_ms']['p95'])} ms; "
        f"write p50 {_ms(f['write_ms']['p50'])} ms, p95 {_ms(f['write_ms']['p95'])} ms",
    ]
    if f["events"]:
        lines.append(
            "   faults: "
            + "; ".join(
                f"{e['label']} at {e['at']:.1f} s"
                + (f" (done at {e['done']:.1f} s)" if e["done"] - e["at"] >= 0.1 else "")
                + (f" FAILED: {e['error']}" if "error" in e else "")
                for e in f["events"]
            )
        )
        for phase, _, _ in PHASES:
            entry = f["phases"].get(phase)
            if entry:
                lines.append(
                    f"   {phase:<14}{entry['requests']:>5} requests ({entry['reads']} GETs), "
                    f"failed writes {entry['failed_writes']}, failed reads "
                    f"{entry['failed_reads']}, stale {entry['stale']}, GETs served by the "
                    f"standby {entry['on_standby']}"
                )
    for error, count in f["errors"].items():
        lines.append(f"   {count:>5} x {error}")
    for other, count in f["other"].items():
        lines.append(f"   {count:>5} x other answer: {other}")
    lines += [f"   note: {note}" for note in f["notes"]]
    return lines
