"""The pin cookie's signer: the format of django.core.signing, both ways."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest
from django.core import signing as django_signing
from django.test import override_settings

from multidb_routers.replication import signing
from multidb_routers.replication.middleware import SALT

PAYLOADS = [{"reviews": 1.5}, {"a": [17.25, "0/3000060"], "b": 2}, {}, {"ünï": 1}]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_value_signed_here_is_what_django_signs(payload: object) -> None:
    value = signing.dumps(payload, salt=SALT)

    assert value == django_signing.dumps(payload, salt=SALT) or (
        # The second may have ticked between the two.
        value.rsplit(":", 2)[0] == django_signing.dumps(payload, salt=SALT).rsplit(":", 2)[0]
    )
    assert django_signing.loads(value, salt=SALT) == payload


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_value_django_signed_loads_here(payload: object, compress: bool) -> None:
    value = django_signing.dumps(payload, salt=SALT, compress=compress)

    assert signing.loads(value, salt=SALT) == payload


def test_the_signature_is_hmac_sha256_keyed_as_django_keys_it() -> None:
    key = hashlib.sha256(b"saltsignersecret").digest()
    expected = hmac.digest(key, b"body:ts", "sha256")

    assert signing._signature("salt", "body:ts", "secret") == (
        django_signing.b64_encode(expected).decode()
    )


def test_a_value_signed_with_a_fallback_key_loads_and_others_do_not() -> None:
    old = django_signing.dumps({"reviews": 1.0}, salt=SALT, key="old secret")
    with override_settings(SECRET_KEY="new secret", SECRET_KEY_FALLBACKS=["old secret"]):
        assert signing.loads(old, salt=SALT) == {"reviews": 1.0}
    with (
        override_settings(SECRET_KEY="new secret", SECRET_KEY_FALLBACKS=[]),
        pytest.raises(django_signing.BadSignature),
    ):
        signing.loads(old, salt=SALT)


@pytest.mark.parametrize(
    "tampered",
    [
        "no separator",
        "e30:1:bad",
        lambda value: value[:-1] + ("A" if value[-1] != "A" else "B"),
        lambda value: "eyJ4IjoxfQ" + value[value.index(":") :],
        lambda value: value.replace(":", ":0", 1),
    ],
)
def test_a_tampered_value_is_a_bad_signature(tampered: object) -> None:
    value = signing.dumps({"reviews": time.time()}, salt=SALT)
    bad = tampered(value) if callable(tampered) else tampered

    with pytest.raises(django_signing.BadSignature):
        signing.loads(bad, salt=SALT)


def test_another_salt_is_a_bad_signature() -> None:
    with pytest.raises(django_signing.BadSignature):
        signing.loads(signing.dumps({"a": 1}, salt="other"), salt=SALT)
