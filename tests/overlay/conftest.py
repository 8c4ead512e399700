"""Fixtures of the overlay tests."""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING

import pytest
from django.db import connections

from tests.overlay.pg_base import create_snapshot, drop_snapshot

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pytest_django import DjangoDbBlocker

    from tests.postgres.cluster import ClusterInfo


@pytest.fixture
def pg_base(pg_info: ClusterInfo, django_db_blocker: DjangoDbBlocker) -> Iterator[dict[str, str]]:
    """A snapshot database on the primary, connected as ``base`` by the docs' read-only role."""
    token = uuid.uuid4().hex[:8]
    names = {"database": f"snapshot_{token}", "role": f"reader_{token}"}
    port = str(pg_info.ports["primary"])
    create_snapshot(pg_info.host, port, names["database"], names["role"])
    server = connections["pg_primary"]
    settings_dict = copy.deepcopy(server.settings_dict)
    settings_dict.update(NAME=names["database"], USER=names["role"], HOST=pg_info.host, PORT=port)
    connection = type(server)(settings_dict, alias="base")
    original, connections["base"] = connections["base"], connection
    try:
        with django_db_blocker.unblock():
            yield names
    finally:
        connection.close()
        connections["base"] = original
        drop_snapshot(pg_info.host, port, names["database"], names["role"])
