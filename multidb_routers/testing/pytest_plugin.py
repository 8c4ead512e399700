"""pytest plugin (registered by the package's ``pytest11`` entry point): routing fixtures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .routes import RecordedRoutes


@pytest.fixture
def record_routes() -> Iterator[RecordedRoutes]:
    """The routed queries of the test (see :func:`multidb_routers.testing.record_routes`)."""
    from .routes import record_routes as recording

    with recording() as routes:
        yield routes


@pytest.fixture
def lagging_replicas() -> Iterator[Any]:
    """Replica reads of the test do not see its writes (see ``testing.lagging_replicas``)."""
    from .lagging import lagging_replicas as lagging  # type: ignore[import-not-found,unused-ignore]

    with lagging() as replicas:
        yield replicas
