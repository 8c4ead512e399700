"""Loading a snapshot into an SQLite base (docs/overlay.rst, executed by the test suite)."""

from __future__ import annotations

from django.core.management import call_command

from multidb_routers.guards import allow_writes


def load_snapshot(fixture: str, base: str = "base") -> None:
    """Create the base's tables if needed, then load ``fixture`` (a ``dumpdata`` file)."""
    with allow_writes(base):  # reopens the base writable, and read-only after the block
        call_command("migrate", database=base, verbosity=0)
        call_command("loaddata", fixture, database=base, verbosity=0)
