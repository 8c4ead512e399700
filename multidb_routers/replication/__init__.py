"""Primary/replica: the router, its replica sets, the per-context routing state, freshness.

:class:`~multidb_routers.PrimaryReplicaRouter` routes the models;
:class:`~multidb_routers.middleware.PinningMiddleware` carries read-your-writes pins
across requests. See ``docs/replication.rst``.
"""

from __future__ import annotations
