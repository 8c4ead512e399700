"""RoutingPanel in django-debug-toolbar: each query's alias, reason and SQL; counts; pins."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings
from django.test import Client, override_settings

from multidb_routers.routes import listening
from tests.testapps.replica_app.models import Review

if TYPE_CHECKING:
    from collections.abc import Iterator

pytest.importorskip("debug_toolbar", reason="django-debug-toolbar (the test extra)")

REPLICAS = ("reviews_replica1", "reviews_replica2")
DATABASES = ["default", "users", "reviews", *REPLICAS]
PANEL = "multidb_routers.contrib.debug_toolbar.RoutingPanel"


@pytest.fixture
def toolbar() -> Iterator[None]:
    """The toolbar, first in MIDDLEWARE, with the SQL panel and ours."""
    # The toolbar's ready() reads its settings: they come first, the app second.
    with (
        override_settings(
            DEBUG=True,
            INTERNAL_IPS=["127.0.0.1"],
            MIDDLEWARE=["debug_toolbar.middleware.DebugToolbarMiddleware", *settings.MIDDLEWARE],
            ROOT_URLCONF="tests.contrib.toolbar_urls",
            STATIC_URL="/static/",
            DEBUG_TOOLBAR_PANELS=["debug_toolbar.panels.sql.SQLPanel", PANEL],
            DEBUG_TOOLBAR_CONFIG={"IS_RUNNING_TESTS": False},
        ),
        override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, "debug_toolbar"]),
    ):
        yield


def panel_of_last_request(client: Client) -> tuple[str, dict[str, Any]]:
    """The panel's HTML and stats for the latest request the toolbar kept."""
    from debug_toolbar.store import get_store
    from debug_toolbar.toolbar import DebugToolbar

    request_id = list(get_store().request_ids())[-1]
    stored = DebugToolbar.fetch(request_id, "RoutingPanel")
    assert stored is not None
    stats = stored.get_panel_by_id("RoutingPanel").get_stats()
    response = client.get(
        "/__debug__/render_panel/", {"request_id": request_id, "panel_id": "RoutingPanel"}
    )
    assert response.status_code == 200
    return response.json()["content"], stats


@pytest.mark.django_db(databases=DATABASES, transaction=True)
@pytest.mark.usefixtures("toolbar")
def test_the_panel_shows_the_pinned_reads_and_the_pins_in_and_out() -> None:
    client = Client()
    response = client.post("/replica/sync/reviews/", {"title": "Shown"})
    _, posted = panel_of_last_request(client)
    assert posted["pins_in"] == []
    [pin_out] = posted["pins_out"]
    assert pin_out["primary"] == "reviews"
    assert 0 < pin_out["seconds_left"] <= 5.0
    [write] = posted["queries"]
    assert (write["alias"], write["action"], write["model"], write["code"]) == (
        "reviews",
        "write",
        "replica_app.Review",
        "write",
    )
    assert write["sql"].startswith("INSERT INTO")

    client.get(response["Location"])
    content, stats = panel_of_last_request(client)
    assert len(stats["queries"]) == 10
    first = stats["queries"][0]
    assert (first["alias"], first["role"], first["code"]) == ("reviews", "primary", "pinned")
    assert first["reason"].startswith("pinned by the request's pin cookie (")
    assert stats["counts"] == [{"alias": "reviews", "role": "primary", "read": 10, "write": 0}]
    assert (stats["total_reads"], stats["replica_reads"]) == (10, 0)
    assert [pin["primary"] for pin in stats["pins_in"]] == ["reviews"]
    assert stats["pins_out"] == []  # nothing written: the cookie is not sent again
    assert "pinned by the request&#x27;s pin cookie" in content
    assert "in with the request</td><td>reviews</td>" in content
    assert '<tr class="djdt-routing-pinned">' in content
    assert "SELECT" in content
    assert not listening()


@pytest.mark.django_db(databases=DATABASES, transaction=True)
@pytest.mark.usefixtures("toolbar")
def test_an_unpinned_page_shows_its_replica_reads() -> None:
    review = Review.objects.create(title="From a replica")
    client = Client()
    client.get(f"/replica/sync/reviews/{review.pk}/")
    content, stats = panel_of_last_request(client)
    [row] = stats["counts"]
    assert row["alias"] in REPLICAS
    assert (row["role"], row["read"]) == ("replica", 10)
    assert (stats["total_reads"], stats["replica_reads"]) == (10, 10)
    assert {query["code"] for query in stats["queries"]} == {"replica", "kept"}
    assert 'out with the response</td><td colspan="3">none' in content
