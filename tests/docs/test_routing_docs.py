"""The routing log docs/routing.rst shows is what the logger writes for those requests."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import pytest
from django.test import Client

from multidb_routers.routes import listening
from multidb_routers.routes.log import follow_logger
from tests.docs.snippets import ROOT
from tests.testapps.replica_app.models import Review

if TYPE_CHECKING:
    from pytest_django.fixtures import SettingsWrapper

pytestmark = pytest.mark.once

DATABASES = ["default", "users", "reviews", "reviews_replica1", "reviews_replica2"]


def shown_log() -> list[str]:
    """The literal block of docs/routing.rst that starts with a DEBUG line."""
    lines = (ROOT / "docs" / "routing.rst").read_text().splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("    DEBUG "))
    block = []
    for line in lines[start:]:
        if not line.startswith("    "):
            break
        block.append(line.strip())
    return block


def normalized(line: str) -> str:
    """Without what changes from run to run: the replica chosen, the seconds left, the pk."""
    line = re.sub(r"reviews_replica[12]", "reviews_replicaN", line)
    line = re.sub(r"\(\d+\.\d s left\)", "(N s left)", line)
    return re.sub(r"/reviews/\d+/", "/reviews/PK/", line)


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_routing_rst_shows_what_the_logger_writes(
    settings: SettingsWrapper, caplog: pytest.LogCaptureFixture
) -> None:
    settings.MULTIDB_ROUTERS_REQUEST_ROUTES = "log"
    review = Review.objects.using("reviews").create(title="Logged")  # no pin: using()
    client = Client()
    caplog.set_level(logging.DEBUG, logger="multidb_routers.routing")
    try:
        client.get(f"/replica/sync/reviews/{review.pk}/counts/")
        client.post(f"/replica/sync/reviews/{review.pk}/rate/", {"stars": "4"})
        client.get(f"/replica/sync/reviews/{review.pk}/counts/")
    finally:
        caplog.set_level(logging.WARNING, logger="multidb_routers.routing")
        follow_logger()
    written = [
        f"{record.levelname} {record.name} {record.getMessage()}"
        for record in caplog.records
        if record.name == "multidb_routers.routing"
    ]
    assert [normalized(line) for line in written] == [normalized(line) for line in shown_log()]
    assert not listening()
