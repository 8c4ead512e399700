"""django-multidb-router 0.11's own test module passes against the compat layer.

The module (``multidb/tests.py`` of its sdist) is downloaded from the package index
with pip at test time, never copied into this repository, and run by
``run_upstream.py`` in a subprocess under ``tests.compat.settings`` with ``multidb``
pointing at ``multidb_routers.compat.multidb``. Without the index the test is skipped
with the reason, or fails when the ``CI`` environment variable is set. The ``compat``
tox environment runs it; the other environments set ``MULTIDB_ROUTERS_COMPAT_SUITE=0``
to skip it, so it runs once per ``make test``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.compat

PACKAGE = "django-multidb-router"
VERSION = "0.11"
EXPECTED_TESTS = 25
ROOT = Path(__file__).resolve().parents[2]
COMPAT = ROOT / "multidb_routers" / "compat" / "multidb"


def in_ci() -> bool:
    """Whether the ``CI`` environment variable makes the upstream suite mandatory."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def skip_or_fail(reason: str) -> None:
    """Skip with ``reason``, or fail under CI."""
    if in_ci():
        pytest.fail(
            f"django-multidb-router's suite is required when CI is set: {reason}", pytrace=False
        )
    pytest.skip(reason)


def download_tests_module(directory: Path) -> Path:
    """Download the sdist with pip and extract its ``multidb/tests.py`` into ``directory``."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--disable-pip-version-check",
        "--retries",
        "1",
        "--timeout",
        "15",
        f"{PACKAGE}=={VERSION}",
        "-d",
        str(directory),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    except subprocess.TimeoutExpired:
        skip_or_fail(f"pip download {PACKAGE}=={VERSION} took over 180 s (index unreachable?)")
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        skip_or_fail(
            f"pip download {PACKAGE}=={VERSION} failed (package index unreachable?): "
            + " / ".join(tail)
        )
    sdists = sorted(directory.glob("django_multidb_router-*.tar.gz")) + sorted(
        directory.glob("django-multidb-router-*.tar.gz")
    )
    assert sdists, f"pip saved no sdist of {PACKAGE} in {directory}: {os.listdir(directory)}"
    target = directory / "upstream_tests.py"
    with tarfile.open(sdists[0]) as archive:
        members = [m for m in archive.getmembers() if m.name.endswith("/multidb/tests.py")]
        assert len(members) == 1, f"{sdists[0].name} holds no single multidb/tests.py"
        source = archive.extractfile(members[0])
        assert source is not None
        target.write_bytes(source.read())
    return target


@pytest.fixture(scope="module")
def upstream_tests(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """django-multidb-router's ``multidb/tests.py``, fresh from the package index."""
    if os.environ.get("MULTIDB_ROUTERS_COMPAT_SUITE", "").strip() == "0":
        pytest.skip("MULTIDB_ROUTERS_COMPAT_SUITE=0: the compat tox environment runs this suite")
    return download_tests_module(tmp_path_factory.mktemp("upstream"))


@pytest.mark.parametrize(
    "settings_module",
    [
        # Import paths changed, nothing else: multidb_routers is not even installed.
        "tests.compat.settings",
        # multidb_routers installed: its system checks pass on the compat router first.
        "tests.compat.settings_checked",
    ],
)
def test_django_multidb_router_own_suite_passes_against_the_compat_modules(
    upstream_tests: Path, settings_module: str, tmp_path: Path
) -> None:
    """All 25 tests of django-multidb-router 0.11 pass with ``multidb`` aliased to compat."""
    tests_py = upstream_tests
    result_json = tmp_path / "result.json"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-W",
            "error::DeprecationWarning",
            "-m",
            "tests.compat.run_upstream",
            str(tests_py),
            str(result_json),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
        check=False,
    )
    output = f"{done.stdout}\n{done.stderr}"
    assert result_json.exists(), f"The upstream suite did not run:\n{output}"
    result = json.loads(result_json.read_text())
    # The tests ran against the compat modules, not an installed django-multidb-router.
    for name, path in {**result["files"], **result["imported"]}.items():
        assert Path(path).resolve().is_relative_to(COMPAT), f"{name} came from {path}"
    assert result["failures"] == [], output
    assert result["errors"] == [], output
    assert result["skipped"] == [], output
    assert result["unexpected_successes"] == [], output
    assert result["expected_failures"] == [], output
    assert result["run"] == EXPECTED_TESTS, output
    assert done.returncode == 0, output
