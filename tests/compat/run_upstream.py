"""Run django-multidb-router's own ``multidb/tests.py`` against the compat layer.

``python -m tests.compat.run_upstream TESTS_PY RESULT_JSON`` (with
``DJANGO_SETTINGS_MODULE=tests.compat.settings``): points ``multidb``,
``multidb.pinning`` and ``multidb.middleware`` at ``multidb_routers.compat.multidb``
and its submodules, runs the module with Django's test runner (as that package's
``run.sh test`` does), and writes the counts and the names of the failed tests to
``RESULT_JSON`` for ``test_upstream_suite.py`` to check.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import unittest

MODULE = "multidb_upstream_tests"


def alias_modules() -> dict[str, str]:
    """Make ``import multidb...`` give the compat modules; return where each one lives."""
    import multidb_routers.compat.multidb as multidb
    import multidb_routers.compat.multidb.middleware as middleware
    import multidb_routers.compat.multidb.pinning as pinning

    modules = {"multidb": multidb, "multidb.pinning": pinning, "multidb.middleware": middleware}
    sys.modules.update(modules)
    return {name: str(module.__file__) for name, module in modules.items()}


def main(tests_py: str, result_json: str) -> int:
    """Run the upstream module; 0 when every test passed."""
    files = alias_modules()

    import django
    from django.test.runner import DiscoverRunner

    django.setup()
    spec = importlib.util.spec_from_file_location(MODULE, tests_py)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE] = module
    spec.loader.exec_module(module)
    summary: dict[str, Any] = {"files": files}
    # What the upstream module imported is what it tests.
    summary["imported"] = {
        name: str(getattr(module, attribute).__file__)
        for name, attribute in (("multidb", "multidb"),)
    }

    class Runner(DiscoverRunner):
        def suite_result(self, suite: Any, result: unittest.TestResult, **kwargs: Any) -> int:
            summary.update(
                run=result.testsRun,
                failures=[test.id() for test, _ in result.failures],
                errors=[str(test) for test, _ in result.errors],
                skipped=[test.id() for test, _ in result.skipped],
                unexpected_successes=[test.id() for test in result.unexpectedSuccesses],
                expected_failures=[test.id() for test, _ in result.expectedFailures],
            )
            return super().suite_result(suite, result, **kwargs)

    failed = Runner(verbosity=2, interactive=False).run_tests([MODULE])
    Path(result_json).write_text(json.dumps(summary, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
