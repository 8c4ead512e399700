"""``python -m benchmarks.loadtest``: see ``benchmarks/loadtest/run.py``."""

from __future__ import annotations

import sys

from benchmarks.loadtest.run import main

if __name__ == "__main__":
    sys.exit(main())
