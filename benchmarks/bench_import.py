"""What importing the router classes from settings.py adds over ``import django.db``.

Each try is a fresh Python process (settings not configured, as in a settings module)
that runs ``import django.db`` and then imports the four router classes one after the
other, timing each statement with ``time.perf_counter``: the added time is the sum, the
breakdown says what each router class costs over the ones before it. The modules are
imported from bytecode, as in a deployed project: a first process writes it (into a
temporary ``PYTHONPYCACHEPREFIX``, even when ``PYTHONDONTWRITEBYTECODE`` is set, so the
source tree stays clean). The best of several tries is kept. Goal (issue 13): at most
30 ms. Run: ``python -m benchmarks.bench_import``.

``python -X importtime`` is not used for the figure: it slows every import down and does
not see the modules the package's lazy ``__getattr__`` imports with ``importlib``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.harness import goal, scaled

ROUTERS = ("PrimaryReplicaRouter", "FunctionalRouter", "ShardRouter", "OverlayRouter")
STATEMENT = f"from multidb_routers import {', '.join(ROUTERS)}"
CODE = f"""
import json, sys, time
import django.db
before = set(sys.modules)
steps = []
for name in {ROUTERS!r}:
    started = time.perf_counter()
    exec(f"from multidb_routers import {{name}}")
    steps.append((name, (time.perf_counter() - started) * 1000))
print(json.dumps({{"steps": steps, "modules": sorted(set(sys.modules) - before)}}))
"""
TRIES = 11


def run_once(
    pycache: str, python: str = sys.executable
) -> tuple[float, list[tuple[str, float]], list[str]]:
    """One fresh process: ms added over ``django.db``, ms per router class, modules added."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_SETTINGS_MODULE", "PYTHONPROFILEIMPORTTIME", "PYTHONDONTWRITEBYTECODE"}
    }
    env["PYTHONPYCACHEPREFIX"] = pycache
    done = subprocess.run(
        [python, "-c", CODE],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
    )
    result = json.loads(done.stdout)
    steps = [(name, float(ms)) for name, ms in result["steps"]]
    return sum(ms for _, ms in steps), steps, result["modules"]


def main() -> None:
    """Run the tries, print the best and the goal."""
    with tempfile.TemporaryDirectory(prefix="bench-import-") as pycache:
        run_once(pycache)  # writes the bytecode
        tries = [run_once(pycache) for _ in range(scaled(TRIES))]
    best_ms, steps, modules = min(tries)
    print(
        "Importing the router classes after `import django.db`"
        f" (best of {len(tries)} fresh processes, from bytecode)"
    )
    print(f"  {STATEMENT}")
    print(
        f"  adds {best_ms:.1f} ms and {len(modules)} modules; all tries: "
        + ", ".join(f"{t[0]:.1f}" for t in tries)
        + " ms"
    )
    print("  each class over the ones before it, in the best try:")
    for name, ms in steps:
        print(f"  {ms:8.1f} ms  {name}")
    outside = sorted({name.split(".")[0] for name in modules} - {"multidb_routers"})
    print(f"  modules from outside the package: {', '.join(outside) or 'none'}")
    print()
    goal("import of the router classes, added to django.db", best_ms, 30.0, "ms")


if __name__ == "__main__":
    main()
