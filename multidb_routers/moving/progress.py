"""A one-line progress report (rows moved / total, rate) for terminals.

Quiet when the output is not a terminal or the verbosity is 0, so logs and tests see
only the command's summary lines.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.core.management.base import OutputWrapper

__all__ = ["Progress"]


class Progress:
    """Redraws one line, ``"label: 1200/5000 rows (24%), 3400 rows/s"``, 10 times a second."""

    interval = 0.1

    def __init__(self, output: OutputWrapper, *, total: int, label: str, verbosity: int) -> None:
        self.output = output
        self.total = total
        self.label = label
        self.enabled = verbosity > 0 and output.isatty()
        self.done = 0
        self.started = time.perf_counter()
        self._shown_at = 0.0
        self._width = 0

    def advance(self, rows: int) -> None:
        """Count ``rows`` more rows done and redraw the line if it is time to."""
        self.done += rows
        now = time.perf_counter()
        if self.enabled and (now - self._shown_at >= self.interval or self.done >= self.total):
            self._shown_at = now
            self._draw(now)

    def line(self, now: float | None = None) -> str:
        """The text of the progress line."""
        elapsed = (time.perf_counter() if now is None else now) - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        percent = 100.0 * self.done / self.total if self.total else 100.0
        return f"{self.label}: {self.done}/{self.total} rows ({percent:.0f}%), {rate:.0f} rows/s"

    def _draw(self, now: float) -> None:
        text = self.line(now)
        self.output.write("\r" + text.ljust(self._width), ending="")
        self.output.flush()
        self._width = len(text)

    def finish(self) -> None:
        """Draw the final state and end the line (only if a line was drawn)."""
        if self._width:
            self._draw(time.perf_counter())
            self.output.write("")
