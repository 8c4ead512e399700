"""A "production" SQLite file connected as the ``base`` alias, for the overlay tests.

The test runner's ``base`` is an empty in-memory database (``TEST: {"MIGRATE": False}``:
nothing may write to it). Tests that need base rows build a snapshot file the way a
developer would load one, through the documented escape hatch
:func:`multidb_routers.guards.allow_writes`, then swap a connection to that file in as
``connections["base"]`` for the duration of the test.
"""

from __future__ import annotations

import copy
import hashlib
from contextlib import contextmanager
from typing import TYPE_CHECKING

from django.db import connections

from multidb_routers.guards import allow_writes
from tests.testapps.overlay_app.models import Product, Supplier

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

# Base primary keys with gaps, so that "max + 1" and "count + 1" differ.
PRODUCTS = [(1, "anvil", 120, 3), (2, "bucket", 15, 40), (4, "chisel", 30, 12), (7, "drill", 90, 5)]
SUPPLIERS = [(1, "Acme"), (3, "Globex")]


def digest(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextmanager
def snapshot_as_base(path: Path) -> Iterator[Path]:
    """Build a snapshot file at ``path`` and connect it as ``base`` inside the block."""
    original = connections["base"]
    settings_dict = copy.deepcopy(original.settings_dict)
    settings_dict["NAME"] = str(path)
    connection = original.__class__(settings_dict, alias="base")
    connections["base"] = connection
    try:
        with allow_writes("base"):
            with connection.schema_editor() as editor:
                editor.create_model(Product)
                editor.create_model(Supplier)
            Product._base_manager.using("base").bulk_create(
                Product(pk=pk, name=name, price=price, stock=stock)
                for pk, name, price, stock in PRODUCTS
            )
            Supplier._base_manager.using("base").bulk_create(
                Supplier(pk=pk, name=name) for pk, name in SUPPLIERS
            )
        yield path
    finally:
        connection.close()
        connections["base"] = original
