"""Small timing helpers shared by the benchmark modules, and the format of a goal line.

A benchmark states a goal with :func:`goal`, which prints one line such as
``GOAL db_for_read, in a GET request: 0.93x (target <= 1.00x) PASS``;
``benchmarks/report.py`` collects every such line of every ``bench_*`` module into the
report's "Goals" table (:func:`parse_goals`).

``MULTIDB_BENCH_SCALE`` (a float, default 1) multiplies every iteration count given to
:func:`per_call`, :func:`interleaved`'s rounds and :func:`paired_ratio`'s pairs: the
smoke test runs the modules with a tiny scale to prove they work, not to measure.
"""

from __future__ import annotations

import gc
import os
import re
import statistics
import sys
import threading
import time
import timeit
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

T = TypeVar("T")

SCALE = float(os.environ.get("MULTIDB_BENCH_SCALE", "1"))


def scaled(count: int) -> int:
    """``count`` times ``MULTIDB_BENCH_SCALE``, at least 1."""
    return max(1, round(count * SCALE))


def per_call(func: Callable[[], object], *, number: int = 10_000, repeat: int = 7) -> float:
    """Seconds per call of ``func``: the median of ``repeat`` runs of ``number`` calls."""
    number = scaled(number)
    gc.collect()
    timer = timeit.Timer(func)
    runs = timer.repeat(repeat=repeat, number=number)
    return statistics.median(runs) / number


def cpu_per_call(func: Callable[[], object], *, number: int, repeat: int = 5) -> float:
    """CPU seconds per call of ``func`` in this thread: the fastest of ``repeat`` runs.

    ``time.thread_time`` counts only the time this thread ran (user and system), not the
    time the scheduler gave other processes; the fastest run is the one least disturbed
    by them (cache and CPU contention still inflate the others). On a busy machine this
    compares libraries far more steadily than wall-clock time.
    """
    number = scaled(number)
    gc.collect()
    timer = timeit.Timer(func, timer=time.thread_time)
    return min(timer.repeat(repeat=repeat, number=number)) / number


def interleaved(
    rows: Sequence[tuple[str, Callable[[], float]]], *, rounds: int = 7
) -> dict[str, float]:
    """Run every (name, timing) of ``rows`` once per round, in turn; each name's best.

    Other processes on the machine slow some runs down; alternating the rows and keeping
    each one's minimum compares them under the same conditions. Every other round runs
    the rows in reverse order, so that no row always follows the same one.
    """
    best: dict[str, float] = {}
    started = time.perf_counter()
    total = scaled(rounds) if SCALE < 1 else rounds
    for number in range(1, total + 1):
        for name, timing in rows if number % 2 else reversed(rows):
            seconds = timing()
            best[name] = min(best.get(name, seconds), seconds)
        elapsed = time.perf_counter() - started
        print(f"  round {number}/{total} done, {elapsed:.0f} s", file=sys.stderr, flush=True)
    return best


def paired_median(first: Callable[[], float], second: Callable[[], float], *, pairs: int) -> float:
    """The median over ``pairs`` of ``first() / second()``, each call a measurement.

    Each pair takes the two measurements back to back, in alternating order: a slow spell
    of the machine or a drift (caches, the disk's page cache) then weighs on both of a
    pair alike, and the median ignores the pairs it split. Two ways that run the same
    code measure close to 1.00 this way, where each way's own best of separate rounds
    differs by several percent between runs.
    """
    ratios = []
    for index in range(max(3, scaled(pairs))):
        if index % 2 == 0:
            mine = first()
            theirs = second()
        else:
            theirs = second()
            mine = first()
        ratios.append(mine / theirs)
    return statistics.median(ratios)


