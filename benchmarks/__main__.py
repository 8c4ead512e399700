"""Run every ``benchmarks/bench_*.py`` module, each in its own process.

Each benchmark configures Django for itself, which can happen once per process.
``python -m benchmarks replica`` runs only the modules whose name contains ``replica``;
without arguments, ``benchmarks.report`` runs them all and prints one report.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    """Run the selected benchmark modules; return non-zero if one failed."""
    if not argv:  # everything, then one report comparing with the peers (benchmarks/report.py)
        from benchmarks.report import main as report

        return report([])
    here = Path(__file__).parent
    names = sorted(path.stem for path in here.glob("bench_*.py"))
    selected = [name for name in names if not argv or any(word in name for word in argv)]
    failed = 0
    for name in selected:
        print(f"\n=== {name} ===", flush=True)
        failed |= subprocess.call([sys.executable, "-m", f"benchmarks.{name}"])
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
