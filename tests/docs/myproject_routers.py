"""``myproject.routers`` of the docs: the LegacyRouter of functional.rst."""

from __future__ import annotations

from multidb_routers import FunctionalRouter


class LegacyRouter(FunctionalRouter):
    """functional.rst's example subclass."""

    routes = {"legacy": "legacy", "billing.Invoice": "legacy"}
