"""The pin cookie's signature: Django's ``signing.dumps``/``loads`` format, made cheaper.

A value is exactly what ``django.core.signing.dumps(obj, salt=salt)`` makes (URL-safe
base64 of compact JSON, ``:``, the base-62 timestamp, ``:``, the HMAC-SHA256 of both
with a key derived from the salt and ``SECRET_KEY``), and :func:`loads` accepts what
``django.core.signing.loads(value, salt=salt)`` accepts (``SECRET_KEY_FALLBACKS``
included, ``.``-prefixed compressed values included), so cookies signed by either stay
valid for the other. What is cheaper: the key derived from each secret is remembered
(Django hashes the salt and the secret again for every signature) and the HMAC's hash states
are copied, not recomputed, without the ``Signer`` objects. Each signature costs a few
microseconds instead of some 30.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import zlib
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.core.signing import BadSignature, b62_decode, b62_encode

from .per_second import LastSecond

__all__ = ["dumps", "dumps_with_time", "loads", "loads_with_time"]

# json.dumps(obj, separators=(",", ":")) as Django's JSONSerializer, without a new
# encoder per call.
_encode = json.JSONEncoder(separators=(",", ":")).encode


@lru_cache(maxsize=32)
def _hmac_states(salt: str, secret: str | bytes) -> tuple[Any, Any]:
    """The inner and outer SHA-256 states of the HMAC keyed for ``salt`` and ``secret``.

    The key is django.utils.crypto.salted_hmac's for ``salt + "signer"`` (the SHA-256 of
    that and the secret); the states are RFC 2104's, hashed once and copied per use.
    """
    secret_bytes = secret.encode() if isinstance(secret, str) else bytes(secret)
    key = hashlib.sha256(f"{salt}signer".encode() + secret_bytes).digest().ljust(64, b"\0")
    inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in key))
    outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in key))
    return inner, outer


def _signature(salt: str, value: str, secret: str | bytes) -> str:
    inner, outer = _hmac_states(salt, secret)
    inner = inner.copy()
    inner.update(value.encode())
    outer = outer.copy()
    outer.update(inner.digest())
    return base64.urlsafe_b64encode(outer.digest()).rstrip(b"=").decode()


_secrets: tuple[str | bytes, ...] | None = None


def _keys() -> tuple[str | bytes, ...]:
    """``SECRET_KEY`` then ``SECRET_KEY_FALLBACKS``, remembered until ``setting_changed``."""
    global _secrets
    if _secrets is None:
        secret = settings.SECRET_KEY
        # Signer.signature() uses SECRET_KEY for an empty key.
        _secrets = (secret, *(key or secret for key in settings.SECRET_KEY_FALLBACKS))
    return _secrets


def _forget_keys(*, setting: str, **kwargs: Any) -> None:
    global _secrets
    if setting in ("SECRET_KEY", "SECRET_KEY_FALLBACKS"):
        _secrets = None


setting_changed.connect(_forget_keys, dispatch_uid="multidb_routers.signing")

#: TimestampSigner's base-62 timestamp of a second.
_stamp = LastSecond(b62_encode)


def dumps(obj: object, *, salt: str) -> str:
    """``django.core.signing.dumps(obj, salt=salt)`` (JSON, not compressed)."""
    return dumps_with_time(obj, salt=salt)[0]


def dumps_with_time(obj: object, *, salt: str) -> tuple[str, int]:
    """:func:`dumps`, and the time it signed (whole seconds since the epoch)."""
    data = _encode(obj).encode("latin-1")
    second = int(time.time())
    stamp = _stamp(second)
    value = f"{base64.urlsafe_b64encode(data).rstrip(b'=').decode()}:{stamp}"
    return f"{value}:{_signature(salt, value, _keys()[0])}", second


def loads(signed: str, *, salt: str) -> object:
    """``django.core.signing.loads(signed, salt=salt)``: the object, or ``BadSignature``.

    Like Django's, other errors (bad base64, zlib or JSON under a valid signature) are
    raised as they are.
    """
    return loads_with_time(signed, salt=salt)[0]


def loads_with_time(signed: str, *, salt: str) -> tuple[object, int]:
    """:func:`loads`, and the time the value was signed (whole seconds since the epoch)."""
    if ":" not in signed:
        raise BadSignature('No ":" found in value')
    value, signature = signed.rsplit(":", 1)
    expected = signature.encode()
    for key in _keys():
        if hmac.compare_digest(expected, _signature(salt, value, key).encode()):
            break
    else:
        raise BadSignature(f'Signature "{signature}" does not match')
    body, timestamp = value.rsplit(":", 1)
    signed_at = b62_decode(timestamp)  # as TimestampSigner.unsign: a malformed one raises
    encoded = body.encode()
    compressed = encoded[:1] == b"."
    if compressed:
        encoded = encoded[1:]
    data = base64.urlsafe_b64decode(encoded + b"=" * (-len(encoded) % 4))
    if compressed:
        data = zlib.decompress(data)
    return json.loads(data.decode("latin-1")), signed_at
