"""Compatibility layers: other libraries' public APIs on top of multidb_routers.

:mod:`multidb_routers.compat.multidb` offers django-multidb-router 0.11's ``multidb``
package (with ``multidb.pinning`` and ``multidb.middleware``), so that a project can
switch by changing import paths only (see ``docs/migrating.rst``).
"""

from __future__ import annotations