def paired_ratio(
    first: Callable[[], object],
    second: Callable[[], object],
    *,
    pairs: int,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """:func:`paired_median` of one call of ``first`` over one call of ``second``.

    Timed by ``clock`` (wall time; ``time.thread_time`` for work done in this thread).
    """

    def timed(func: Callable[[], object]) -> Callable[[], float]:
        def run() -> float:
            started = clock()
            func()
            return clock() - started

        return run

    return paired_median(timed(first), timed(second), pairs=pairs)


def in_fresh_thread(func: Callable[[], T]) -> T:
    """``func()`` run in a new thread: no thread-local and no context-variable state.

    That is the state of code outside any request (a management command, a task worker's
    thread). The thread's database connections are closed when it ends.
    """
    from django.db import connections

    result: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(func())
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def report(title: str, rows: Sequence[tuple[str, float]], *, baseline: str) -> None:
    """Print ``rows`` of (name, seconds per call) with each one's ratio to ``baseline``."""
    base = dict(rows)[baseline]
    width = max(len(name) for name, _ in rows)
    print(title)
    for name, seconds in rows:
        print(f"  {name:<{width}}  {seconds * 1e6:10.3f} us  x{seconds / base:6.3f}")


# Goals: one line each, printed by the benchmark that measures it.

_UNITS = {"x": "{:.2f}x", "us": "{:+.2f} us", "ms": "{:.1f} ms"}
GOAL_LINE = re.compile(
    r"^GOAL (?P<name>.+): (?P<value>\S+?) ?(?P<unit>x|us|ms) "
    r"\(target <= (?P<target>\S+?) ?(?:x|us|ms)\) (?P<verdict>PASS|FAIL)$"
)


@dataclass(frozen=True)
class Goal:
    """One goal as a benchmark printed it."""

    name: str
    value: float
    target: float
    unit: str
    passed: bool

    @property
    def shown(self) -> str:
        """The value as printed, with its unit."""
        return _UNITS[self.unit].format(self.value)

    @property
    def shown_target(self) -> str:
        """The target as printed, with its unit."""
        return _UNITS[self.unit].format(self.target)

    @property
    def verdict(self) -> str:
        """``PASS`` or ``FAIL``."""
        return "PASS" if self.passed else "FAIL"

    def line(self) -> str:
        """The ``GOAL ...`` line of this goal."""
        return f"GOAL {self.name}: {self.shown} (target <= {self.shown_target}) {self.verdict}"


def goal(name: str, value: float, target: float, unit: str) -> Goal:
    """Print and return the goal ``value <= target`` (``unit``: ``x``, ``us`` or ``ms``).

    ``x`` is a ratio (``0.93x``), ``us`` an added cost in microseconds (``+1.20 us``),
    ``ms`` a duration in milliseconds (``21.4 ms``). The comparison uses the value as
    printed, so the line never says PASS for a figure it shows above its target.
    """
    if unit not in _UNITS:
        raise ValueError(f"unit must be one of {sorted(_UNITS)}, not {unit!r}")
    shown = _UNITS[unit]
    number = float(shown.format(value).split()[0].rstrip("x"))
    result = Goal(name, value, target, unit, passed=number <= target)
    print(result.line(), flush=True)
    return result


def parse_goals(text: str) -> list[Goal]:
    """Every ``GOAL`` line of ``text`` (a benchmark's output), in order."""
    goals = []
    for line in text.splitlines():
        match = GOAL_LINE.match(line.strip())
        if match:
            goals.append(
                Goal(
                    name=match["name"],
                    value=float(match["value"]),
                    target=float(match["target"]),
                    unit=match["unit"],
                    passed=match["verdict"] == "PASS",
                )
            )
    return goals


# The one place benchmarks reach into the library's internals (its import path may move).


@contextmanager
def ours_request_state() -> Iterator[None]:
    """The routing state ``PinningMiddleware`` sets for a request carrying no pin cookie.

    For timing many operations in one request without building a request; benchmarks that
    can should call the real middleware instead.
    """
    from multidb_routers.replication.state import begin_request, end_request

    _, token = begin_request({})
    try:
        yield
    finally:
        end_request(token)


def ours_forget_known_cookies() -> None:
    """Forget the pin cookies this process signed or verified.

    What a request reaching another worker process meets: the cookie's signature is
    checked (for the "POST + GET, GET in another process" row).
    """
    from multidb_routers.replication.middleware import _known

    _known.clear()


def ours_request_receivers(*, connected: bool) -> None:
    """Connect or disconnect this app's receivers of Django's request signals.

    As ``AppConfig.ready()`` connects them: a peer library timed through Django's handler
    runs without them, as it would in a project without this app.
    """
    from multidb_routers import request_signals

    if connected:
        request_signals.connect()
    else:
        request_signals.disconnect()
