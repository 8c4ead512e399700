"""A content checksum of a model's rows that is the same on every database backend.

Each row is read with ``values_list`` (so Django's converters give Python values), each
value is encoded canonically, and the row's SHA-256 digest is added into a 256-bit sum.
The sum does not depend on the order rows are read in (collations differ between SQLite
and PostgreSQL) nor on which database holds which row, so the rows of a model spread over
several shards have the same checksum as the same rows on one database.

Canonical values: ``None``; ``bool`` apart from ``int`` (``True`` is not ``1``); ``int`` in
decimal; ``Decimal`` normalized (``1.10`` is ``1.1``, ``-0`` is ``0``); ``float`` by
``repr``; ``str`` as UTF-8; ``bytes``/``memoryview`` as their bytes; aware datetimes in UTC
ISO format (naive ones marked naive); dates, times, durations, UUIDs and JSON values in a
fixed text form. Each value is tagged with its kind and length-prefixed.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import AutoField, BigAutoField, SmallAutoField

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from django.db.models import Model, QuerySet

__all__ = [
    "Checksum",
    "content_fields",
    "digests",
    "encode_value",
    "is_through",
    "queryset_checksum",
    "row_digest",
]

_MODULUS = 1 << 256
_AUTO_FIELDS = (AutoField, BigAutoField, SmallAutoField)


def _tagged(tag: bytes, payload: bytes) -> bytes:
    return tag + len(payload).to_bytes(4, "big") + payload


def encode_value(value: object) -> bytes:
    """The canonical bytes of one column value (see the module docstring)."""
    if value is None:
        return b"N"
    if isinstance(value, bool):
        return b"T" if value else b"F"
    if isinstance(value, int):
        return _tagged(b"i", str(value).encode())
    if isinstance(value, Decimal):
        if value.is_zero():
            return _tagged(b"d", b"0")
        return _tagged(b"d", format(value.normalize(), "f").encode())
    if isinstance(value, float):
        return _tagged(b"f", repr(value).encode())
    if isinstance(value, str):
        return _tagged(b"s", value.encode())
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _tagged(b"b", bytes(value))
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            text = value.astimezone(datetime.timezone.utc).replace(tzinfo=None).isoformat()
            return _tagged(b"t", text.encode())
        return _tagged(b"n", value.isoformat().encode())
    if isinstance(value, (datetime.date, datetime.time)):
        return _tagged(b"D", value.isoformat().encode())
    if isinstance(value, datetime.timedelta):
        micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
        return _tagged(b"u", str(micros).encode())
    if isinstance(value, uuid.UUID):
        return _tagged(b"U", value.hex.encode())
    if isinstance(value, (dict, list)):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
        return _tagged(b"j", text.encode())
    return _tagged(b"?", f"{type(value).__name__}:{value}".encode())


def row_digest(values: Sequence[object]) -> bytes:
    """The SHA-256 digest of a row given as its column values, in a fixed column order."""
    digest = hashlib.sha256()
    for value in values:
        digest.update(encode_value(value))
    return digest.digest()


def content_fields(model: type[Model]) -> list[str]:
    """The attribute names whose values make a row's content.

    Every concrete column, the primary key included, except the automatic primary key of
    a many-to-many through model: its rows are identified by the pair they link, and get a
    new id on the database they move to.
    """
    meta = model._meta
    names = []
    for field in meta.concrete_fields:
        if field.primary_key and isinstance(field, _AUTO_FIELDS) and is_through(model):
            continue
        names.append(field.attname)
    return names


def is_through(model: type[Model]) -> bool:
    """True for the auto-created through model of a many-to-many field."""
    return bool(model._meta.auto_created)


@dataclass
class Checksum:
    """A row count and the order-independent sum of the rows' digests."""

    count: int = 0
    total: int = 0

    def add(self, digest: bytes) -> None:
        """Count one row."""
        self.count += 1
        self.total = (self.total + int.from_bytes(digest, "big")) % _MODULUS

    def remove(self, digest: bytes) -> None:
        """Take one row back out (a row counted twice)."""
        self.count -= 1
        self.total = (self.total - int.from_bytes(digest, "big")) % _MODULUS

    def merge(self, other: Checksum) -> None:
        """Add the rows of another checksum."""
        self.count += other.count
        self.total = (self.total + other.total) % _MODULUS

    @property
    def hexdigest(self) -> str:
        """A short printable form of the sum."""
        return f"{self.total:064x}"[:16]

    def __str__(self) -> str:
        return f"{self.count} rows, checksum {self.hexdigest}"


def digests(
    queryset: QuerySet[Any], fields: Sequence[str], *, chunk_size: int = 2000
) -> Iterable[tuple[Any, bytes]]:
    """``(first field value, digest)`` for each row of ``queryset`` over ``fields``."""
    for row in queryset.values_list(*fields).iterator(chunk_size=chunk_size):
        yield row[0], row_digest(row)


def queryset_checksum(queryset: QuerySet[Any], fields: Sequence[str] | None = None) -> Checksum:
    """The checksum of the rows of ``queryset`` (every content field by default)."""
    checksum = Checksum()
    for _, digest in digests(queryset, fields or content_fields(queryset.model)):
        checksum.add(digest)
    return checksum
