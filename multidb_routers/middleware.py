"""The public home of :class:`PinningMiddleware` (``MIDDLEWARE`` names it here).

The implementation lives in :mod:`multidb_routers.replication.middleware`.
"""

from __future__ import annotations

from .replication.middleware import PinningMiddleware

__all__ = ["PinningMiddleware"]
