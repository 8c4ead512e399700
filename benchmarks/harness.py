"""Small timing helpers shared by the benchmark modules."""

from __future__ import annotations

import gc
import statistics
import timeit
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


def per_call(func: Callable[[], object], *, number: int = 10_000, repeat: int = 7) -> float:
    """Seconds per call of ``func``: the median of ``repeat`` runs of ``number`` calls."""
    gc.collect()
    timer = timeit.Timer(func)
    runs = timer.repeat(repeat=repeat, number=number)
    return statistics.median(runs) / number


def report(title: str, rows: Sequence[tuple[str, float]], *, baseline: str) -> None:
    """Print ``rows`` of (name, seconds per call) with each one's ratio to ``baseline``."""
    base = dict(rows)[baseline]
    width = max(len(name) for name, _ in rows)
    print(title)
    for name, seconds in rows:
        print(f"  {name:<{width}}  {seconds * 1e6:10.3f} us  x{seconds / base:6.3f}")
