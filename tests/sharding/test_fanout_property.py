"""The fan-out property (tests/sharding/fanout_property.py) on SQLite and PostgreSQL shards."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from multidb_routers.concurrency import close_workers
from tests.sharding.fanout_property import check
from tests.sharding.oracle import DATABASES, fill

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def no_workers() -> Iterator[None]:
    close_workers()
    yield
    close_workers()


@pytest.mark.django_db(databases=DATABASES, transaction=True)  # workers see the rows
@pytest.mark.parametrize("mode", ["sequential", "concurrent"])
def test_across_shards_answers_as_one_database_or_refuses_on_sqlite(
    settings: Any, mode: str
) -> None:
    settings.MULTIDB_ROUTERS_FANOUT = mode
    fill(400, seed=11)
    tally = check(seed=2024, seconds=1.0, oracle_db="default", at_least=120)
    assert tally["merged"] > 4 * tally["refused"] > 0
