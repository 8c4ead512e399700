"""Fixtures shared by the whole test suite."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from multidb_routers.replication.state import fresh_state

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def _fresh_pinning_state() -> Iterator[None]:
    """No read-your-writes pin of an earlier test (they live in the thread's context)."""
    with fresh_state():
        yield


# The PostgreSQL test cluster: started only when tests marked postgres run.
pytest_plugins = ["tests.postgres.plugin", "tests.postgres.reviews", "tests.contrib.broker"]


def pytest_configure(config: pytest.Config) -> None:
    """The package's pytest plugin, when its entry point is not installed (an editable checkout)."""
    from multidb_routers.testing import pytest_plugin

    if not config.pluginmanager.is_registered(pytest_plugin):
        config.pluginmanager.register(pytest_plugin, "multidb_routers")
