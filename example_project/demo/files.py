"""SQLite file chores the demo does in the open: copying a primary to its replicas, hashing.

Copying files stands in for replication, which SQLite does not have; PostgreSQL's
streaming replication does it for real (see ``docs/postgresql.rst``).
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from django.conf import settings
from django.db import connections


def database_file(alias: str) -> Path:
    """The SQLite file of ``alias``."""
    return Path(settings.DATABASES[alias]["NAME"])


def copy_database(source: str, targets: list[str]) -> None:
    """Overwrite the SQLite files of ``targets`` with ``source``'s, with SQLite's backup API.

    Django's connections to the targets are closed first, so their next query sees the copy.
    """
    connections[source].close()
    origin = sqlite3.connect(database_file(source))
    try:
        for alias in targets:
            connections[alias].close()
            copy = sqlite3.connect(database_file(alias))
            try:
                origin.backup(copy)
            finally:
                copy.close()
    finally:
        origin.close()


def checksum(alias: str) -> str:
    """The SHA-256 of the SQLite file of ``alias`` (its connection closed first)."""
    connections[alias].close()
    return hashlib.sha256(database_file(alias).read_bytes()).hexdigest()
