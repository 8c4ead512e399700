"""Check a built wheel: ``py.typed`` inside, no tests. Used by the ``package`` tox env."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path


def main(dist: str) -> int:
    """Inspect the one wheel in ``dist``; return non-zero when it is wrong."""
    wheel = next(Path(dist).glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    problems = []
    if "multidb_routers/py.typed" not in names:
        problems.append("multidb_routers/py.typed is missing")
    problems += [f"{name} should not be shipped" for name in names if name.startswith("tests/")]
    for problem in problems:
        print(f"{wheel.name}: {problem}", file=sys.stderr)
    if not problems:
        print(f"{wheel.name}: {len(names)} files, py.typed included, no tests")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
