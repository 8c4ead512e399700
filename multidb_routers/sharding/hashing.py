"""Stable hashing of shard keys: canonical key bytes, a 64-bit digest, four strategies.

Nothing here depends on Python's ``hash()``, which is salted per process
(``PYTHONHASHSEED``): a key maps to the same shard in every process, on every machine.

Canonical encoding: a key is turned into its *text* before hashing, so ``1`` and ``"1"``
are the same key (Django itself accepts ``product_id="1"`` for an integer field, and a key
read from a URL is a string). ``int`` keys are written in decimal, ``UUID`` keys in their
lowercase hyphenated form, ``str`` keys as they are (UTF-8), ``bytes`` keys as they are,
``Decimal`` keys in plain notation without trailing zeros (``Decimal("42.0")`` is ``42``),
dates in ISO 8601 (an aware datetime converted to UTC first). ``bool``, ``float`` and other
types are refused rather than guessed at.

These are the rules for a key given as a Python value with no model to interpret it (a
callable ``shard_key``'s result, ``ShardRouter.shard_for(key)`` without a model). A key
of a field-named ``shard_key`` is first canonicalised by its model field (see
:meth:`~multidb_routers.sharding.ShardRouter.canonical_key`), so ``" 42"`` and ``42`` for
an integer field are one key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from typing import Union

__all__ = [
    "STRATEGIES",
    "Strategy",
    "StrategyFunc",
    "digest64",
    "jump_hash",
    "key_bytes",
    "modulo",
    "rendezvous",
]

StrategyFunc = Callable[[bytes, Sequence[str]], str]
"""A strategy: ``(canonical key bytes, ordered shard aliases) -> alias``."""

Strategy = Union[str, StrategyFunc]  # noqa: UP007 (a runtime alias on Python 3.10)

_MASK64 = (1 << 64) - 1


def key_bytes(key: object) -> bytes:
    """The canonical bytes of a shard key (``1``, ``"1"`` and ``b"1"`` give the same)."""
    if isinstance(key, str):
        return key.encode()
    if isinstance(key, bool):  # a subclass of int: True would silently be the key 1
        raise TypeError(f"A shard key cannot be a bool ({key!r}); use an int, str or UUID.")
    if isinstance(key, int):
        return str(key).encode()
    if isinstance(key, bytes):
        return key
    # Imported here: settings.py imports the router, and uuid (which imports platform)
    # and decimal would double what that costs; a running project has them loaded.
    from decimal import Decimal
    from uuid import UUID

    if isinstance(key, UUID):
        return str(key).encode()
    if isinstance(key, Decimal):
        if not key.is_finite():
            raise TypeError(f"A shard key cannot be {key!r}; use a finite number.")
        return ("0" if key.is_zero() else format(key.normalize(), "f")).encode()
    if isinstance(key, dt.datetime):
        if key.tzinfo is not None and key.utcoffset() is not None:
            key = key.astimezone(dt.timezone.utc)
        return key.isoformat().encode()
    if isinstance(key, dt.date):
        return key.isoformat().encode()
    raise TypeError(
        "A shard key must be an int, str, UUID, Decimal, date, datetime or bytes, not "
        f"{type(key).__name__} ({key!r})."
    )


def digest64(data: bytes) -> int:
    """A stable, well mixed unsigned 64-bit digest of ``data`` (BLAKE2b)."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def jump_hash(key: int, buckets: int) -> int:
    """Jump consistent hash (Lamping & Veach, 2014): a bucket in ``range(buckets)``.

    Growing from ``n`` to ``n + 1`` buckets moves about ``1 / (n + 1)`` of the keys, all of
    them to the new bucket; removing the last bucket moves only that bucket's keys.
    """
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * 2862933555777941757 + 1) & _MASK64
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def jump(data: bytes, shards: Sequence[str]) -> str:
    """The ``"jump"`` strategy: jump consistent hash of the key's digest."""
    return shards[jump_hash(digest64(data), len(shards))]


def modulo(data: bytes, shards: Sequence[str]) -> str:
    """The ``"modulo"`` strategy: digest modulo the shard count (resharding moves most keys)."""
    return shards[digest64(data) % len(shards)]


def rendezvous(data: bytes, shards: Sequence[str]) -> str:
    """The ``"rendezvous"`` strategy: highest random weight of (key, alias) wins.

    Adding or removing *any* shard (not only the last) moves only the keys it wins or held;
    each lookup costs one digest per shard.
    """
    prefix = data + b"\x00"
    return max(shards, key=lambda alias: digest64(prefix + alias.encode()))


STRATEGIES: dict[str, StrategyFunc] = {
    "jump": jump,
    "modulo": modulo,
    "rendezvous": rendezvous,
}
"""The named strategies ``ShardRouter(strategy=...)`` accepts."""
