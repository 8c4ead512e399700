"""What importing the router classes from settings.py adds over ``import django.db``.

Each try is a fresh ``python -X importtime`` process (settings not configured, as in a
settings module) running ``import django.db`` and then
``from multidb_routers import PrimaryReplicaRouter, FunctionalRouter, ShardRouter,
OverlayRouter``. The added time is the sum of the cumulative times of the top-level
imports after ``django.db``'s: what the second statement imports that ``django.db`` had not
already. The best of several tries is kept. Goal (issue 13): at most 30 ms. Run:
``python -m benchmarks.bench_import``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks.harness import goal, scaled

ROUTERS = (
    "from multidb_routers import PrimaryReplicaRouter, FunctionalRouter, ShardRouter, OverlayRouter"
)
CODE = (
    "import sys, time; import django.db; before = set(sys.modules); cpu = time.process_time(); "
    f"{ROUTERS}; "
    "print(len(set(sys.modules) - before), (time.process_time() - cpu) * 1000)"
)
TRIES = 11


def added_import(
    python: str = sys.executable,
) -> tuple[float, int, float, list[tuple[float, str]]]:
    """One fresh process: ms added over ``django.db``, modules added, CPU ms of the import,
    the imports one level below the top-level ones (cumulative ms, name)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_SETTINGS_MODULE", "PYTHONPROFILEIMPORTTIME"}
    }
    done = subprocess.run(
        [python, "-X", "importtime", "-c", CODE],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
    )
    total = 0.0
    children: list[tuple[float, str]] = []
    after_django_db = False
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, cumulative, name = line.split("|", 2)
        name = name[1:]  # the one space after the bar; two more per nesting level
        depth = (len(name) - len(name.lstrip(" "))) // 2
        if after_django_db and depth == 0:
            total += int(cumulative) / 1000
        elif after_django_db and depth == 1:
            children.append((int(cumulative) / 1000, name.strip()))
        elif depth == 0 and name == "django.db":
            after_django_db = True
    if not after_django_db:
        raise RuntimeError("no top-level django.db line in python -X importtime's output")
    modules, cpu_ms = done.stdout.split()
    return total, int(modules), float(cpu_ms), children


def main() -> None:
    """Run the tries, print the best and the goal."""
    tries = [added_import() for _ in range(scaled(TRIES))]
    best_ms, modules, _, children = min(tries)
    print(
        f"Importing the router classes after `import django.db`"
        f" (best of {len(tries)} fresh processes)"
    )
    print(f"  {ROUTERS}")
    print(
        f"  adds {best_ms:.1f} ms and {modules} modules; all tries: "
        + ", ".join(f"{t[0]:.1f}" for t in tries)
        + " ms"
    )
    cpu = min(t[2] for t in tries)
    print(f"  CPU time of the import (process_time, fastest try): {cpu:.1f} ms")
    print("  heaviest imports one level down (cumulative):")
    for ms, name in sorted(children, reverse=True)[:6]:
        print(f"  {ms:8.1f} ms  {name}")
    print()
    goal("import of the router classes, added to django.db", best_ms, 30.0, "ms")


if __name__ == "__main__":
    main()
